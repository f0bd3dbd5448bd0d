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
//! Operations are whole steps, not SQL, so that both backends ([`SqliteStore`] and
//! [`PgStore`]) implement them without the runtime knowing which it has. The store knows nothing of WebAssembly or of the
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
//!
//! # Layout
//!
//! The crate root is what every backend shares: the [`CheckpointStore`] trait (here), the
//! records it stores and hands over (`types`), the neutral [`StoreError`] (`error`), time
//! (`clock`), pages of reads (`page`), the row encoding both backends use (`rows`),
//! where `--db` points (`location`) and [`AnyStore`] (`any`), the store of either
//! backend. Each backend is one folder beside them:
//! - `sqlite/` ([`SqliteStore`], one file on one machine): its adapter (`mod.rs`), the
//!   writes that move a run (`runs`), leases (`leases`), the checks every write makes
//!   first (`guards`), the writer thread (`writer`), schema and migrations (`schema`,
//!   `migrations/`), the rows (`rows`), the paged reads (`paged`), run listings
//!   (`listing`), events (`events`), pins and gc (`pins`),
//!   bundles (`bundle`), the file on disk (`disk`) and SQLite's failures (`fault`);
//! - `postgres/` ([`PgStore`], one database that several hosts share): the same parts
//!   (`runs`, `leases`, `writer` (a task), `schema`, `migrations/`, `rows`, `reads`,
//!   `paged`, `pins`, `bundle`, `disk`, `fault`), plus `notices`: the LISTEN/NOTIFY
//!   wake-ups between hosts. Bundles are SQLite files whichever backend writes them.
//!
//! The store's tests are a conformance suite (`tests/`, by concern) that runs on every
//! backend through its factory, a function that makes a fresh store; what only SQLite has
//! (its rows, migrations, indexes, writer thread) is tested in `sqlite/tests.rs`.

mod any;
mod clock;
mod compose;
mod due;
mod error;
mod location;
mod page;
mod postgres;
mod rows;
mod schedule_rows;
mod sqlite;
mod types;

#[cfg(test)]
mod tests;

use std::future::Future;

use serde_json::{Map, Value};

pub use any::AnyStore;
pub use clock::{Clock, LONGEST_WAIT, ManualClock, SystemClock, format_time, wake_time};
pub use compose::{CatchUp, Schedule, ScheduleSpec, Signal, Wait};
pub use error::{BackendError, StoreError, StoreErrorKind};
pub use location::{DbLocation, PgUrl};
pub use page::{
    Branches, Cursor, EVENTS_PAGE, HISTORY_PAGE, HistoryDetail, HistoryEntry, KeyChange, LOG_PAGE,
    Page, PageSize, PageSizeError, ParseCursorError, RUNS_PAGE, STATE_PAGE_BYTES,
};
pub use postgres::PgStore;
#[doc(hidden)]
pub use sqlite::encode_checkpoint;
pub use sqlite::{DiskUse, SqliteStore};
pub use types::{
    Collected, ComponentVersion, Deleted, EventFilter, EventKind, ForkRun, LogLine, NewRun,
    ParseStatusError, PendingWrite, ReplayRun, RunCounts, RunEvent, RunFilter, RunRecord,
    RunStatus, RunSummary, RunUpgrade, RunsPage, Setback, StateEdit, StepCommit, StepSetback,
};

