//! [`CheckpointStore`] on one SQLite file: writes go through the [writer thread](super::writer)
//! and are group-committed; reads use their own connection, which WAL lets run beside the
//! writer (and beside other processes' readers and writers of the same file).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::pins::*;
use super::rows::*;
use super::writer::Writer;
use super::{
    CheckpointStore, Clock, Collected, ComponentVersion, Cursor, HistoryDetail, HistoryEntry,
    LogLine, NewRun, Page, RunRecord, RunStatus, RunSummary, RunUpgrade, Setback, StepCommit,
    StepSetback, StoreError,
};
use super::{fault, paged, schema};

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
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if missing and migrating its schema, and
    /// starts the writer thread. `clock` stamps every write.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteStore, StoreError> {
        let conn = schema::open_writer(path)?;
        let reader = schema::open_reader(path)?;
        let quick_reader = schema::open_reader(path)?;
        let writer = Writer::spawn(conn, clock, path)?;
        Ok(SqliteStore {
            writer: Arc::new(writer),
            reader: Arc::new(Mutex::new(reader)),
            quick_reader: Arc::new(Mutex::new(quick_reader)),
            path: Arc::from(path),
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
    pub(super) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs `query` on the read connection, off the async threads, in one read
    /// transaction so that all its statements see the same snapshot.
    pub(super) async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
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
        let (row, plugins) = self
            .writer
            .call(move |conn, now_ms| commit_step(conn, now_ms, &commit, &changes))
            .await?;
        // The pending writes of the step were deleted with the commit, and those of the
        // next step cannot exist yet.
        row.decode(state, Vec::new(), plugins)
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
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.read_now(|conn| position(conn, thread))?;
        let (sender, page) = Page::channel();
        let (store, thread) = (self.clone(), thread.to_owned());
        tokio::spawn(paged::history(store, thread, cursor, limit, detail, sender));
        Ok(page)
    }

    async fn state_at(
        &self,
        thread: &str,
        step: u64,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| {
            let (last, _) = position(conn, &thread)?;
            if step > last {
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
        status: Option<RunStatus>,
        limit: usize,
    ) -> Result<Vec<RunSummary>, StoreError> {
        self.read(move |conn| list_runs(conn, status, limit)).await
    }
}

// Writes: each runs inside the writer's transaction (in its own savepoint).

fn create_run(
    conn: &Connection,
    now_ms: i64,
    run: &NewRun,
    input: &[StoredValue],
) -> Result<RunRecord, StoreError> {
    // A run created leased is driven at once by its creator.
    let status = match run.lease {
        Some(_) => RunStatus::Running,
        None => RunStatus::Pending,
    };
    let lease_owner = run.lease.as_ref().map(|(owner, _)| owner.clone());
    let lease_expires = run.lease.as_ref().map(|(_, ms)| now_ms + ms);
    match position(conn, &run.thread) {
        Err(StoreError::NotFound { .. }) => {}
        Ok((_, status)) => {
            return Err(StoreError::ThreadExists {
                thread: run.thread.clone(),
                status,
            });
        }
        Err(error) => return Err(error),
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO workflows (digest, name, text, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        run.workflow_digest,
        run.workflow_name,
        run.workflow_text,
        now_ms
    ])?;
    conn.prepare_cached(
        "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status, step,
                           next_json, attempt, created_at, updated_at,
                           lease_owner, lease_expires, lease_epoch)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 0, ?7, ?7, ?8, ?9, ?8 IS NOT NULL)",
    )?
    .execute(params![
        run.thread,
        run.workflow_name,
        run.workflow_digest,
        run.workflow_path,
        status.as_str(),
        to_json(&run.next)?,
        now_ms,
        lease_owner,
        lease_expires,
    ])?;
    insert_state(conn, now_ms, &run.thread, 0, input)?;
    let mut pin = conn
        .prepare_cached("INSERT INTO run_plugins (thread, plugin, digest) VALUES (?1, ?2, ?3)")?;
    for (plugin, digest) in &run.plugins {
        pin.execute(params![run.thread, plugin, digest])
            .map_err(|error| match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::ComponentMissing {
                    digest: digest.clone(),
                },
                _ => error.into(),
            })?;
    }
    Ok(RunRecord {
        thread: run.thread.clone(),
        workflow_name: run.workflow_name.clone(),
        workflow_digest: run.workflow_digest.clone(),
        workflow_path: run.workflow_path.clone(),
        status,
        step: 0,
        next: run.next.clone(),
        state: run.input.clone(),
        error: None,
        error_node: None,
        attempt: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        wake_at_ms: None,
        interrupt: None,
        resume: None,
        timed_out: false,
        wakes: 0,
        retry_base: 0,
        joins: BTreeMap::new(),
        lease_epoch: u64::from(lease_owner.is_some()),
        lease_owner,
        lease_expires_ms: lease_expires,
        pending: Vec::new(),
        plugins: run.plugins.clone(),
    })
}

