//! The store's contract: a conformance suite that every backend passes.
//!
//! Each test is a function of a [`Fixture`]: a fresh, empty store of some backend on a
//! clock the test moves. [`conformance!`] runs every listed test once per backend, each
//! on a store made by that backend's factory ([`Factory`]); a backend joins the suite by
//! adding its factory there (SQLite's is `sqlite::tests::fresh`). What only one backend
//! has (SQLite's rows, PRAGMAs, migrations, writer thread, faults) is tested in its own
//! folder.

pub(crate) mod batch;
pub(crate) mod compose;
pub(crate) mod compose_rows;
pub(crate) mod counts;
pub(crate) mod delete;
pub(crate) mod errors;
pub(crate) mod events;
pub(crate) mod follow;
pub(crate) mod gc;
pub(crate) mod history;
pub(crate) mod leases;
pub(crate) mod logs;
pub(crate) mod parking;
pub(crate) mod pins;
pub(crate) mod runs;
pub(crate) mod schedules;
pub(crate) mod search;
pub(crate) mod steps;
pub(crate) mod travel;
pub(crate) mod values;

pub(crate) use std::collections::{BTreeMap, BTreeSet};
pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) use serde_json::{Map, Value, json};

pub(crate) use crate::*;

/// Instantiates conformance tests for every backend: each `#[test attribute] name` becomes
/// a test `name` in a module per backend that runs `name` on a fresh store of it.
macro_rules! conformance {
    ($( #[$attr:meta] $name:ident ),* $(,)?) => {
        mod sqlite {
            $(
                #[$attr]
                async fn $name() {
                    let factory: crate::tests::Factory<_> = crate::sqlite::tests::fresh;
                    super::$name(crate::tests::Fixture::new(factory).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[$attr]
                async fn $name() {
                    let factory: crate::tests::Factory<_> = crate::postgres::tests::fresh;
                    super::$name(crate::tests::Fixture::new(factory).await).await
                }
            )*
        }
    };
}
pub(crate) use conformance;

/// What a conformance test needs of a store: the trait, and clones that share it (as the
/// runtime's tasks do).
pub(crate) trait TestStore: CheckpointStore + Clone {}

impl<S: CheckpointStore + Clone> TestStore for S {}

/// A fresh, empty store that a backend's factory made for one test.
pub(crate) struct Fresh<S> {
    pub store: S,
    /// Opens another store on the same database, as another process would.
    pub reopen: Box<dyn Fn() -> BoxFuture<'static, S> + Send + Sync>,
    /// What the database lives in (a temporary folder), kept until the test ends.
    pub keep: Box<dyn std::any::Any + Send + Sync>,
}

/// A backend's way to a fresh store whose writes are stamped by `clock`.
pub(crate) type Factory<S> = fn(Arc<ManualClock>) -> BoxFuture<'static, Fresh<S>>;

pub(crate) use futures_util::future::BoxFuture;

/// What every conformance test gets: its store and the clock that stamps its writes.
pub(crate) struct Fixture<S> {
    pub clock: Arc<ManualClock>,
    pub store: S,
    pub reopen: Box<dyn Fn() -> BoxFuture<'static, S> + Send + Sync>,
    /// Dropped after the store (fields drop in order).
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl<S: TestStore> Fixture<S> {
    pub(crate) async fn new(
        factory: impl FnOnce(Arc<ManualClock>) -> BoxFuture<'static, Fresh<S>>,
    ) -> Fixture<S> {
        let clock = Arc::new(ManualClock::new(1_795_611_197_123));
        let Fresh {
            store,
            reopen,
            keep,
        } = factory(clock.clone()).await;
        Fixture {
            clock,
            store,
            reopen,
            _keep: keep,
        }
    }

    /// Creates `thread` and commits its first step (`commit(thread, 1, ["hello"])`).
    pub(crate) async fn run_one_step(&self, thread: &str) {
        self.store.create_run(new_run(thread)).await.unwrap();
        self.store
            .commit_step(commit(thread, 1, &["hello"]))
            .await
            .unwrap();
    }

    /// Another store on the same database, as another process would open.
    pub(crate) async fn open_again(&self) -> S {
        (self.reopen)().await
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates a pending run on each thread, 1 ms apart.
    pub(crate) async fn runs(&self, threads: &[&str]) {
        for thread in threads {
            self.clock.advance(Duration::from_millis(1));
            self.store.create_run(new_run(thread)).await.unwrap();
        }
    }
}

/// A checkpoint with its whole state, as the tests read histories.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checkpoint {
    pub step: u64,
    pub node: String,
    pub state: Map<String, Value>,
    pub next: Vec<String>,
    pub component_digest: String,
    pub workflow_digest: String,
    pub created_at_ms: i64,
    pub changed: Vec<(String, u64)>,
}

/// Whole reads for the tests: every page of a history (with whole states) or of the logs.
pub(crate) trait WholeReads: CheckpointStore {
    async fn history(&self, thread: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let detail = HistoryDetail::WholeStates;
            let mut page = self
                .history_page(
                    thread,
                    cursor,
                    HISTORY_PAGE.max,
                    detail,
                    crate::Branches::Current,
                )
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

    /// Every log line of `thread`, without their ids (which each database numbers
    /// itself: a run copied to another has other ids).
    async fn logs(&self, thread: &str) -> Result<Vec<LogLine>, StoreError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let mut page = self.logs_page(thread, cursor, LOG_PAGE.max).await?;
            while let Some(line) = page.next().await? {
                all.push(LogLine { id: 0, ..line });
            }
            cursor = page.next_cursor();
            if cursor.is_none() {
                return Ok(all);
            }
        }
    }
}

impl<S: CheckpointStore> WholeReads for S {}

pub(crate) const LEASE_MS: i64 = 30_000;

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub(crate) fn new_run(thread: &str) -> NewRun {
    NewRun {
        parent: None,
        thread: thread.to_owned(),
        workflow_name: "greet".to_owned(),
        workflow_digest: "sha256:abc".to_owned(),
        workflow_text: "name = \"greet\"\n".to_owned(),
        workflow_path: "examples/greet.toml".to_owned(),
        input: object(json!({"name": "Ada"})),
        next: vec!["hello".to_owned()],
        lease: None,
        plugins: BTreeMap::new(),
        tags: BTreeMap::new(),
    }
}

pub(crate) fn log(step: u64, attempt: u32, message: &str) -> LogLine {
    LogLine {
        id: 0,
        step,
        node: "hello".to_owned(),
        attempt,
        level: "info".to_owned(),
        message: message.to_owned(),
        at_ms: 1_000 + i64::try_from(step).unwrap(),
    }
}

pub(crate) fn commit(thread: &str, step: u64, next: &[&str]) -> StepCommit {
    StepCommit {
        consumed_signal: None,
        send_inputs: Default::default(),
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

pub(crate) fn setback(thread: &str, step: u64, attempt: u32, kind: Setback) -> StepSetback {
    StepSetback {
        consumed_signal: None,
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

pub(crate) fn failure(thread: &str, step: u64, attempt: u32) -> StepSetback {
    setback(thread, step, attempt, Setback::Failed)
}

pub(crate) fn no_dead() -> Vec<String> {
    Vec::new()
}

pub(crate) fn sleep_commit(thread: &str, step: u64, wake_at_ms: i64) -> StepCommit {
    StepCommit {
        status: RunStatus::Sleeping,
        wake_at_ms: Some(wake_at_ms),
        wakes: 1,
        ..commit(thread, step, &["hello"])
    }
}

pub(crate) fn pending_write(node: &str, value: i64) -> PendingWrite {
    PendingWrite {
        node: node.to_owned(),
        update: object(json!({ node: value })),
        goto: (value > 1).then(|| "done".to_owned()),
        component_digest: format!("sha256:{node}"),
    }
}

/// The first page of the runs with `status` (any when `None`).
pub(crate) async fn listed<S: TestStore>(
    store: &S,
    status: Option<RunStatus>,
    limit: usize,
) -> Vec<crate::RunSummary> {
    let filter = crate::RunFilter {
        status,
        ..Default::default()
    };
    store.list_runs(&filter, None, limit).await.unwrap().runs
}

pub(crate) fn threads(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|run| run.thread.as_str()).collect()
}

/// Keys in the order `state` lists them.
pub(crate) fn keys(state: &Map<String, Value>) -> Vec<&str> {
    state.keys().map(String::as_str).collect()
}

/// A run of `steps` steps whose step `k` writes `count = k`, every third step also a new
/// key `s<k>`, and step 2 nothing; one log line per step.
pub(crate) async fn paged_run<S: TestStore>(f: &Fixture<S>, thread: &str, steps: u64) {
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
