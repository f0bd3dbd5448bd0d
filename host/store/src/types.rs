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
    /// Labels given at creation (`--tag key=value`), for listings to filter on.
    pub tags: BTreeMap<String, String>,
    /// The parent run, for a child run a sub-workflow node created: the store wakes the
    /// parent (if it is `waiting`) when this run completes, fails or is cancelled, and a
    /// cancel of the parent cascades to it.
    #[serde(default)]
    pub parent: Option<String>,
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
    /// Labels given at creation.
    pub tags: BTreeMap<String, String>,
    /// The id of the run's latest checkpoint on its current branch (the parent of its
    /// next one); `None` at step 0, unless the run is a fork (then: the checkpoint it was
    /// forked from, in the other run, or `None` for a fork of an input).
    pub checkpoint: Option<String>,
    /// The run's current branch: 0, and one more with every replay in place.
    pub branch: u64,
    /// Only on a record a claim returns ([`CheckpointStore::claim_due`](crate::CheckpointStore::claim_due),
    /// [`CheckpointStore::claim`](crate::CheckpointStore::claim)): the owner whose lease the
    /// claim took over (its lease had expired or its process died), for the metrics.
    /// `None` everywhere else, and when the run was free or the claimer's already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<String>,
    /// The parent run, for a child run (see [`NewRun::parent`]).
    #[serde(default)]
    pub parent: Option<String>,
    /// What a `waiting` run waits for; `None` for every other status.
    #[serde(default)]
    pub waiting: Option<crate::Wait>,
    /// The inputs of the sends among `next`, by branch name (`node#index`, index from 0
    /// in the sender's list): such a branch runs `node` with its input as its state.
    /// Empty when the next step has no send. Part of the position, as `next` is (a
    /// checkpoint keeps its own).
    #[serde(default)]
    pub send_inputs: BTreeMap<String, Value>,
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
    /// The inputs of the sends among `next` ([`RunRecord::send_inputs`]); replaces the
    /// stored ones.
    pub send_inputs: BTreeMap<String, Value>,
    /// The signal a node of this step received ([`Signal::id`](crate::Signal::id)): marked
    /// delivered at this step in the same transaction.
    pub consumed_signal: Option<u64>,
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
    /// The signal a node of this attempt received (it waited again, or failed after
    /// receiving it): marked delivered at this step in the same transaction.
    pub consumed_signal: Option<u64>,
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
    /// The run waits for a signal or its child runs, until `deadline_ms` if given: status
    /// `waiting`, `waiting` = `wait`, the deadline as wake time, no error; the resume
    /// input and `timed_out` are cleared. In the same transaction, the store makes the
    /// run due at once (wake time now) when what it waits for is there already: an
    /// undelivered signal of that name in its mailbox, or one of the children finished.
    Waiting {
        wait: crate::Wait,
        deadline_ms: Option<i64>,
    },
}

/// One line a node logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Its row id, growing in the order the lines were written (a reader that follows a
    /// run's logs goes on after the last one it saw). 0 in a line to be written: the
    /// database numbers them.
    #[serde(default)]
    pub id: u64,
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
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub tags: BTreeMap<String, String>,
    /// The parent run, for a child run.
    #[serde(default)]
    pub parent: Option<String>,
}

/// Which runs a listing shows: every filter given must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    /// The workflow's name (`name` in its file).
    pub workflow: Option<String>,
    /// Tags the run must carry, each `key = value`.
    pub tags: Vec<(String, String)>,
    /// Created at or after this time (unix ms).
    pub created_since_ms: Option<i64>,
    /// Only threads that start with this text (compared as bytes: case matters, and no
    /// character is a wildcard). A thread is a run's primary key, so the backends find
    /// the matching ones by a range of that index.
    pub thread_prefix: Option<String>,
    /// Only the child runs of this run (its direct children).
    #[serde(default)]
    pub parent: Option<String>,
}

/// The first text past every thread that starts with `prefix`, in byte (UTF-8) order:
/// the threads that start with it are exactly those `>= prefix` and `<` this, a range
/// of the primary key. `None` when there is no such text (the prefix is empty or only
/// U+10FFFF): everything `>= prefix` matches.
///
/// UTF-8 orders as code points do, so the end is the prefix with its last character
/// replaced by the next one (a character past U+10FFFF does not exist: that one is
/// dropped and the one before it moves on instead).
pub(crate) fn thread_prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value; surrogates are not characters, so U+D7FF goes to U+E000.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// One page of a run listing, newest created first, and where the next page starts.
/// Paging by creation keeps pages stable while runs are created: a new run goes before
/// the first page, never into a page already read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPage {
    pub runs: Vec<RunSummary>,
    /// `None` when this page reached the oldest run that matches.
    pub next_cursor: Option<crate::Cursor>,
}

/// An edit of a run's state made by hand (`update`): applied as if node `as_node` had
/// returned `values` (or, without `as_node`, merged with the next node(s) unchanged). The
/// runtime merges and routes; the store records the outcome as a checkpoint of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEdit {
    /// The checkpoint's node: `as_node`, or "update".
    pub node: String,
    pub as_node: Option<String>,
    /// The values as the user gave them (recorded in the run's events).
    pub values: Map<String, Value>,
    /// The top-level keys whose value the edit changed, with their new values.
    pub changes: Map<String, Value>,
    /// The whole state after the edit.
    pub state: Map<String, Value>,
    /// The run's next node(s) after the edit (empty: it ends there).
    pub next: Vec<String>,
    /// Who made the edit, for the run's events ("cli", "api 10.0.0.7", ...).
    pub by: String,
}

