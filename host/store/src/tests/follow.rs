//! Following what is committed: every run's events after an id, filtered by thread or
//! workflow (what an event stream resumes from), the newest id, the notices that say
//! "look again", and the ids of log lines.

use super::*;

/// Every event that matches `filter` after `after`, read `limit` at a time.
pub(crate) async fn all_after<S: TestStore>(
    store: &S,
    filter: &EventFilter,
    mut after: Option<u64>,
    limit: usize,
) -> Vec<RunEvent> {
    let mut all = Vec::new();
    loop {
        let chunk = store.events_after(filter, after, limit).await.unwrap();
        assert!(chunk.len() <= limit, "{} > {limit}", chunk.len());
        let Some(last) = chunk.last() else {
            return all;
        };
        after = Some(last.id);
        all.extend(chunk);
    }
}

fn threads(events: &[RunEvent]) -> Vec<(&str, EventKind)> {
    events.iter().map(|e| (e.thread.as_str(), e.kind)).collect()
}

/// Two runs of two workflows, their steps interleaved.
async fn two_runs<S: TestStore>(s: &S) {
    s.create_run(new_run("job-1")).await.unwrap();
    let other = NewRun {
        workflow_name: "approval".to_owned(),
        ..new_run("job-2")
    };
    s.create_run(other).await.unwrap();
    s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();
    s.commit_step(commit("job-2", 1, &["hello"])).await.unwrap();
    s.commit_step(commit("job-1", 2, &[])).await.unwrap();
}

pub(crate) async fn events_after_an_id_come_in_order_filtered<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    assert_eq!(s.last_event_id().await.unwrap(), 0, "no event yet");
    assert!(
        s.events_after(&EventFilter::default(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    two_runs(s).await;

    let every = EventFilter::default();
    let all = all_after(s, &every, None, 2).await;
    assert_eq!(
        threads(&all),
        [
            ("job-1", EventKind::Created),
            ("job-2", EventKind::Created),
            ("job-1", EventKind::Step),
            ("job-2", EventKind::Step),
            ("job-1", EventKind::Step),
        ]
    );
    let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(s.last_event_id().await.unwrap(), ids[4]);
    // The same events as the run's own pages.
    let mut page = s.events_page("job-1", None, 10).await.unwrap();
    let mut own = Vec::new();
    while let Some(event) = page.next().await.unwrap() {
        own.push(event);
    }
    let job_1: Vec<&RunEvent> = all.iter().filter(|e| e.thread == "job-1").collect();
    assert_eq!(own.iter().collect::<Vec<_>>(), job_1);

    // After a cursor: exactly what came after it.
    let rest = all_after(s, &every, Some(ids[1]), 10).await;
    assert_eq!(rest, all[2..]);
    assert!(all_after(s, &every, Some(ids[4]), 10).await.is_empty());
    // A limit of 0 is clamped to 1.
    assert_eq!(s.events_after(&every, None, 0).await.unwrap(), all[..1]);

    let thread = EventFilter {
        thread: Some("job-2".to_owned()),
        ..EventFilter::default()
    };
    assert_eq!(
        threads(&all_after(s, &thread, None, 10).await),
        [("job-2", EventKind::Created), ("job-2", EventKind::Step)]
    );
    assert_eq!(
        all_after(s, &thread, Some(ids[1]), 10).await,
        [all[3].clone()]
    );
    let workflow = EventFilter {
        workflow: Some("greet".to_owned()),
        ..EventFilter::default()
    };
    assert_eq!(
        threads(&all_after(s, &workflow, None, 1).await),
        [
            ("job-1", EventKind::Created),
            ("job-1", EventKind::Step),
            ("job-1", EventKind::Step),
        ]
    );
    let both = EventFilter {
        thread: Some("job-2".to_owned()),
        workflow: Some("greet".to_owned()),
    };
    assert!(all_after(s, &both, None, 10).await.is_empty());
    let ghost = EventFilter {
        thread: Some("ghost".to_owned()),
        ..EventFilter::default()
    };
    assert!(all_after(s, &ghost, None, 10).await.is_empty(), "no run");
}

/// Waits for events after `after`, looking again at each notice.
async fn next_events<S: TestStore>(
    s: &S,
    notices: &mut tokio::sync::watch::Receiver<u64>,
    after: u64,
) -> Vec<RunEvent> {
    loop {
        notices.borrow_and_update();
        let got = s
            .events_after(&EventFilter::default(), Some(after), 100)
            .await
            .unwrap();
        if !got.is_empty() {
            return got;
        }
        // A bound for a broken build, not a measure: notices take milliseconds.
        tokio::time::timeout(Duration::from_secs(30), notices.changed())
            .await
            .expect("a notice after a commit that added events")
            .expect("the store keeps its notices");
    }
}

pub(crate) async fn a_notice_follows_each_commit_that_adds_events<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    let mut notices = s.event_notices().expect("both backends send notices");
    s.create_run(new_run("job-1")).await.unwrap();
    let created = next_events(s, &mut notices, 0).await;
    assert_eq!(threads(&created), [("job-1", EventKind::Created)]);
    // Once the notices count is past 0 they are heard (Postgres: the listener bumps it
    // once it LISTENs; SQLite: it is the newest id), so the next comes from the commit.
    tokio::time::timeout(Duration::from_secs(30), notices.wait_for(|n| *n > 0))
        .await
        .expect("notices are heard")
        .unwrap();
    notices.borrow_and_update();
    s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();
    let step = next_events(s, &mut notices, created[0].id).await;
    assert_eq!(threads(&step), [("job-1", EventKind::Step)]);
}

pub(crate) async fn log_lines_carry_growing_ids<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    s.create_run(new_run("job-1")).await.unwrap();
    s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();
    s.setback_step(failure("job-1", 2, 1)).await.unwrap();
    s.commit_step(commit("job-1", 2, &[])).await.unwrap();
    let mut page = s.logs_page("job-1", None, 10).await.unwrap();
    let mut lines = Vec::new();
    while let Some(line) = page.next().await.unwrap() {
        lines.push(line);
    }
    let ids: Vec<u64> = lines.iter().map(|l| l.id).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] > 0 && ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // A follower goes on after the last id it saw.
    let mut page = s
        .logs_page("job-1", Some(Cursor::after(ids[0])), 10)
        .await
        .unwrap();
    let mut rest = Vec::new();
    while let Some(line) = page.next().await.unwrap() {
        rest.push(line);
    }
    assert_eq!(rest, lines[1..]);
}

pub(crate) async fn event_ids_are_not_used_again_after_a_delete<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    two_runs(s).await;
    let newest = s.last_event_id().await.unwrap();
    // job-1 holds the newest events; once it is gone, a follower's cursor is past every
    // event left, and the next event must still come after it.
    s.delete_run("job-1", true).await.unwrap();
    s.create_run(new_run("job-3")).await.unwrap();
    let after = s
        .events_after(&EventFilter::default(), Some(newest), 10)
        .await
        .unwrap();
    assert_eq!(threads(&after), [("job-3", EventKind::Created)]);
}

conformance! {
    #[tokio::test] event_ids_are_not_used_again_after_a_delete,
    #[tokio::test] events_after_an_id_come_in_order_filtered,
    #[tokio::test] a_notice_follows_each_commit_that_adds_events,
    #[tokio::test] log_lines_carry_growing_ids,
}
