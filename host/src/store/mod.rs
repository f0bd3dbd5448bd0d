//! Durable state: runs, their checkpoints, node logs, and the workflow texts runs are
//! pinned to.
//!
//! The runtime's step loop is the only writer: it creates a run, then for every step
//! either commits the new state and position in one transaction
//! ([`CheckpointStore::commit_step`]) or records why the step failed
//! ([`CheckpointStore::fail_step`]). The CLI reads what was written (`status`, `history`,
//! `logs`), possibly from another process while a run is still going. Operations are whole
//! steps, not SQL, so that stores other than [`SqliteStore`] can be added without touching
//! the runtime. The store knows nothing of WebAssembly or of the workflow file format: it
//! keeps workflow texts and states as the runtime hands them over.

mod clock;
mod schema;
mod sqlite;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use clock::{Clock, ManualClock, SystemClock, format_time};
pub use sqlite::SqliteStore;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created, no step attempted yet.
    Pending,
    /// A host is executing its steps.
    Running,
    /// Parked until a time.
    Sleeping,
    /// Parked until a user gives input.
    Interrupted,
    /// Parked until its next attempt at the current step.
    Retrying,
    /// Reached the end of the graph.
    Completed,
    /// A step failed for good; the run can still be resumed.
    Failed,
    /// Stopped by a user.
    Cancelled,
}

impl RunStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Sleeping,
        RunStatus::Interrupted,
        RunStatus::Retrying,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The lowercase name used in the database, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Sleeping => "sleeping",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Retrying => "retrying",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing will happen to the run unless a user acts: completed, failed or
    /// cancelled. (A failed run can still be resumed.)
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<RunStatus, ParseStatusError> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

/// A string that is not one of the [`RunStatus`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown run status {0:?} (expected pending, running, sleeping, interrupted, retrying, \
     completed, failed or cancelled)"
)]
pub struct ParseStatusError(pub String);

/// A run to create: the thread it is known by, the workflow it is pinned to, and its input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    pub thread: String,
    pub workflow_name: String,
    /// Content digest of `workflow_text`, computed by the caller.
    pub workflow_digest: String,
    pub workflow_text: String,
    /// Where the workflow file was read from, for messages.
    pub workflow_path: String,
    /// The state at step 0.
    pub input: Map<String, Value>,
    /// The node(s) to run first.
    pub next: Vec<String>,
}

/// A run as stored: where it is and what happened last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub thread: String,
    pub workflow_name: String,
    pub workflow_digest: String,
    pub workflow_path: String,
    pub status: RunStatus,
    /// Committed steps.
    pub step: u64,
    /// The node(s) the next step runs; empty when the run reached the end.
    pub next: Vec<String>,
    /// The latest checkpoint's state, or the input when `step == 0`.
    pub state: Map<String, Value>,
    /// Why the last attempt failed, if the run is failed (or retrying).
    pub error: Option<String>,
    /// The node whose failure `error` describes.
    pub error_node: Option<String>,
    /// Attempts made at the current step (`step + 1`); 0 if none failed.
    pub attempt: u32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A step that succeeded: the whole new state and the run's new position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCommit {
    pub thread: String,
    /// Must be the run's `step + 1`.
    pub step: u64,
    pub node: String,
    pub component_digest: String,
    /// The whole state after this step.
    pub state: Map<String, Value>,
    pub next: Vec<String>,
    /// `Running`, or `Completed` when `next` is empty.
    pub status: RunStatus,
    /// What the node(s) logged during this step; stored as given.
    pub logs: Vec<LogLine>,
}

/// A step that failed: nothing is checkpointed, the run becomes `Failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    pub thread: String,
    /// The step attempted: the run's `step + 1`.
    pub step: u64,
    pub node: String,
    pub component_digest: Option<String>,
    /// Attempts made at this step so far, this one included.
    pub attempt: u32,
    pub error: String,
    /// What the node logged during the failed attempt; stored as given.
    pub logs: Vec<LogLine>,
}

/// The state after one committed step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub thread: String,
    pub step: u64,
    /// The node that ran in this step.
    pub node: String,
    pub state: Map<String, Value>,
    pub next: Vec<String>,
    pub component_digest: String,
    pub workflow_digest: String,
    pub created_at_ms: i64,
}

/// One line a node logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub step: u64,
    pub node: String,
    pub attempt: u32,
    pub level: String,
    pub message: String,
    pub at_ms: i64,
}

/// One line of a run listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub thread: String,
    pub workflow_name: String,
    pub status: RunStatus,
    pub step: u64,
    pub updated_at_ms: i64,
}

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_run` on a thread that already has a run.
    #[error("thread {thread:?} already exists (status: {status})")]
    ThreadExists { thread: String, status: RunStatus },
    /// No run has this thread.
    #[error("no run with thread {thread:?}")]
    NotFound { thread: String },
    /// A step commit or failure for a step other than the run's next one (another host or
    /// process moved the run): nothing was written.
    #[error(
        "thread {thread:?}: step {found_step} does not follow the stored run, which expects \
         step {expected_step} next (is another process running this thread?)"
    )]
    Conflict {
        thread: String,
        /// The step the store would accept: the stored run's `step + 1`.
        expected_step: u64,
        /// The step the commit or failure was for.
        found_step: u64,
    },
    /// The database holds something this version cannot read.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The database file could not be opened.
    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The store has stopped: it is shutting down, or a bug crashed its writer thread.
    #[error("the store has shut down")]
    Closed,
}

/// Where runs and their checkpoints are kept. Every write is one whole step of a run,
/// committed atomically and durably before the returned future resolves.
pub trait CheckpointStore: Send + Sync + 'static {
    /// Creates a `Pending` run at step 0 and keeps its workflow text under its digest.
    /// Fails with [`StoreError::ThreadExists`] if the thread is taken.
    fn create_run(&self, run: NewRun)
    -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// The run with this thread, if any.
    fn load_run(
        &self,
        thread: &str,
    ) -> impl Future<Output = Result<Option<RunRecord>, StoreError>> + Send;

    /// The workflow text stored under `digest`, if any.
    fn workflow_text(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Sets the run's status; setting `Running` also clears its error.
    fn set_status(
        &self,
        thread: &str,
        status: RunStatus,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// In one transaction: stores the checkpoint and its logs, moves the run to the
    /// commit's step, next nodes and status, and clears its error and attempt count.
    /// Fails with [`StoreError::Conflict`], writing nothing, unless `commit.step` is the
    /// run's `step + 1`.
    fn commit_step(
        &self,
        commit: StepCommit,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// In one transaction: marks the run `Failed` with the error, node and attempt, and
    /// stores the failed attempt's logs. No checkpoint; the run's step does not move.
    /// Fails with [`StoreError::Conflict`], writing nothing, unless `failure.step` is the
    /// run's `step + 1`.
    fn fail_step(
        &self,
        failure: StepFailure,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The run's checkpoints, newest first. [`StoreError::NotFound`] if there is no such run.
    fn history(
        &self,
        thread: &str,
    ) -> impl Future<Output = Result<Vec<Checkpoint>, StoreError>> + Send;

    /// The run's log lines, oldest first. [`StoreError::NotFound`] if there is no such run.
    fn logs(&self, thread: &str) -> impl Future<Output = Result<Vec<LogLine>, StoreError>> + Send;

    /// All runs, most recently updated first.
    fn list_runs(&self) -> impl Future<Output = Result<Vec<RunSummary>, StoreError>> + Send;
}
