//! [`AnyStore`]: the store `--db` names, whichever backend it is. The CLI and the server
//! hold this one type; the runtime stays generic over [`CheckpointStore`]. Besides the
//! trait (delegated to the backend, method by method), it has what a command does to the
//! database itself: check that it can be written, export and import run bundles, report
//! its size, give free space back.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{
    Branches, CheckpointStore, Clock, Collected, ComponentVersion, Cursor, DbLocation, Deleted,
    DiskUse, EventFilter, ForkRun, HistoryDetail, HistoryEntry, LogLine, NewRun, Page, PgStore,
    ReplayRun, RunCounts, RunEvent, RunFilter, RunRecord, RunStatus, RunUpgrade, RunsPage,
    Schedule, Signal, SqliteStore, StateEdit, StepCommit, StepSetback, StoreError,
};

/// The store of one database, SQLite or Postgres. Cloning is cheap (each backend's clones
/// share its connections).
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The same call on whichever backend `$store` is.
macro_rules! delegate {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            AnyStore::Sqlite($backend) => $call,
            AnyStore::Postgres($backend) => $call,
        }
    };
}

impl AnyStore {
    /// Opens the database at `db`, creating it (the SQLite file, or the schema in the
    /// Postgres database) and migrating it as needed. `clock` stamps every write.
    pub async fn open(db: &DbLocation, clock: Arc<dyn Clock>) -> Result<AnyStore, StoreError> {
        match db {
            DbLocation::Sqlite(path) => SqliteStore::open(path, clock).map(AnyStore::Sqlite),
            DbLocation::Postgres(url) => PgStore::connect(url.as_str(), clock)
                .await
                .map(AnyStore::Postgres),
        }
    }

    /// Whether `db` holds a database to read: the SQLite file exists; the Postgres
    /// schema has tables. Creates nothing, so that a command that only reads does not
    /// make an empty database by accident.
    pub async fn exists(db: &DbLocation) -> Result<bool, StoreError> {
        match db {
            DbLocation::Sqlite(path) => Ok(path.exists()),
            DbLocation::Postgres(url) => PgStore::exists(url.as_str()).await,
        }
    }

    /// Checks that the database can be written, with a write that is rolled back, so
    /// that a command about to write stops at once, naming the database: a read-only
    /// SQLite file, folder or volume ([`StoreError::ReadOnly`]).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        delegate!(self, store => store.check_writable().await)
    }

    /// Writes run `thread` as a new bundle file at `to` (which must not exist): a SQLite
    /// file with savepoint's schema, whichever backend this is, so that a bundle moves a
    /// run between them. The bundle's run holds no lease.
    pub async fn export_run(&self, thread: &str, to: &Path) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(store) => store.export_run(thread, to),
            AnyStore::Postgres(store) => store.export_run(thread, to).await,
        }
    }

    /// Adds the run of the bundle file at `from` (written by either backend; brought up
    /// to the bundle schema first, so `from` is changed if it is older); returns its
    /// thread. [`StoreError::ThreadExists`] if the database has that thread already.
    pub async fn import_run(&self, from: &Path) -> Result<String, StoreError> {
        match self {
            AnyStore::Sqlite(store) => store.import_run(from),
            AnyStore::Postgres(store) => store.import_run(from).await,
        }
    }

    /// What the database takes on disk now.
    pub async fn disk_use(&self) -> Result<DiskUse, StoreError> {
        delegate!(self, store => store.disk_use().await)
    }

    /// Lets the files show what they keep before they are measured: SQLite copies its
    /// WAL into the file (unless a reader needs it).
    pub async fn empty_wal(&self) -> Result<(), StoreError> {
        delegate!(self, store => store.empty_wal().await)
    }

    /// Writes the database anew without its free space, giving it back to the volume
    /// (SQLite's `VACUUM`): blocks every write meanwhile.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        delegate!(self, store => store.vacuum().await)
    }
}

/// For messages: the SQLite file's path, or the Postgres URL without its password.
impl fmt::Display for AnyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyStore::Sqlite(store) => store.path().display().fmt(f),
            AnyStore::Postgres(store) => store.describe().fmt(f),
        }
    }
}

