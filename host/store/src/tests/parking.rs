//! Parking and waking: setbacks that park a run (retry, interrupt, failure), the next wake time, and cancellation winning over every later write.

use super::*;

pub(crate) async fn setbacks_park_the_run_as_told<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();
    let t = f.now();

    s.setback_step(setback(
        "job-1",
        2,
        1,
        Setback::Retry {
            wake_at_ms: t + 2_000,
        },
    ))
    .await
    .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (
            run.status,
            run.step,
            run.attempt,
            run.wake_at_ms,
            run.error.as_deref(),
            run.error_node.as_deref()
        ),
        (
            RunStatus::Retrying,
            1,
            1,
            Some(t + 2_000),
            Some("node \"hello\" failed: boom"),
            Some("hello")
        )
    );
    assert_eq!(s.next_wake().await.unwrap(), Some(t + 2_000));

    let payload = json!({"question": "approve?", "amount": 3});
    s.setback_step(StepSetback {
        error: Some("ignored".to_owned()),
        ..setback(
            "job-1",
            2,
            2,
            Setback::Interrupted {
                payload: payload.clone(),
                deadline_ms: Some(t + 9_000),
            },
        )
    })
    .await
    .unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.interrupt, Some(payload));
    assert_eq!(run.wake_at_ms, Some(t + 9_000));
    assert_eq!((run.error, run.error_node, run.attempt), (None, None, 2));

    s.setback_step(failure("job-1", 2, 3)).await.unwrap();
    let run = s.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.wake_at_ms, run.interrupt, run.attempt),
        (RunStatus::Failed, None, None, 3)
    );
    assert_eq!(run.error_node.as_deref(), Some("hello"));
    assert_eq!(s.next_wake().await.unwrap(), None);
    assert_eq!(
        s.logs("job-1").await.unwrap().len(),
        4,
        "every attempt's logs"
    );

    // Wrong steps conflict whatever the kind.
    let err = s
        .setback_step(setback("job-1", 3, 1, Setback::Retry { wake_at_ms: t }))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected_step: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

pub(crate) async fn next_wake_is_the_earliest_parked_wake_time<S: TestStore>(f: Fixture<S>) {
    let t = f.now();
    assert_eq!(f.store.next_wake().await.unwrap(), None);
    f.runs(&["sleeper", "retry", "deadline", "waiting", "running"])
        .await;
    let s = &f.store;
    s.commit_step(sleep_commit("sleeper", 1, t + 3_000))
        .await
        .unwrap();
    s.setback_step(setback(
        "retry",
        1,
        1,
        Setback::Retry {
            wake_at_ms: t + 2_000,
        },
    ))
    .await
    .unwrap();
    s.setback_step(setback(
        "waiting",
        1,
        1,
        Setback::Interrupted {
            payload: json!(null),
            deadline_ms: None,
        },
    ))
    .await
    .unwrap();
    assert_eq!(s.next_wake().await.unwrap(), Some(t + 2_000));
    s.setback_step(setback(
        "deadline",
        1,
        1,
        Setback::Interrupted {
            payload: json!(null),
            deadline_ms: Some(t + 1_000),
        },
    ))
    .await
    .unwrap();
    assert_eq!(s.next_wake().await.unwrap(), Some(t + 1_000));
    s.cancel("deadline").await.unwrap();
    s.commit_step(commit("retry", 1, &["hello"])).await.unwrap();
    assert_eq!(s.next_wake().await.unwrap(), Some(t + 3_000));
}

pub(crate) async fn cancel_wins_over_every_later_write<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1", "done", "failed", "sleeper"]).await;
    let s = &f.store;
    s.claim("job-1", "me", LEASE_MS, &no_dead()).await.unwrap();
    s.commit_step(commit("job-1", 1, &["hello"])).await.unwrap();

    f.clock.advance(Duration::from_secs(1));
    let cancelled = s.cancel("job-1").await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.updated_at_ms, f.now());
    assert_eq!(
        cancelled.lease_owner.as_deref(),
        Some("me"),
        "the lease stays"
    );
    assert_eq!(cancelled.step, 1);

    let is_cancelled = |result: Result<(), StoreError>| {
        assert!(
            matches!(&result, Err(StoreError::Cancelled { thread }) if thread == "job-1"),
            "{result:?}"
        );
    };
    let mine = |commit: StepCommit| StepCommit {
        owner: Some("me".to_owned()),
        ..commit
    };
    is_cancelled(s.commit_step(mine(commit("job-1", 2, &[]))).await.map(drop));
    is_cancelled(s.commit_step(commit("job-1", 2, &[])).await.map(drop));
    is_cancelled(s.setback_step(failure("job-1", 2, 1)).await);
    is_cancelled(
        s.resume_input("job-1", None, RunStatus::Pending, None)
            .await
            .map(drop),
    );
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap(), cancelled);
    assert_eq!(s.history("job-1").await.unwrap().len(), 1, "history stays");
    assert_eq!(
        StoreError::Cancelled {
            thread: "job-1".to_owned()
        }
        .to_string(),
        r#"thread "job-1" was cancelled"#
    );

    // Finished runs cannot be cancelled, failed ones can; a sleeper stops sleeping.
    let err = s.cancel("job-1").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Finished {
                status: RunStatus::Cancelled,
                ..
            }
        ),
        "{err:?}"
    );
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    let err = s.cancel("done").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"thread "done" has already finished (status: completed)"#
    );
    s.setback_step(failure("failed", 1, 1)).await.unwrap();
    assert_eq!(
        s.cancel("failed").await.unwrap().status,
        RunStatus::Cancelled
    );
    s.commit_step(sleep_commit("sleeper", 1, f.now() + 1_000))
        .await
        .unwrap();
    let run = s.cancel("sleeper").await.unwrap();
    assert_eq!((run.status, run.wake_at_ms), (RunStatus::Cancelled, None));
    assert!(matches!(
        s.cancel("ghost").await,
        Err(StoreError::NotFound { .. })
    ));
    // Cancelled runs are never due.
    f.clock.advance(Duration::from_secs(60));
    assert!(
        s.claim_due("you", 10, LEASE_MS, &["me".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
}

conformance! {
    #[tokio::test] setbacks_park_the_run_as_told,
    #[tokio::test] next_wake_is_the_earliest_parked_wake_time,
    #[tokio::test] cancel_wins_over_every_later_write,
}
