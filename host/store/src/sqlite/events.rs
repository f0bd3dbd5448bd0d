//! A run's events: appended by the writes, in their transaction ([`record`]), and read in
//! pages, oldest first ([`page`]).

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::SqliteStore;
use super::rows::{from_json, to_json};
use crate::page::PageSender;
use crate::{Cursor, EVENTS_PAGE, EventKind, RunEvent, StoreError};

/// Events are read at most this many at a time (an event is small: its data is what
/// the change carried, an edit's values at most).
const CHUNK: usize = 256;

/// Appends one event of `thread` at its committed step `step`.
pub(super) fn record(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    step: u64,
    kind: EventKind,
    data: Value,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO events (thread, at, step, kind, data_json) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        thread,
        now_ms,
        step,
        kind.as_str(),
        to_json(&data)?
    ])?;
    Ok(())
}

/// Fills `sender` with a page of `thread`'s events: see
/// [`CheckpointStore::events_page`](crate::CheckpointStore::events_page).
pub(super) async fn page(
    store: SqliteStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    sender: PageSender<RunEvent>,
) {
    let limit = EVENTS_PAGE.clamp(limit);
    let mut after = cursor.map_or(0, Cursor::position).min(i64::MAX as u64);
    let mut sent = 0;
    loop {
        let (t, want) = (thread.clone(), (limit - sent).min(CHUNK));
        let chunk = match store.read(move |conn| events(conn, &t, after, want)).await {
            Ok(chunk) if chunk.is_empty() => return sender.end(None).await,
            Ok(chunk) => chunk,
            Err(error) => return sender.fail(error).await,
        };
        for event in chunk {
            after = event.id;
            sent += 1;
            if !sender.entry(event).await {
                return;
            }
        }
        if sent == limit {
            let t = thread.clone();
            let more = store
                .read(move |conn| {
                    Ok(conn
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM events WHERE thread = ?1 AND id > ?2)",
                        )?
                        .query_row(params![t, after], |row| row.get::<_, bool>(0))?)
                })
                .await;
            return match more {
                Ok(more) => sender.end(more.then(|| Cursor::after(after))).await,
                Err(error) => sender.fail(error).await,
            };
        }
    }
}

/// Up to `limit` events of `thread` with ids after `after`, oldest first.
fn events(
    conn: &Connection,
    thread: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<RunEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, step, kind, data_json FROM events
         WHERE thread = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![thread, after, limit], |row| {
        Ok((
            row.get::<_, u64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, u64>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (id, at_ms, step, kind, data_json) = row?;
        let kind = EventKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("thread {thread:?}: unknown event kind {kind:?}"))
        })?;
        Ok(RunEvent {
            id,
            thread: thread.to_owned(),
            at_ms,
            step,
            kind,
            data: from_json::<Map<String, Value>>(thread, step, "event", &data_json)?,
        })
    })
    .collect()
}