impl CheckpointStore for AnyStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.create_run(run).await)
    }

    async fn create_runs(&self, runs: Vec<NewRun>) -> Result<usize, StoreError> {
        delegate!(self, store => store.create_runs(runs).await)
    }

    async fn load_run(&self, thread: &str) -> Result<Option<RunRecord>, StoreError> {
        delegate!(self, store => store.load_run(thread).await)
    }

    async fn workflow_text(&self, digest: &str) -> Result<Option<String>, StoreError> {
        delegate!(self, store => store.workflow_text(digest).await)
    }

    async fn set_status(&self, thread: &str, status: RunStatus) -> Result<(), StoreError> {
        delegate!(self, store => store.set_status(thread, status).await)
    }

    async fn commit_step(&self, commit: StepCommit) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.commit_step(commit).await)
    }

    async fn setback_step(&self, setback: StepSetback) -> Result<(), StoreError> {
        delegate!(self, store => store.setback_step(setback).await)
    }

    async fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<Vec<RunRecord>, StoreError> {
        delegate!(self, store => store.claim_due(owner, limit, lease_ms, dead_owners).await)
    }

    async fn claim(
        &self,
        thread: &str,
        owner: &str,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.claim(thread, owner, lease_ms, dead_owners).await)
    }

    async fn leases(&self) -> Result<Vec<(String, i64)>, StoreError> {
        delegate!(self, store => store.leases().await)
    }

    async fn renew(
        &self,
        owner: &str,
        threads: &[String],
        lease_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, store => store.renew(owner, threads, lease_ms).await)
    }

    async fn release(&self, owner: &str, thread: &str) -> Result<(), StoreError> {
        delegate!(self, store => store.release(owner, thread).await)
    }

    async fn announce_daemon(&self, owner: &str, ttl_ms: i64) -> Result<(), StoreError> {
        delegate!(self, store => store.announce_daemon(owner, ttl_ms).await)
    }

    async fn retire_daemon(&self, owner: &str) -> Result<(), StoreError> {
        delegate!(self, store => store.retire_daemon(owner).await)
    }

    async fn daemons(&self) -> Result<Vec<(String, i64)>, StoreError> {
        delegate!(self, store => store.daemons().await)
    }

    async fn resume_input(
        &self,
        thread: &str,
        input: Option<Value>,
        status: RunStatus,
        owner: Option<&str>,
    ) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.resume_input(thread, input, status, owner).await)
    }

    async fn cancel(&self, thread: &str) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.cancel(thread).await)
    }

    async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        delegate!(self, store => store.next_wake().await)
    }

    async fn history_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
        detail: HistoryDetail,
        branches: Branches,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        delegate!(self, store => store.history_page(thread, cursor, limit, detail, branches).await)
    }

    async fn state_at(
        &self,
        thread: &str,
        step: u64,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        delegate!(self, store => store.state_at(thread, step).await)
    }

    async fn upgrade_run(&self, upgrade: RunUpgrade) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.upgrade_run(upgrade).await)
    }

    async fn save_component(
        &self,
        digest: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        delegate!(self, store => store.save_component(digest, name, bytes).await)
    }

    async fn component_versions(&self) -> Result<Vec<ComponentVersion>, StoreError> {
        delegate!(self, store => store.component_versions().await)
    }

    async fn collect_garbage(&self) -> Result<Collected, StoreError> {
        delegate!(self, store => store.collect_garbage().await)
    }

    async fn component_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        delegate!(self, store => store.component_bytes(digest).await)
    }

    async fn logs_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<LogLine>, StoreError> {
        delegate!(self, store => store.logs_page(thread, cursor, limit).await)
    }

    async fn list_runs(
        &self,
        filter: &RunFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<RunsPage, StoreError> {
        delegate!(self, store => store.list_runs(filter, cursor, limit).await)
    }

    async fn events_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<RunEvent>, StoreError> {
        delegate!(self, store => store.events_page(thread, cursor, limit).await)
    }

    async fn events_after(
        &self,
        filter: &EventFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        delegate!(self, store => store.events_after(filter, after, limit).await)
    }

    async fn last_event_id(&self) -> Result<u64, StoreError> {
        delegate!(self, store => store.last_event_id().await)
    }

    fn event_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        delegate!(self, store => store.event_notices())
    }

    async fn count_runs(&self, now_ms: i64) -> Result<RunCounts, StoreError> {
        delegate!(self, store => store.count_runs(now_ms).await)
    }

    async fn send_signal(
        &self,
        thread: &str,
        name: &str,
        data: Value,
    ) -> Result<Signal, StoreError> {
        delegate!(self, store => store.send_signal(thread, name, data).await)
    }

    async fn next_signal(&self, thread: &str, name: &str) -> Result<Option<Signal>, StoreError> {
        delegate!(self, store => store.next_signal(thread, name).await)
    }

    async fn signals(&self, thread: &str, limit: usize) -> Result<Vec<Signal>, StoreError> {
        delegate!(self, store => store.signals(thread, limit).await)
    }

    async fn put_schedule(
        &self,
        schedule: Schedule,
        workflow_text: String,
        replace: bool,
    ) -> Result<(), StoreError> {
        delegate!(self, store => store.put_schedule(schedule, workflow_text, replace).await)
    }

    async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        delegate!(self, store => store.schedules().await)
    }

    async fn pause_schedule(&self, name: &str, paused: bool) -> Result<Schedule, StoreError> {
        delegate!(self, store => store.pause_schedule(name, paused).await)
    }

    async fn remove_schedule(&self, name: &str) -> Result<(), StoreError> {
        delegate!(self, store => store.remove_schedule(name).await)
    }

    async fn advance_schedule(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        next_due_ms: i64,
        fired_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        delegate!(self, store => store
            .advance_schedule(name, expected_next_due_ms, next_due_ms, fired_ms)
            .await)
    }

    async fn fork_run(&self, fork: ForkRun) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.fork_run(fork).await)
    }

    async fn edit_run(
        &self,
        thread: &str,
        after_step: u64,
        edit: StateEdit,
    ) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.edit_run(thread, after_step, edit).await)
    }

    async fn replay_run(&self, replay: ReplayRun) -> Result<RunRecord, StoreError> {
        delegate!(self, store => store.replay_run(replay).await)
    }

    async fn delete_run(&self, thread: &str, force: bool) -> Result<Deleted, StoreError> {
        delegate!(self, store => store.delete_run(thread, force).await)
    }

    async fn finished_before(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, store => store.finished_before(cutoff_ms, limit).await)
    }

    fn work_notices(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        delegate!(self, store => store.work_notices())
    }
}
