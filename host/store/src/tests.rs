//! The store's contract, exercised on [`SqliteStore`] with a temporary database file.

use std::collections::{BTreeMap, BTreeSet};
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

/// A checkpoint with its whole state, as the tests read histories.
#[derive(Debug, Clone, PartialEq)]
struct Checkpoint {
    step: u64,
    node: String,
    state: Map<String, Value>,
    next: Vec<String>,
    component_digest: String,
    workflow_digest: String,
    created_at_ms: i64,
    changed: Vec<(String, u64)>,
}

/// Whole reads for the tests: every page of a history (with whole states) or of the logs.
trait WholeReads: CheckpointStore {
    async fn history(&self, thread: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let detail = HistoryDetail::WholeStates;
            let mut page = self
                .history_page(thread, cursor, HISTORY_PAGE.max, detail)
                .await?;
            while let Some(entry) = page.next().await? {
                all.push(Checkpoint {
                    step: entry.step,
                    node: entry.node,
                    state: entry.state.expect("whole states were asked for"),
                    next: entry.next,
                    component_digest: entry.component_digest,
                    workflow_digest: entry.workflow_digest,
                    created_at_ms: entry.created_at_ms,
                    changed: entry.changed,
                });
            }
            cursor = page.next_cursor();
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }

    async fn logs(&self, thread: &str) -> Result<Vec<LogLine>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let mut page = self.logs_page(thread, cursor, LOG_PAGE.max).await?;
            while let Some(line) = page.next().await? {
                all.push(line);
            }
            cursor = page.next_cursor();
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }
}

impl<S: CheckpointStore> WholeReads for S {}

fn new_run(thread: &str) -> NewRun {
    NewRun {
        thread: thread.to_owned(),
        workflow_name: "greet".to_owned(),
        workflow_digest: "sha256:abc".to_owned(),
        workflow_text: "name = \"greet\"\n".to_owned(),
        workflow_path: "examples/greet.toml".to_owned(),
        input: object(json!({"name": "Ada"})),
        next: vec!["hello".to_owned()],
        lease: None,
        plugins: BTreeMap::new(),
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
        changes: object(json!({"name": "Ada", "step": step})),
        // The input of `new_run` with the changes applied.
        state: object(json!({"name": "Ada", "step": step})),
        next: next.iter().map(|n| (*n).to_owned()).collect(),
        status: if next.is_empty() {
            RunStatus::Completed
        } else {
            RunStatus::Running
        },
        logs: vec![log(step, 1, &format!("step {step}"))],
        owner: None,
        joins: BTreeMap::new(),
        wakes: 0,
        wake_at_ms: None,
    }
}

fn setback(thread: &str, step: u64, attempt: u32, kind: Setback) -> StepSetback {
    StepSetback {
        thread: thread.to_owned(),
        step,
        node: "hello".to_owned(),
        owner: None,
        attempt,
        error: Some("node \"hello\" failed: boom".to_owned()),
        logs: vec![log(step, attempt, "about to fail")],
        pending: Vec::new(),
        kind,
    }
}

