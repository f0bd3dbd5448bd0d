//! Composition (issue 18): waiting runs, the mailbox of signals, child runs and their
//! parents, cascading cancels, and the send inputs of a position.

use super::*;

fn wait_signal(name: &str) -> Setback {
    Setback::Waiting {
        wait: Wait::Signal {
            name: name.to_owned(),
            node: "hello".to_owned(),
        },
        deadline_ms: None,
    }
}

fn wait_children(threads: &[&str], deadline_ms: Option<i64>) -> Setback {
    Setback::Waiting {
        wait: Wait::Children {
            threads: threads.iter().map(|t| (*t).to_owned()).collect(),
        },
        deadline_ms,
    }
}

fn child(thread: &str, parent: &str) -> NewRun {
    NewRun {
        parent: Some(parent.to_owned()),
        ..new_run(thread)
    }
}

async fn claimed<S: TestStore>(s: &S) -> Vec<RunRecord> {
    s.claim_due("me", 100, LEASE_MS, &no_dead()).await.unwrap()
}

/// The runs claimed now other than children (which are pending: claimable at once).
async fn claimed_parents<S: TestStore>(s: &S) -> Vec<RunRecord> {
    let mut runs = claimed(s).await;
    runs.retain(|run| run.parent.is_none());
    runs
}

/// A signal sent before the run waits is kept; the wait then finds it at once, the
/// claim is not a time-out, and the step that receives it marks it delivered once.
pub(crate) async fn a_signal_sent_before_the_wait_wakes_the_run_at_once<S: TestStore>(
    f: Fixture<S>,
) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let sent = s.send_signal("job-1", "go", json!({"n": 1})).await.unwrap();
    s.send_signal("job-1", "other", json!(null)).await.unwrap();
    let second = s.send_signal("job-1", "go", json!({"n": 2})).await.unwrap();
    assert!(second.id > sent.id);

    s.setback_step(setback("job-1", 1, 0, wait_signal("go")))
        .await
        .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Waiting);
    assert_eq!(
        run.waiting,
        Some(Wait::Signal {
            name: "go".into(),
            node: "hello".into()
        })
    );
    // Due at once: the signal was there.
    assert_eq!(run.wake_at_ms, Some(f.now()));
    let taken = claimed(s).await;
    assert_eq!(taken.len(), 1);
    assert!(
        !taken[0].timed_out,
        "woken by the signal, not by a deadline"
    );

    let next = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!((next.id, &next.data), (sent.id, &json!({"n": 1})));
    s.commit_step(StepCommit {
        consumed_signal: Some(next.id),
        owner: Some("me".into()),
        ..commit("job-1", 1, &["hello"])
    })
    .await
    .unwrap();
    let next = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!(next.id, second.id, "the first was delivered, once");
    let mailbox = s.signals("job-1", 100).await.unwrap();
    let delivered: Vec<Option<u64>> = mailbox.iter().map(|m| m.delivered_step).collect();
    assert_eq!(delivered, vec![Some(1), None, None]);
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!((run.status, run.waiting), (RunStatus::Running, None));
}

/// A run that waits with nothing in its mailbox sleeps until a signal of its name comes
/// (another name does not wake it); past its deadline it is claimed as timed out.
pub(crate) async fn a_waiting_run_wakes_on_its_signal_or_times_out<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1", "job-2"]).await;
    let s = &f.store;
    s.setback_step(setback("job-1", 1, 0, wait_signal("go")))
        .await
        .unwrap();
    let deadline = f.now() + 5_000;
    s.setback_step(setback(
        "job-2",
        1,
        0,
        Setback::Waiting {
            wait: Wait::Signal {
                name: "go".into(),
                node: "hello".into(),
            },
            deadline_ms: Some(deadline),
        },
    ))
    .await
    .unwrap();
    assert!(claimed(s).await.is_empty());
    assert_eq!(s.next_wake().await.unwrap(), Some(deadline));
    s.send_signal("job-1", "stop", json!(1)).await.unwrap();
    assert!(claimed(s).await.is_empty(), "another name does not wake it");
    s.send_signal("job-1", "go", json!(2)).await.unwrap();
    let taken = claimed(s).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(
        (taken[0].thread.as_str(), taken[0].timed_out),
        ("job-1", false)
    );

    f.clock.advance(Duration::from_millis(5_000));
    let taken = claimed(s).await;
    assert_eq!(taken.len(), 1);
    assert_eq!(
        (taken[0].thread.as_str(), taken[0].timed_out),
        ("job-2", true)
    );
    let counts = s.count_runs(f.now()).await.unwrap();
    assert_eq!(counts.by_status.get(&RunStatus::Waiting), Some(&2));
}

/// Signals to a finished or missing run are refused; a failed one takes them.
pub(crate) async fn signals_to_finished_runs_are_refused<S: TestStore>(f: Fixture<S>) {
    f.runs(&["done", "failed", "cancelled"]).await;
    let s = &f.store;
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    s.setback_step(failure("failed", 1, 1)).await.unwrap();
    s.cancel("cancelled").await.unwrap();
    for thread in ["done", "cancelled"] {
        let error = s.send_signal(thread, "go", json!(1)).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Conflict, "{error}");
    }
    let error = s.send_signal("nobody", "go", json!(1)).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::NotFound, "{error}");
    assert_eq!(
        s.signals("nobody", 10).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
    s.send_signal("failed", "go", json!(1)).await.unwrap();
    assert_eq!(s.signals("failed", 10).await.unwrap().len(), 1);
}

