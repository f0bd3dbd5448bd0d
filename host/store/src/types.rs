//! The records the store keeps and hands over: runs, steps, setbacks, logs and component
//! versions, as every backend stores them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use savepoint_base::vocab::{ParseStatusError, RunStatus};

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
    /// must have been stored with [`CheckpointStore::save_component`](crate::CheckpointStore::save_component).
    pub plugins: BTreeMap<String, String>,
}

/// What [`CheckpointStore::upgrade_run`](crate::CheckpointStore::upgrade_run) moves a run to.
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
    /// lost lease may have cut short (see [`CheckpointStore::claim_due`](crate::CheckpointStore::claim_due)); 0 if none.
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
    /// [`CheckpointStore::commit_step`](crate::CheckpointStore::commit_step) returns, which the store would otherwise have to
    /// read back key by key.
    pub state: Map<String, Value>,
    pub next: Vec<String>,
    /// `Running`, `Completed` when `next` is empty, or `Sleeping` (with `wake_at_ms`).
    pub status: RunStatus,
    /// What the node(s) logged during this step; stored as given.
    pub logs: Vec<LogLine>,
    /// The lease this commit is made under: see [`CheckpointStore::commit_step`](crate::CheckpointStore::commit_step).
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
    /// The lease this setback is recorded under: see [`CheckpointStore::setback_step`](crate::CheckpointStore::setback_step).
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

/// What [`CheckpointStore::collect_garbage`](crate::CheckpointStore::collect_garbage) removed.
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
