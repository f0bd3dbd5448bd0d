//! Durable state: runs, their checkpoints, node logs, and the workflow texts runs are
//! pinned to.
//!
//! The runtime's step loop is the only writer of a run's position: it creates a run, then
//! for every step either commits the new state and position in one transaction
//! ([`CheckpointStore::commit_step`]) or records why the step did not move
//! ([`CheckpointStore::setback_step`]: failed, waiting to retry, or interrupted). Several
//! processes (a `serve` daemon, the CLI) may execute runs on one database: each takes a
//! lease on the runs it executes ([`CheckpointStore::claim_due`], [`CheckpointStore::claim`],
//! [`CheckpointStore::renew`]), and writes made under a lease are fenced, so a process
//! whose run was taken over writes nothing more to it. The CLI reads what was written
//! (`status`, `history`, `logs`), possibly from another process while a run is still going.
//! Operations are whole steps, not SQL, so that stores other than [`SqliteStore`] can be
//! added without touching the runtime. The store knows nothing of WebAssembly or of the
//! workflow file format: it keeps workflow texts and states as the runtime hands them over.
//!
//! States are stored per top-level key: a commit writes the keys its step changed, the
//! run's input is the writes of step 0, and reads put whole states back together (the
//! latest write of every key). Values of 1 KiB of JSON or more are stored once, by
//! digest, however many runs and steps hold them.
//!
//! Every read has a memory bound independent of the run's length and of the number of
//! runs: a run's history and logs are read in pages ([`Page`]), handed over one entry at a
//! time, and run listings are limited; only a run's current state is whole, and it is
//! bounded by the workflow's `max_state`.

mod bundle;
mod clock;
mod disk;
mod fault;
mod page;
mod paged;
mod pins;
mod rows;
mod schema;
mod sqlite;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use savepoint_base::error_code::ErrorCode;

pub use clock::{Clock, LONGEST_WAIT, ManualClock, SystemClock, format_time, wake_time};
pub use disk::DiskUse;
pub use page::{
    Cursor, HISTORY_PAGE, HistoryDetail, HistoryEntry, LOG_PAGE, Page, PageSize, PageSizeError,
    ParseCursorError, RUNS_PAGE, STATE_PAGE_BYTES,
};
pub use sqlite::SqliteStore;

/// Encodes the state keys of a checkpoint (or a run's input) as [`SqliteStore`] does before
/// it queues the write: JSON per key, and a digest for each long value. Returns the bytes of
/// JSON. Public for the benchmarks.
#[doc(hidden)]
pub fn encode_checkpoint(keys: &Map<String, Value>) -> Result<usize, StoreError> {
    Ok(rows::encode_values(keys)?
        .iter()
        .map(|value| value.json.len())
        .sum())
}

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
    /// Create the run already leased to this owner for `lease_ms` (the CLI
    /// drives the run it creates; no daemon may take it in between).
    pub lease: Option<(String, i64)>,
    /// The plugin versions the run is pinned to: plugin name -> component digest. Each
    /// must have been stored with [`CheckpointStore::save_component`].
    pub plugins: BTreeMap<String, String>,
}

