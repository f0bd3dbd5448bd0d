//! Composition and the writes that walk a run's rows (issue 18): forks, edits and replays
//! take the send inputs of their checkpoint; a waiting run resumed by hand; the mailbox
//! under delete and gc; a signal delivered once across a crash; wakes and the claim order.

use super::*;

fn sends() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("double#0".to_owned(), json!({"item": 1})),
        ("double#1".to_owned(), json!({"item": 2})),
    ])
}

fn wait_signal(name: &str, deadline_ms: Option<i64>) -> Setback {
    Setback::Waiting {
        wait: Wait::Signal {
            name: name.to_owned(),
            node: "hello".to_owned(),
        },
        deadline_ms,
    }
}

/// `job-1`: step 1 sends twice (its next is the two sends), step 2 is a plain step.
async fn sent_then_plain<S: TestStore>(s: &S) {
    s.create_run(new_run("job-1")).await.unwrap();
    s.commit_step(StepCommit {
        send_inputs: sends(),
        ..commit("job-1", 1, &["double#0", "double#1"])
    })
    .await
    .unwrap();
    s.commit_step(commit("job-1", 2, &["hello"])).await.unwrap();
}

/// A fork from a checkpoint takes its send inputs with its next nodes, as a replay in
/// place does; a fork from a plain step has none.
pub(crate) async fn forks_and_replays_take_the_send_inputs_of_their_checkpoint<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    sent_then_plain(s).await;
    let fork = |thread: &str, step: u64| ForkRun {
        source: "job-1".into(),
        step,
        thread: thread.into(),
        start: vec!["hello".into()],
        edit: None,
        by: "test".into(),
    };
    let forked = s.fork_run(fork("fork-1", 1)).await.unwrap();
    assert_eq!(forked.next, vec!["double#0", "double#1"]);
    assert_eq!(forked.send_inputs, sends());
    let read = s.load_run("fork-1").await.unwrap().unwrap();
    assert_eq!(read.send_inputs, sends());
    let plain = s.fork_run(fork("fork-2", 2)).await.unwrap();
    assert!(plain.send_inputs.is_empty());
    let input = s.fork_run(fork("fork-0", 0)).await.unwrap();
    assert!(input.send_inputs.is_empty());

    let replayed = s
        .replay_run(ReplayRun {
            thread: "job-1".into(),
            from_step: 1,
            start: vec!["hello".into()],
            by: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(replayed.send_inputs, sends());
    assert_eq!(
        s.load_run("job-1").await.unwrap().unwrap().send_inputs,
        sends()
    );
    // A fork of the fork (its checkpoint "fork" at step 1) takes them on too.
    let again = s
        .fork_run(ForkRun {
            source: "fork-1".into(),
            ..fork("fork-3", 1)
        })
        .await
        .unwrap();
    assert_eq!(again.send_inputs, sends());
}

/// An edit keeps the inputs of the sends still among its next nodes, and the checkpoint
/// it writes has them (a fork from it takes them).
pub(crate) async fn an_edit_keeps_the_sends_it_still_runs<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    s.create_run(new_run("job-1")).await.unwrap();
    s.commit_step(StepCommit {
        send_inputs: sends(),
        ..commit("job-1", 1, &["double#0", "double#1"])
    })
    .await
    .unwrap();
    let edit = |next: &[&str]| StateEdit {
        node: "update".into(),
        as_node: None,
        values: object(json!({"name": "Bo"})),
        changes: object(json!({"name": "Bo"})),
        state: object(json!({"name": "Bo", "step": 1})),
        next: next.iter().map(|n| (*n).to_owned()).collect(),
        by: "test".into(),
    };
    let edited = s
        .edit_run("job-1", 1, edit(&["double#0", "double#1"]))
        .await
        .unwrap();
    assert_eq!(edited.send_inputs, sends());
    let edited = s.edit_run("job-1", 2, edit(&["double#1"])).await.unwrap();
    let kept = BTreeMap::from([("double#1".to_owned(), json!({"item": 2}))]);
    assert_eq!(edited.send_inputs, kept);
    let forked = s
        .fork_run(ForkRun {
            source: "job-1".into(),
            step: 3,
            thread: "fork-3".into(),
            start: Vec::new(),
            edit: None,
            by: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(forked.send_inputs, kept);
    let edited = s.edit_run("job-1", 3, edit(&["hello"])).await.unwrap();
    assert!(edited.send_inputs.is_empty());
}

/// A waiting run resumed by hand without input is no longer waiting: its next step runs
/// the waiting node again without a signal (the mailbox keeps what it holds), and a
/// claim of it is not a time-out. Setting another status clears the wait too.
pub(crate) async fn a_waiting_run_resumed_by_hand_waits_no_more<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1", "job-2"]).await;
    let s = &f.store;
    let deadline = f.now() + 5_000;
    for thread in ["job-1", "job-2"] {
        s.setback_step(setback(thread, 1, 0, wait_signal("go", Some(deadline))))
            .await
            .unwrap();
    }
    s.send_signal("job-1", "other", json!(1)).await.unwrap();
    let resumed = s
        .resume_input("job-1", None, RunStatus::Running, None)
        .await
        .unwrap();
    assert_eq!(
        (resumed.status, &resumed.waiting, resumed.wake_at_ms),
        (RunStatus::Running, &None, None)
    );
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap(), resumed);
    let events = super::events::events_of(s, "job-1", 100).await;
    let kinds: Vec<EventKind> = events.iter().map(|(_, kind, _)| *kind).collect();
    assert!(kinds.ends_with(&[EventKind::Resumed]), "{kinds:?}");
    let mailbox = s.signals("job-1", 10).await.unwrap();
    assert_eq!(mailbox.len(), 1);
    assert_eq!(mailbox[0].delivered_step, None);

    s.set_status("job-2", RunStatus::Running).await.unwrap();
    let run = s.load_run("job-2").await.unwrap().unwrap();
    assert_eq!((run.status, run.waiting), (RunStatus::Running, None));

    f.clock.advance(Duration::from_millis(5_000));
    let taken = s.claim("job-1", "me", LEASE_MS, &no_dead()).await.unwrap();
    assert!(
        !taken.timed_out,
        "it no longer waits: there is nothing to time out"
    );
}

