//! [`CheckpointStore`] on one SQLite file: writes go through the [writer thread](super::writer)
//! and are group-committed; reads use their own connection, which WAL lets run beside the
//! writer (and beside other processes' readers and writers of the same file).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::schema;
use super::writer::Writer;
use super::{
    Checkpoint, CheckpointStore, Clock, LogLine, NewRun, RunRecord, RunStatus, RunSummary,
    StepCommit, StepFailure, StoreError,
};

/// A [`CheckpointStore`] in one SQLite database file. Cloning is cheap and shares the
/// connections; the writer thread stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: Arc<Mutex<Connection>>,
    path: Arc<Path>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if missing and migrating its schema, and
    /// starts the writer thread. `clock` stamps every write.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<SqliteStore, StoreError> {
        let conn = schema::open_writer(path)?;
        let reader = schema::open_reader(path)?;
        let writer = Writer::spawn(conn, clock, path)?;
        Ok(SqliteStore {
            writer: Arc::new(writer),
            reader: Arc::new(Mutex::new(reader)),
            path: Arc::from(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub(super) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Runs `query` on the read connection, off the async threads.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        let task = tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
            query(&conn)
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

impl CheckpointStore for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        self.writer
            .call(move |conn, now_ms| create_run(conn, now_ms, &run))
            .await
    }

    async fn load_run(&self, thread: &str) -> Result<Option<RunRecord>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| load_run(conn, &thread)).await
    }

    async fn workflow_text(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let digest = digest.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT text FROM workflows WHERE digest = ?1")?;
            Ok(stmt.query_row([&digest], |row| row.get(0)).optional()?)
        })
        .await
    }

    async fn set_status(&self, thread: &str, status: RunStatus) -> Result<(), StoreError> {
        let thread = thread.to_owned();
        self.writer
            .call(move |conn, now_ms| set_status(conn, now_ms, &thread, status))
            .await
    }

    async fn commit_step(&self, commit: StepCommit) -> Result<(), StoreError> {
        self.writer
            .call(move |conn, now_ms| commit_step(conn, now_ms, &commit))
            .await
    }

    async fn fail_step(&self, failure: StepFailure) -> Result<(), StoreError> {
        self.writer
            .call(move |conn, now_ms| fail_step(conn, now_ms, &failure))
            .await
    }

    async fn history(&self, thread: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| history(conn, &thread)).await
    }

    async fn logs(&self, thread: &str) -> Result<Vec<LogLine>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |conn| logs(conn, &thread)).await
    }

    async fn list_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        self.read(list_runs).await
    }
}

// Writes: each runs inside the writer's transaction (in its own savepoint).

fn create_run(conn: &Connection, now_ms: i64, run: &NewRun) -> Result<RunRecord, StoreError> {
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
                           next_json, input_json, attempt, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, 0, ?8, ?8)",
    )?
    .execute(params![
        run.thread,
        run.workflow_name,
        run.workflow_digest,
        run.workflow_path,
        RunStatus::Pending.as_str(),
        to_json(&run.next)?,
        to_json(&run.input)?,
        now_ms,
    ])?;
    Ok(RunRecord {
        thread: run.thread.clone(),
        workflow_name: run.workflow_name.clone(),
        workflow_digest: run.workflow_digest.clone(),
        workflow_path: run.workflow_path.clone(),
        status: RunStatus::Pending,
        step: 0,
        next: run.next.clone(),
        state: run.input.clone(),
        error: None,
        error_node: None,
        attempt: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
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
             WHERE thread = ?1",
        )?
        .execute(params![thread, status.as_str(), now_ms])?;
    if changed == 0 {
        return Err(not_found(thread));
    }
    Ok(())
}

fn commit_step(conn: &Connection, now_ms: i64, commit: &StepCommit) -> Result<(), StoreError> {
    let (step, _) = position(conn, &commit.thread)?;
    expect_next_step(&commit.thread, step, commit.step)?;
    conn.prepare_cached(
        "INSERT INTO checkpoints (thread, step, node, state_json, next_json, component_digest,
                                  workflow_digest, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, workflow_digest, ?7 FROM runs WHERE thread = ?1",
    )?
    .execute(params![
        commit.thread,
        commit.step,
        commit.node,
        to_json(&commit.state)?,
        to_json(&commit.next)?,
        commit.component_digest,
        now_ms,
    ])?;
    insert_logs(conn, &commit.thread, &commit.logs)?;
    conn.prepare_cached(
        "UPDATE runs SET step = ?2, next_json = ?3, status = ?4, attempt = 0, error = NULL,
                         error_node = NULL, updated_at = ?5
         WHERE thread = ?1",
    )?
    .execute(params![
        commit.thread,
        commit.step,
        to_json(&commit.next)?,
        commit.status.as_str(),
        now_ms,
    ])?;
    Ok(())
}

fn fail_step(conn: &Connection, now_ms: i64, failure: &StepFailure) -> Result<(), StoreError> {
    let (step, _) = position(conn, &failure.thread)?;
    expect_next_step(&failure.thread, step, failure.step)?;
    insert_logs(conn, &failure.thread, &failure.logs)?;
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, error = ?3, error_node = ?4, attempt = ?5, updated_at = ?6
         WHERE thread = ?1",
    )?
    .execute(params![
        failure.thread,
        RunStatus::Failed.as_str(),
        failure.error,
        failure.node,
        failure.attempt,
        now_ms,
    ])?;
    Ok(())
}