/// A signal is delivered by the write of the step that received it, and only if that
/// write is made: a refused write (a lost lease) leaves it undelivered.
pub(crate) async fn a_refused_write_does_not_deliver_its_signal<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let sent = s.send_signal("job-1", "go", json!(1)).await.unwrap();
    claimed(s).await;
    let error = s
        .commit_step(StepCommit {
            consumed_signal: Some(sent.id),
            owner: Some("someone-else".into()),
            ..commit("job-1", 1, &["hello"])
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Conflict, "{error}");
    let next = s.next_signal("job-1", "go").await.unwrap().unwrap();
    assert_eq!(next.id, sent.id);
    // A setback that received it (the node waited again) delivers it.
    s.setback_step(StepSetback {
        consumed_signal: Some(sent.id),
        owner: Some("me".into()),
        ..setback("job-1", 1, 0, wait_signal("go"))
    })
    .await
    .unwrap();
    assert_eq!(s.next_signal("job-1", "go").await.unwrap(), None);
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        run.wake_at_ms, None,
        "the only signal was delivered: it waits"
    );
}

/// A child that completes, fails or is cancelled wakes its waiting parent, also when it
/// finished before the parent parked; children are listed by parent.
pub(crate) async fn children_wake_their_waiting_parent<S: TestStore>(f: Fixture<S>) {
    f.runs(&["parent"]).await;
    let s = &f.store;
    s.create_run(child("parent/1/a", "parent")).await.unwrap();
    s.create_run(child("parent/1/b", "parent")).await.unwrap();
    let run = s.load_run("parent/1/a").await.unwrap().unwrap();
    assert_eq!(run.parent.as_deref(), Some("parent"));

    s.setback_step(setback(
        "parent",
        1,
        0,
        wait_children(&["parent/1/a", "parent/1/b"], None),
    ))
    .await
    .unwrap();
    assert!(claimed_parents(s).await.is_empty());
    assert_eq!(s.next_wake().await.unwrap(), None);
    s.commit_step(commit("parent/1/a", 1, &[])).await.unwrap();
    let parent = s.load_run("parent").await.unwrap().unwrap();
    assert_eq!(parent.wake_at_ms, Some(f.now()), "woken by its child");
    let taken = claimed_parents(s).await;
    assert_eq!(taken.len(), 1);
    assert!(!taken[0].timed_out);

    // Waits again for b, which has failed already: woken at once.
    s.setback_step(failure("parent/1/b", 1, 1)).await.unwrap();
    s.setback_step(StepSetback {
        owner: Some("me".into()),
        ..setback("parent", 1, 0, wait_children(&["parent/1/b"], None))
    })
    .await
    .unwrap();
    let parent = s.load_run("parent").await.unwrap().unwrap();
    assert_eq!(
        (parent.status, parent.wake_at_ms),
        (RunStatus::Waiting, Some(f.now()))
    );

    let filter = RunFilter {
        parent: Some("parent".into()),
        ..RunFilter::default()
    };
    let page = s.list_runs(&filter, None, 10).await.unwrap();
    let mut children: Vec<(String, Option<String>)> = page
        .runs
        .into_iter()
        .map(|r| (r.thread, r.parent))
        .collect();
    children.sort();
    assert_eq!(
        children,
        vec![
            ("parent/1/a".into(), Some("parent".into())),
            ("parent/1/b".into(), Some("parent".into()))
        ]
    );
}

/// Cancelling a run cancels its unfinished descendants in the same write; finished ones
/// stay as they are.
pub(crate) async fn cancel_cascades_to_descendants<S: TestStore>(f: Fixture<S>) {
    f.runs(&["root"]).await;
    let s = &f.store;
    s.create_run(child("root/1/a", "root")).await.unwrap();
    s.create_run(child("root/1/b", "root")).await.unwrap();
    s.create_run(child("root/1/a/1/x", "root/1/a"))
        .await
        .unwrap();
    s.create_run(new_run("stranger")).await.unwrap();
    s.commit_step(commit("root/1/b", 1, &[])).await.unwrap();
    s.cancel("root").await.unwrap();
    let status =
        |thread: &'static str| async move { s.load_run(thread).await.unwrap().unwrap().status };
    assert_eq!(status("root/1/a").await, RunStatus::Cancelled);
    assert_eq!(status("root/1/a/1/x").await, RunStatus::Cancelled);
    assert_eq!(status("root/1/b").await, RunStatus::Completed);
    assert_eq!(status("stranger").await, RunStatus::Pending);
}

/// The send inputs of a position are stored with it, and a plain step clears them.
pub(crate) async fn send_inputs_are_part_of_the_position<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let inputs: BTreeMap<String, Value> = [
        ("double#0".to_owned(), json!({"item": 1})),
        ("double#1".to_owned(), json!({"item": 2})),
    ]
    .into();
    let after = s
        .commit_step(StepCommit {
            send_inputs: inputs.clone(),
            ..commit("job-1", 1, &["double#0", "double#1"])
        })
        .await
        .unwrap();
    assert_eq!(after.send_inputs, inputs);
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.send_inputs, inputs);
    assert_eq!(run.next, vec!["double#0", "double#1"]);
    s.commit_step(commit("job-1", 2, &["hello"])).await.unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert!(run.send_inputs.is_empty());
}

conformance! {
    #[tokio::test] a_signal_sent_before_the_wait_wakes_the_run_at_once,
    #[tokio::test] a_waiting_run_wakes_on_its_signal_or_times_out,
    #[tokio::test] signals_to_finished_runs_are_refused,
    #[tokio::test] a_refused_write_does_not_deliver_its_signal,
    #[tokio::test] children_wake_their_waiting_parent,
    #[tokio::test] cancel_cascades_to_descendants,
    #[tokio::test] send_inputs_are_part_of_the_position,
}
