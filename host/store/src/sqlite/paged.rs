//! The paged reads of the SQLite store: a run's history and its logs, each read as the
//! reader takes its entries ([`Page`]).
//!
//! Each read of a page is a task that reads a little (one checkpoint, a few log lines) in
//! a short read transaction, hands it over, and waits for the reader to take it before it
//! reads on. So a slow reader (an HTTP client, a terminal) holds neither the read
//! connection nor a WAL snapshot, and memory holds about one entry per page in flight.
//! Checkpoints and log lines are never changed once written, so a page read in several
//! transactions is the same as one read in one.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use super::SqliteStore;
use super::branches::{Place, live_changes, next_superseded, superseded_after};
use super::rows::{from_json, latest_value, sized_state_at};
use crate::page::PageSender;
use crate::{
    Branches, Cursor, HISTORY_PAGE, HistoryDetail, HistoryEntry, LOG_PAGE, LogLine,
    STATE_PAGE_BYTES, StoreError,
};

/// Steps are stored as SQLite integers: no step is above this.
const LAST_STEP: u64 = i64::MAX as u64;

/// Log lines are read at most this many at a time...
const LOG_CHUNK_LINES: usize = 256;
/// ...and a read stops after the line that brings its messages to this many bytes (a
/// line is at most 1 MiB: a node call keeps at most that much log).
const LOG_CHUNK_BYTES: usize = 1 << 20;

/// Fills `sender` with a page of `thread`'s history: see
/// [`CheckpointStore::history_page`](crate::CheckpointStore::history_page). The current
/// branch first, down from its latest step (whole states walked down step by step); then,
/// with every branch, the superseded checkpoints (each state folded along its own chain).
pub(super) async fn history(
    store: SqliteStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    detail: HistoryDetail,
    branches: Branches,
    sender: PageSender<HistoryEntry>,
) {
    let limit = HISTORY_PAGE.clamp(limit);
    let mut place = Place::of(cursor);
    let mut walk: Option<Walk> = None;
    let (mut sent, mut state_bytes) = (0, 0);
    loop {
        let (t, last_walk) = (thread.clone(), walk.take());
        let read = store
            .read(move |conn| match place {
                Place::Live(before) => Ok(next_checkpoint(conn, &t, before, detail, last_walk)?
                    .map(|(entry, walk)| {
                        let bytes = walk.as_ref().map_or(0, |walk| walk.bytes);
                        (entry, walk, bytes)
                    })),
                Place::Superseded(after) => Ok(next_superseded(conn, &t, after, detail)?
                    .map(|(entry, bytes)| (entry, None, bytes))),
            })
            .await;
        let (entry, next_walk, bytes) = match read {
            Ok(Some(found)) => found,
            Ok(None) => match (place, branches) {
                (Place::Live(_), Branches::All) => {
                    place = Place::Superseded(None);
                    continue;
                }
                _ => return sender.end(None).await,
            },
            Err(error) => return sender.fail(error).await,
        };
        place = match place {
            Place::Live(_) => Place::Live(entry.step),
            Place::Superseded(_) => Place::Superseded(Some((entry.branch, entry.step))),
        };
        walk = next_walk;
        sent += 1;
        state_bytes += bytes;
        if !sender.entry(entry).await {
            return;
        }
        if sent == limit || state_bytes >= STATE_PAGE_BYTES {
            let t = thread.clone();
            let more = store
                .read(move |conn| match place {
                    Place::Live(before) => Ok(checkpoint_before(conn, &t, before)?
                        || (branches == Branches::All && superseded_after(conn, &t, None)?)),
                    Place::Superseded(after) => superseded_after(conn, &t, after),
                })
                .await;
            let cursor = match place {
                Place::Live(step) => Cursor::after(step),
                Place::Superseded(Some((branch, step))) => Place::after_superseded(branch, step),
                Place::Superseded(None) => unreachable!("an entry was just read"),
            };
            return match more {
                Ok(more) => sender.end(more.then_some(cursor)).await,
                Err(error) => sender.fail(error).await,
            };
        }
    }
}

/// The whole state after step `step` while a page walks down the history, with the size
/// of each value's JSON and their sum.
#[derive(Debug)]
struct Walk {
    step: u64,
    state: Map<String, Value>,
    sizes: HashMap<String, u64>,
    bytes: u64,
}

impl Walk {
    /// The state after `step`, put together from the latest write of each key.
    fn at(conn: &Connection, thread: &str, step: u64) -> Result<Walk, StoreError> {
        let mut walk = Walk {
            step,
            state: Map::new(),
            sizes: HashMap::new(),
            bytes: 0,
        };
        for (key, value, size) in sized_state_at(conn, thread, step)? {
            walk.bytes += size;
            walk.sizes.insert(key.clone(), size);
            walk.state.insert(key, value);
        }
        Ok(walk)
    }

