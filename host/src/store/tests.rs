//! The store's contract, exercised on [`SqliteStore`] with a temporary database file.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn new_run(thread: &str) -> NewRun {
    NewRun {
        thread: thread.to_owned(),
        workflow_name: "greet".to_owned(),
        workflow_digest: "sha256:abc".to_owned(),
        workflow_text: "name = \"greet\"\n".to_owned(),
        workflow_path: "examples/greet.toml".to_owned(),
        input: object(json!({"name": "Ada"})),
        next: vec!["hello".to_owned()],
    }
}

fn log(step: u64, attempt: u32, message: &str) -> LogLine {
    LogLine {
        step,
        node: "hello".to_owned(),
        attempt,
        level: "info".to_owned(),
        message: message.to_owned(),
        at_ms: 1_000 + i64::try_from(step).unwrap(),
    }
}

fn commit(thread: &str, step: u64, next: &[&str]) -> StepCommit {
    StepCommit {
        thread: thread.to_owned(),
        step,
        node: format!("node-{step}"),
        component_digest: format!("sha256:component-{step}"),
        state: object(json!({"name": "Ada", "step": step})),
        next: next.iter().map(|n| (*n).to_owned()).collect(),
        status: if next.is_empty() {
            RunStatus::Completed
        } else {
            RunStatus::Running
        },
        logs: vec![log(step, 1, &format!("step {step}"))],
    }
}

fn failure(thread: &str, step: u64, attempt: u32) -> StepFailure {
    StepFailure {
        thread: thread.to_owned(),
        step,
        node: "hello".to_owned(),
        component_digest: Some("sha256:hello".to_owned()),
        attempt,
        error: "node \"hello\" failed: boom".to_owned(),
        logs: vec![log(step, attempt, "about to fail")],
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    store: SqliteStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_795_611_197_123));
        let store = SqliteStore::open(&dir.path().join("store.db"), clock.clone()).unwrap();
        Fixture { dir, clock, store }
    }

    fn open_again(&self) -> SqliteStore {
        SqliteStore::open(self.store.path(), self.clock.clone()).unwrap()
    }
}