/// What [`CheckpointStore::upgrade_run`] moves a run to.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpgrade {
    pub thread: String,
    pub workflow_name: String,
    pub workflow_digest: String,
    pub workflow_text: String,
    /// Plugin name -> component digest (each stored already).
    pub plugins: BTreeMap<String, String>,
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
    /// Attempts made at the current step (`step + 1`) that failed, or that a crash or a
    /// lost lease may have cut short (see [`CheckpointStore::claim_due`]); 0 if none.
    pub attempt: u32,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// When a sleeping or retrying run is due, or an interrupted run's deadline.
    pub wake_at_ms: Option<i64>,
    /// What an interrupted run waits for, as the node described it.
    pub interrupt: Option<Value>,
    /// The input given when the run was resumed, for the next call.
    pub resume: Option<Value>,
    /// The next call follows an interrupt whose deadline passed without input.
    pub timed_out: bool,
    /// As last committed ([`StepCommit::wakes`]).
    pub wakes: u32,
    /// `attempt` when the run was last resumed by hand: the retry budget counts from here.
    pub retry_base: u32,
    /// Join bookkeeping, part of the run's position; as last committed.
    pub joins: BTreeMap<String, BTreeSet<String>>,
    /// Who holds the lease on the run (executes it), if anyone did since it was released.
    pub lease_owner: Option<String>,
    /// Until when `lease_owner` holds it, unless renewed.
    pub lease_expires_ms: Option<i64>,
    /// The fencing token of the lease: grows by one every time the lease passes to an
    /// owner that did not hold it (0: never leased).
    pub lease_epoch: u64,
    /// Updates of parallel branches of step `step + 1` that already succeeded while a
    /// sibling did not, in node order: they are not run again.
    pub pending: Vec<PendingWrite>,
    /// The plugin versions the run is pinned to (plugin name -> component digest); empty
    /// for runs created before pinning, which use the plugins folder's current files.
    pub plugins: BTreeMap<String, String>,
}

/// The update of one parallel branch that succeeded in a step that has not committed yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub node: String,
    pub update: Map<String, Value>,
    pub goto: Option<String>,
    pub component_digest: String,
}

/// A step that succeeded: the whole new state and the run's new position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepCommit {
    pub thread: String,
    /// Must be the run's `step + 1`.
    pub step: u64,
    /// The node that ran; for a parallel step, the nodes' names joined as the runtime
    /// chooses (stored as given).
    pub node: String,
    /// The node's component digest; for a parallel step, the digests joined by `,`.
    pub component_digest: String,
    /// The top-level keys of the state this step changed, with their new values; the
    /// other keys keep theirs (keys are never removed). Only these are written, so a
    /// checkpoint grows with the change, not with the state. A whole state is fine too.
    pub changes: Map<String, Value>,
    /// The run's whole state after this step: its state with `changes` applied. Not
    /// written (only `changes` are); it is the state of the position
    /// [`CheckpointStore::commit_step`] returns, which the store would otherwise have to
    /// read back key by key.
    pub state: Map<String, Value>,
    pub next: Vec<String>,
    /// `Running`, `Completed` when `next` is empty, or `Sleeping` (with `wake_at_ms`).
    pub status: RunStatus,
    /// What the node(s) logged during this step; stored as given.
    pub logs: Vec<LogLine>,
    /// The lease this commit is made under: see [`CheckpointStore::commit_step`].
    pub owner: Option<String>,
    /// Join bookkeeping after this step; replaces the stored one.
    pub joins: BTreeMap<String, BTreeSet<String>>,
    pub wakes: u32,
    /// When a `Sleeping` run is due; `None` otherwise.
    pub wake_at_ms: Option<i64>,
}

/// A step that did not move the run: nothing is checkpointed, the run's step stays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSetback {
    pub thread: String,
    /// The step attempted: the run's `step + 1`.
    pub step: u64,
    /// The node that failed or interrupted.
    pub node: String,
    /// The lease this setback is recorded under: see [`CheckpointStore::setback_step`].
    pub owner: Option<String>,
    /// Attempts made at this step so far, this one included.
    pub attempt: u32,
    /// Why the attempt failed (ignored for [`Setback::Interrupted`]).
    pub error: Option<String>,
    /// What the node(s) logged during the attempt; stored as given.
    pub logs: Vec<LogLine>,
    /// Branches of this step that succeeded: kept (replacing earlier ones of the same
    /// node) so that they are not run again.
    pub pending: Vec<PendingWrite>,
    pub kind: Setback,
}

/// What becomes of a run whose step did not commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Setback {
    /// Failed for good (until resumed by hand): status `failed`, `error`, `error_node`.
    Failed,
    /// Another attempt is due at `wake_at_ms`: status `retrying`, with the error of this
    /// attempt.
    Retry { wake_at_ms: i64 },
    /// The node waits for input described by `payload`, until `deadline_ms` if given:
    /// status `interrupted`.
    Interrupted {
        payload: Value,
        deadline_ms: Option<i64>,
    },
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