/// A run's mailbox goes with the run; its children stay, naming a parent that is gone; a
/// child deleted while its parent waits for it wakes the parent.
pub(crate) async fn a_delete_takes_the_mailbox_and_leaves_the_children<S: TestStore>(
    f: Fixture<S>,
) {
    f.runs(&["parent"]).await;
    let s = &f.store;
    for child in ["parent/1/a", "parent/1/b"] {
        s.create_run(NewRun {
            parent: Some("parent".into()),
            ..new_run(child)
        })
        .await
        .unwrap();
    }
    s.send_signal("parent", "go", json!({"n": 1}))
        .await
        .unwrap();
    s.send_signal("parent", "go", json!({"n": 2}))
        .await
        .unwrap();
    s.setback_step(setback(
        "parent",
        1,
        0,
        Setback::Waiting {
            wait: Wait::Children {
                threads: vec!["parent/1/a".into()],
            },
            deadline_ms: None,
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        s.load_run("parent").await.unwrap().unwrap().wake_at_ms,
        None
    );

    s.delete_run("parent/1/a", true).await.unwrap();
    let parent = s.load_run("parent").await.unwrap().unwrap();
    assert_eq!(
        (parent.status, parent.wake_at_ms),
        (RunStatus::Waiting, Some(f.now())),
        "a deleted child wakes the parent that waits for it"
    );

    s.delete_run("parent", true).await.unwrap();
    let error = s.signals("parent", 10).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::NotFound, "{error}");
    let child = s.load_run("parent/1/b").await.unwrap().unwrap();
    assert_eq!(
        (child.status, child.parent.as_deref()),
        (RunStatus::Pending, Some("parent")),
        "a child outlives its deleted parent, naming it"
    );
    let filter = RunFilter {
        parent: Some("parent".into()),
        ..RunFilter::default()
    };
    let children = s.list_runs(&filter, None, 10).await.unwrap().runs;
    assert_eq!(children.len(), 1);
    // The thread can be used again, with an empty mailbox.
    s.create_run(new_run("parent")).await.unwrap();
    assert_eq!(s.signals("parent", 10).await.unwrap(), Vec::new());
    assert_eq!(s.next_signal("parent", "go").await.unwrap(), None);
}

/// gc keeps every run's mailbox (histories stay whole), finished runs' too.
pub(crate) async fn gc_keeps_the_mailbox<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let sent = s.send_signal("job-1", "go", json!(1)).await.unwrap();
    s.send_signal("job-1", "go", json!(2)).await.unwrap();
    s.commit_step(StepCommit {
        consumed_signal: Some(sent.id),
        ..commit("job-1", 1, &[])
    })
    .await
    .unwrap();
    s.collect_garbage().await.unwrap();
    let mailbox = s.signals("job-1", 10).await.unwrap();
    let delivered: Vec<Option<u64>> = mailbox.iter().map(|m| m.delivered_step).collect();
    assert_eq!(delivered, vec![Some(1), None]);
}

