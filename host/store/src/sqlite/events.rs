//! A run's events: appended by the writes, in their transaction ([`record`]), and read in
//! pages, oldest first ([`page`]), or across runs after an id ([`after`]): SQLite has one
//! writer at a time, so ids grow in commit order.

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::SqliteStore;
use super::rows::{from_json, to_json};
use crate::page::PageSender;
use crate::{Cursor, EVENTS_PAGE, EventFilter, EventKind, RunEvent, StoreError};

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
        "SELECT id, thread, at, step, kind, data_json FROM events
         WHERE thread = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query(params![thread, after, limit])?;
    decode(rows)
}

/// Up to `limit` events that match `filter`, with ids after `after`, oldest first: see
/// [`CheckpointStore::events_after`](crate::CheckpointStore::events_after). Walks the
/// primary key from `after` (a follower's cursor is near its end), looking each event's
/// run up when a workflow is asked for; one thread's walks its index.
pub(super) fn after(
    conn: &Connection,
    filter: &EventFilter,
    after: u64,
    limit: usize,
) -> Result<Vec<RunEvent>, StoreError> {
    let limit = EVENTS_PAGE.clamp(limit);
    let after = after.min(i64::MAX as u64);
    let mut sql =
        String::from("SELECT e.id, e.thread, e.at, e.step, e.kind, e.data_json FROM events e");
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&after];
    if filter.workflow.is_some() {
        sql.push_str(" JOIN runs r ON r.thread = e.thread");
    }
    sql.push_str(" WHERE e.id > ?");
    if let Some(thread) = &filter.thread {
        sql.push_str(" AND e.thread = ?");
        args.push(thread);
    }
    if let Some(workflow) = &filter.workflow {
        sql.push_str(" AND r.workflow_name = ?");
        args.push(workflow);
    }
    sql.push_str(" ORDER BY e.id LIMIT ?");
    args.push(&limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query(args.as_slice())?;
    decode(rows)
}

/// The id of the newest event, 0 when there is none.
pub(super) fn last_id(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM events")?
        .query_row([], |row| row.get(0))?)
}

/// Events from rows of `id, thread, at, step, kind, data_json`.
fn decode(mut rows: rusqlite::Rows<'_>) -> Result<Vec<RunEvent>, StoreError> {
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        let (thread, step): (String, u64) = (row.get(1)?, row.get(3)?);
        let kind: String = row.get(4)?;
        let kind = EventKind::parse(&kind).ok_or_else(|| {
            StoreError::Corrupt(format!("thread {thread:?}: unknown event kind {kind:?}"))
        })?;
        let data_json: String = row.get(5)?;
        events.push(RunEvent {
            id: row.get(0)?,
            at_ms: row.get(2)?,
            step,
            kind,
            data: from_json::<Map<String, Value>>(&thread, step, "event", &data_json)?,
            thread,
        });
    }
    Ok(events)
}