/// A stored component version and the runs pinned to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentVersion {
    pub digest: String,
    /// The plugin name it was first stored under.
    pub name: String,
    pub bytes: u64,
    pub stored_at_ms: i64,
    /// How many runs are pinned to it.
    pub runs: u64,
    /// The runs pinned to it that have not completed or been cancelled.
    pub unfinished: Vec<String>,
}

/// What [`CheckpointStore::collect_garbage`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    pub components: u64,
    pub component_bytes: u64,
    pub values: u64,
    pub value_bytes: u64,
    pub workflows: u64,
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
    /// Another live process holds the run's lease.
    #[error(
        "thread {thread:?} is being executed by {owner} (lease until {})",
        format_time(*expires_ms)
    )]
    Leased {
        thread: String,
        /// Who holds the lease.
        owner: String,
        expires_ms: i64,
    },
    /// A write made under a lease that `owner` no longer holds (the run was taken over):
    /// nothing was written.
    #[error(
        "thread {thread:?}: {owner} no longer holds the run's lease (another process took \
         it over); nothing was written"
    )]
    LeaseLost { thread: String, owner: String },
    /// A write to a cancelled run: nothing was written.
    #[error("thread {thread:?} was cancelled")]
    Cancelled { thread: String },
    /// The run cannot be cancelled: it has already completed or been cancelled.
    #[error("thread {thread:?} has already finished (status: {status})")]
    Finished { thread: String, status: RunStatus },
    /// The database holds something this version cannot read.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A run was to be pinned to a component version that is not stored (any more: a
    /// `gc` may have removed it since it was stored).
    #[error("component {digest} is not stored")]
    ComponentMissing { digest: String },
    /// The volume holding the database is full (SQLite's "database or disk is full", or an
    /// I/O error whose cause is `ENOSPC` or a quota): nothing was written. The caller waits
    /// for space and tries again; everything committed before is intact.
    #[error(
        "disk full: cannot write to the database {}: no space is left on its volume; free \
         some space there (nothing committed is lost)",
        path.display()
    )]
    DiskFull { path: PathBuf },
    /// The database cannot be written: the file, its folder (where SQLite creates the
    /// `-wal` and `-shm` files) or its volume is read-only. Nothing was written; trying
    /// again does not help until someone changes that.
    #[error(
        "cannot write to the database {}: {reason}; savepoint needs write access to the \
         file, to its folder (for the -wal and -shm files beside it) and to its volume",
        path.display()
    )]
    ReadOnly { path: PathBuf, reason: String },
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