/// A signal is delivered exactly once however often its step is attempted: a holder that
/// read it and crashed before its commit left it undelivered, so the next holder reads
/// the same one; after that holder's commit the crashed one's late commit is refused and
/// delivers nothing, and the next read is the next signal.
pub(crate) async fn a_signal_is_delivered_once_across_a_crash<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let first = s.send_signal("job-1", "go", json!(1)).await.unwrap();
    let second = s.send_signal("job-1", "go", json!(2)).await.unwrap();
    s.claim("job-1", "host-a", LEASE_MS, &no_dead())
        .await
        .unwrap();
    let read_by_a = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!(read_by_a.id, first.id);
    // host-a crashes before its commit; its lease runs out and host-b takes the run.
    f.clock.advance(Duration::from_millis(LEASE_MS as u64 + 1));
    s.claim("job-1", "host-b", LEASE_MS, &no_dead())
        .await
        .unwrap();
    let read_by_b = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!(read_by_b.id, first.id, "the same signal, not delivered yet");
    s.commit_step(StepCommit {
        consumed_signal: Some(read_by_b.id),
        owner: Some("host-b".into()),
        ..commit("job-1", 1, &["hello"])
    })
    .await
    .unwrap();
    let late = s
        .commit_step(StepCommit {
            consumed_signal: Some(read_by_a.id),
            owner: Some("host-a".into()),
            ..commit("job-1", 1, &["hello"])
        })
        .await
        .unwrap_err();
    assert_eq!(late.kind(), StoreErrorKind::Conflict, "{late}");
    let next = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!(next.id, second.id);
    let mailbox = s.signals("job-1", 10).await.unwrap();
    let delivered: Vec<Option<u64>> = mailbox.iter().map(|m| m.delivered_step).collect();
    assert_eq!(delivered, vec![Some(1), None]);
}

/// A signal that comes after a waiting run's deadline passed (it is due, not yet taken)
/// wakes it without moving its wake time back in the claim order, and the claim is not a
/// time-out: the signal came.
pub(crate) async fn a_late_wake_keeps_the_wake_time_that_passed<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let deadline = f.now() + 1_000;
    s.setback_step(setback("job-1", 1, 0, wait_signal("go", Some(deadline))))
        .await
        .unwrap();
    f.clock.advance(Duration::from_millis(3_000));
    s.send_signal("job-1", "go", json!(1)).await.unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.wake_at_ms, Some(deadline));
    let taken = s.claim_due("me", 10, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(!taken[0].timed_out, "the signal came before the claim");
}

conformance! {
    #[tokio::test] forks_and_replays_take_the_send_inputs_of_their_checkpoint,
    #[tokio::test] an_edit_keeps_the_sends_it_still_runs,
    #[tokio::test] a_waiting_run_resumed_by_hand_waits_no_more,
    #[tokio::test] a_delete_takes_the_mailbox_and_leaves_the_children,
    #[tokio::test] gc_keeps_the_mailbox,
    #[tokio::test] a_signal_is_delivered_once_across_a_crash,
    #[tokio::test] a_late_wake_keeps_the_wake_time_that_passed,
}
