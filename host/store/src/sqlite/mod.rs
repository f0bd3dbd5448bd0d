//! [`CheckpointStore`] on one SQLite file: writes go through the [writer thread](writer)
//! and are group-committed; reads use their own connection, which WAL lets run beside the
//! writer (and beside other processes' readers and writers of the same file).

mod batch;
mod branches;
pub(crate) mod bundle;
mod compose;
mod counts;
mod delete;
mod disk;
mod due;
mod events;
mod fault;
mod guards;
mod leases;
mod listing;
mod paged;
mod pins;
mod rows;
mod runs;
mod schedules;
pub(crate) mod schema;
mod travel;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::{
    Branches, CheckpointStore, Clock, Collected, ComponentVersion, Cursor, Deleted, EventFilter,
    ForkRun, HistoryDetail, HistoryEntry, LogLine, NewRun, Page, ReplayRun, RunEvent, RunFilter,
    RunRecord, RunStatus, RunUpgrade, RunsPage, Schedule, StateEdit, StepCommit, StepSetback,
    StoreError,
};
use due::next_wake;
use guards::position;
use leases::*;
use pins::*;
use rows::*;
use runs::*;
use writer::Writer;

pub use disk::DiskUse;

/// Encodes the state keys of a checkpoint (or a run's input) as [`SqliteStore`] does before
/// it queues the write: JSON per key, and a digest for each long value. Returns the bytes of
/// JSON. Public for the benchmarks.
#[doc(hidden)]
pub fn encode_checkpoint(keys: &Map<String, Value>) -> Result<usize, StoreError> {
    Ok(encode_values(keys)?
        .iter()
        .map(|value| value.json.len())
        .sum())
}