impl StoreError {
    /// What the caller does next: see [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::ThreadExists { .. }
            | StoreError::Conflict { .. }
            | StoreError::Leased { .. }
            | StoreError::LeaseLost { .. }
            | StoreError::Cancelled { .. }
            | StoreError::Finished { .. } => ErrorCode::Conflict,
            // The database file is in the way: its volume, its permissions, a lock.
            StoreError::DiskFull { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::Open { .. }
            | StoreError::Db(_)
            | StoreError::Io { .. } => ErrorCode::Environment,
            // Waiting does not help: contents this version cannot read, or a bug.
            StoreError::Corrupt(_) | StoreError::ComponentMissing { .. } | StoreError::Closed => {
                ErrorCode::Internal
            }
        }
    }
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

    /// In one transaction: stores the checkpoint and its logs; moves the run to the
    /// commit's step, next nodes, status, joins, wakes and wake time; clears its error,
    /// interrupt, resume input, `timed_out`, attempt count and retry base, and the pending
    /// writes of this step. Returns the run's new position: the run as this commit left it
    /// (with `commit.state` as its state), so that the caller goes on without reading it
    /// back or rebuilding it.
    ///
    /// Writes nothing and fails with [`StoreError::Cancelled`] if the run is cancelled,
    /// with [`StoreError::LeaseLost`] if `commit.owner` is `Some` and does not hold the
    /// run's lease, and with [`StoreError::Conflict`] unless `commit.step` is the run's
    /// `step + 1`.
    fn commit_step(
        &self,
        commit: StepCommit,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// In one transaction: records the attempt count and logs, keeps the pending writes,
    /// and parks the run as `setback.kind` says:
    /// - [`Setback::Failed`]: status `failed`, `error`, `error_node` = node, no wake time;
    /// - [`Setback::Retry`]: status `retrying`, `error`, `error_node` = node, wake time;
    /// - [`Setback::Interrupted`]: status `interrupted`, the payload, the deadline as wake
    ///   time, no error; the resume input and `timed_out` are cleared (they were for the
    ///   call that interrupted again).
    ///
    /// No checkpoint; the run's step does not move. Fails, writing nothing, as
    /// [`commit_step`](CheckpointStore::commit_step) does.
    fn setback_step(
        &self,
        setback: StepSetback,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// In one transaction: takes up to `limit` runs that are runnable now and not leased
    /// by a live owner, leases them to `owner` for `lease_ms`, and returns them as updated.
    ///
    /// Runnable: `pending` or `running`; `sleeping` or `retrying` and due; `interrupted`
    /// with a deadline that passed (`timed_out` is set on those). Not leased by a live
    /// owner: no lease, an expired one, one held by an owner in `dead_owners`, or one held
    /// by `owner` itself. Runs that became runnable first come first, fairly among
    /// workflows (by name) when more are runnable than `limit`: a run's turn is the number of runs of its workflow that
    /// `owner` drives now (`pending` or `running` under its live lease) plus its place
    /// among its workflow's runnable runs, lowest turn first; so free slots go to the
    /// workflows that hold the fewest, and no workflow's backlog keeps another's runs
    /// waiting while it holds more than its share.
    ///
    /// A `running` run's holder may have started a call of its next step and lost it (it
    /// crashed or stalled): claiming such a run counts that call as an attempt (`attempt`
    /// grows by one), so the call made again sees the next attempt number.
    fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> impl Future<Output = Result<Vec<RunRecord>, StoreError>> + Send;

    /// Leases one run to `owner` for `lease_ms` whatever its status and wake time (an
    /// `interrupted` run whose deadline passed gets `timed_out`; a `running` run's
    /// `attempt` grows by one, as in [`claim_due`](CheckpointStore::claim_due)), and
    /// returns it as updated. [`StoreError::Leased`] if another live owner holds it,
    /// [`StoreError::NotFound`] if there is no such run.
    fn claim(
        &self,
        thread: &str,
        owner: &str,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Every owner that holds a lease on some run, expired or not, with the latest expiry
    /// of its leases; sorted by owner.
    fn leases(&self) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Extends `owner`'s leases on `threads` to `lease_ms` from now. Returns, in the given
    /// order, the threads it no longer holds (or that no longer exist) and the ones that
    /// were cancelled: the caller stops executing those.
    fn renew(
        &self,
        owner: &str,
        threads: &[String],
        lease_ms: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Drops `owner`'s lease on the run; does nothing if it does not hold it.
    fn release(
        &self,
        owner: &str,
        thread: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that `owner`, a `serve` daemon, serves this database for the next
    /// `ttl_ms`: written when it starts and renewed while it runs (an idle daemon holds no
    /// lease), so that other processes can tell whether a new run will be picked up. Also
    /// forgets every record that has expired (of a daemon that died).
    fn announce_daemon(
        &self,
        owner: &str,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets `owner`'s daemon record: it stops serving this database.
    fn retire_daemon(&self, owner: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every daemon record, expired or not, with its expiry; sorted by owner.
    fn daemons(&self) -> impl Future<Output = Result<Vec<(String, i64)>, StoreError>> + Send;

    /// Resumes a parked or failed run: stores `input` for the next call (or clears the
    /// stored one when `None`; input also clears `timed_out`), sets `status`, starts the
    /// retry budget afresh (`retry_base = attempt`) if the run was `failed`, and clears its
    /// wake time, error and interrupt. Returns the run as updated. Fails, writing nothing,
    /// with [`StoreError::Cancelled`] if the run is cancelled and with
    /// [`StoreError::LeaseLost`] if `owner` is `Some` and does not hold its lease.
    fn resume_input(
        &self,
        thread: &str,
        input: Option<Value>,
        status: RunStatus,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Marks the run `cancelled` and clears its wake time; history and lease stay (the
    /// executor learns of it from [`renew`](CheckpointStore::renew), and its next write
    /// fails with [`StoreError::Cancelled`]). Returns the run as updated.
    /// [`StoreError::Finished`] if it already completed or was cancelled.
    fn cancel(&self, thread: &str) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// The earliest wake time of the sleeping, retrying and interrupted (with a deadline)
    /// runs, due or not.
    fn next_wake(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// One page of the run's checkpoints, newest first: those before `cursor` (from the
    /// latest when `None`), at most `limit` of them (clamped to 1..=[`HISTORY_PAGE`]`.max`)
    /// and, with whole states, no more than the first entry that brings the page's states
    /// to [`STATE_PAGE_BYTES`]. [`StoreError::NotFound`], before any entry, if there is no
    /// such run.
    ///
    /// The page is read entry by entry as the caller takes them, each in its own short read
    /// (checkpoints never change once written), so a reader holds about one entry at a time
    /// and never holds the database's read snapshot while it waits on its own reader. A
    /// page's whole states are put together from the newest down, one step's writes at a
    /// time: the cost grows with the page and the keys, not with the run's length.
    fn history_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
        detail: HistoryDetail,
    ) -> impl Future<Output = Result<Page<HistoryEntry>, StoreError>> + Send;

    /// The run's whole state after `step` (0: its input), put together from the keys each
    /// step wrote. `None` if the run has not committed that step; [`StoreError::NotFound`]
    /// if there is no such run.
    fn state_at(
        &self,
        thread: &str,
        step: u64,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, StoreError>> + Send;

    /// Moves a run that is not running (parked or failed) to another workflow text and
    /// other plugin versions, from its next step on; its history keeps the versions
    /// that made it. [`StoreError::Leased`] if someone executes it now,
    /// [`StoreError::Finished`] if it completed or was cancelled.
    fn upgrade_run(
        &self,
        upgrade: RunUpgrade,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Stores a component's bytes under their digest (`sha256:<hex>`), unless stored
    /// already. `name` is the plugin name it was found under, for listings.
    fn save_component(
        &self,
        digest: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every stored component version, by name then age, with the runs pinned to it.
    fn component_versions(
        &self,
    ) -> impl Future<Output = Result<Vec<ComponentVersion>, StoreError>> + Send;

    /// Removes what no run needs any more: the pins of completed and cancelled runs, the
    /// component versions no other run is pinned to, state values no step refers to, and
    /// workflow texts no run or checkpoint refers to. Histories stay whole.
    fn collect_garbage(&self) -> impl Future<Output = Result<Collected, StoreError>> + Send;

    /// A stored component's bytes.
    fn component_bytes(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// One page of the run's log lines, oldest first: those after `cursor` (from the first
    /// when `None`), at most `limit` of them (clamped to 1..=[`LOG_PAGE`]`.max`), read a
    /// few at a time as the caller takes them. [`StoreError::NotFound`], before any line,
    /// if there is no such run.
    fn logs_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<LogLine>, StoreError>> + Send;

    /// The `limit` most recently updated runs (clamped to 1..=[`RUNS_PAGE`]`.max`), or of
    /// those with `status`, most recently updated first.
    fn list_runs(
        &self,
        status: Option<RunStatus>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RunSummary>, StoreError>> + Send;
}
