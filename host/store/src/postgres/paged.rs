//! The paged reads of the Postgres store: a run's history and its logs, each read as the
//! reader takes its entries ([`Page`]), as SQLite's (`sqlite/paged.rs`) are.
//!
//! Each page is a task that reads a little (one checkpoint, a chunk of log lines) on a
//! pooled connection, gives the connection back, hands the entry over and waits for the
//! reader to take it before it reads on. So a slow reader (an HTTP client, a terminal)
//! holds no connection and no snapshot, and memory holds about one entry per page in
//! flight. Checkpoints and log lines never change once written, so a page read in
//! several statements is the same as one read at once.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};

use super::PgStore;
use super::branches::{Place, live_changes, next_superseded, superseded_after};
use super::reads::{committed_step, signed, sized_state_at, stored_value, unsigned};
use super::rows::from_json;
use crate::page::PageSender;
use crate::{
    Branches, Cursor, HISTORY_PAGE, HistoryDetail, HistoryEntry, LOG_PAGE, LogLine, Page,
    STATE_PAGE_BYTES, StoreError,
};

/// Log lines are read at most this many at a time...
const LOG_CHUNK_LINES: usize = 256;
/// ...and a read stops after the line that brings its messages to this many bytes (a
/// line is at most 1 MiB: a node call keeps at most that much log).
const LOG_CHUNK_BYTES: i64 = 1 << 20;

/// [`CheckpointStore::history_page`](crate::CheckpointStore::history_page): checks that
/// the run exists, then reads the page in a task of its own as the reader takes it.
pub(super) async fn history_page(
    store: &PgStore,
    thread: &str,
    cursor: Option<Cursor>,
    limit: usize,
    detail: HistoryDetail,
    branches: Branches,
) -> Result<Page<HistoryEntry>, StoreError> {
    exists(store, thread).await?;
    let (sender, page) = Page::channel();
    let (store, thread) = (store.clone(), thread.to_owned());
    tokio::spawn(history(
        store, thread, cursor, limit, detail, branches, sender,
    ));
    Ok(page)
}