/// A [`CheckpointStore`] in one SQLite database file. Cloning is cheap and shares the
/// connections; the writer thread stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    /// For reads of any size, on the blocking thread pool.
    reader: Arc<Mutex<Connection>>,
    /// For the step loop's small reads (a run, a workflow text), made on the calling
    /// thread: handing a read of some microseconds to another thread and back costs more
    /// than the read.
    quick_reader: Arc<Mutex<Connection>>,
    path: Arc<Path>,
    /// The newest event id this process committed, sent by the writer.
    events: watch::Receiver<u64>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if missing and migrating its schema, and
    /// starts the writer thread. `clock` stamps every write.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteStore, StoreError> {
        let conn = schema::open_writer(path)?;
        let reader = schema::open_reader(path)?;
        let quick_reader = schema::open_reader(path)?;
        let newest = events::last_id(&reader)?;
        let (events_tx, events) = watch::channel(newest);
        let writer = Writer::spawn(conn, clock, path, Some(events_tx))?;
        Ok(SqliteStore {
            writer: Arc::new(writer),
            reader: Arc::new(Mutex::new(reader)),
            quick_reader: Arc::new(Mutex::new(quick_reader)),
            path: Arc::from(path),
            events,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that the database can be written, with a write statement that is rolled
    /// back: fails with [`StoreError::ReadOnly`] if the file, its folder or its volume is
    /// read-only. Commands about to write call it first, so that they stop at once with a
    /// message that names the file.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let path = Arc::clone(&self.path);
        match tokio::task::spawn_blocking(move || schema::check_writable(&path)).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }

    #[cfg(test)]
    fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs `query` on the read connection, off the async threads, in one read
    /// transaction so that all its statements see the same snapshot.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        let path = Arc::clone(&self.path);
        let task = tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
            read_snapshot(&conn, &path, query)
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

impl SqliteStore {
    /// Runs `query` on the calling thread, in one read transaction: for reads that take
    /// microseconds (WAL readers never wait for the writer).
    fn read_now<T>(
        &self,
        query: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .quick_reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        read_snapshot(&conn, &self.path, query)
    }
}

/// Runs `query` on `conn` (a reader of `path`) in one read transaction; its errors as
/// [`fault::classify`] sees them.
fn read_snapshot<T>(
    conn: &Connection,
    path: &Path,
    query: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = conn
        .unchecked_transaction()
        .map_err(StoreError::from)
        // Dropping the transaction ends it (a rollback: nothing was written).
        .and_then(|snapshot| query(&snapshot));
    result.map_err(|error| fault::classify(conn, path, error))
}

impl CheckpointStore for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        let input = encode_values(&run.input)?;
        self.writer
            .call(move |conn, now_ms| create_run(conn, now_ms, &run, &input))
            .await
    }

    async fn create_runs(&self, runs: Vec<NewRun>) -> Result<usize, StoreError> {
        if runs.is_empty() {
            return Ok(0);
        }
        // Encoded here, on the caller's thread, so that the writer thread only writes.
        let runs = runs
            .into_iter()
            .map(|run| {
                let input = encode_values(&run.input)?;
                Ok(batch::Creation { run, input })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.writer
            .call(move |conn, now_ms| batch::create_runs(conn, now_ms, &runs))
            .await
    }

    async fn load_run(&self, thread: &str) -> Result<Option<RunRecord>, StoreError> {
        self.read_now(|conn| load_run(conn, thread))
    }

    async fn workflow_text(&self, digest: &str) -> Result<Option<String>, StoreError> {
        self.read_now(|conn| {
            let mut stmt = conn.prepare_cached("SELECT text FROM workflows WHERE digest = ?1")?;
            Ok(stmt.query_row([digest], |row| row.get(0)).optional()?)
        })
    }

    async fn set_status(&self, thread: &str, status: RunStatus) -> Result<(), StoreError> {
        let thread = thread.to_owned();
        self.writer
            .call(move |conn, now_ms| set_status(conn, now_ms, &thread, status))
            .await
    }

    async fn commit_step(&self, mut commit: StepCommit) -> Result<RunRecord, StoreError> {
        let changes = encode_values(&commit.changes)?;
        // The state goes back to the caller as given; taken out here so that the writer
        // (whose work may run twice) need not clone it.
        let state = std::mem::take(&mut commit.state);
        let (row, plugins, tags) = self
            .writer
            .call(move |conn, now_ms| commit_step(conn, now_ms, &commit, &changes))
            .await?;
        // The pending writes of the step were deleted with the commit, and those of the
        // next step cannot exist yet.
        row.decode(state, Vec::new(), plugins, tags)
    }

    async fn setback_step(&self, setback: StepSetback) -> Result<(), StoreError> {
        self.writer
            .call(move |conn, now_ms| setback_step(conn, now_ms, &setback))
            .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<Vec<RunRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let owner = owner.to_owned();
        let dead_owners = to_json(&dead_owners)?;
        self.writer
            .call(move |conn, now_ms| {
                claim_due(conn, now_ms, &owner, limit, lease_ms, &dead_owners)
            })
            .await
    }

    async fn claim(
        &self,
        thread: &str,
        owner: &str,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<RunRecord, StoreError> {
        let thread = thread.to_owned();
        let owner = owner.to_owned();
        let dead_owners = dead_owners.to_vec();
        self.writer
            .call(move |conn, now_ms| claim(conn, now_ms, &thread, &owner, lease_ms, &dead_owners))
            .await
    }

    async fn leases(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read_now(leases)
    }

    async fn renew(
        &self,
        owner: &str,
        threads: &[String],
        lease_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        if threads.is_empty() {
            return Ok(Vec::new());
        }
        let owner = owner.to_owned();
        let threads = threads.to_vec();
        self.writer
            .call(move |conn, now_ms| renew(conn, now_ms, &owner, &threads, lease_ms))
            .await
    }

    async fn release(&self, owner: &str, thread: &str) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        let thread = thread.to_owned();
        self.writer
            .call(move |conn, _| release(conn, &owner, &thread))
            .await
    }

    async fn announce_daemon(&self, owner: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.writer
            .call(move |conn, now_ms| announce_daemon(conn, now_ms, &owner, ttl_ms))
            .await
    }

    async fn retire_daemon(&self, owner: &str) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.writer
            .call(move |conn, _| {
                conn.prepare_cached("DELETE FROM daemons WHERE owner = ?1")?
                    .execute([&owner])?;
                Ok(())
            })
            .await
    }

    async fn daemons(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read_now(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT owner, expires_at FROM daemons ORDER BY owner")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    async fn resume_input(
        &self,
        thread: &str,
        input: Option<Value>,
        status: RunStatus,
        owner: Option<&str>,
    ) -> Result<RunRecord, StoreError> {
        let thread = thread.to_owned();
        let input = input.as_ref().map(to_json).transpose()?;
        let owner = owner.map(str::to_owned);
        self.writer
            .call(move |conn, now_ms| {
                resume_input(
                    conn,
                    now_ms,
                    &thread,
                    input.as_deref(),
                    status,
                    owner.as_deref(),
                )
            })
            .await
    }

    async fn cancel(&self, thread: &str) -> Result<RunRecord, StoreError> {
        let thread = thread.to_owned();
        self.writer
            .call(move |conn, now_ms| cancel(conn, now_ms, &thread))
            .await
    }

    async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        self.read_now(next_wake)
    }

    async fn history_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
        detail: HistoryDetail,
        branches: Branches,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.read_now(|conn| position(conn, thread))?;
        let (sender, page) = Page::channel();
        let (store, thread) = (self.clone(), thread.to_owned());
        let read = paged::history(store, thread, cursor, limit, detail, branches, sender);
        tokio::spawn(read);
        Ok(page)
    }

    async fn state_at(
        &self,
        thread: &str,
        step: u64,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| {
            let run = guards::run_row(conn, &thread)?;
            if step > run.step || step < run.first_step {
                return Ok(None);
            }
            state_at(conn, &thread, step).map(Some)
        })
        .await
    }

    async fn upgrade_run(&self, upgrade: RunUpgrade) -> Result<RunRecord, StoreError> {
        self.writer
            .call(move |conn, now_ms| upgrade_run(conn, now_ms, &upgrade))
            .await
    }

    async fn save_component(
        &self,
        digest: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let (digest, name) = (digest.to_owned(), name.to_owned());
        self.writer
            .call(move |conn, now_ms| save_component(conn, now_ms, &digest, &name, &bytes))
            .await
    }

    async fn component_versions(&self) -> Result<Vec<ComponentVersion>, StoreError> {
        self.read(component_versions).await
    }

    async fn collect_garbage(&self) -> Result<Collected, StoreError> {
        self.writer.call(|conn, _| collect_garbage(conn)).await
    }

    async fn component_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let digest = digest.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT bytes FROM components WHERE digest = ?1")?;
            Ok(stmt.query_row([&digest], |row| row.get(0)).optional()?)
        })
        .await
    }

    async fn logs_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<LogLine>, StoreError> {
        self.read_now(|conn| position(conn, thread))?;
        let (sender, page) = Page::channel();
        let (store, thread) = (self.clone(), thread.to_owned());
        tokio::spawn(paged::logs(store, thread, cursor, limit, sender));
        Ok(page)
    }

    async fn list_runs(
        &self,
        filter: &RunFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<RunsPage, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| listing::list_runs(conn, &filter, cursor, limit))
            .await
    }

    async fn events_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<RunEvent>, StoreError> {
        self.read_now(|conn| position(conn, thread))?;
        let (sender, page) = Page::channel();
        let (store, thread) = (self.clone(), thread.to_owned());
        tokio::spawn(events::page(store, thread, cursor, limit, sender));
        Ok(page)
    }

    async fn events_after(
        &self,
        filter: &EventFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        let filter = filter.clone();
        let after = after.unwrap_or(0);
        self.read(move |conn| events::after(conn, &filter, after, limit))
            .await
    }

    async fn last_event_id(&self) -> Result<u64, StoreError> {
        self.read_now(events::last_id)
    }

    fn event_notices(&self) -> Option<watch::Receiver<u64>> {
        Some(self.events.clone())
    }

    async fn fork_run(&self, fork: ForkRun) -> Result<RunRecord, StoreError> {
        let changes = match &fork.edit {
            Some(edit) => encode_values(&edit.changes)?,
            None => Vec::new(),
        };
        self.writer
            .call(move |conn, now_ms| travel::fork_run(conn, now_ms, &fork, &changes))
            .await
    }

    async fn edit_run(
        &self,
        thread: &str,
        after_step: u64,
        edit: StateEdit,
    ) -> Result<RunRecord, StoreError> {
        let changes = encode_values(&edit.changes)?;
        let thread = thread.to_owned();
        self.writer
            .call(move |conn, now_ms| {
                travel::edit_run(conn, now_ms, &thread, after_step, &edit, &changes)
            })
            .await
    }

    async fn replay_run(&self, replay: ReplayRun) -> Result<RunRecord, StoreError> {
        self.writer
            .call(move |conn, now_ms| travel::replay_run(conn, now_ms, &replay))
            .await
    }

    async fn delete_run(&self, thread: &str, force: bool) -> Result<Deleted, StoreError> {
        delete::delete_run(self, thread, force).await
    }

    async fn finished_before(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| listing::finished_before(conn, cutoff_ms, limit))
            .await
    }

    async fn count_runs(&self, now_ms: i64) -> Result<crate::RunCounts, StoreError> {
        self.read(move |conn| counts::count_runs(conn, now_ms))
            .await
    }

    async fn send_signal(
        &self,
        thread: &str,
        name: &str,
        data: Value,
    ) -> Result<crate::Signal, StoreError> {
        let (thread, name) = (thread.to_owned(), name.to_owned());
        self.writer
            .call(move |conn, now_ms| compose::send_signal(conn, now_ms, &thread, &name, &data))
            .await
    }

    async fn next_signal(
        &self,
        thread: &str,
        name: &str,
    ) -> Result<Option<crate::Signal>, StoreError> {
        self.read_now(|conn| compose::next_signal(conn, thread, name))
    }

    async fn signals(&self, thread: &str, limit: usize) -> Result<Vec<crate::Signal>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| compose::signals(conn, &thread, limit))
            .await
    }

    async fn put_schedule(
        &self,
        schedule: Schedule,
        workflow_text: String,
        replace: bool,
    ) -> Result<(), StoreError> {
        self.writer
            .call(move |conn, now_ms| {
                schedules::put_schedule(conn, now_ms, &schedule, &workflow_text, replace)
            })
            .await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read_now(schedules::schedules)
    }

    async fn pause_schedule(&self, name: &str, paused: bool) -> Result<Schedule, StoreError> {
        let name = name.to_owned();
        self.writer
            .call(move |conn, _| schedules::pause_schedule(conn, &name, paused))
            .await
    }

    async fn remove_schedule(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.writer
            .call(move |conn, _| schedules::remove_schedule(conn, &name))
            .await
    }

    async fn advance_schedule(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        next_due_ms: i64,
        fired_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.writer
            .call(move |conn, _| {
                schedules::advance_schedule(
                    conn,
                    &name,
                    expected_next_due_ms,
                    next_due_ms,
                    fired_ms,
                )
            })
            .await
    }
}