fn set_status(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    status: RunStatus,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET status = ?2, updated_at = ?3,
                 error = CASE WHEN ?2 = 'running' THEN NULL ELSE error END,
                 error_node = CASE WHEN ?2 = 'running' THEN NULL ELSE error_node END
             WHERE thread = ?1 AND (status <> 'cancelled' OR ?2 = 'cancelled')",
        )?
        .execute(params![thread, status.as_str(), now_ms])?;
    if changed == 0 {
        // Cancel wins: a cancelled run is never made runnable again.
        position(conn, thread)?;
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    Ok(())
}

/// Writes the commit; returns the `runs` row as the UPDATE wrote it, and the run's pins.
fn commit_step(
    conn: &Connection,
    now_ms: i64,
    commit: &StepCommit,
    changes: &[StoredValue],
) -> Result<(RawRun, BTreeMap<String, String>), StoreError> {
    let run = fenced(conn, &commit.thread, commit.owner.as_deref())?;
    expect_next_step(&commit.thread, run.step, commit.step)?;
    conn.prepare_cached(
        "INSERT INTO checkpoints (thread, step, node, next_json, component_digest,
                                  workflow_digest, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, workflow_digest, ?6 FROM runs WHERE thread = ?1",
    )?
    .execute(params![
        commit.thread,
        commit.step,
        commit.node,
        to_json(&commit.next)?,
        commit.component_digest,
        now_ms,
    ])?;
    insert_state(conn, now_ms, &commit.thread, commit.step, changes)?;
    insert_logs(conn, &commit.thread, &commit.logs)?;
    conn.prepare_cached("DELETE FROM pending_writes WHERE thread = ?1 AND step <= ?2")?
        .execute(params![commit.thread, commit.step])?;
    let row =
        if run.status == commit.status && run.wake_at_ms.is_none() && commit.wake_at_ms.is_none() {
            // The common step of a running run: leave `status` and `wake_at` out of the
            // statement, so that the indexes on them are not rewritten (fewer pages to sync).
            conn.prepare_cached(concat!(
                "UPDATE runs SET step = ?2, next_json = ?3, joins_json = ?4, wakes = ?5,
                             attempt = 0, retry_base = 0, error = NULL, error_node = NULL,
                             interrupt_json = NULL, resume_json = NULL, timed_out = 0,
                             updated_at = ?6
             WHERE thread = ?1 RETURNING ",
                run_columns!()
            ))?
            .query_row(
                params![
                    commit.thread,
                    commit.step,
                    to_json(&commit.next)?,
                    to_json(&commit.joins)?,
                    commit.wakes,
                    now_ms,
                ],
                RawRun::from_row,
            )?
        } else {
            conn.prepare_cached(concat!(
                "UPDATE runs SET step = ?2, next_json = ?3, status = ?4, joins_json = ?5,
                             wakes = ?6, wake_at = ?7, attempt = 0, retry_base = 0,
                             error = NULL, error_node = NULL, interrupt_json = NULL,
                             resume_json = NULL, timed_out = 0, updated_at = ?8,
                             -- A completed run needs no lease: releasing it here saves the
                             -- release its own durable commit.
                             lease_owner = CASE WHEN ?4 = 'completed' THEN NULL
                                                ELSE lease_owner END,
                             lease_expires = CASE WHEN ?4 = 'completed' THEN NULL
                                                  ELSE lease_expires END
             WHERE thread = ?1 RETURNING ",
                run_columns!()
            ))?
            .query_row(
                params![
                    commit.thread,
                    commit.step,
                    to_json(&commit.next)?,
                    commit.status.as_str(),
                    to_json(&commit.joins)?,
                    commit.wakes,
                    commit.wake_at_ms,
                    now_ms,
                ],
                RawRun::from_row,
            )?
        };
    // Pins change only by an upgrade, which a lease holder does not make: still read in
    // this transaction, so the position is the stored one whoever upgraded the run.
    Ok((row, run_plugins(conn, &commit.thread)?))
}

