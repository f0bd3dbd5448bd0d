//! Runs: creating, loading and listing them, threads that do not exist, and a second store on the same database.

use super::*;

pub(crate) async fn create_and_load_round_trip<S: TestStore>(f: Fixture<S>) {
    let created = f.store.create_run(new_run("job-1")).await.unwrap();
    assert_eq!(created.status, RunStatus::Pending);
    assert_eq!(created.step, 0);
    assert_eq!(created.state, object(json!({"name": "Ada"})));
    assert_eq!(created.next, ["hello"]);
    assert_eq!(created.attempt, 0);
    assert_eq!(created.created_at_ms, 1_795_611_197_123);
    assert_eq!(created.updated_at_ms, created.created_at_ms);

    let loaded = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(loaded, created);
    assert_eq!(
        f.store
            .workflow_text("sha256:abc")
            .await
            .unwrap()
            .as_deref(),
        Some("name = \"greet\"\n")
    );
    assert_eq!(f.store.load_run("nope").await.unwrap(), None);
    assert_eq!(f.store.workflow_text("sha256:nope").await.unwrap(), None);
}

pub(crate) async fn create_on_an_existing_thread_fails<S: TestStore>(f: Fixture<S>) {
    f.store.create_run(new_run("job-1")).await.unwrap();
    f.store
        .set_status("job-1", RunStatus::Running)
        .await
        .unwrap();
    let err = f.store.create_run(new_run("job-1")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ThreadExists { thread, status: RunStatus::Running } if thread == "job-1"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        r#"thread "job-1" already exists (status: running)"#
    );
    // A second run of the same workflow shares its stored text.
    f.store.create_run(new_run("job-2")).await.unwrap();
}

pub(crate) async fn unknown_threads_are_not_found<S: TestStore>(f: Fixture<S>) {
    let not_found = |result: Result<_, StoreError>| matches!(result, Err(StoreError::NotFound { ref thread }) if thread == "ghost");
    assert!(not_found(
        f.store.commit_step(commit("ghost", 1, &[])).await.map(drop)
    ));
    assert!(not_found(
        f.store.setback_step(failure("ghost", 1, 1)).await
    ));
    assert!(not_found(
        f.store.set_status("ghost", RunStatus::Cancelled).await
    ));
    assert!(not_found(f.store.history("ghost").await.map(drop)));
    assert!(not_found(f.store.logs("ghost").await.map(drop)));
    assert_eq!(
        StoreError::NotFound {
            thread: "ghost".to_owned()
        }
        .to_string(),
        r#"no run with thread "ghost""#
    );
}

pub(crate) async fn existing_run_is_the_run_or_not_found<S: TestStore>(f: Fixture<S>) {
    let created = f.store.create_run(new_run("job-1")).await.unwrap();
    assert_eq!(f.store.existing_run("job-1").await.unwrap(), created);
    let missing = f.store.existing_run("ghost").await.unwrap_err();
    assert!(
        matches!(&missing, StoreError::NotFound { thread } if thread == "ghost"),
        "{missing:?}"
    );
}

pub(crate) async fn list_runs_is_newest_created_first<S: TestStore>(f: Fixture<S>) {
    for thread in ["a", "b", "c"] {
        f.clock.advance(Duration::from_millis(10));
        f.store.create_run(new_run(thread)).await.unwrap();
    }
    f.clock.advance(Duration::from_millis(10));
    // A step does not move a run up: pages stay stable while runs go on.
    f.store
        .commit_step(commit("a", 1, &["hello"]))
        .await
        .unwrap();

    let runs = super::listed(&f.store, None, 100).await;
    let order: Vec<(&str, RunStatus, u64)> = runs
        .iter()
        .map(|r| (r.thread.as_str(), r.status, r.step))
        .collect();
    assert_eq!(
        order,
        [
            ("c", RunStatus::Pending, 0),
            ("b", RunStatus::Pending, 0),
            ("a", RunStatus::Running, 1),
        ]
    );
    assert_eq!(runs[2].workflow_name, "greet");
    assert_eq!(runs[2].created_at_ms, 1_795_611_197_133);
    assert_eq!(runs[2].updated_at_ms, 1_795_611_197_163);
    assert!(runs[2].tags.is_empty());
}