/// A new run that starts from another run's checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkRun {
    /// The run forked from.
    pub source: String,
    /// Its step the fork starts after (0: its input).
    pub step: u64,
    /// The new run's thread; [`StoreError::ThreadExists`](crate::StoreError::ThreadExists)
    /// if taken.
    pub thread: String,
    /// The node(s) the fork starts with when `step` is 0 (the input has no checkpoint
    /// that says what runs next); ignored otherwise.
    pub start: Vec<String>,
    /// An edit of the fork's state made with the fork, in the same transaction.
    pub edit: Option<StateEdit>,
    pub by: String,
}

/// Replaying a run in place from one of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRun {
    pub thread: String,
    /// The step whose checkpoint the run goes back to (0: its input).
    pub from_step: u64,
    /// The node(s) the run starts with, used when `from_step` is 0 (the input has no
    /// checkpoint that says what runs next).
    pub start: Vec<String>,
    pub by: String,
}

/// What [`CheckpointStore::delete_run`](crate::CheckpointStore::delete_run) removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// Checkpoints, current and superseded.
    pub checkpoints: u64,
    pub logs: u64,
    pub events: u64,
    /// State values and component versions no other run referred to, and workflow texts
    /// no other run or checkpoint refers to.
    pub freed: Collected,
}

/// What happened to a run: one row per event, appended in the transaction of the change
/// it records, never changed afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// Grows with every event of the database: the order events happened in.
    pub id: u64,
    pub thread: String,
    pub at_ms: i64,
    /// The run's committed step when it happened (for `step`: the step committed).
    pub step: u64,
    pub kind: EventKind,
    /// What [`EventKind`] says each kind carries.
    pub data: Map<String, Value>,
}

/// The kinds of [`RunEvent`], and what each one's `data` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `workflow` (name), `workflow_digest`, `tags`.
    Created,
    /// `from` (thread), `from_step`, `from_checkpoint` (id or null), `by`.
    Forked,
    /// A step committed: `node`, `checkpoint`, `status` (after it), `wake_at` (if it sleeps).
    Step,
    /// An attempt failed: `node`, `attempt`, `error`, `retry_at` (unix ms; null when the
    /// run failed for good).
    AttemptFailed,
    /// `node`, `payload`, `deadline` (unix ms or null).
    Interrupted,
    /// A sleeping or retrying run was taken up when due (`status` it woke from), or an
    /// interrupt's deadline passed (`timed_out`: true).
    Woke,
    /// An interrupt was answered: `input`.
    Answered,
    /// Resumed by hand without input: `status` it was resumed from.
    Resumed,
    Cancelled,
    /// The state was edited: `as_node` (or null), `values`, `checkpoint`, `by`.
    Edited,
    /// Moved to another workflow text or plugin versions: `workflow_digest`, `plugins`.
    Upgraded,
    /// Replayed in place: `from_step`, `branch`, `superseded` (checkpoints), `by`.
    Replayed,
    /// Another owner's lease ran out or its process died, and `owner` took the run:
    /// `from` (the owner before), `attempt` (the attempt the next call makes).
    LeaseTakenOver,
    /// A signal reached the mailbox: `name`, `signal` (its id), `data`.
    Signalled,
    /// The run parked as `waiting`: `node`, `for` ("signal" with `name`, or "children"
    /// with `threads`), `deadline` (unix ms or null).
    Waiting,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::Created,
        EventKind::Forked,
        EventKind::Step,
        EventKind::AttemptFailed,
        EventKind::Interrupted,
        EventKind::Woke,
        EventKind::Answered,
        EventKind::Resumed,
        EventKind::Cancelled,
        EventKind::Edited,
        EventKind::Upgraded,
        EventKind::Replayed,
        EventKind::LeaseTakenOver,
        EventKind::Signalled,
        EventKind::Waiting,
    ];

    /// The name stored and shown (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Forked => "forked",
            EventKind::Step => "step",
            EventKind::AttemptFailed => "attempt_failed",
            EventKind::Interrupted => "interrupted",
            EventKind::Woke => "woke",
            EventKind::Answered => "answered",
            EventKind::Resumed => "resumed",
            EventKind::Cancelled => "cancelled",
            EventKind::Edited => "edited",
            EventKind::Upgraded => "upgraded",
            EventKind::Replayed => "replayed",
            EventKind::LeaseTakenOver => "lease_taken_over",
            EventKind::Signalled => "signalled",
            EventKind::Waiting => "waiting",
        }
    }

    /// The kind stored as `name`, if any.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Which events [`CheckpointStore::events_after`](crate::CheckpointStore::events_after)
/// returns: those that match every filter given (none: every run's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this run's.
    pub thread: Option<String>,
    /// Only the events of runs of this workflow (`name` in its file).
    pub workflow: Option<String>,
}

/// How many runs there are in each status, and how many of them wait for a host: for
/// the dashboard's counts and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Every status with at least one run.
    pub by_status: std::collections::BTreeMap<RunStatus, u64>,
    /// The due-and-waiting backlog: runs that could be executed now and that no live
    /// lease holds, what [`claim_due`](crate::CheckpointStore::claim_due) would take at
    /// `now_ms`: pending or running (a running run without a live lease lost its
    /// process), or sleeping, retrying or interrupted whose wake time or deadline is at
    /// or before `now_ms`. A lease held by a process that died counts until it expires.
    pub due_waiting: u64,
}
