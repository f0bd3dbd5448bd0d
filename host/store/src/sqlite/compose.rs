//! Composition in the SQLite store (issue 18): the mailbox of signals, waking a waiting
//! run when what it waits for comes, child runs' parents, and cancels that cascade down.
//! Every function here runs inside the writer's transaction of the write it belongs to.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::events::record;
use super::guards::run_row;
use super::rows::{from_json, not_found, to_json};
use crate::{EventKind, RunStatus, Signal, StoreError, Wait};

/// Marks the signal delivered at `step`. A signal already delivered, or another run's, is
/// a bug of the caller: refused, so that the write it belongs to is not committed.
pub(super) fn deliver(
    conn: &Connection,
    thread: &str,
    signal: u64,
    step: u64,
) -> Result<(), StoreError> {
    let marked = conn
        .prepare_cached(
            "UPDATE signals SET delivered_step = ?3
             WHERE id = ?2 AND thread = ?1 AND delivered_step IS NULL",
        )?
        .execute(params![thread, signal, step])?;
    if marked == 0 {
        return Err(StoreError::Corrupt(format!(
            "thread {thread:?}: signal {signal} is not an undelivered signal of this run"
        )));
    }
    Ok(())
}

/// Makes the waiting runs `WHERE` picks (`?1`: now, then its own parameters) due now, as
/// woken by what they wait for (not by their deadline). A wake time that passed already
/// stays: a wake never moves a run back in the claim order.
macro_rules! wake_where {
    ($where:literal) => {
        concat!(
            "UPDATE runs SET wake_at = min(coalesce(wake_at, ?1), ?1), woken = 1
             WHERE status = 'waiting' AND ",
            $where
        )
    };
}

/// Makes the run due now, as woken by what it waits for (not by its deadline).
fn wake(conn: &Connection, now_ms: i64, thread: &str) -> Result<(), StoreError> {
    conn.prepare_cached(wake_where!("thread = ?2"))?
        .execute(params![now_ms, thread])?;
    Ok(())
}

/// A run that finished (completed, failed for good, cancelled) wakes its parent if the
/// parent waits for children: the parent's step then looks at its children again.
pub(super) fn wake_parent(conn: &Connection, now_ms: i64, thread: &str) -> Result<(), StoreError> {
    conn.prepare_cached(wake_where!(
        "thread = (SELECT parent FROM runs WHERE thread = ?2)
         AND json_extract(waiting_json, '$.for') = 'children'"
    ))?
    .execute(params![now_ms, thread])?;
    Ok(())
}

/// After a run parked `waiting` for `wait`: wakes it at once if what it waits for came
/// before it parked (an undelivered signal of that name, a child that finished), so that
/// nothing sent between its decision to wait and its park is missed.
pub(super) fn wake_if_there(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    wait: &Wait,
) -> Result<(), StoreError> {
    let there = match wait {
        Wait::Signal { name, .. } => conn
            .prepare_cached(
                "SELECT 1 FROM signals WHERE thread = ?1 AND name = ?2
                   AND delivered_step IS NULL LIMIT 1",
            )?
            .exists(params![thread, name])?,
        Wait::Children { threads } => conn
            .prepare_cached(
                "SELECT 1 FROM runs WHERE thread IN (SELECT value FROM json_each(?1))
                   AND status IN ('completed', 'failed', 'cancelled') LIMIT 1",
            )?
            .exists([to_json(threads)?])?,
    };
    if there {
        wake(conn, now_ms, thread)?;
    }
    Ok(())
}

/// Cancels every unfinished descendant of `thread` (children, theirs, ...), each with its
/// `cancelled` event.
pub(super) fn cancel_descendants(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
) -> Result<(), StoreError> {
    let descendants: Vec<(String, u64)> = conn
        .prepare_cached(
            "WITH RECURSIVE tree (thread) AS (
                 SELECT thread FROM runs WHERE parent = ?1
                 UNION SELECT r.thread FROM runs r JOIN tree t ON r.parent = t.thread
             )
             SELECT r.thread, r.step FROM runs r JOIN tree t ON r.thread = t.thread
             WHERE r.status NOT IN ('completed', 'cancelled')",
        )?
        .query_map([thread], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut cancel = conn.prepare_cached(
        "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = ?2,
                         waiting_json = NULL, woken = 0
         WHERE thread = ?1",
    )?;
    for (child, step) in descendants {
        cancel.execute(params![child, now_ms])?;
        let data = json!({"by": "cascade", "parent": thread});
        record(conn, now_ms, &child, step, EventKind::Cancelled, data)?;
    }
    Ok(())
}

/// [`CheckpointStore::send_signal`](crate::CheckpointStore::send_signal).
pub(super) fn send_signal(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    name: &str,
    data: &Value,
) -> Result<Signal, StoreError> {
    let run = run_row(conn, thread)?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.to_owned(),
            status: run.status,
        });
    }
    let id: u64 = conn
        .prepare_cached(
            "INSERT INTO signals (thread, name, data_json, sent_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING id",
        )?
        .query_row(params![thread, name, to_json(data)?, now_ms], |row| {
            row.get(0)
        })?;
    record(
        conn,
        now_ms,
        thread,
        run.step,
        EventKind::Signalled,
        json!({"name": name, "signal": id, "data": data}),
    )?;
    conn.prepare_cached(wake_where!(
        "thread = ?2 AND json_extract(waiting_json, '$.for') = 'signal'
         AND json_extract(waiting_json, '$.name') = ?3"
    ))?
    .execute(params![now_ms, thread, name])?;
    Ok(Signal {
        id,
        thread: thread.to_owned(),
        name: name.to_owned(),
        data: data.clone(),
        sent_at_ms: now_ms,
        delivered_step: None,
    })
}

fn signal_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(u64, String, String, String, i64, Option<u64>)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(
    (id, thread, name, data_json, sent_at_ms, delivered_step): (
        u64,
        String,
        String,
        String,
        i64,
        Option<u64>,
    ),
) -> Result<Signal, StoreError> {
    let data = from_json(
        &thread,
        delivered_step.unwrap_or(0),
        "signal data",
        &data_json,
    )?;
    Ok(Signal {
        id,
        thread,
        name,
        data,
        sent_at_ms,
        delivered_step,
    })
}

/// [`CheckpointStore::next_signal`](crate::CheckpointStore::next_signal).
pub(super) fn next_signal(
    conn: &Connection,
    thread: &str,
    name: &str,
) -> Result<Option<Signal>, StoreError> {
    conn.prepare_cached(
        "SELECT id, thread, name, data_json, sent_at, delivered_step FROM signals
         INDEXED BY signals_undelivered
         WHERE thread = ?1 AND name = ?2 AND delivered_step IS NULL ORDER BY id LIMIT 1",
    )?
    .query_row(params![thread, name], signal_row)
    .optional()?
    .map(decode)
    .transpose()
}

/// [`CheckpointStore::signals`](crate::CheckpointStore::signals).
pub(super) fn signals(
    conn: &Connection,
    thread: &str,
    limit: usize,
) -> Result<Vec<Signal>, StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM runs WHERE thread = ?1")?
        .exists([thread])?;
    if !exists {
        return Err(not_found(thread));
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows: Vec<_> = conn
        .prepare_cached(
            "SELECT id, thread, name, data_json, sent_at, delivered_step FROM signals
             WHERE thread = ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![thread, limit], signal_row)?
        .collect::<Result<_, _>>()?;
    rows.into_iter().map(decode).collect()
}