/// Where runs and their checkpoints are kept. Every write is one whole step of a run,
/// committed atomically and durably before the returned future resolves.
pub trait CheckpointStore: Send + Sync + 'static {
    /// Creates a `Pending` run at step 0 and keeps its workflow text under its digest.
    /// Fails with [`StoreError::ThreadExists`] if the thread is taken.
    fn create_run(&self, run: NewRun)
    -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Creates many runs at once, as [`create_run`](Self::create_run) each, all or none
    /// (one transaction: `savepoint start --batch`, `POST /runs/batch`). Returns how
    /// many were created. Fails with [`StoreError::ThreadExists`] naming a thread
    /// that is taken (also by an earlier run of the batch), and then creates none. Both backends write the runs in one
    /// transaction with statements shared by the whole batch; this default (one
    /// `create_run` after the other, neither atomic nor fast) is for other stores.
    fn create_runs(
        &self,
        runs: Vec<NewRun>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        async move {
            let created = runs.len();
            for run in runs {
                self.create_run(run).await?;
            }
            Ok(created)
        }
    }

    /// The run with this thread, if any.
    fn load_run(
        &self,
        thread: &str,
    ) -> impl Future<Output = Result<Option<RunRecord>, StoreError>> + Send;

    /// The run with this thread; [`StoreError::NotFound`] if there is none, as every other
    /// read of a run says it (so that a reader names a missing run in one way).
    fn existing_run(
        &self,
        thread: &str,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send {
        async move {
            self.load_run(thread)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    thread: thread.to_string(),
                })
        }
    }

    /// The workflow text stored under `digest`, if any.
    fn workflow_text(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Sets the run's status; setting `Running` also clears its error, and any status but
    /// `Waiting` what the run waited for.
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
    ///
    /// Composition: the run's `send_inputs` become `commit.send_inputs`; the signal
    /// `commit.consumed_signal` is marked delivered at this step; `waiting` is cleared;
    /// and when the commit completes a child run (status `completed`), its parent is made
    /// due at once (wake time now) if it is `waiting` for children, in this transaction.
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
    /// - [`Setback::Waiting`]: see there.
    ///
    /// No checkpoint; the run's step does not move. Fails, writing nothing, as
    /// [`commit_step`](CheckpointStore::commit_step) does. `setback.consumed_signal` is
    /// marked delivered; a child run that fails for good wakes its waiting parent as in
    /// [`commit_step`](CheckpointStore::commit_step).
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
    ///
    /// A `waiting` run may be resumed too (without input, by hand): what it waited for is
    /// cleared, and its next step calls the waiting node again without a signal, as after
    /// an interrupt resumed without input; the signals in its mailbox stay undelivered.
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
    ///
    /// In the same transaction, every unfinished descendant (child runs, theirs, ...) is
    /// cancelled too, with a `cancelled` event each; and a cancelled child wakes its
    /// waiting parent as in [`commit_step`](CheckpointStore::commit_step).
    fn cancel(&self, thread: &str) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// The earliest wake time of the sleeping, retrying, interrupted (with a deadline) and
    /// waiting (with a deadline, or woken) runs, due or not.
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
    ///
    /// With [`Branches::All`], the checkpoints of the current branch come first (as with
    /// [`Branches::Current`]), then those a replay in place superseded, newest branch
    /// first and newest step first within a branch (`superseded` set); each entry's state
    /// is the state it had on its own branch.
    fn history_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
        detail: HistoryDetail,
        branches: Branches,
    ) -> impl Future<Output = Result<Page<HistoryEntry>, StoreError>> + Send;

    /// The run's whole state after `step` (0: its input) on its current branch, put
    /// together from the keys each step wrote. `None` if the run has not committed that
    /// step (a fork has no steps before the one it was forked at);
    /// [`StoreError::NotFound`] if there is no such run.
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

    /// One page of the runs that match `filter`, newest created first: those created
    /// before `cursor` (from the newest when `None`), at most `limit` (clamped to
    /// 1..=[`RUNS_PAGE`]`.max`). Indexed so that a page costs about `limit` rows read
    /// however many runs there are, for any one filter; a thread prefix reads the runs it
    /// matches (a range of the primary key), sorted by creation.
    fn list_runs(
        &self,
        filter: &RunFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<RunsPage, StoreError>> + Send;

    /// One page of the run's events, oldest first: those after `cursor`, at most `limit`
    /// (clamped to 1..=[`EVENTS_PAGE`]`.max`). [`StoreError::NotFound`] if there is no
    /// such run.
    fn events_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<RunEvent>, StoreError>> + Send;

    /// Creates run `fork.thread` from `fork.source`'s checkpoint after `fork.step`, in one
    /// transaction: `pending`, at that step, with that step's state (its values shared
    /// by digest, not copied), next node(s) and send inputs, the source's workflow text,
    /// pins and tags,
    /// and a first checkpoint (node "fork", step `fork.step`) whose parent is the source's
    /// checkpoint; then `fork.edit`, if any, as [`edit_run`](CheckpointStore::edit_run)
    /// would make it. A fork at step 0 starts from the source's input, with no checkpoint.
    /// Events: `forked` (and `edited`). [`StoreError::NotFound`] if the source is missing,
    /// [`StoreError::StepMissing`] if it has not committed `fork.step`,
    /// [`StoreError::ThreadExists`] if `fork.thread` is taken.
    fn fork_run(&self, fork: ForkRun)
    -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Records `edit` as the run's next checkpoint (step `step + 1`, node `edit.node`,
    /// parent the run's current checkpoint) and moves the run's next node(s) to
    /// `edit.next` (keeping the inputs of the sends still among them); its status stays (a
    /// completed run with next nodes continues when resumed). `after_step` must be the run's step ([`StoreError::Conflict`] otherwise).
    /// Event: `edited`. Refused, writing nothing, with [`StoreError::Leased`] if a live
    /// owner holds the run (it is running), [`StoreError::Cancelled`] if it was cancelled.
    fn edit_run(
        &self,
        thread: &str,
        after_step: u64,
        edit: StateEdit,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Takes the run back to its checkpoint after `replay.from_step` on a new branch: the
    /// checkpoints after it are kept, superseded; the run's step, state, next node(s)
    /// (`replay.start` from step 0), send inputs and checkpoint become that checkpoint's;
    /// its error, interrupt, what it waited for, resume input, wake time, attempts,
    /// pending writes and joins are cleared; its status becomes `pending`. Event: `replayed`. Refused as
    /// [`edit_run`](CheckpointStore::edit_run) is; [`StoreError::StepMissing`] if the
    /// run has not committed that step.
    fn replay_run(
        &self,
        replay: ReplayRun,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Deletes the run and everything only it refers to: checkpoints (superseded too),
    /// state writes, logs, events, pending writes, tags, pins, and the state values,
    /// component versions and workflow texts no other run refers to. In bounded
    /// transactions, so that a long run does not hold the writer: the first one marks the
    /// run `cancelled` (no one can drive it after that), and a delete cut short is
    /// finished by deleting again. Unless `force`, only a completed, failed or cancelled
    /// run ([`StoreError::Unfinished`]); with `force` any run (whoever executes it stops
    /// at its next write, which the cancel fences). The thread can be used again.
    ///
    /// The run's mailbox goes with it. Its child runs stay, with a parent that no longer
    /// exists (`parent` still names it; delete them one by one); a run deleted while its
    /// parent waits for it wakes the parent, as a cancel does.
    fn delete_run(
        &self,
        thread: &str,
        force: bool,
    ) -> impl Future<Output = Result<Deleted, StoreError>> + Send;

    /// Up to `limit` completed, failed or cancelled runs last updated before `cutoff_ms`,
    /// oldest first (what retention deletes).
    fn finished_before(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Notices that another process may have made a run runnable (created, answered or
    /// resumed one, released a lease, parked a run with a wake time): a daemon that waits
    /// for work wakes on a change instead of waiting for its next poll. `None` for a
    /// backend that has no such notices (SQLite: the daemon polls). A notice says only
    /// "look again"; the value carries nothing.
    fn work_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Every run's events that match `filter`, oldest first: those with an id after
    /// `after` (from the first when `None`), at most `limit` (clamped to
    /// 1..=[`EVENTS_PAGE`]`.max`). Ids grow in commit order on both backends, so a reader
    /// that goes on from the last id it saw misses none and sees none twice (what a
    /// stream's `Last-Event-ID` relies on; Postgres orders the transactions that insert
    /// events for it). A thread that has no run gives an empty list.
    fn events_after(
        &self,
        filter: &EventFilter,
        after: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RunEvent>, StoreError>> + Send;

    /// The id of the newest event of the database (0 when there is none): where a stream
    /// of what happens from now on starts.
    fn last_event_id(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Notices that events were committed: by this process (both backends), and on
    /// Postgres by any host (`LISTEN`). A notice says only "look again"; a reader also
    /// looks again now and then, for writers that send none (another process on SQLite).
    /// Both backends have them; `None` is for stores that do not.
    fn event_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// How many runs there are in each status, and the due-and-waiting backlog at
    /// `now_ms` ([`RunCounts`]), in one snapshot. Indexed: a walk of the status index
    /// and a read of the backlog's rows, cheap at 100,000 runs and more.
    fn count_runs(&self, now_ms: i64)
    -> impl Future<Output = Result<RunCounts, StoreError>> + Send;

    // ---- Composition (issue 18): signals, children, schedules. ----
    // Both backends implement every one of these; the defaults only let a backend
    // compile before it does.

    /// Appends a signal to the run's mailbox, in one transaction with making the run due
    /// at once (wake time now) when it is `waiting` for a signal of this `name`, and with
    /// a `signalled` event. Returns the signal as stored. [`StoreError::NotFound`] if
    /// there is no such run; [`StoreError::Finished`] if it completed or was cancelled (a
    /// failed run takes signals: it may be resumed).
    fn send_signal(
        &self,
        thread: &str,
        name: &str,
        data: Value,
    ) -> impl Future<Output = Result<Signal, StoreError>> + Send {
        let _ = (thread, name, data);
        async { Err(StoreError::NotImplemented("send_signal")) }
    }

    /// The oldest undelivered signal named `name` in the run's mailbox, if any.
    fn next_signal(
        &self,
        thread: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Signal>, StoreError>> + Send {
        let _ = (thread, name);
        async { Err(StoreError::NotImplemented("next_signal")) }
    }

    /// The run's mailbox, oldest first: delivered and undelivered signals (at most
    /// `limit`, the newest dropped). [`StoreError::NotFound`] if there is no such run.
    fn signals(
        &self,
        thread: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Signal>, StoreError>> + Send {
        let _ = (thread, limit);
        async { Err(StoreError::NotImplemented("signals")) }
    }

    /// Adds a schedule, or replaces the one of that name when `replace` (its
    /// `next_due_ms` and `last_fired_ms` are then the given ones). Stores
    /// `workflow_text` under `schedule.workflow_digest` as `create_run` does.
    /// [`StoreError::ScheduleExists`] when the name is taken and not `replace`.
    fn put_schedule(
        &self,
        schedule: Schedule,
        workflow_text: String,
        replace: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (schedule, workflow_text, replace);
        async { Err(StoreError::NotImplemented("put_schedule")) }
    }

    /// Every schedule, by name.
    fn schedules(&self) -> impl Future<Output = Result<Vec<Schedule>, StoreError>> + Send {
        async { Err(StoreError::NotImplemented("schedules")) }
    }

    /// Pauses or resumes a schedule; returns it as updated. [`StoreError::NoSchedule`].
    fn pause_schedule(
        &self,
        name: &str,
        paused: bool,
    ) -> impl Future<Output = Result<Schedule, StoreError>> + Send {
        let _ = (name, paused);
        async { Err(StoreError::NotImplemented("pause_schedule")) }
    }

    /// Removes a schedule (the runs it started stay). [`StoreError::NoSchedule`].
    fn remove_schedule(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = name;
        async { Err(StoreError::NotImplemented("remove_schedule")) }
    }

    /// Moves a schedule on, if its `next_due_ms` is still `expected_next_due_ms` (compare
    /// and set: of several hosts that fire the same due time, one moves it): sets
    /// `next_due_ms` and, when `fired_ms` is given, `last_fired_ms`. Returns whether it
    /// moved. [`StoreError::NoSchedule`].
    fn advance_schedule(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        next_due_ms: i64,
        fired_ms: Option<i64>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let _ = (name, expected_next_due_ms, next_due_ms, fired_ms);
        async { Err(StoreError::NotImplemented("advance_schedule")) }
    }
}