/// The run's committed step count and status; [`StoreError::NotFound`] if there is no run.
fn position(conn: &Connection, thread: &str) -> Result<(u64, RunStatus), StoreError> {
    let found = conn
        .prepare_cached("SELECT step, status FROM runs WHERE thread = ?1")?
        .query_row([thread], |row| {
            Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?))
        })
        .optional()?;
    let (step, status) = found.ok_or_else(|| not_found(thread))?;
    Ok((step, parse_status(thread, &status)?))
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

// Reads.

fn load_run(conn: &Connection, thread: &str) -> Result<Option<RunRecord>, StoreError> {
    // One statement, so the run row and its checkpoint come from the same snapshot.
    let mut stmt = conn.prepare_cached(
        "SELECT r.thread, r.workflow_name, r.workflow_digest, r.workflow_path, r.status, r.step,
                r.next_json, r.error, r.error_node, r.attempt, r.created_at, r.updated_at,
                CASE WHEN r.step = 0 THEN r.input_json ELSE c.state_json END
         FROM runs r LEFT JOIN checkpoints c ON c.thread = r.thread AND c.step = r.step
         WHERE r.thread = ?1",
    )?;
    let raw = stmt
        .query_row([thread], |row| {
            Ok(RawRun {
                thread: row.get(0)?,
                workflow_name: row.get(1)?,
                workflow_digest: row.get(2)?,
                workflow_path: row.get(3)?,
                status: row.get(4)?,
                step: row.get(5)?,
                next_json: row.get(6)?,
                error: row.get(7)?,
                error_node: row.get(8)?,
                attempt: row.get(9)?,
                created_at_ms: row.get(10)?,
                updated_at_ms: row.get(11)?,
                state_json: row.get(12)?,
            })
        })
        .optional()?;
    raw.map(RawRun::decode).transpose()
}

/// A `runs` row (with its state) before its JSON and status are parsed.
struct RawRun {
    thread: String,
    workflow_name: String,
    workflow_digest: String,
    workflow_path: String,
    status: String,
    step: u64,
    next_json: String,
    error: Option<String>,
    error_node: Option<String>,
    attempt: u32,
    created_at_ms: i64,
    updated_at_ms: i64,
    state_json: Option<String>,
}

impl RawRun {
    fn decode(self) -> Result<RunRecord, StoreError> {
        let state_json = self.state_json.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {:?}: the checkpoint of step {} is missing",
                self.thread, self.step
            ))
        })?;
        Ok(RunRecord {
            status: parse_status(&self.thread, &self.status)?,
            next: from_json(&self.thread, self.step, "next-node list", &self.next_json)?,
            state: from_json::<Map<String, Value>>(&self.thread, self.step, "state", &state_json)?,
            thread: self.thread,
            workflow_name: self.workflow_name,
            workflow_digest: self.workflow_digest,
            workflow_path: self.workflow_path,
            step: self.step,
            error: self.error,
            error_node: self.error_node,
            attempt: self.attempt,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

fn history(conn: &Connection, thread: &str) -> Result<Vec<Checkpoint>, StoreError> {
    position(conn, thread)?;
    let mut stmt = conn.prepare_cached(
        "SELECT step, node, state_json, next_json, component_digest, workflow_digest, created_at
         FROM checkpoints WHERE thread = ?1 ORDER BY step DESC",
    )?;
    let rows = stmt.query_map([thread], |row: &Row<'_>| {
        Ok((
            row.get::<_, u64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, i64>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (step, node, state_json, next_json, component_digest, workflow_digest, created_at) =
            row?;
        Ok(Checkpoint {
            thread: thread.to_owned(),
            step,
            node,
            state: from_json(thread, step, "state", &state_json)?,
            next: from_json(thread, step, "next-node list", &next_json)?,
            component_digest,
            workflow_digest,
            created_at_ms: created_at,
        })
    })
    .collect()
}

fn logs(conn: &Connection, thread: &str) -> Result<Vec<LogLine>, StoreError> {
    position(conn, thread)?;
    let mut stmt = conn.prepare_cached(
        "SELECT step, node, attempt, level, message, at FROM logs WHERE thread = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([thread], |row| {
        Ok(LogLine {
            step: row.get(0)?,
            node: row.get(1)?,
            attempt: row.get(2)?,
            level: row.get(3)?,
            message: row.get(4)?,
            at_ms: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn list_runs(conn: &Connection) -> Result<Vec<RunSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT thread, workflow_name, status, step, updated_at FROM runs
         ORDER BY updated_at DESC, created_at DESC, thread",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u64>(3)?,
            row.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (thread, workflow_name, status, step, updated_at_ms) = row?;
        Ok(RunSummary {
            status: parse_status(&thread, &status)?,
            thread,
            workflow_name,
            step,
            updated_at_ms,
        })
    })
    .collect()
}

// Encoding.

fn not_found(thread: &str) -> StoreError {
    StoreError::NotFound {
        thread: thread.to_owned(),
    }
}

fn parse_status(thread: &str, status: &str) -> Result<RunStatus, StoreError> {
    status
        .parse()
        .map_err(|error| StoreError::Corrupt(format!("thread {thread:?}: {error}")))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode as JSON: {error}")))
}

fn from_json<T: DeserializeOwned>(
    thread: &str,
    step: u64,
    what: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|error| {
        StoreError::Corrupt(format!(
            "thread {thread:?} step {step}: stored {what} is not valid: {error}"
        ))
    })
}
