//! Events: one row per change, in its transaction, oldest first, with the data each kind
//! carries.

use super::*;

/// Every event of `thread`, a page of `limit` at a time, as (step, kind, data).
pub(crate) async fn events_of<S: TestStore>(
    store: &S,
    thread: &str,
    limit: usize,
) -> Vec<(u64, EventKind, Value)> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let mut page = store.events_page(thread, cursor, limit).await.unwrap();
        while let Some(event) = page.next().await.unwrap() {
            assert_eq!(event.thread, thread);
            all.push(event);
        }
        cursor = page.next_cursor();
        if cursor.is_none() {
            break;
        }
    }
    let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    all.into_iter()
        .map(|e| (e.step, e.kind, Value::Object(e.data)))
        .collect()
}

fn kinds(events: &[(u64, EventKind, Value)]) -> Vec<EventKind> {
    events.iter().map(|(_, kind, _)| *kind).collect()
}

pub(crate) async fn a_runs_life_is_in_its_events<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    let created = NewRun {
        tags: BTreeMap::from([("customer".into(), "acme".into())]),
        ..new_run("job-1")
    };
    let at = f.now();
    s.create_run(created).await.unwrap();
    let one = s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();
    // A retry, then a failure for good, then a resume by hand.
    s.setback_step(setback(
        "job-1",
        2,
        1,
        Setback::Retry {
            wake_at_ms: at + 500,
        },
    ))
    .await
    .unwrap();
    f.clock.advance(Duration::from_millis(500));
    s.claim("job-1", "me", LEASE_MS, &no_dead()).await.unwrap();
    s.setback_step(failure("job-1", 2, 2)).await.unwrap();
    s.resume_input("job-1", None, RunStatus::Pending, None)
        .await
        .unwrap();
    // An interrupt and its answer.
    s.setback_step(setback(
        "job-1",
        2,
        3,
        Setback::Interrupted {
            payload: json!({"ask": "ok?"}),
            deadline_ms: None,
        },
    ))
    .await
    .unwrap();
    s.resume_input("job-1", Some(json!({"ok": true})), RunStatus::Running, None)
        .await
        .unwrap();
    let two = s
        .commit_step(sleep_commit("job-1", 2, at + 1_000))
        .await
        .unwrap();
    s.cancel("job-1").await.unwrap();

    let events = events_of(s, "job-1", 3).await;
    let expected = [
        (
            0,
            EventKind::Created,
            json!({"workflow": "greet", "workflow_digest": "sha256:abc",
                   "tags": {"customer": "acme"}}),
        ),
        (
            1,
            EventKind::Step,
            json!({"node": "node-1", "checkpoint": one.checkpoint, "status": "running"}),
        ),
        (
            1,
            EventKind::AttemptFailed,
            json!({"node": "hello", "attempt": 1, "error": "node \"hello\" failed: boom",
                   "retry_at": at + 500}),
        ),
        (1, EventKind::Woke, json!({"status": "retrying"})),
        (
            1,
            EventKind::AttemptFailed,
            json!({"node": "hello", "attempt": 2, "error": "node \"hello\" failed: boom",
                   "retry_at": null}),
        ),
        (1, EventKind::Resumed, json!({"status": "failed"})),
        (
            1,
            EventKind::Interrupted,
            json!({"node": "hello", "payload": {"ask": "ok?"}, "deadline": null}),
        ),
        (1, EventKind::Answered, json!({"input": {"ok": true}})),
        (
            2,
            EventKind::Step,
            json!({"node": "node-2", "checkpoint": two.checkpoint, "status": "sleeping",
                   "wake_at": at + 1_000}),
        ),
        (2, EventKind::Cancelled, json!({})),
    ];
    assert_eq!(events, expected);
    // Times are the writes'.
    let mut page = s.events_page("job-1", None, 1).await.unwrap();
    let first = page.next().await.unwrap().unwrap();
    assert_eq!(first.at_ms, at);
    assert!(page.next().await.unwrap().is_none());
    let cursor = page.next_cursor().expect("more events");
    let mut page = s.events_page("job-1", Some(cursor), 1).await.unwrap();
    assert_eq!(page.next().await.unwrap().unwrap().kind, EventKind::Step);
}