    /// Moves the walk down to the state after `step` (< `self.step`): only the keys
    /// written after `step` change, each back to its write before (or away, if it had
    /// none). A key keeps its place: keys are in the order first written.
    fn down_to(mut self, conn: &Connection, thread: &str, step: u64) -> Result<Walk, StoreError> {
        let mut written = conn.prepare_cached(
            "SELECT DISTINCT key FROM state_writes WHERE thread = ?1 AND step > ?2 AND step <= ?3",
        )?;
        let keys: Vec<String> = written
            .query_map(params![thread, step, self.step], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for key in keys {
            let old_size = self.sizes.remove(&key).unwrap_or(0);
            self.bytes -= old_size.min(self.bytes);
            match latest_value(conn, thread, &key, step)? {
                Some((value, size)) => {
                    self.bytes += size;
                    self.sizes.insert(key.clone(), size);
                    self.state.insert(key, value);
                }
                None => {
                    self.state.shift_remove(&key);
                }
            }
        }
        self.step = step;
        Ok(self)
    }
}

/// The newest checkpoint before step `before`, with its whole state if asked (walked down
/// from `walk`, the state after the entry before it), or `None` if there is none.
fn next_checkpoint(
    conn: &Connection,
    thread: &str,
    before: u64,
    detail: HistoryDetail,
    walk: Option<Walk>,
) -> Result<Option<(HistoryEntry, Option<Walk>)>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT step, node, next_json, component_digest, workflow_digest, created_at,
                    id, parent, branch
             FROM checkpoints WHERE thread = ?1 AND step < ?2
             ORDER BY step DESC LIMIT 1",
        )?
        .query_row(params![thread, before], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, i64>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, Option<String>>(7)?,
                row.get::<_, u64>(8)?,
            ))
        })
        .optional()?;
    let Some((
        step,
        node,
        next_json,
        component_digest,
        workflow_digest,
        created_at_ms,
        checkpoint,
        parent,
        branch,
    )) = row
    else {
        return Ok(None);
    };
    let changes = match detail {
        HistoryDetail::Changes => Some(live_changes(conn, thread, step)?),
        _ => None,
    };
    let walk = match (detail, walk) {
        (HistoryDetail::ChangedKeys | HistoryDetail::Changes, _) => None,
        (HistoryDetail::WholeStates, None) => Some(Walk::at(conn, thread, step)?),
        (HistoryDetail::WholeStates, Some(walk)) => Some(walk.down_to(conn, thread, step)?),
    };
    let entry = HistoryEntry {
        step,
        node,
        component_digest,
        workflow_digest,
        created_at_ms,
        next: from_json(thread, step, "next-node list", &next_json)?,
        changed: changed_keys(conn, thread, step)?,
        state: walk.as_ref().map(|walk| walk.state.clone()),
        checkpoint,
        parent,
        branch,
        superseded: false,
        changes,
    };
    Ok(Some((entry, walk)))
}

/// The keys `step` wrote, in order, with the size of each value's JSON: read from the
/// row lengths, without loading the values.
fn changed_keys(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.key,
                CASE WHEN w.blob IS NULL THEN octet_length(w.value_json)
                     ELSE (SELECT octet_length(b.data) FROM blobs b WHERE b.digest = w.blob)
                END
         FROM state_writes w WHERE w.thread = ?1 AND w.step = ?2 ORDER BY w.ord",
    )?;
    let rows = stmt.query_map(params![thread, step], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<u64>>(1)?))
    })?;
    rows.map(|row| {
        let (key, size) = row?;
        let size = size.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
            ))
        })?;
        Ok((key, size))
    })
    .collect()
}

fn checkpoint_before(conn: &Connection, thread: &str, before: u64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE thread = ?1 AND step < ?2)",
        )?
        .query_row(params![thread, before], |row| row.get(0))?)
}

/// Fills `sender` with a page of `thread`'s logs: see
/// [`CheckpointStore::logs_page`](crate::CheckpointStore::logs_page).
pub(super) async fn logs(
    store: SqliteStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    sender: PageSender<LogLine>,
) {
    let limit = LOG_PAGE.clamp(limit);
    let mut after = cursor.map_or(0, Cursor::position).min(LAST_STEP);
    let mut sent = 0;
    loop {
        let (t, want) = (thread.clone(), (limit - sent).min(LOG_CHUNK_LINES));
        let chunk = match store
            .read(move |conn| log_lines(conn, &t, after, want))
            .await
        {
            Ok(chunk) if chunk.is_empty() => return sender.end(None).await,
            Ok(chunk) => chunk,
            Err(error) => return sender.fail(error).await,
        };
        for (id, line) in chunk {
            after = id;
            sent += 1;
            if !sender.entry(line).await {
                return;
            }
        }
        if sent == limit {
            let t = thread.clone();
            let more = store
                .read(move |conn| log_line_after(conn, &t, after))
                .await;
            return match more {
                Ok(more) => sender.end(more.then(|| Cursor::after(after))).await,
                Err(error) => sender.fail(error).await,
            };
        }
    }
}

/// Up to `limit` log lines with ids after `after`, oldest first, with their ids; fewer
/// once their messages reach [`LOG_CHUNK_BYTES`].
fn log_lines(
    conn: &Connection,
    thread: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, LogLine)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, step, node, attempt, level, message, at FROM logs
         WHERE thread = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![thread, after, limit])?;
    let (mut lines, mut bytes) = (Vec::new(), 0);
    while bytes < LOG_CHUNK_BYTES
        && let Some(row) = rows.next()?
    {
        let line = LogLine {
            id: row.get(0)?,
            step: row.get(1)?,
            node: row.get(2)?,
            attempt: row.get(3)?,
            level: row.get(4)?,
            message: row.get(5)?,
            at_ms: row.get(6)?,
        };
        bytes += line.message.len();
        lines.push((line.id, line));
    }
    Ok(lines)
}

fn log_line_after(conn: &Connection, thread: &str, after: u64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM logs WHERE thread = ?1 AND id > ?2)")?
        .query_row(params![thread, after], |row| row.get(0))?)
}
