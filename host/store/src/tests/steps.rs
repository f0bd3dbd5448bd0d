//! Steps: commits, setbacks, the pending writes of parallel branches, and what a commit clears and returns.

use super::*;

pub(crate) async fn committed_steps_show_in_history_newest_first<S: TestStore>(f: Fixture<S>) {
    f.store.create_run(new_run("job-1")).await.unwrap();
    for step in 1..=3 {
        f.clock.advance(Duration::from_secs(1));
        let next: &[&str] = if step == 3 { &[] } else { &["hello"] };
        f.store
            .commit_step(commit("job-1", step, next))
            .await
            .unwrap();
    }

    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.step, 3);
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.next.is_empty());
    assert_eq!(run.state, object(json!({"name": "Ada", "step": 3})));
    assert_eq!(run.updated_at_ms, 1_795_611_200_123);
    assert_eq!(run.created_at_ms, 1_795_611_197_123);

    let history = f.store.history("job-1").await.unwrap();
    let steps: Vec<u64> = history.iter().map(|c| c.step).collect();
    assert_eq!(steps, [3, 2, 1]);
    let oldest = &history[2];
    assert_eq!(oldest.node, "node-1");
    assert_eq!(oldest.state, object(json!({"name": "Ada", "step": 1})));
    assert_eq!(oldest.next, ["hello"]);
    assert_eq!(oldest.component_digest, "sha256:component-1");
    assert_eq!(oldest.workflow_digest, "sha256:abc");
    assert_eq!(
        format_time(oldest.created_at_ms),
        "2026-11-25T12:53:18.123Z"
    );
}

pub(crate) async fn a_commit_for_the_wrong_step_conflicts_and_writes_nothing<S: TestStore>(
    f: Fixture<S>,
) {
    let created = f.store.create_run(new_run("job-1")).await.unwrap();
    f.clock.advance(Duration::from_secs(1));

    let err = f
        .store
        .commit_step(commit("job-1", 2, &["hello"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict { ref thread, expected_step: 1, found_step: 2 } if thread == "job-1"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(r#"thread "job-1""#), "{err}");
    let err = f
        .store
        .setback_step(failure("job-1", 0, 1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");

    assert_eq!(f.store.load_run("job-1").await.unwrap().unwrap(), created);
    assert!(f.store.history("job-1").await.unwrap().is_empty());
    assert!(f.store.logs("job-1").await.unwrap().is_empty());

    // Committing the same step twice: the second one conflicts.
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    let err = f
        .store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected_step: 2,
                found_step: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.store.history("job-1").await.unwrap().len(), 1);
}

pub(crate) async fn a_failed_step_marks_the_run_failed_until_resumed<S: TestStore>(f: Fixture<S>) {
    f.run_one_step("job-1").await;
    f.clock.advance(Duration::from_secs(5));
    f.store.setback_step(failure("job-1", 2, 3)).await.unwrap();

    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.status.is_finished());
    assert_eq!(run.step, 1, "a failure does not move the run");
    assert_eq!(run.state, object(json!({"name": "Ada", "step": 1})));
    assert_eq!(run.error.as_deref(), Some("node \"hello\" failed: boom"));
    assert_eq!(run.error_node.as_deref(), Some("hello"));
    assert_eq!(run.attempt, 3);
    assert_eq!(run.updated_at_ms, 1_795_611_202_123);
    assert_eq!(f.store.history("job-1").await.unwrap().len(), 1);

    // Resuming clears the error; the next commit resets the attempt count.
    f.store
        .set_status("job-1", RunStatus::Running)
        .await
        .unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.error, run.error_node, run.attempt),
        (RunStatus::Running, None, None, 3)
    );
    f.store.commit_step(commit("job-1", 2, &[])).await.unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.step, run.attempt),
        (RunStatus::Completed, 2, 0)
    );
}