pub(crate) async fn a_takeover_after_a_crash_is_an_event_with_the_next_attempt<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    s.create_run(NewRun {
        lease: Some(("host-a".into(), LEASE_MS)),
        ..new_run("job-1")
    })
    .await
    .unwrap();
    s.commit_step(StepCommit {
        owner: Some("host-a".into()),
        ..commit("job-1", 1, &["hello"])
    })
    .await
    .unwrap();
    // host-a dies in the call of step 2; host-b takes the run once the lease ran out, and
    // its call is the second attempt (the first one was cut short).
    f.clock
        .advance(Duration::from_millis(u64::try_from(LEASE_MS).unwrap() + 1));
    let run = s
        .claim("job-1", "host-b", LEASE_MS, &no_dead())
        .await
        .unwrap();
    assert_eq!(run.attempt, 1);
    // A dead owner's lease is taken at once; its own lease again is no takeover.
    s.claim("job-1", "host-c", LEASE_MS, &["host-b".to_owned()])
        .await
        .unwrap();
    s.claim("job-1", "host-c", LEASE_MS, &no_dead())
        .await
        .unwrap();
    // A release, then a claim: nobody is taken over.
    s.release("host-c", "job-1").await.unwrap();
    s.claim("job-1", "host-d", LEASE_MS, &no_dead())
        .await
        .unwrap();

    let events = events_of(s, "job-1", 100).await;
    assert_eq!(
        kinds(&events),
        [
            EventKind::Created,
            EventKind::Step,
            EventKind::LeaseTakenOver,
            EventKind::LeaseTakenOver
        ]
    );
    assert_eq!(
        events[2],
        (
            1,
            EventKind::LeaseTakenOver,
            json!({"owner": "host-b", "from": "host-a", "attempt": 2})
        )
    );
    assert_eq!(
        events[3].2,
        json!({"owner": "host-c", "from": "host-b", "attempt": 3})
    );
}

pub(crate) async fn due_runs_wake_with_an_event<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    f.runs(&["sleeper", "asker", "early"]).await;
    let now = f.now();
    s.commit_step(sleep_commit("sleeper", 1, now + 10))
        .await
        .unwrap();
    s.commit_step(sleep_commit("early", 1, now + 1_000))
        .await
        .unwrap();
    s.setback_step(setback(
        "asker",
        1,
        1,
        Setback::Interrupted {
            payload: json!({}),
            deadline_ms: Some(now + 10),
        },
    ))
    .await
    .unwrap();
    f.clock.advance(Duration::from_millis(10));
    let claimed = s.claim_due("d", 10, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed).len(), 2);
    let last = |events: Vec<(u64, EventKind, Value)>| events.last().cloned().unwrap();
    assert_eq!(
        last(events_of(s, "sleeper", 10).await),
        (1, EventKind::Woke, json!({"status": "sleeping"}))
    );
    assert_eq!(
        last(events_of(s, "asker", 10).await),
        (0, EventKind::Woke, json!({"timed_out": true}))
    );
    // Claimed before it is due (a resume by hand): not woken by time.
    s.claim("early", "cli", LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(last(events_of(s, "early", 10).await).1, EventKind::Step);
}

pub(crate) async fn upgrades_are_events_and_missing_runs_have_none<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    f.run_one_step("job-1").await;
    s.setback_step(failure("job-1", 2, 1)).await.unwrap();
    s.save_component("sha256:new", "hello", b"wasm".to_vec())
        .await
        .unwrap();
    s.upgrade_run(RunUpgrade {
        thread: "job-1".into(),
        workflow_name: "greet".into(),
        workflow_digest: "sha256:v2".into(),
        workflow_text: "name = \"greet\" # v2\n".into(),
        plugins: BTreeMap::from([("hello".into(), "sha256:new".into())]),
    })
    .await
    .unwrap();
    let events = events_of(s, "job-1", 10).await;
    assert_eq!(
        events.last().unwrap(),
        &(
            1,
            EventKind::Upgraded,
            json!({"workflow_digest": "sha256:v2", "plugins": {"hello": "sha256:new"}})
        )
    );
    let missing = s.events_page("ghost", None, 10).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
}

conformance! {
    #[tokio::test] a_runs_life_is_in_its_events,
    #[tokio::test] a_takeover_after_a_crash_is_an_event_with_the_next_attempt,
    #[tokio::test] due_runs_wake_with_an_event,
    #[tokio::test] upgrades_are_events_and_missing_runs_have_none,
}