fn setback_step(conn: &Connection, now_ms: i64, setback: &StepSetback) -> Result<(), StoreError> {
    let run = fenced(conn, &setback.thread, setback.owner.as_deref())?;
    expect_next_step(&setback.thread, run.step, setback.step)?;
    insert_logs(conn, &setback.thread, &setback.logs)?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO pending_writes (thread, step, node, update_json, goto, component_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (thread, step, node) DO UPDATE SET update_json = excluded.update_json,
             goto = excluded.goto, component_digest = excluded.component_digest",
    )?;
    for write in &setback.pending {
        upsert.execute(params![
            setback.thread,
            setback.step,
            write.node,
            to_json(&write.update)?,
            write.goto,
            write.component_digest,
        ])?;
    }
    let node = Some(setback.node.as_str());
    // (status, error, error_node, wake_at, interrupt_json, whether the resume input was
    // used up)
    let (status, error, error_node, wake_at, interrupt, used_up) = match &setback.kind {
        Setback::Failed => (
            RunStatus::Failed,
            setback.error.as_deref(),
            node,
            None,
            None,
            false,
        ),
        Setback::Retry { wake_at_ms } => (
            RunStatus::Retrying,
            setback.error.as_deref(),
            node,
            Some(*wake_at_ms),
            None,
            false,
        ),
        Setback::Interrupted {
            payload,
            deadline_ms,
        } => (
            RunStatus::Interrupted,
            None,
            None,
            *deadline_ms,
            Some(to_json(payload)?),
            true,
        ),
    };
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, error = ?3, error_node = ?4, attempt = ?5, wake_at = ?6,
                         interrupt_json = ?7,
                         resume_json = CASE WHEN ?8 THEN NULL ELSE resume_json END,
                         timed_out = CASE WHEN ?8 THEN 0 ELSE timed_out END,
                         updated_at = ?9
         WHERE thread = ?1",
    )?
    .execute(params![
        setback.thread,
        status.as_str(),
        error,
        error_node,
        setback.attempt,
        wake_at,
        interrupt,
        used_up,
        now_ms,
    ])?;
    Ok(())
}

/// The condition of a run that [`claim_due`] may take (`?1`: now, `?3`: the
/// dead owners as a JSON array): runnable now, and not leased by a live owner.
macro_rules! runnable {
    () => {
        "(status IN ('pending', 'running')
          OR (status IN ('sleeping', 'retrying', 'interrupted') AND wake_at <= ?1))
         AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires <= ?1
              OR lease_owner IN (SELECT value FROM json_each(?3)))"
    };
}