#[tokio::test]
async fn create_and_load_round_trip() {
    let f = Fixture::new();
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

#[tokio::test]
async fn create_on_an_existing_thread_fails() {
    let f = Fixture::new();
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

#[tokio::test]
async fn committed_steps_show_in_history_newest_first() {
    let f = Fixture::new();
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

#[tokio::test]
async fn a_commit_for_the_wrong_step_conflicts_and_writes_nothing() {
    let f = Fixture::new();
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
    let err = f.store.fail_step(failure("job-1", 0, 1)).await.unwrap_err();
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

#[tokio::test]
async fn unknown_threads_are_not_found() {
    let f = Fixture::new();
    let not_found = |result: Result<_, StoreError>| matches!(result, Err(StoreError::NotFound { ref thread }) if thread == "ghost");
    assert!(not_found(
        f.store.commit_step(commit("ghost", 1, &[])).await
    ));
    assert!(not_found(f.store.fail_step(failure("ghost", 1, 1)).await));
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

#[tokio::test]
async fn a_failed_step_marks_the_run_failed_until_resumed() {
    let f = Fixture::new();
    f.store.create_run(new_run("job-1")).await.unwrap();
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    f.clock.advance(Duration::from_secs(5));
    f.store.fail_step(failure("job-1", 2, 3)).await.unwrap();

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

#[tokio::test]
async fn logs_of_commits_and_failed_attempts_are_kept_in_order() {
    let f = Fixture::new();
    f.store.create_run(new_run("job-1")).await.unwrap();
    let mut first = commit("job-1", 1, &["hello"]);
    first.logs.push(LogLine {
        level: "warn".to_owned(),
        ..log(1, 1, "careful")
    });
    f.store.commit_step(first).await.unwrap();
    f.store.fail_step(failure("job-1", 2, 1)).await.unwrap();
    f.store.commit_step(commit("job-1", 2, &[])).await.unwrap();

    let logs = f.store.logs("job-1").await.unwrap();
    let lines: Vec<(u64, u32, &str, &str)> = logs
        .iter()
        .map(|l| (l.step, l.attempt, l.level.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (1, 1, "info", "step 1"),
            (1, 1, "warn", "careful"),
            (2, 1, "info", "about to fail"),
            (2, 1, "info", "step 2"),
        ]
    );
    assert_eq!(logs[0], log(1, 1, "step 1"));
}

#[tokio::test]
async fn list_runs_is_newest_updated_first() {
    let f = Fixture::new();
    for thread in ["a", "b", "c"] {
        f.clock.advance(Duration::from_millis(10));
        f.store.create_run(new_run(thread)).await.unwrap();
    }
    f.clock.advance(Duration::from_millis(10));
    f.store
        .commit_step(commit("a", 1, &["hello"]))
        .await
        .unwrap();

    let runs = f.store.list_runs().await.unwrap();
    let order: Vec<(&str, RunStatus, u64)> = runs
        .iter()
        .map(|r| (r.thread.as_str(), r.status, r.step))
        .collect();
    assert_eq!(
        order,
        [
            ("a", RunStatus::Running, 1),
            ("c", RunStatus::Pending, 0),
            ("b", RunStatus::Pending, 0)
        ]
    );
    assert_eq!(runs[0].workflow_name, "greet");
    assert_eq!(runs[0].updated_at_ms, 1_795_611_197_163);
}

#[tokio::test]
async fn everything_survives_reopening_the_file() {
    let f = Fixture::new();
    f.store.create_run(new_run("job-1")).await.unwrap();
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    f.store.fail_step(failure("job-1", 2, 1)).await.unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    let history = f.store.history("job-1").await.unwrap();
    let logs = f.store.logs("job-1").await.unwrap();
    let path = f.store.path().to_path_buf();
    drop(f.store);

    let store = SqliteStore::open(&path, f.clock.clone()).unwrap();
    assert_eq!(store.load_run("job-1").await.unwrap().unwrap(), run);
    assert_eq!(store.history("job-1").await.unwrap(), history);
    assert_eq!(store.logs("job-1").await.unwrap(), logs);
    assert_eq!(store.list_runs().await.unwrap().len(), 1);
    assert!(store.workflow_text("sha256:abc").await.unwrap().is_some());
    store.commit_step(commit("job-1", 2, &[])).await.unwrap();
    drop(f.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_all_land() {
    const RUNS: u64 = 32;
    const STEPS: u64 = 10;
    let f = Fixture::new();
    // Hold the writer for a moment so that the first commands queue up behind it and
    // share a commit.
    let gate = f.store.writer().submit(|_, _| {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });

    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let thread = format!("job-{i}");
                store.create_run(new_run(&thread)).await.unwrap();
                for step in 1..=STEPS {
                    let next: &[&str] = if step == STEPS { &[] } else { &["hello"] };
                    store
                        .commit_step(commit(&thread, step, next))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    gate.unwrap().await.unwrap().unwrap();

    let runs = f.store.list_runs().await.unwrap();
    assert_eq!(runs.len(), usize::try_from(RUNS).unwrap());
    for run in runs {
        assert_eq!(
            (run.status, run.step),
            (RunStatus::Completed, STEPS),
            "{run:?}"
        );
        let history = f.store.history(&run.thread).await.unwrap();
        assert_eq!(history.len(), usize::try_from(STEPS).unwrap());
    }
    let commands = 1 + RUNS * (STEPS + 1);
    let commits = f.store.writer().commits();
    assert!(
        commits < commands,
        "{commits} commits for {commands} commands"
    );
}

#[tokio::test]
async fn a_second_store_on_the_same_file_sees_commits() {
    let f = Fixture::new();
    f.store.create_run(new_run("job-1")).await.unwrap();
    let other = f.open_again();
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

#[tokio::test]
async fn unreadable_json_is_reported_as_corrupt() {
    let f = Fixture::new();
    f.store.create_run(new_run("job-1")).await.unwrap();
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    let raw = rusqlite::Connection::open(f.store.path()).unwrap();
    raw.execute(
        "UPDATE checkpoints SET state_json = '[1' WHERE thread = 'job-1'",
        [],
    )
    .unwrap();
    drop(raw);

    let err = f.store.load_run("job-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains(r#"thread "job-1" step 1"#),
        "{err}"
    );
    assert!(matches!(
        f.store.history("job-1").await,
        Err(StoreError::Corrupt(_))
    ));
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

#[test]
fn the_store_is_shareable() {
    fn shareable<T: CheckpointStore + Clone + Send + Sync + 'static>() {}
    shareable::<SqliteStore>();
}