pub(crate) async fn pending_writes_are_kept_until_the_step_commits<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1", "job-2"]).await;
    let s = &f.store;
    s.commit_step(commit("job-1", 1, &["a", "b", "c"]))
        .await
        .unwrap();

    s.setback_step(StepSetback {
        pending: vec![pending_write("b", 1)],
        ..setback(
            "job-1",
            2,
            1,
            Setback::Retry {
                wake_at_ms: f.now(),
            },
        )
    })
    .await
    .unwrap();
    assert_eq!(
        s.load_run("job-1").await.unwrap().unwrap().pending,
        [pending_write("b", 1)]
    );
    // A later setback adds and replaces by node.
    s.setback_step(StepSetback {
        pending: vec![pending_write("c", 1), pending_write("b", 2)],
        ..failure("job-1", 2, 2)
    })
    .await
    .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.pending, [pending_write("b", 2), pending_write("c", 1)]);
    assert_eq!(run.pending[0].goto.as_deref(), Some("done"));
    assert_eq!(run.pending[1].goto, None);
    assert!(
        s.load_run("job-2")
            .await
            .unwrap()
            .unwrap()
            .pending
            .is_empty()
    );

    // They survive reopening, and the commit of the step clears them.
    let reopened = f.open_again().await;
    assert_eq!(reopened.load_run("job-1").await.unwrap().unwrap(), run);
    let mut joins = BTreeMap::new();
    joins.insert("join".to_owned(), BTreeSet::from(["b".to_owned()]));
    s.commit_step(StepCommit {
        node: "a, b, c".to_owned(),
        component_digest: "sha256:a,sha256:b,sha256:c".to_owned(),
        joins: joins.clone(),
        wakes: 4,
        ..commit("job-1", 2, &["join"])
    })
    .await
    .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert!(run.pending.is_empty());
    assert_eq!((run.joins, run.wakes), (joins, 4));
    let latest = &s.history("job-1").await.unwrap()[0];
    assert_eq!(latest.node, "a, b, c");
    assert_eq!(latest.component_digest, "sha256:a,sha256:b,sha256:c");
}

pub(crate) async fn commits_clear_what_the_step_consumed<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    let t = f.now();
    s.commit_step(sleep_commit("job-1", 1, t + 1_000))
        .await
        .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.wake_at_ms, run.wakes),
        (RunStatus::Sleeping, Some(t + 1_000), 1)
    );

    s.setback_step(setback(
        "job-1",
        2,
        1,
        Setback::Interrupted {
            payload: json!("why?"),
            deadline_ms: Some(t + 500),
        },
    ))
    .await
    .unwrap();
    f.clock.advance(Duration::from_secs(1));
    let run = s.claim("job-1", "me", LEASE_MS, &no_dead()).await.unwrap();
    assert!(run.timed_out);
    s.setback_step(failure("job-1", 2, 2)).await.unwrap();
    let run = s
        .resume_input("job-1", None, RunStatus::Running, Some("me"))
        .await
        .unwrap();
    assert!(run.timed_out, "the retried call still follows the time-out");
    assert_eq!(run.retry_base, 2);
    s.commit_step(commit("job-1", 2, &["hello"])).await.unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (
            run.status,
            run.wake_at_ms,
            run.wakes,
            run.timed_out,
            run.attempt,
            run.retry_base,
            run.interrupt,
            run.resume
        ),
        (RunStatus::Running, None, 0, false, 0, 0, None, None)
    );
}