fn failure(thread: &str, step: u64, attempt: u32) -> StepSetback {
    setback(thread, step, attempt, Setback::Failed)
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

    /// Creates `thread` and commits its first step (`commit(thread, 1, ["hello"])`).
    async fn run_one_step(&self, thread: &str) {
        self.store.create_run(new_run(thread)).await.unwrap();
        self.store
            .commit_step(commit(thread, 1, &["hello"]))
            .await
            .unwrap();
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

#[tokio::test]
async fn unknown_threads_are_not_found() {
    let f = Fixture::new();
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

#[tokio::test]
async fn a_failed_step_marks_the_run_failed_until_resumed() {
    let f = Fixture::new();
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
    f.store.setback_step(failure("job-1", 2, 1)).await.unwrap();
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

    let runs = f.store.list_runs(None, 100).await.unwrap();
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
    f.run_one_step("job-1").await;
    f.store.setback_step(failure("job-1", 2, 1)).await.unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    let history = f.store.history("job-1").await.unwrap();
    let logs = f.store.logs("job-1").await.unwrap();
    let path = f.store.path().to_path_buf();
    drop(f.store);

    let store = SqliteStore::open(&path, f.clock.clone()).unwrap();
    assert_eq!(store.load_run("job-1").await.unwrap().unwrap(), run);
    assert_eq!(store.history("job-1").await.unwrap(), history);
    assert_eq!(store.logs("job-1").await.unwrap(), logs);
    assert_eq!(store.list_runs(None, 100).await.unwrap().len(), 1);
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

    let runs = f.store.list_runs(None, 100).await.unwrap();
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
    f.run_one_step("job-1").await;
    let raw = rusqlite::Connection::open(f.store.path()).unwrap();
    raw.execute(
        "UPDATE state_writes SET value_json = '[1' WHERE thread = 'job-1' AND step = 1",
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

// Long-running runs: parking, leases, cancellation, pending writes.

const LEASE_MS: i64 = 30_000;

fn no_dead() -> Vec<String> {
    Vec::new()
}

fn sleep_commit(thread: &str, step: u64, wake_at_ms: i64) -> StepCommit {
    StepCommit {
        status: RunStatus::Sleeping,
        wake_at_ms: Some(wake_at_ms),
        wakes: 1,
        ..commit(thread, step, &["hello"])
    }
}

fn pending_write(node: &str, value: i64) -> PendingWrite {
    PendingWrite {
        node: node.to_owned(),
        update: object(json!({ node: value })),
        goto: (value > 1).then(|| "done".to_owned()),
        component_digest: format!("sha256:{node}"),
    }
}

fn threads(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|run| run.thread.as_str()).collect()
}

impl Fixture {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates a pending run on each thread, 1 ms apart.
    async fn runs(&self, threads: &[&str]) {
        for thread in threads {
            self.clock.advance(Duration::from_millis(1));
            self.store.create_run(new_run(thread)).await.unwrap();
        }
    }
}

#[tokio::test]
async fn claim_due_shares_free_slots_fairly_among_workflows() {
    let f = Fixture::new();
    let s = &f.store;
    let create = |thread: &str, workflow: &str| NewRun {
        workflow_name: workflow.to_owned(),
        ..new_run(thread)
    };
    // Six runs of "slow" became due first, then one of "fast".
    for thread in [
        "slow-1", "slow-2", "slow-3", "slow-4", "slow-5", "slow-6", "fast-1",
    ] {
        f.clock.advance(Duration::from_millis(1));
        let workflow = thread.split('-').next().unwrap();
        s.create_run(create(thread, workflow)).await.unwrap();
    }
    // Four free slots: the fast run gets one, oldest first within each turn.
    let claimed = s.claim_due("me", 4, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["slow-1", "fast-1", "slow-2", "slow-3"]);

    // The fast run ends and another one becomes due: of one free slot, it goes
    // to "fast" (which holds none) before the older slow backlog ("slow" holds 3).
    s.commit_step(commit("fast-1", 1, &[])).await.unwrap();
    f.clock.advance(Duration::from_millis(1));
    s.create_run(create("fast-2", "fast")).await.unwrap();
    let claimed = s.claim_due("me", 1, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["fast-2"]);

    // Another owner's runs do not count against this one's: it holds none,
    // so the slow backlog comes oldest first.
    let claimed = s.claim_due("you", 2, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["slow-4", "slow-5"]);
}

#[tokio::test]
async fn claim_due_takes_runnable_runs_that_no_live_owner_holds() {
    let f = Fixture::new();
    let t0 = f.now();
    f.runs(&[
        "pending",
        "running",
        "sleeper",
        "late",
        "retry",
        "deadline",
        "waiting",
        "done",
        "failed",
        "cancelled",
        "held",
    ])
    .await;
    let s = &f.store;
    s.commit_step(commit("running", 1, &["hello"]))
        .await
        .unwrap();
    s.commit_step(sleep_commit("sleeper", 1, t0 + 1_000))
        .await
        .unwrap();
    s.commit_step(sleep_commit("late", 1, t0 + 60_000))
        .await
        .unwrap();
    s.setback_step(setback(
        "retry",
        1,
        1,
        Setback::Retry {
            wake_at_ms: t0 + 2_000,
        },
    ))
    .await
    .unwrap();
    let interrupted = |deadline_ms| Setback::Interrupted {
        payload: json!({"question": "ok?"}),
        deadline_ms,
    };
    s.setback_step(setback("deadline", 1, 1, interrupted(Some(t0 + 500))))
        .await
        .unwrap();
    s.setback_step(setback("waiting", 1, 1, interrupted(None)))
        .await
        .unwrap();
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    s.setback_step(failure("failed", 1, 1)).await.unwrap();
    s.cancel("cancelled").await.unwrap();
    s.claim("held", "other", LEASE_MS, &no_dead())
        .await
        .unwrap();

    // Before the sleepers are due: only pending and running runs.
    let claimed = s.claim_due("me", 100, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["pending", "running"]);
    let now = f.now();
    for run in &claimed {
        assert_eq!(run.lease_owner.as_deref(), Some("me"));
        assert_eq!(run.lease_expires_ms, Some(now + LEASE_MS));
    }
    for thread in ["pending", "running"] {
        s.release("me", thread).await.unwrap();
    }

    // Later: the due sleeper, retry and interrupt deadline too, in the order they became
    // runnable (last update for pending and running runs, wake time for parked ones).
    f.clock.set(t0 + 5_000);
    let claimed = s.claim_due("me", 100, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(
        threads(&claimed),
        ["pending", "running", "deadline", "sleeper", "retry"]
    );
    assert!(claimed[2].timed_out, "a passed deadline is a time-out");
    assert_eq!(claimed[2].status, RunStatus::Interrupted);
    assert_eq!(claimed.iter().filter(|run| run.timed_out).count(), 1);
    assert_eq!(
        claimed[3].status,
        RunStatus::Sleeping,
        "claiming keeps the status"
    );
    assert!(
        s.claim_due("you", 100, LEASE_MS, &no_dead())
            .await
            .unwrap()
            .is_empty(),
        "all leased to a live owner"
    );
    assert!(
        s.claim_due("me", 0, LEASE_MS, &no_dead())
            .await
            .unwrap()
            .is_empty()
    );
    // An owner does not get back what it already holds (it is driving it).
    let again = s.claim_due("me", 2, LEASE_MS, &no_dead()).await.unwrap();
    assert!(threads(&again).is_empty(), "{:?}", threads(&again));
    let late = s.load_run("late").await.unwrap().unwrap();
    assert_eq!(late.lease_owner, None);
}

#[tokio::test]
async fn a_claim_counts_a_lost_call_and_starts_a_new_lease_epoch() {
    let f = Fixture::new();
    let s = &f.store;
    let created = s
        .create_run(NewRun {
            lease: Some(("one".to_owned(), 10_000)),
            ..new_run("job")
        })
        .await
        .unwrap();
    assert_eq!((created.attempt, created.lease_epoch), (0, 1));

    // "one" died while its first call may have been in flight: the call counts.
    let run = s
        .claim("job", "two", 10_000, &["one".to_owned()])
        .await
        .unwrap();
    assert_eq!((run.attempt, run.lease_epoch), (1, 2));
    // A renewal is the same lease.
    s.renew("two", &["job".to_owned()], 10_000).await.unwrap();
    assert_eq!(s.load_run("job").await.unwrap().unwrap().lease_epoch, 2);

    // "two" committed step 1 and goes on; its lease expires: "three" counts the
    // first call of step 2 that "two" may have made.
    s.commit_step(commit("job", 1, &["hello"])).await.unwrap();
    f.clock.advance(Duration::from_secs(11));
    let claimed = s.claim_due("three", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|r| (r.attempt, r.lease_epoch))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );

    // A parked run had no call in flight: claiming it counts nothing.
    let wake_at_ms = f.now();
    s.setback_step(setback("job", 2, 2, Setback::Retry { wake_at_ms }))
        .await
        .unwrap();
    s.release("three", "job").await.unwrap();
    let claimed = s.claim_due("four", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!((claimed[0].attempt, claimed[0].lease_epoch), (2, 4));
    assert_eq!(claimed[0].status, RunStatus::Retrying);
}

#[tokio::test]
async fn a_daemon_record_is_renewed_expires_and_is_retired() {
    let f = Fixture::new();
    let s = &f.store;
    assert!(s.daemons().await.unwrap().is_empty());
    let started = f.now();
    s.announce_daemon("d1", 10_000).await.unwrap();
    s.announce_daemon("d2", 10_000).await.unwrap();
    f.clock.advance(Duration::from_secs(5));
    s.announce_daemon("d1", 10_000).await.unwrap();
    assert_eq!(
        s.daemons().await.unwrap(),
        [
            ("d1".to_owned(), f.now() + 10_000),
            ("d2".to_owned(), started + 10_000)
        ]
    );
    // d2 stopped renewing: the next announcement forgets it.
    f.clock.advance(Duration::from_secs(6));
    s.announce_daemon("d1", 10_000).await.unwrap();
    assert_eq!(
        s.daemons().await.unwrap(),
        [("d1".to_owned(), f.now() + 10_000)]
    );
    s.retire_daemon("d1").await.unwrap();
    assert!(s.daemons().await.unwrap().is_empty());
}

#[tokio::test]
async fn expired_leases_and_dead_owners_are_taken_over() {
    let f = Fixture::new();
    f.runs(&["a", "b"]).await;
    let s = &f.store;
    let claimed = s.claim_due("one", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["a", "b"]);

    f.clock.advance(Duration::from_secs(5));
    assert!(
        s.claim_due("two", 10, 10_000, &no_dead())
            .await
            .unwrap()
            .is_empty()
    );
    let err = s.claim("a", "two", 10_000, &no_dead()).await.unwrap_err();
    let expires_ms = f.now() + 5_000;
    assert!(
        matches!(&err, StoreError::Leased { thread, owner, expires_ms: e }
            if thread == "a" && owner == "one" && *e == expires_ms),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            r#"thread "a" is being executed by one (lease until {})"#,
            format_time(expires_ms)
        )
    );
    assert_eq!(s.leases().await.unwrap(), [("one".to_owned(), expires_ms)]);

    // The runtime decided that "one" is dead.
    let dead = vec!["one".to_owned()];
    let run = s.claim("a", "two", 10_000, &dead).await.unwrap();
    assert_eq!(run.lease_owner.as_deref(), Some("two"));
    let claimed = s.claim_due("three", 10, 10_000, &dead).await.unwrap();
    assert_eq!(threads(&claimed), ["b"]);
    let leases = s.leases().await.unwrap();
    assert_eq!(
        leases,
        [
            ("three".to_owned(), f.now() + 10_000),
            ("two".to_owned(), f.now() + 10_000)
        ]
    );

    // Once the leases expire, anyone takes the runs.
    f.clock.advance(Duration::from_secs(10));
    let claimed = s.claim_due("four", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["a", "b"]);
    // A lease expiring exactly now is expired.
    f.clock.advance(Duration::from_secs(10));
    s.claim("b", "five", 10_000, &no_dead()).await.unwrap();
    // Claiming one run ignores its status; an owner re-claims its own run.
    s.commit_step(commit("b", 1, &[])).await.unwrap();
    let run = s.claim("b", "five", 20_000, &no_dead()).await.unwrap();
    assert_eq!(
        (run.status, run.lease_expires_ms),
        (RunStatus::Completed, Some(f.now() + 20_000))
    );
    assert!(matches!(
        s.claim("ghost", "five", 1, &no_dead()).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_share_a_run() {
    const RUNS: usize = 60;
    const TASKS_PER_OWNER: usize = 8;
    let f = Fixture::new();
    for i in 0..RUNS {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    // Two stores on one file, as two processes would have.
    let stores = [f.store.clone(), f.open_again()];
    let mut tasks = Vec::new();
    for (owner, store) in ["A", "B"].into_iter().zip(stores) {
        for _ in 0..TASKS_PER_OWNER {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let claimed = store.claim_due(owner, 2, LEASE_MS, &[]).await.unwrap();
                    if claimed.is_empty() {
                        return done;
                    }
                    for run in claimed {
                        let finish = StepCommit {
                            owner: Some(owner.to_owned()),
                            ..commit(&run.thread, 1, &[])
                        };
                        match store.commit_step(finish).await {
                            Ok(_) => done.push((run.thread, owner)),
                            // Another task of the same owner finished it first.
                            Err(StoreError::Conflict { .. }) => {}
                            Err(error) => panic!("{owner}: {error}"),
                        }
                    }
                }
            }));
        }
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await.unwrap());
    }
    done.sort();
    let finished: BTreeSet<&str> = done.iter().map(|(thread, _)| thread.as_str()).collect();
    assert_eq!(done.len(), RUNS, "every run completed exactly once");
    assert_eq!(finished.len(), RUNS);

    let runs = f.store.list_runs(None, 100).await.unwrap();
    assert!(runs.iter().all(|run| run.status == RunStatus::Completed));
    // The completing commit released each run's lease.
    for (thread, _) in &done {
        let run = f.store.load_run(thread).await.unwrap().unwrap();
        assert_eq!(run.lease_owner, None, "{thread}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_each_get_different_runs() {
    const RUNS: usize = 40;
    let f = Fixture::new();
    for i in 0..RUNS {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    // Two stores on one file, as two processes would have.
    let stores = [f.store.clone(), f.open_again()];
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let owner = format!("owner-{i}");
                let claimed = store.claim_due(&owner, 3, LEASE_MS, &[]).await.unwrap();
                (owner, claimed)
            })
        })
        .collect();
    let mut seen = BTreeMap::new();
    for task in tasks {
        let (owner, claimed) = task.await.unwrap();
        for run in claimed {
            assert_eq!(run.lease_owner.as_deref(), Some(owner.as_str()));
            if let Some(first) = seen.insert(run.thread.clone(), owner.clone()) {
                panic!("{} claimed by {first} and {owner}", run.thread);
            }
        }
    }
    assert_eq!(seen.len(), RUNS, "48 slots for 40 runs: all are taken");
}

#[tokio::test]
async fn renew_extends_leases_and_reports_lost_and_cancelled_runs() {
    let f = Fixture::new();
    f.runs(&["kept", "taken", "cancelled", "released"]).await;
    let s = &f.store;
    s.claim_due("me", 10, 10_000, &no_dead()).await.unwrap();

    f.clock.advance(Duration::from_secs(11));
    s.claim("taken", "you", 10_000, &no_dead()).await.unwrap();
    s.cancel("cancelled").await.unwrap();
    s.release("me", "released").await.unwrap();
    // Releasing what one does not hold does nothing.
    s.release("me", "taken").await.unwrap();
    s.release("me", "ghost").await.unwrap();
    assert_eq!(
        s.load_run("taken")
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("you")
    );

    let all: Vec<String> = ["kept", "taken", "cancelled", "released", "ghost"]
        .map(str::to_owned)
        .to_vec();
    let stopped = s.renew("me", &all, 10_000).await.unwrap();
    assert_eq!(stopped, ["taken", "cancelled", "released", "ghost"]);
    let kept = s.load_run("kept").await.unwrap().unwrap();
    assert_eq!(
        (kept.lease_owner.as_deref(), kept.lease_expires_ms),
        (Some("me"), Some(f.now() + 10_000)),
        "an expired lease nobody took is renewed"
    );
    let released = s.load_run("released").await.unwrap().unwrap();
    assert_eq!(
        (released.lease_owner, released.lease_expires_ms),
        (None, None)
    );
    assert!(s.renew("me", &[], 10_000).await.unwrap().is_empty());
}

#[tokio::test]
async fn writes_under_a_lost_lease_are_refused() {
    let f = Fixture::new();
    f.runs(&["job-1"]).await;
    let s = &f.store;
    s.claim("job-1", "me", 10_000, &no_dead()).await.unwrap();
    f.clock.advance(Duration::from_secs(11));
    let taken = s.claim("job-1", "you", 10_000, &no_dead()).await.unwrap();

    let lost = |result: Result<(), StoreError>| match result {
        Err(StoreError::LeaseLost { thread, owner }) => {
            assert_eq!((thread.as_str(), owner.as_str()), ("job-1", "me"));
        }
        other => panic!("{other:?}"),
    };
    lost(
        s.commit_step(StepCommit {
            owner: Some("me".to_owned()),
            ..commit("job-1", 1, &["hello"])
        })
        .await
        .map(drop),
    );
    lost(
        s.setback_step(StepSetback {
            owner: Some("me".to_owned()),
            pending: vec![pending_write("a", 1)],
            ..failure("job-1", 1, 1)
        })
        .await,
    );
    lost(
        s.resume_input("job-1", Some(json!(1)), RunStatus::Running, Some("me"))
            .await
            .map(drop),
    );
    let err = StoreError::LeaseLost {
        thread: "job-1".to_owned(),
        owner: "me".to_owned(),
    };
    assert!(err.to_string().contains("me no longer holds"), "{err}");
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap(), taken);
    assert!(s.history("job-1").await.unwrap().is_empty());
    assert!(s.logs("job-1").await.unwrap().is_empty());

    // The holder writes; so does a caller that takes no lease.
    s.commit_step(StepCommit {
        owner: Some("you".to_owned()),
        ..commit("job-1", 1, &["hello"])
    })
    .await
    .unwrap();
    s.commit_step(commit("job-1", 2, &[])).await.unwrap();
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap().step, 2);
}

