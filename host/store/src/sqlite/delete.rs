//! Deleting a run in bounded transactions: a run of 10,000 steps has tens of thousands of
//! rows, and one transaction deleting them all would hold the writer (every other run's
//! commits) for as long. So the delete is a series of writer jobs of at most [`BATCH`]
//! rows each, between which other runs' steps commit:
//! 1. refuse or fence: an unfinished run is refused unless forced; the run is marked
//!    `cancelled`, so whoever executes it writes nothing more (its next write fails), and
//!    what the run refers to (large values, component versions) is noted;
//! 2. its rows, table by table, a batch at a time;
//! 3. the run itself and its pins, then the noted values and versions no other run refers
//!    to any more (indexed lookups: migration 0009).
//!
//! A delete cut short (a crash between jobs) leaves a cancelled run with part of its
//! history: deleting it again finishes the work. Values it referred to whose rows were
//! deleted before the cut are then no longer noted: `gc` removes them.

use rusqlite::{Connection, params};

use super::SqliteStore;
use super::guards::run_row;
use crate::{Collected, Deleted, RunStatus, StoreError};

/// Rows deleted per writer job.
const BATCH: usize = 1000;

/// The run's tables, each with the columns that pick its rows within one run (its key
/// after `thread`), in the order they are emptied.
const TABLES: &[(Table, &str, &str)] = &[
    (Table::Logs, "logs", "id"),
    (Table::Events, "events", "id"),
    (Table::Other, "state_writes", "key, step"),
    (Table::Other, "superseded_writes", "branch, key, step"),
    (Table::Checkpoints, "checkpoints", "step"),
    (Table::Checkpoints, "superseded_checkpoints", "branch, step"),
    (Table::Other, "pending_writes", "step, node"),
    (Table::Other, "branches", "branch"),
    (Table::Other, "run_tags", "key"),
    (Table::Other, "signals", "id"),
];

/// What a table's deleted rows count as in [`Deleted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Logs,
    Events,
    Checkpoints,
    Other,
}

/// What the run referred to, noted before its rows go.
#[derive(Debug, Default)]
struct Referred {
    values: Vec<String>,
    components: Vec<String>,
}

pub(super) async fn delete_run(
    store: &SqliteStore,
    thread: &str,
    force: bool,
) -> Result<Deleted, StoreError> {
    let owned = thread.to_owned();
    let referred = store
        .writer
        .call(move |conn, now_ms| begin(conn, now_ms, &owned, force))
        .await?;
    let mut deleted = Deleted::default();
    for &(kind, table, key) in TABLES {
        loop {
            let owned = thread.to_owned();
            let n = store
                .writer
                .call(move |conn, _| batch(conn, &owned, table, key))
                .await?;
            match kind {
                Table::Logs => deleted.logs += n,
                Table::Events => deleted.events += n,
                Table::Checkpoints => deleted.checkpoints += n,
                Table::Other => {}
            }
            if n < BATCH as u64 {
                break;
            }
        }
    }
    let owned = thread.to_owned();
    deleted.freed = store
        .writer
        .call(move |conn, _| finish(conn, &owned, &referred))
        .await?;
    Ok(deleted)
}

/// Refuses an unfinished run unless `force`; fences the run (cancelled); notes what it
/// refers to.
fn begin(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    force: bool,
) -> Result<Referred, StoreError> {
    let run = run_row(conn, thread)?;
    let finished = matches!(
        run.status,
        RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
    );
    if !finished && !force {
        return Err(StoreError::Unfinished {
            thread: thread.to_owned(),
            status: run.status,
        });
    }
    if run.status != RunStatus::Cancelled {
        conn.prepare_cached(
            "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = ?2,
                             waiting_json = NULL, woken = 0
             WHERE thread = ?1",
        )?
        .execute(params![thread, now_ms])?;
        // A parent that waits for this run would otherwise wait for it for good.
        super::compose::wake_parent(conn, now_ms, thread)?;
    }
    let column = |sql: &str| -> Result<Vec<String>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([thread], |row| row.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    Ok(Referred {
        values: column(
            "SELECT blob FROM state_writes WHERE thread = ?1 AND blob IS NOT NULL
             UNION
             SELECT blob FROM superseded_writes WHERE thread = ?1 AND blob IS NOT NULL",
        )?,
        components: column("SELECT digest FROM run_plugins WHERE thread = ?1")?,
    })
}

/// Deletes up to [`BATCH`] of the run's rows of `table`; how many it deleted.
fn batch(conn: &Connection, thread: &str, table: &str, key: &str) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM {table} WHERE thread = ?1 AND ({key}) IN
             (SELECT {key} FROM {table} WHERE thread = ?1 LIMIT {BATCH})"
    );
    Ok(conn.prepare_cached(&sql)?.execute([thread])? as u64)
}

/// Deletes the run and its pins, then the values and component versions it referred to
/// that nothing refers to any more.
fn finish(conn: &Connection, thread: &str, referred: &Referred) -> Result<Collected, StoreError> {
    conn.prepare_cached("DELETE FROM run_plugins WHERE thread = ?1")?
        .execute([thread])?;
    conn.prepare_cached("DELETE FROM runs WHERE thread = ?1")?
        .execute([thread])?;
    let mut freed = Collected::default();
    let mut value = conn.prepare_cached(
        "DELETE FROM blobs WHERE digest = ?1
             AND NOT EXISTS (SELECT 1 FROM state_writes WHERE blob = ?1)
             AND NOT EXISTS (SELECT 1 FROM superseded_writes WHERE blob = ?1)
         RETURNING LENGTH(data)",
    )?;
    for digest in &referred.values {
        if let Some(bytes) = first(value.query_map([digest], |row| row.get::<_, u64>(0))?)? {
            freed.values += 1;
            freed.value_bytes += bytes;
        }
    }
    let mut component = conn.prepare_cached(
        "DELETE FROM components WHERE digest = ?1
             AND NOT EXISTS (SELECT 1 FROM run_plugins WHERE digest = ?1)
         RETURNING LENGTH(bytes)",
    )?;
    for digest in &referred.components {
        if let Some(bytes) = first(component.query_map([digest], |row| row.get::<_, u64>(0))?)? {
            freed.components += 1;
            freed.component_bytes += bytes;
        }
    }
    Ok(freed)
}

/// The first row of a `RETURNING` (read to the end, so that the statement completes).
fn first<T>(rows: impl Iterator<Item = rusqlite::Result<T>>) -> Result<Option<T>, StoreError> {
    let mut found = None;
    for row in rows {
        found.get_or_insert(row?);
    }
    Ok(found)
}