pub(crate) async fn list_runs_filters_by_status<S: TestStore>(f: Fixture<S>) {
    f.runs(&["a", "b", "c", "d"]).await;
    let s = &f.store;
    s.commit_step(commit("a", 1, &[])).await.unwrap();
    f.clock.advance(Duration::from_millis(1));
    s.commit_step(commit("c", 1, &[])).await.unwrap();
    s.setback_step(failure("b", 1, 1)).await.unwrap();

    let names =
        |runs: Vec<RunSummary>| -> Vec<String> { runs.into_iter().map(|run| run.thread).collect() };
    assert_eq!(
        names(super::listed(s, Some(RunStatus::Completed), 100).await),
        ["c", "a"]
    );
    assert_eq!(
        names(super::listed(s, Some(RunStatus::Failed), 100).await),
        ["b"]
    );
    assert_eq!(
        names(super::listed(s, Some(RunStatus::Pending), 100).await),
        ["d"]
    );
    assert!(
        super::listed(s, Some(RunStatus::Sleeping), 100)
            .await
            .is_empty()
    );
    assert_eq!(super::listed(s, None, 100).await.len(), 4);
}

pub(crate) async fn listings_are_limited<S: TestStore>(f: Fixture<S>) {
    for i in 0..5 {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(super::listed(&f.store, None, 3).await.len(), 3);
    assert_eq!(super::listed(&f.store, None, 0).await.len(), 1, "clamped");
}

pub(crate) async fn everything_survives_reopening_the_file<S: TestStore>(f: Fixture<S>) {
    f.run_one_step("job-1").await;
    f.store.setback_step(failure("job-1", 2, 1)).await.unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    let history = f.store.history("job-1").await.unwrap();
    let logs = f.store.logs("job-1").await.unwrap();
    drop(f.store);

    let store = (f.reopen)().await;
    assert_eq!(store.load_run("job-1").await.unwrap().unwrap(), run);
    assert_eq!(store.history("job-1").await.unwrap(), history);
    assert_eq!(store.logs("job-1").await.unwrap(), logs);
    assert_eq!(super::listed(&store, None, 100).await.len(), 1);
    assert!(store.workflow_text("sha256:abc").await.unwrap().is_some());
    store.commit_step(commit("job-1", 2, &[])).await.unwrap();
}

pub(crate) async fn a_second_store_on_the_same_file_sees_commits<S: TestStore>(f: Fixture<S>) {
    f.store.create_run(new_run("job-1")).await.unwrap();
    let other = f.open_again().await;
    assert_eq!(other.load_run("job-1").await.unwrap().unwrap().step, 0);

    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    let run = other.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.step, 1);
    assert_eq!(run.state, object(json!({"name": "Ada", "step": 1})));
    assert_eq!(other.history("job-1").await.unwrap().len(), 1);

    // And the other way round: its writes reach the first store's reads.
    other.commit_step(commit("job-1", 2, &[])).await.unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!((run.step, run.status), (2, RunStatus::Completed));
}

#[test]
fn statuses_round_trip_through_strings_and_serde() {
    for status in RunStatus::ALL {
        assert_eq!(status.as_str().parse::<RunStatus>().unwrap(), status);
        assert_eq!(status.to_string(), status.as_str());
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            Value::String(status.as_str().to_owned())
        );
    }
    let err = "done".parse::<RunStatus>().unwrap_err();
    assert!(
        err.to_string().starts_with(r#"unknown run status "done""#),
        "{err}"
    );
    let finished: Vec<_> = RunStatus::ALL
        .into_iter()
        .filter(|s| s.is_finished())
        .collect();
    assert_eq!(
        finished,
        [
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Cancelled
        ]
    );
}

conformance! {
    #[tokio::test] create_and_load_round_trip,
    #[tokio::test] create_on_an_existing_thread_fails,
    #[tokio::test] unknown_threads_are_not_found,
    #[tokio::test] existing_run_is_the_run_or_not_found,
    #[tokio::test] list_runs_is_newest_created_first,
    #[tokio::test] list_runs_filters_by_status,
    #[tokio::test] listings_are_limited,
    #[tokio::test] everything_survives_reopening_the_file,
    #[tokio::test] a_second_store_on_the_same_file_sees_commits,
}