/// [`CheckpointStore::logs_page`](crate::CheckpointStore::logs_page), as
/// [`history_page`].
pub(super) async fn logs_page(
    store: &PgStore,
    thread: &str,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<Page<LogLine>, StoreError> {
    exists(store, thread).await?;
    let (sender, page) = Page::channel();
    let (store, thread) = (store.clone(), thread.to_owned());
    tokio::spawn(logs(store, thread, cursor, limit, sender));
    Ok(page)
}

/// [`StoreError::NotFound`] unless the run exists.
pub(super) async fn exists(store: &PgStore, thread: &str) -> Result<(), StoreError> {
    let thread = thread.to_owned();
    store
        .read(move |client| Box::pin(async move { committed_step(client, &thread).await }))
        .await?;
    Ok(())
}

async fn history(
    store: PgStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    detail: HistoryDetail,
    branches: Branches,
    sender: PageSender<HistoryEntry>,
) {
    let limit = HISTORY_PAGE.clamp(limit);
    let mut place = Place::of(cursor);
    if branches == Branches::Current && matches!(place, Place::Superseded(_)) {
        // A cursor of a page with every branch, given without them: nothing follows.
        return sender.end(None).await;
    }
    let mut walk: Option<Walk> = None;
    let (mut sent, mut state_bytes) = (0, 0);
    loop {
        let (t, last_walk) = (thread.clone(), walk.take());
        let read = store
            .read(move |client| {
                Box::pin(async move {
                    match place {
                        Place::Live(before) => {
                            let found = next_checkpoint(client, &t, before, detail, last_walk);
                            Ok(found.await?.map(|(entry, walk)| {
                                let bytes = walk.as_ref().map_or(0, |walk| walk.bytes);
                                (entry, walk, bytes)
                            }))
                        }
                        Place::Superseded(after) => {
                            let found = next_superseded(client, &t, after, detail).await?;
                            Ok(found.map(|(entry, bytes)| (entry, None, bytes)))
                        }
                    }
                })
            })
            .await;
        let (entry, next_walk, bytes) = match read {
            Ok(Some(found)) => found,
            Ok(None) if branches == Branches::All && matches!(place, Place::Live(_)) => {
                place = Place::Superseded(None);
                continue;
            }
            Ok(None) => return sender.end(None).await,
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
                .read(move |client| {
                    Box::pin(async move {
                        match place {
                            Place::Live(before) => Ok(checkpoint_before(client, &t, before)
                                .await?
                                || (branches == Branches::All
                                    && superseded_after(client, &t, None).await?)),
                            Place::Superseded(after) => superseded_after(client, &t, after).await,
                        }
                    })
                })
                .await;
            let next = match place {
                Place::Live(before) => Cursor::after(before),
                Place::Superseded(Some((branch, step))) => Place::after_superseded(branch, step),
                Place::Superseded(None) => unreachable!("an entry was read"),
            };
            return match more {
                Ok(more) => sender.end(more.then_some(next)).await,
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
    async fn at(client: &impl GenericClient, thread: &str, step: u64) -> Result<Walk, StoreError> {
        let mut walk = Walk {
            step,
            state: Map::new(),
            sizes: HashMap::new(),
            bytes: 0,
        };
        for (key, value, size) in sized_state_at(client, thread, step).await? {
            walk.bytes += size;
            walk.sizes.insert(key.clone(), size);
            walk.state.insert(key, value);
        }
        Ok(walk)
    }

    /// Moves the walk down to the state after `step` (< `self.step`): only the keys
    /// written after `step` change, each back to its write before (or away, if it had
    /// none). A key keeps its place: keys are in the order first written. One query: the
    /// keys written since, each with its latest write at or before `step`.
    async fn down_to(
        mut self,
        client: &impl GenericClient,
        thread: &str,
        step: u64,
    ) -> Result<Walk, StoreError> {
        let stmt = client
            .prepare_cached(
                "SELECT k.key, before.step IS NOT NULL, before.value_json, b.data
                 FROM (SELECT DISTINCT key FROM state_writes
                       WHERE thread = $1 AND step > $2 AND step <= $3) k
                 LEFT JOIN LATERAL (
                     SELECT w.step, w.value_json, w.blob FROM state_writes w
                     WHERE w.thread = $1 AND w.key = k.key AND w.step <= $2
                     ORDER BY w.step DESC LIMIT 1
                 ) before ON TRUE
                 LEFT JOIN blobs b ON b.digest = before.blob",
            )
            .await?;
        let args = (signed(step), signed(self.step));
        let rows = client.query(&stmt, &[&thread, &args.0, &args.1]).await?;
        for row in rows {
            let key: String = row.get(0);
            let old_size = self.sizes.remove(&key).unwrap_or(0);
            self.bytes -= old_size.min(self.bytes);
            if row.get::<_, bool>(1) {
                let (value, size) = stored_value(thread, step, &key, row.get(2), row.get(3))?;
                self.bytes += size;
                self.sizes.insert(key.clone(), size);
                self.state.insert(key, value);
            } else {
                self.state.shift_remove(&key);
            }
        }
        self.step = step;
        Ok(self)
    }
}

/// The newest checkpoint before step `before`, with its whole state if asked (walked down
/// from `walk`, the state after the entry before it), or `None` if there is none.
async fn next_checkpoint(
    client: &impl GenericClient,
    thread: &str,
    before: u64,
    detail: HistoryDetail,
    walk: Option<Walk>,
) -> Result<Option<(HistoryEntry, Option<Walk>)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT step, node, next_json, component_digest, workflow_digest, created_at, id,
                    parent, branch
             FROM checkpoints WHERE thread = $1 AND step < $2
             ORDER BY step DESC LIMIT 1",
        )
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&thread, &signed(before)]).await? else {
        return Ok(None);
    };
    let step: u64 = unsigned(row.get(0), "step")?;
    let walk = match (detail, walk) {
        (HistoryDetail::ChangedKeys | HistoryDetail::Changes, _) => None,
        (HistoryDetail::WholeStates, None) => Some(Walk::at(client, thread, step).await?),
        (HistoryDetail::WholeStates, Some(walk)) => Some(walk.down_to(client, thread, step).await?),
    };
    let entry = HistoryEntry {
        step,
        node: row.get(1),
        next: from_json(thread, step, "next-node list", row.get(2))?,
        component_digest: row.get(3),
        workflow_digest: row.get(4),
        created_at_ms: row.get(5),
        changed: changed_keys(client, thread, step).await?,
        state: walk.as_ref().map(|walk| walk.state.clone()),
        checkpoint: row.get(6),
        parent: row.get(7),
        branch: unsigned(row.get(8), "branch")?,
        superseded: false,
        changes: match detail {
            HistoryDetail::Changes => Some(live_changes(client, thread, step).await?),
            _ => None,
        },
    };
    Ok(Some((entry, walk)))
}