pub(crate) async fn resume_input_stores_the_input_and_restarts_the_retry_budget<S: TestStore>(
    f: Fixture<S>,
) {
    f.runs(&["asked", "failed"]).await;
    let s = &f.store;
    s.setback_step(setback(
        "asked",
        1,
        1,
        Setback::Interrupted {
            payload: json!({"question": "name?"}),
            deadline_ms: Some(f.now() + 1_000),
        },
    ))
    .await
    .unwrap();
    f.clock.advance(Duration::from_secs(1));
    let run = s
        .resume_input(
            "asked",
            Some(json!({"name": "Grace"})),
            RunStatus::Pending,
            None,
        )
        .await
        .unwrap();
    assert_eq!(s.load_run("asked").await.unwrap().unwrap(), run);
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.resume, Some(json!({"name": "Grace"})));
    assert_eq!((run.interrupt, run.wake_at_ms), (None, None));
    assert_eq!(
        (run.attempt, run.retry_base),
        (1, 0),
        "not failed: budget kept"
    );
    assert_eq!(run.updated_at_ms, f.now());
    // A JSON null is an input, not the absence of one.
    let run = s
        .resume_input("asked", Some(Value::Null), RunStatus::Pending, None)
        .await
        .unwrap();
    assert_eq!(run.resume, Some(Value::Null));
    // The node interrupts again: the input was used up.
    s.setback_step(setback(
        "asked",
        1,
        2,
        Setback::Interrupted {
            payload: json!("again"),
            deadline_ms: None,
        },
    ))
    .await
    .unwrap();
    let run = s.load_run("asked").await.unwrap().unwrap();
    assert_eq!((run.resume, run.wake_at_ms), (None, None));

    s.setback_step(failure("failed", 1, 3)).await.unwrap();
    s.claim("failed", "me", LEASE_MS, &no_dead()).await.unwrap();
    let run = s
        .resume_input("failed", Some(json!(7)), RunStatus::Running, Some("me"))
        .await
        .unwrap();
    assert_eq!(
        (
            run.status,
            run.resume,
            run.attempt,
            run.retry_base,
            run.error,
            run.error_node
        ),
        (RunStatus::Running, Some(json!(7)), 3, 3, None, None)
    );
    // None clears the input; the budget base stays until the next commit.
    let run = s
        .resume_input("failed", None, RunStatus::Pending, None)
        .await
        .unwrap();
    assert_eq!((run.resume, run.retry_base), (None, 3));
    assert!(matches!(
        s.resume_input("ghost", None, RunStatus::Pending, None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

pub(crate) async fn commit_step_returns_the_position_it_stored<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    s.save_component("sha256:c1", "hello", b"\0asm".to_vec())
        .await
        .unwrap();
    let pins = BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]);
    s.create_run(NewRun {
        plugins: pins.clone(),
        ..new_run("job-1")
    })
    .await
    .unwrap();
    s.claim("job-1", "me", LEASE_MS, &no_dead()).await.unwrap();
    s.setback_step(StepSetback {
        owner: Some("me".to_owned()),
        ..failure("job-1", 1, 1)
    })
    .await
    .unwrap();
    s.resume_input("job-1", Some(json!("go")), RunStatus::Running, Some("me"))
        .await
        .unwrap();
    let t = f.now();
    let joins = BTreeMap::from([("j".to_owned(), BTreeSet::from(["a".to_owned()]))]);
    // A running run going on (the UPDATE that leaves status and wake time alone), one
    // that parks, one that wakes and one that completes (and gives its lease back).
    let commits = [
        StepCommit {
            joins,
            ..commit("job-1", 1, &["hello"])
        },
        sleep_commit("job-1", 2, t + 1_000),
        commit("job-1", 3, &["hello"]),
        commit("job-1", 4, &[]),
    ];
    for step in commits {
        f.clock.advance(Duration::from_millis(10));
        let step = StepCommit {
            owner: Some("me".to_owned()),
            ..step
        };
        let returned = s.commit_step(step.clone()).await.unwrap();
        let stored = s.load_run("job-1").await.unwrap().unwrap();
        assert_eq!(returned, stored, "step {}", step.step);
        assert_eq!(
            (
                returned.step,
                returned.status,
                &returned.state,
                &returned.plugins
            ),
            (step.step, step.status, &step.state, &pins)
        );
        assert_eq!(returned.updated_at_ms, f.now());
    }
    assert_eq!(
        s.load_run("job-1").await.unwrap().unwrap().lease_owner,
        None
    );
}

conformance! {
    #[tokio::test] committed_steps_show_in_history_newest_first,
    #[tokio::test] a_commit_for_the_wrong_step_conflicts_and_writes_nothing,
    #[tokio::test] a_failed_step_marks_the_run_failed_until_resumed,
    #[tokio::test] pending_writes_are_kept_until_the_step_commits,
    #[tokio::test] commits_clear_what_the_step_consumed,
    #[tokio::test] resume_input_stores_the_input_and_restarts_the_retry_budget,
    #[tokio::test] commit_step_returns_the_position_it_stored,
}