fn claim_due(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    limit: usize,
    lease_ms: i64,
    dead_owners_json: &str,
) -> Result<Vec<RunRecord>, StoreError> {
    let args = params![now_ms, owner, dead_owners_json, limit];
    // Oldest first; when all the runnable runs fit, that is all there is to it.
    let mut threads: Vec<String> = conn
        .prepare_cached(concat!(
            "SELECT thread FROM runs WHERE ",
            runnable!(),
            " ORDER BY CASE WHEN status IN ('pending', 'running') THEN updated_at
                            ELSE wake_at END,
                       updated_at, thread
              LIMIT ?4"
        ))?
        .query_map(args, |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if threads.len() == limit {
        // More may be runnable than fit: share the slots fairly among
        // workflows. A run's turn is the number of runs of its workflow that
        // `owner` drives now plus its place among its workflow's runnable
        // runs (oldest first); the lowest turns are taken. So a free slot
        // goes to the workflow that holds the fewest, and one workflow's
        // backlog (or its runs that sleep in the guest) never keeps another
        // workflow's runs waiting while it holds more than its share. (A
        // second query only then: it sorts every runnable run.)
        threads = conn
            .prepare_cached(concat!(
                "WITH due AS (
                     SELECT thread, workflow_name, updated_at,
                            CASE WHEN status IN ('pending', 'running') THEN updated_at
                                 ELSE wake_at END AS due_at
                     FROM runs WHERE ",
                runnable!(),
                "),
                 held AS (
                     SELECT workflow_name, COUNT(*) AS runs FROM runs
                     WHERE status IN ('pending', 'running')
                       AND lease_owner = ?2 AND lease_expires > ?1
                     GROUP BY workflow_name
                 )
                 SELECT thread FROM (
                     SELECT due.thread, due.due_at, due.updated_at,
                            COALESCE(held.runs, 0) + ROW_NUMBER() OVER (
                                PARTITION BY due.workflow_name
                                ORDER BY due.due_at, due.updated_at, due.thread
                            ) AS turn
                     FROM due LEFT JOIN held ON held.workflow_name = due.workflow_name
                 )
                 ORDER BY turn, due_at, updated_at, thread
                 LIMIT ?4"
            ))?
            .query_map(args, |row| row.get(0))?
            .collect::<Result<_, _>>()?;
    }
    threads
        .iter()
        .map(|thread| {
            take_lease(conn, now_ms, thread, owner, lease_ms)?;
            load_run(conn, thread)?.ok_or_else(|| not_found(thread))
        })
        .collect()
}

fn claim(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    owner: &str,
    lease_ms: i64,
    dead_owners: &[String],
) -> Result<RunRecord, StoreError> {
    let run = run_row(conn, thread)?;
    if let Some(holder) = run.lease_owner
        && holder != owner
        && !dead_owners.contains(&holder)
        && let Some(expires_ms) = run.lease_expires_ms.filter(|&expires| expires > now_ms)
    {
        return Err(StoreError::Leased {
            thread: thread.to_owned(),
            owner: holder,
            expires_ms,
        });
    }
    take_lease(conn, now_ms, thread, owner, lease_ms)?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

/// Leases the run to `owner` until `lease_ms` from now, in a new lease epoch unless `owner`
/// holds it already; an interrupted run whose deadline passed is marked timed out.
///
/// A `running` run is one whose holder may have started a call of its next step: every
/// way into `running` (created leased, a commit that goes on, `set_status`, a resume with
/// input) is followed by that call. So a claim of a `running` run counts the call its
/// previous holder may have made and lost (it crashed, stalled or stopped) as an attempt,
/// and the replayed call sees `ctx.attempt` one higher; this costs no write beyond the
/// claim's own.
fn take_lease(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = ?2, lease_expires = ?3,
             timed_out = CASE WHEN status = 'interrupted' AND wake_at <= ?4 THEN 1
                              ELSE timed_out END,
             attempt = attempt + (status = 'running'),
             lease_epoch = lease_epoch + (lease_owner IS NOT ?2)
         WHERE thread = ?1",
    )?
    .execute(params![
        thread,
        owner,
        now_ms.saturating_add(lease_ms),
        now_ms
    ])?;
    Ok(())
}

fn renew(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    threads: &[String],
    lease_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let mut extend = conn.prepare_cached(
        "UPDATE runs SET lease_expires = ?3
         WHERE thread = ?1 AND lease_owner = ?2 AND status <> 'cancelled'",
    )?;
    let mut stopped = Vec::new();
    for thread in threads {
        if extend.execute(params![thread, owner, now_ms.saturating_add(lease_ms)])? == 0 {
            stopped.push(thread.clone());
        }
    }
    Ok(stopped)
}

fn release(conn: &Connection, owner: &str, thread: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = NULL, lease_expires = NULL
         WHERE thread = ?1 AND lease_owner = ?2",
    )?
    .execute(params![thread, owner])?;
    Ok(())
}

fn announce_daemon(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    ttl_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM daemons WHERE expires_at < ?1")?
        .execute([now_ms])?;
    conn.prepare_cached(
        "INSERT INTO daemons (owner, started_at, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at",
    )?
    .execute(params![owner, now_ms, now_ms.saturating_add(ttl_ms)])?;
    Ok(())
}