#[tokio::test]
async fn cancel_wins_over_every_later_write() {
    let f = Fixture::new();
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

#[tokio::test]
async fn setbacks_park_the_run_as_told() {
    let f = Fixture::new();
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

#[tokio::test]
async fn pending_writes_are_kept_until_the_step_commits() {
    let f = Fixture::new();
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
    let reopened = f.open_again();
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
    let count: i64 = rusqlite::Connection::open(s.path())
        .unwrap()
        .query_row("SELECT count(*) FROM pending_writes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn commits_clear_what_the_step_consumed() {
    let f = Fixture::new();
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

#[tokio::test]
async fn resume_input_stores_the_input_and_restarts_the_retry_budget() {
    let f = Fixture::new();
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

#[tokio::test]
async fn next_wake_is_the_earliest_parked_wake_time() {
    let f = Fixture::new();
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

#[tokio::test]
async fn list_runs_filters_by_status() {
    let f = Fixture::new();
    f.runs(&["a", "b", "c", "d"]).await;
    let s = &f.store;
    s.commit_step(commit("a", 1, &[])).await.unwrap();
    f.clock.advance(Duration::from_millis(1));
    s.commit_step(commit("c", 1, &[])).await.unwrap();
    s.setback_step(failure("b", 1, 1)).await.unwrap();

    let names =
        |runs: Vec<RunSummary>| -> Vec<String> { runs.into_iter().map(|run| run.thread).collect() };
    assert_eq!(
        names(s.list_runs(Some(RunStatus::Completed), 100).await.unwrap()),
        ["c", "a"]
    );
    assert_eq!(
        names(s.list_runs(Some(RunStatus::Failed), 100).await.unwrap()),
        ["b"]
    );
    assert_eq!(
        names(s.list_runs(Some(RunStatus::Pending), 100).await.unwrap()),
        ["d"]
    );
    assert!(
        s.list_runs(Some(RunStatus::Sleeping), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.list_runs(None, 100).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_with_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let t0: i64 = 1_700_000_000_000;
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        old.execute_batch(include_str!("sqlite/migrations/0001_init.sql"))
            .unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute_batch(&format!(
            "INSERT INTO workflows VALUES ('sha256:abc', 'greet', 'name = \"greet\"', {t0});
             INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, input_json, error, error_node, attempt,
                               created_at, updated_at)
             VALUES ('old-1', 'greet', 'sha256:abc', 'greet.toml', 'failed', 1, '[\"hello\"]',
                     '{{\"name\":\"Ada\"}}', 'boom', 'hello', 2, {t0}, {t0}),
                    ('old-2', 'greet', 'sha256:abc', 'greet.toml', 'pending', 0, '[\"hello\"]',
                     '{{\"name\":\"Bob\"}}', NULL, NULL, 0, {t0}, {t0});
             INSERT INTO checkpoints VALUES ('old-1', 1, 'hello', '{{\"name\":\"Ada\",\"n\":1}}',
                                             '[\"hello\"]', 'sha256:c', 'sha256:abc', {t0});
             INSERT INTO logs (thread, step, node, attempt, level, message, at)
             VALUES ('old-1', 2, 'hello', 2, 'error', 'boom', {t0});"
        ))
        .unwrap();
    }

    let clock = Arc::new(ManualClock::new(t0 + 1_000));
    let store = SqliteStore::open(&path, clock.clone()).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        version,
        i64::try_from(sqlite::schema::MIGRATIONS.len()).unwrap()
    );

    let run = store.load_run("old-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.step, run.attempt, run.error.as_deref()),
        (RunStatus::Failed, 1, 2, Some("boom"))
    );
    assert_eq!(run.state, object(json!({"name": "Ada", "n": 1})));
    assert_eq!(
        (
            run.wake_at_ms,
            run.interrupt,
            run.resume,
            run.timed_out,
            run.wakes,
            run.retry_base
        ),
        (None, None, None, false, 0, 0)
    );
    assert!(run.joins.is_empty() && run.pending.is_empty());
    assert_eq!((run.lease_owner, run.lease_expires_ms), (None, None));
    assert_eq!(store.logs("old-1").await.unwrap().len(), 1);
    let history = store.history("old-1").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, object(json!({"name": "Ada", "n": 1})));
    let input = store.load_run("old-2").await.unwrap().unwrap();
    assert_eq!(input.state, object(json!({"name": "Bob"})));

    // The old runs take part in everything new.
    let claimed = store
        .claim_due("me", 10, LEASE_MS, &no_dead())
        .await
        .unwrap();
    assert_eq!(threads(&claimed), ["old-2"]);
    let run = store
        .resume_input("old-1", None, RunStatus::Running, None)
        .await
        .unwrap();
    assert_eq!(run.retry_base, 2);
    store
        .setback_step(StepSetback {
            pending: vec![pending_write("b", 1)],
            ..failure("old-1", 2, 3)
        })
        .await
        .unwrap();
    store.commit_step(commit("old-1", 2, &[])).await.unwrap();
    let run = store.load_run("old-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.step, run.retry_base),
        (RunStatus::Completed, 2, 0)
    );
    assert_eq!(store.history("old-1").await.unwrap().len(), 2);
    drop(store);
    // Opening the upgraded file again migrates nothing more.
    SqliteStore::open(&path, clock).unwrap();
}

/// Keys in the order `state` lists them.
fn keys(state: &Map<String, Value>) -> Vec<&str> {
    state.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn a_step_writes_only_the_keys_it_changed_and_reads_see_whole_states() {
    let f = Fixture::new();
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

    // The rows behind it: the input's three keys, then one key, none, two.
    let raw = rusqlite::Connection::open(f.store.path()).unwrap();
    let per_step: Vec<(u64, i64)> = raw
        .prepare("SELECT step, COUNT(*) FROM state_writes GROUP BY step ORDER BY step")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per_step, [(0, 3), (1, 1), (3, 2)]);
}

#[tokio::test]
async fn a_large_value_is_stored_once_however_many_runs_hold_it() {
    let f = Fixture::new();
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
    let raw = rusqlite::Connection::open(f.store.path()).unwrap();
    let (blobs, bytes): (i64, i64) = raw
        .query_row("SELECT COUNT(*), SUM(LENGTH(data)) FROM blobs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (blobs, bytes),
        (1, 50_002),
        "one copy of the document's JSON"
    );
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

#[tokio::test]
async fn state_at_any_committed_step_and_not_beyond() {
    let f = Fixture::new();
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

#[tokio::test]
async fn commit_step_returns_the_position_it_stored() {
    let f = Fixture::new();
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

#[tokio::test]
async fn a_run_keeps_its_pinned_components_and_each_is_stored_once() {
    let f = Fixture::new();
    let wasm = b"\0asm\x0d\x00\x01\x00 component".to_vec();
    for _ in 0..2 {
        f.store
            .save_component("sha256:c1", "hello", wasm.clone())
            .await
            .unwrap();
    }
    let pins = BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]);
    let created = f
        .store
        .create_run(NewRun {
            plugins: pins.clone(),
            ..new_run("job-1")
        })
        .await
        .unwrap();
    assert_eq!(created.plugins, pins);
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.plugins, pins);
    assert_eq!(
        f.store.component_bytes("sha256:c1").await.unwrap(),
        Some(wasm)
    );
    assert_eq!(f.store.component_bytes("sha256:none").await.unwrap(), None);
    // A pin must name a stored component.
    let unknown = BTreeMap::from([("hello".to_owned(), "sha256:none".to_owned())]);
    let err = f
        .store
        .create_run(NewRun {
            plugins: unknown,
            ..new_run("job-2")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ComponentMissing { digest } if digest == "sha256:none"),
        "{err:?}"
    );
    assert!(f.store.load_run("job-2").await.unwrap().is_none());
}

/// A run of `steps` steps whose step `k` writes `count = k`, every third step also a new
/// key `s<k>`, and step 2 nothing; one log line per step.
async fn paged_run(f: &Fixture, thread: &str, steps: u64) {
    f.store.create_run(new_run(thread)).await.unwrap();
    for k in 1..=steps {
        let changes = match k {
            2 => json!({}),
            k if k % 3 == 0 => json!({"count": k, format!("s{k}"): "x".repeat(2000)}),
            k => json!({"count": k}),
        };
        f.store
            .commit_step(StepCommit {
                changes: object(changes),
                ..commit(thread, k, &["hello"])
            })
            .await
            .unwrap();
    }
}

/// Every page of `thread`'s history, `limit` at a time: (steps, next cursor) per page.
async fn history_pages(
    store: &SqliteStore,
    thread: &str,
    limit: usize,
    detail: HistoryDetail,
) -> Vec<(Vec<HistoryEntry>, Option<String>)> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut page = store
            .history_page(thread, cursor, limit, detail)
            .await
            .unwrap();
        let mut entries = Vec::new();
        while let Some(entry) = page.next().await.unwrap() {
            entries.push(entry);
        }
        cursor = page.next_cursor();
        pages.push((entries, cursor.map(|c| c.to_string())));
        if cursor.is_none() {
            return pages;
        }
    }
}

#[tokio::test]
async fn history_pages_walk_down_from_the_latest_step_each_step_once() {
    let f = Fixture::new();
    paged_run(&f, "job-1", 7).await;
    let pages = history_pages(&f.store, "job-1", 3, HistoryDetail::ChangedKeys).await;
    let shape: Vec<(Vec<u64>, Option<&str>)> = pages
        .iter()
        .map(|(entries, next)| (entries.iter().map(|e| e.step).collect(), next.as_deref()))
        .collect();
    assert_eq!(
        shape,
        [
            (vec![7, 6, 5], Some("5")),
            (vec![4, 3, 2], Some("2")),
            (vec![1], None)
        ]
    );
    let entries: Vec<&HistoryEntry> = pages.iter().flat_map(|(e, _)| e).collect();
    assert!(entries.iter().all(|e| e.state.is_none()), "no states asked");
    let changed = |step: u64| &entries[7 - usize::try_from(step).unwrap()].changed;
    assert_eq!(changed(7), &[("count".to_owned(), 1)]);
    assert_eq!(
        changed(6),
        &[("count".to_owned(), 1), ("s6".to_owned(), 2002)],
        "sizes of the JSON, a long value's too"
    );
    assert!(changed(2).is_empty());
    assert_eq!(entries[0].node, "node-7");
    assert_eq!(entries[0].next, ["hello"]);

    // A page that ends exactly at step 1 has no next page.
    let pages = history_pages(&f.store, "job-1", 7, HistoryDetail::ChangedKeys).await;
    assert_eq!((pages.len(), pages[0].0.len(), &pages[0].1), (1, 7, &None));
}

#[tokio::test]
async fn history_pages_put_whole_states_together_as_state_at_does() {
    let f = Fixture::new();
    paged_run(&f, "job-1", 10).await;
    for limit in [1, 4, 10] {
        let pages = history_pages(&f.store, "job-1", limit, HistoryDetail::WholeStates).await;
        let entries: Vec<HistoryEntry> = pages.into_iter().flat_map(|(e, _)| e).collect();
        let steps: Vec<u64> = entries.iter().map(|e| e.step).collect();
        assert_eq!(steps, (1..=10).rev().collect::<Vec<_>>(), "limit {limit}");
        for entry in entries {
            let expected = f
                .store
                .state_at("job-1", entry.step)
                .await
                .unwrap()
                .unwrap();
            let state = entry.state.unwrap();
            assert_eq!(state, expected, "step {} (limit {limit})", entry.step);
            // Keys in the order first written, also after walking down.
            assert_eq!(keys(&state), keys(&expected), "step {}", entry.step);
        }
        let pages = history_pages(&f.store, "job-1", 10, HistoryDetail::WholeStates).await;
        let at_4 = pages[0].0[6].state.as_ref().unwrap();
        assert_eq!(keys(at_4), ["name", "count", "s3"]);
        assert_eq!(at_4["count"], json!(4));
    }
}

#[tokio::test]
async fn history_page_cursors_and_missing_runs() {
    let f = Fixture::new();
    paged_run(&f, "job-1", 5).await;
    let cursor: Cursor = "3".parse().unwrap();
    let mut page = f
        .store
        .history_page("job-1", Some(cursor), 10, HistoryDetail::ChangedKeys)
        .await
        .unwrap();
    let mut steps = Vec::new();
    while let Some(entry) = page.next().await.unwrap() {
        steps.push(entry.step);
    }
    assert_eq!((steps, page.next_cursor()), (vec![2, 1], None));

    // A run without checkpoints has an empty page; no run at all fails before any entry.
    f.store.create_run(new_run("job-2")).await.unwrap();
    let mut page = f
        .store
        .history_page("job-2", None, 10, HistoryDetail::WholeStates)
        .await
        .unwrap();
    assert!(page.next().await.unwrap().is_none());
    let missing = f
        .store
        .history_page("ghost", None, 10, HistoryDetail::ChangedKeys)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let missing = f.store.logs_page("ghost", None, 10).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));

    // A reader that stops early stops the reading (nothing waits forever).
    let mut page = f
        .store
        .history_page("job-1", None, 1000, HistoryDetail::WholeStates)
        .await
        .unwrap();
    assert_eq!(page.next().await.unwrap().unwrap().step, 5);
    drop(page);
    assert_eq!(f.store.history("job-1").await.unwrap().len(), 5);
}

