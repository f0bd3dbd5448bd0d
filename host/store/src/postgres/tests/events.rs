//! Events across hosts on Postgres: ids grow in commit order whichever host commits (a
//! follower that goes on from the last id it saw misses none), and a commit on one host
//! wakes the followers of another.

use crate::tests::follow::all_after;
use crate::tests::*;

use super::fresh;

/// Runs per host, and steps per run, of the race below.
const RUNS: usize = 8;
const STEPS: u64 = 20;

/// Commits `STEPS` steps of each of `RUNS` runs named `{host}-{n}`, the runs at once.
async fn busy_host(store: PgStore, host: &'static str) {
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..RUNS {
        let store = store.clone();
        tasks.spawn(async move {
            let thread = format!("{host}-{n}");
            store.create_run(new_run(&thread)).await.unwrap();
            for step in 1..=STEPS {
                let next: &[&str] = if step == STEPS { &[] } else { &["hello"] };
                store
                    .commit_step(commit(&thread, step, next))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn a_follower_misses_no_event_of_two_hosts_committing_at_once() {
    let fixture = Fixture::new(fresh).await;
    let (a, b) = (fixture.store.clone(), (fixture.reopen)().await);
    let writers = tokio::spawn(async move {
        tokio::join!(busy_host(a, "a"), busy_host(b, "b"));
    });
    // Follow from the start while both hosts write; each read goes on after the last
    // id seen. A transaction that took a smaller id but committed later than one the
    // follower already read would be skipped for good.
    let every = EventFilter::default();
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let finished = writers.is_finished();
        let chunk = fixture.store.events_after(&every, after, 50).await.unwrap();
        if let Some(last) = chunk.last() {
            after = Some(last.id);
        } else if finished {
            break;
        }
        seen.extend(chunk.into_iter().map(|e| e.id));
        tokio::task::yield_now().await;
    }
    writers.await.unwrap();
    let all: Vec<u64> = all_after(&fixture.store, &every, None, 1000)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    // Created + steps, per run per host.
    assert_eq!(all.len(), 2 * RUNS * (1 + STEPS as usize));
    let missed: Vec<&u64> = all.iter().filter(|id| !seen.contains(id)).collect();
    assert!(missed.is_empty(), "the follower missed {missed:?}");
    assert_eq!(seen, all, "the follower saw every event once, in order");
}

#[tokio::test]
async fn a_commit_on_one_host_wakes_the_followers_of_another() {
    let fixture = Fixture::new(fresh).await;
    let other = (fixture.reopen)().await;
    let mut notices = fixture.store.event_notices().unwrap();
    // The listener bumps the count once it LISTENs: from then on notices are heard.
    tokio::time::timeout(Duration::from_secs(30), notices.wait_for(|n| *n > 0))
        .await
        .expect("the listener starts")
        .unwrap();
    notices.borrow_and_update();
    other.create_run(new_run("job-1")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), notices.changed())
        .await
        .expect("a notice of the other host's commit")
        .unwrap();
    let events = fixture
        .store
        .events_after(&EventFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}