fn resume_input(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    input_json: Option<&str>,
    status: RunStatus,
    owner: Option<&str>,
) -> Result<RunRecord, StoreError> {
    fenced(conn, thread, owner)?;
    // On the right of SET, columns hold their values from before the update.
    conn.prepare_cached(
        "UPDATE runs SET resume_json = ?2, status = ?3,
             retry_base = CASE WHEN status = 'failed' THEN attempt ELSE retry_base END,
             timed_out = CASE WHEN ?2 IS NULL THEN timed_out ELSE 0 END,
             wake_at = NULL, error = NULL, error_node = NULL, interrupt_json = NULL,
             updated_at = ?4
         WHERE thread = ?1",
    )?
    .execute(params![thread, input_json, status.as_str(), now_ms])?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

fn cancel(conn: &Connection, now_ms: i64, thread: &str) -> Result<RunRecord, StoreError> {
    let run = run_row(conn, thread)?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.to_owned(),
            status: run.status,
        });
    }
    conn.prepare_cached(
        "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = ?2
         WHERE thread = ?1",
    )?
    .execute(params![thread, now_ms])?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

/// What the write operations check before writing.
pub(super) struct RunRow {
    pub step: u64,
    pub status: RunStatus,
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
    pub wake_at_ms: Option<i64>,
}

/// The run's position, status and lease; [`StoreError::NotFound`] if there is no run.
pub(super) fn run_row(conn: &Connection, thread: &str) -> Result<RunRow, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT step, status, lease_owner, lease_expires, wake_at FROM runs WHERE thread = ?1",
        )?
        .query_row([thread], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let (step, status, lease_owner, lease_expires_ms, wake_at_ms) =
        found.ok_or_else(|| not_found(thread))?;
    Ok(RunRow {
        step,
        status: parse_status(thread, &status)?,
        lease_owner,
        lease_expires_ms,
        wake_at_ms,
    })
}

/// The run, unless it was cancelled ([`StoreError::Cancelled`]) or `owner` is given and
/// does not hold its lease ([`StoreError::LeaseLost`]).
fn fenced(conn: &Connection, thread: &str, owner: Option<&str>) -> Result<RunRow, StoreError> {
    let run = run_row(conn, thread)?;
    if run.status == RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    if let Some(owner) = owner
        && run.lease_owner.as_deref() != Some(owner)
    {
        return Err(StoreError::LeaseLost {
            thread: thread.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(run)
}

fn expect_next_step(thread: &str, stored: u64, step: u64) -> Result<(), StoreError> {
    let expected = stored + 1;
    if step == expected {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            thread: thread.to_owned(),
            expected_step: expected,
            found_step: step,
        })
    }
}

fn insert_logs(conn: &Connection, thread: &str, logs: &[LogLine]) -> Result<(), StoreError> {
    if logs.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO logs (thread, step, node, attempt, level, message, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for line in logs {
        insert.execute(params![
            thread,
            line.step,
            line.node,
            line.attempt,
            line.level,
            line.message,
            line.at_ms
        ])?;
    }
    Ok(())
}

/// Writes the keys a step (0: the input) changed, long values into `blobs` once.
fn insert_state(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    step: u64,
    values: &[StoredValue],
) -> Result<(), StoreError> {
    if values.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO state_writes (thread, step, key, ord, value_json, blob)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (ord, value) in values.iter().enumerate() {
        match &value.blob {
            None => insert.execute(params![
                thread,
                step,
                value.key,
                ord,
                value.json,
                None::<&str>
            ])?,
            Some(digest) => {
                conn.prepare_cached(
                    "INSERT INTO blobs (digest, data, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (digest) DO NOTHING",
                )?
                .execute(params![digest, value.json, now_ms])?;
                insert.execute(params![thread, step, value.key, ord, None::<&str>, digest])?
            }
        };
    }
    Ok(())
}

/// The run's committed step count and status; [`StoreError::NotFound`] if there is no run.
pub(super) fn position(conn: &Connection, thread: &str) -> Result<(u64, RunStatus), StoreError> {
    let run = run_row(conn, thread)?;
    Ok((run.step, run.status))
}
