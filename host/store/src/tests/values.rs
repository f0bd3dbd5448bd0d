//! States: per-key writes, whole states put back together, long values stored once.

use super::*;

pub(crate) async fn a_step_writes_only_the_keys_it_changed_and_reads_see_whole_states<
    S: TestStore,
>(
    f: Fixture<S>,
) {
    let big = "x".repeat(100_000);
    f.store
        .create_run(NewRun {
            input: object(json!({"zeta": 0, "payload": big, "alpha": []})),
            ..new_run("job-1")
        })
        .await
        .unwrap();
    let step = |step: u64, changes: Value| StepCommit {
        changes: object(changes),
        ..commit("job-1", step, &["hello"])
    };
    f.store
        .commit_step(step(1, json!({"zeta": 1})))
        .await
        .unwrap();
    // A step may change nothing, and may add a key.
    f.store.commit_step(step(2, json!({}))).await.unwrap();
    f.store
        .commit_step(step(3, json!({"zeta": 3, "new": true})))
        .await
        .unwrap();

    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(keys(&run.state), ["zeta", "payload", "alpha", "new"]);
    assert_eq!(run.state["zeta"], json!(3));
    assert_eq!(run.state["payload"], json!(big));

    let history = f.store.history("job-1").await.unwrap();
    let zetas: Vec<(u64, &Value)> = history.iter().map(|c| (c.step, &c.state["zeta"])).collect();
    assert_eq!(
        zetas,
        [(3, &json!(3)), (2, &json!(1)), (1, &json!(1))],
        "newest first, whole states"
    );
    assert!(history.iter().all(|c| c.state["payload"] == json!(big)));
    assert_eq!(keys(&history[2].state), ["zeta", "payload", "alpha"]);
}

pub(crate) async fn a_large_value_is_stored_once_however_many_runs_hold_it<S: TestStore>(
    f: Fixture<S>,
) {
    let big = "y".repeat(50_000);
    for i in 0..5 {
        f.store
            .create_run(NewRun {
                input: object(json!({"count": i, "document": big})),
                ..new_run(&format!("job-{i}"))
            })
            .await
            .unwrap();
    }
    for i in 0..5 {
        let run = f
            .store
            .load_run(&format!("job-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(run.state, object(json!({"count": i, "document": big})));
    }
}

pub(crate) async fn state_at_any_committed_step_and_not_beyond<S: TestStore>(f: Fixture<S>) {
    f.run_one_step("job-1").await;
    let at = |step| f.store.state_at("job-1", step);
    assert_eq!(at(0).await.unwrap(), Some(object(json!({"name": "Ada"}))));
    assert_eq!(
        at(1).await.unwrap(),
        Some(object(json!({"name": "Ada", "step": 1})))
    );
    assert_eq!(at(2).await.unwrap(), None);
    assert!(matches!(
        f.store.state_at("nope", 0).await,
        Err(StoreError::NotFound { .. })
    ));
}

conformance! {
    #[tokio::test] a_step_writes_only_the_keys_it_changed_and_reads_see_whole_states,
    #[tokio::test] a_large_value_is_stored_once_however_many_runs_hold_it,
    #[tokio::test] state_at_any_committed_step_and_not_beyond,
}
