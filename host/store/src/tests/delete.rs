//! Deleting runs: what goes, what stays because another run refers to it, and the thread
//! used again.

use super::*;

/// A value large enough to be stored once by digest (1 KiB of JSON or more).
fn big(tag: &str) -> Value {
    json!(format!("{tag}{}", "x".repeat(2048)))
}

/// A run pinned to `pins`, whose first step writes `shared` and its own big value.
async fn pinned_run<S: TestStore>(
    f: &Fixture<S>,
    thread: &str,
    pins: &[(&str, &str)],
    next: &[&str],
) {
    let plugins = pins
        .iter()
        .map(|(plugin, digest)| ((*plugin).to_owned(), (*digest).to_owned()))
        .collect();
    f.store
        .create_run(NewRun {
            plugins,
            ..new_run(thread)
        })
        .await
        .unwrap();
    let changes = object(json!({"shared": big("shared"), "own": big(thread)}));
    let mut state = object(json!({"name": "Ada"}));
    state.extend(changes.clone());
    f.store
        .commit_step(StepCommit {
            changes,
            state,
            ..commit(thread, 1, next)
        })
        .await
        .unwrap();
}

pub(crate) async fn delete_frees_what_only_the_run_used_and_keeps_what_another_shares<
    S: TestStore,
>(
    f: Fixture<S>,
) {
    let s = &f.store;
    for digest in ["sha256:both", "sha256:only-a"] {
        s.save_component(digest, "hello", vec![7; 100])
            .await
            .unwrap();
    }
    pinned_run(
        &f,
        "a",
        &[("hello", "sha256:both"), ("other", "sha256:only-a")],
        &[],
    )
    .await;
    pinned_run(&f, "b", &[("hello", "sha256:both")], &["next"]).await;
    let b_before = s.load_run("b").await.unwrap().unwrap();

    let deleted = s.delete_run("a", false).await.unwrap();
    assert_eq!((deleted.checkpoints, deleted.logs), (1, 1), "{deleted:?}");
    assert!(
        deleted.events >= 2,
        "created and step at least: {deleted:?}"
    );
    // a's own big value and its own component version go; the shared ones stay.
    assert_eq!(deleted.freed.values, 1, "{deleted:?}");
    assert_eq!(deleted.freed.components, 1, "{deleted:?}");
    assert_eq!(deleted.freed.component_bytes, 100, "{deleted:?}");

    assert!(s.load_run("a").await.unwrap().is_none());
    assert!(matches!(
        s.history_page("a", None, 10, HistoryDetail::ChangedKeys, Branches::All)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.events_page("a", None, 10).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(s.component_bytes("sha256:only-a").await.unwrap().is_none());
    assert!(s.component_bytes("sha256:both").await.unwrap().is_some());
    // The other run reads its state whole and goes on.
    assert_eq!(s.load_run("b").await.unwrap().unwrap(), b_before);
    assert_eq!(
        s.state_at("b", 1).await.unwrap().unwrap()["shared"],
        big("shared")
    );
    s.commit_step(commit("b", 2, &[])).await.unwrap();
    assert_eq!(
        s.load_run("b").await.unwrap().unwrap().state["shared"],
        big("shared")
    );

    // The thread can be used again, from scratch.
    s.create_run(new_run("a")).await.unwrap();
    let again = s.load_run("a").await.unwrap().unwrap();
    assert_eq!((again.step, again.status), (0, RunStatus::Pending));
    assert!(!again.state.contains_key("own"));
}

pub(crate) async fn delete_refuses_an_unfinished_run_unless_forced<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    f.run_one_step("job").await;
    let err = s.delete_run("job", false).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Unfinished { thread, status: RunStatus::Running } if thread == "job"),
        "{err:?}"
    );
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    // Nothing was written.
    assert_eq!(
        s.load_run("job").await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(matches!(
        s.delete_run("ghost", true).await,
        Err(StoreError::NotFound { .. })
    ));

    // Forced, and whoever executes it is fenced: its next commit writes nothing.
    s.delete_run("job", true).await.unwrap();
    assert!(s.load_run("job").await.unwrap().is_none());
    assert!(s.commit_step(commit("job", 2, &[])).await.is_err());
    assert!(s.load_run("job").await.unwrap().is_none());
}

pub(crate) async fn a_long_run_is_deleted_in_batches_and_every_row_goes<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    s.create_run(new_run("long")).await.unwrap();
    // More log lines than one batch deletes, in one commit.
    let logs: Vec<LogLine> = (0..2500).map(|i| log(1, 1, &format!("line {i}"))).collect();
    s.commit_step(StepCommit {
        logs,
        ..commit("long", 1, &["next"])
    })
    .await
    .unwrap();
    s.setback_step(failure("long", 2, 1)).await.unwrap();
    f.run_one_step("other").await;

    let deleted = s.delete_run("long", false).await.unwrap();
    // The step's lines and the failed attempt's one.
    assert_eq!(deleted.logs, 2501, "{deleted:?}");
    assert!(s.load_run("long").await.unwrap().is_none());
    // Another run's rows are untouched.
    assert_eq!(s.logs("other").await.unwrap().len(), 1);
    assert_eq!(s.history("other").await.unwrap().len(), 1);
    // A second delete finds nothing.
    assert!(matches!(
        s.delete_run("long", true).await,
        Err(StoreError::NotFound { .. })
    ));
}

conformance! {
    #[tokio::test] delete_frees_what_only_the_run_used_and_keeps_what_another_shares,
    #[tokio::test] delete_refuses_an_unfinished_run_unless_forced,
    #[tokio::test] a_long_run_is_deleted_in_batches_and_every_row_goes,
}