#[tokio::test]
async fn log_pages_go_on_after_their_cursor() {
    let f = Fixture::new();
    paged_run(&f, "job-1", 5).await;
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut page = f.store.logs_page("job-1", cursor, 2).await.unwrap();
        let mut messages = Vec::new();
        while let Some(line) = page.next().await.unwrap() {
            messages.push(line.message);
        }
        cursor = page.next_cursor();
        pages.push(messages);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        pages,
        [
            vec!["step 1", "step 2"],
            vec!["step 3", "step 4"],
            vec!["step 5"]
        ]
    );
    let mut page = f.store.logs_page("job-1", None, 5).await.unwrap();
    while page.next().await.unwrap().is_some() {}
    assert_eq!(page.next_cursor(), None, "a full last page ends");
}

#[tokio::test]
async fn listings_are_limited() {
    let f = Fixture::new();
    for i in 0..5 {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    assert_eq!(f.store.list_runs(None, 3).await.unwrap().len(), 3);
    assert_eq!(
        f.store.list_runs(None, 0).await.unwrap().len(),
        1,
        "clamped"
    );
}

#[test]
fn a_steps_writes_are_found_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let conn = sqlite::schema::open_writer(&dir.path().join("store.db")).unwrap();
    let plan: Vec<String> = conn
        .prepare("EXPLAIN QUERY PLAN SELECT key FROM state_writes WHERE thread = ?1 AND step = ?2")
        .unwrap()
        .query_map(["t", "1"], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("state_writes_by_step")),
        "{plan:?}"
    );
}