/// The keys `step` wrote, in order, with the size of each value's JSON: read from the
/// stored lengths, without loading the values.
async fn changed_keys(
    client: &impl GenericClient,
    thread: &str,
    step: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT w.key,
                    CASE WHEN w.blob IS NULL THEN octet_length(w.value_json)
                         ELSE (SELECT octet_length(b.data) FROM blobs b WHERE b.digest = w.blob)
                    END::bigint
             FROM state_writes w WHERE w.thread = $1 AND w.step = $2 ORDER BY w.ord",
        )
        .await?;
    let rows = client.query(&stmt, &[&thread, &signed(step)]).await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let size: Option<i64> = row.get(1);
            let size = size.ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "thread {thread:?} step {step}: the stored value of state key {key:?} is \
                     missing"
                ))
            })?;
            Ok((key, unsigned(size, "value size")?))
        })
        .collect()
}

async fn checkpoint_before(
    client: &impl GenericClient,
    thread: &str,
    before: u64,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM checkpoints WHERE thread = $1 AND step < $2)")
        .await?;
    Ok(client
        .query_one(&stmt, &[&thread, &signed(before)])
        .await?
        .get(0))
}

async fn logs(
    store: PgStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    sender: PageSender<LogLine>,
) {
    let limit = LOG_PAGE.clamp(limit);
    let mut after = cursor.map_or(0, Cursor::position);
    let mut sent = 0;
    loop {
        let (t, want) = (thread.clone(), (limit - sent).min(LOG_CHUNK_LINES));
        let chunk = store
            .read(move |client| Box::pin(async move { log_lines(client, &t, after, want).await }))
            .await;
        let chunk = match chunk {
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
                .read(move |client| {
                    Box::pin(async move { log_line_after(client, &t, after).await })
                })
                .await;
            return match more {
                Ok(more) => sender.end(more.then(|| Cursor::after(after))).await,
                Err(error) => sender.fail(error).await,
            };
        }
    }
}

/// Up to `limit` log lines with ids after `after`, oldest first, with their ids; fewer
/// once their messages reach [`LOG_CHUNK_BYTES`] (counted by the server, so that no more
/// than that is sent).
async fn log_lines(
    client: &impl GenericClient,
    thread: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<(u64, LogLine)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, step, node, attempt, level, message, at FROM (
                 SELECT *, sum(octet_length(message)) OVER (ORDER BY id)
                           - octet_length(message) AS bytes_before
                 FROM logs WHERE thread = $1 AND id > $2 ORDER BY id LIMIT $3
             ) chunk
             WHERE bytes_before < $4 ORDER BY id",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&stmt, &[&thread, &signed(after), &limit, &LOG_CHUNK_BYTES])
        .await?;
    rows.iter()
        .map(|row| {
            let id = unsigned(row.get(0), "log id")?;
            let line = LogLine {
                id,
                step: unsigned(row.get(1), "log step")?,
                node: row.get(2),
                attempt: unsigned(row.get(3), "log attempt")?,
                level: row.get(4),
                message: row.get(5),
                at_ms: row.get(6),
            };
            Ok((id, line))
        })
        .collect()
}

async fn log_line_after(
    client: &impl GenericClient,
    thread: &str,
    after: u64,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM logs WHERE thread = $1 AND id > $2)")
        .await?;
    Ok(client
        .query_one(&stmt, &[&thread, &signed(after)])
        .await?
        .get(0))
}
