//! A run's events on Postgres: appended by the writes that cause them, in their
//! transaction (one array INSERT for all the events of a statement's runs: a batch of step
//! commits adds one statement, not one per commit), and read in pages, oldest first, or
//! across runs after an id ([`after`]).
//!
//! A reader that goes on from the last id it saw must miss nothing, so ids must grow in
//! commit order. An identity column alone does not give that: a transaction that takes a
//! smaller id may commit after one that took a larger id, and a reader in between skips
//! it for good. So every transaction that inserts events takes one transaction-level
//! advisory lock ([`EVENTS_LOCK`]) right before it inserts them, and holds it until it
//! has committed: the transactions that add events take their ids and commit one after
//! the other, across hosts. The writes insert their events last, so the lock is held
//! for the end of a transaction only. The same statement notifies `savepoint_events`
//! (sent at commit), which wakes every host's event streams (see `notices`).

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use super::PgStore;
use super::paged::exists;
use super::reads::{signed, unsigned};
use super::rows::{from_json, to_json};
use crate::page::PageSender;
use crate::{Cursor, EVENTS_PAGE, EventFilter, EventKind, Page, RunEvent, StoreError};

/// Events are read at most this many at a time.
const EVENT_CHUNK: usize = 256;

/// The key of the advisory lock that orders the transactions adding events ("savepoint
/// events" in ASCII, cut to 8 bytes: any constant that no other user of the database
/// takes).
pub(super) const EVENTS_LOCK: i64 = 0x7361_7665_6576_6e74;

/// Taken right before events are inserted; see the module's comment.
const LOCK_AND_NOTIFY: &str = "SELECT pg_advisory_xact_lock($1), pg_notify('savepoint_events', '')";

/// The statements that add events in a transaction: the lock, then the insert.
pub(super) struct EventStatements {
    lock: Statement,
    insert: Statement,
}

/// Events of many runs, collected as columns, in the order added.
#[derive(Default)]
pub(super) struct EventRows {
    threads: Vec<String>,
    steps: Vec<i64>,
    kinds: Vec<&'static str>,
    data: Vec<String>,
}

impl EventRows {
    pub(super) fn add(
        &mut self,
        thread: &str,
        step: u64,
        kind: EventKind,
        data: Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.threads.push(thread.to_owned());
        self.steps.push(signed(step));
        self.kinds.push(kind.as_str());
        self.data.push(to_json(&data)?);
        Ok(())
    }

    pub(super) async fn prepare(tx: &Transaction<'_>) -> Result<EventStatements, StoreError> {
        let lock = tx.prepare_cached(LOCK_AND_NOTIFY).await?;
        // Ids follow the order added (WITH ORDINALITY, ORDER BY): the order they happened.
        let insert = tx
            .prepare_cached(
                "INSERT INTO events (thread, at, step, kind, data_json)
                 SELECT thread, $1, step, kind, data_json
                 FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[]) WITH ORDINALITY
                      AS e (thread, step, kind, data_json, n)
                 ORDER BY n",
            )
            .await?;
        Ok(EventStatements { lock, insert })
    }

    /// Takes the lock and inserts the rows: two statements sent together, in this order
    /// (a future sends its statement when first polled), answered in one round trip.
    pub(super) async fn execute(
        &self,
        tx: &Transaction<'_>,
        stmts: &EventStatements,
        now_ms: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        if self.threads.is_empty() {
            return Ok(0);
        }
        let insert: [&(dyn ToSql + Sync); 5] =
            [&now_ms, &self.threads, &self.steps, &self.kinds, &self.data];
        let (_, inserted) = tokio::try_join!(
            tx.execute(&stmts.lock, &[&EVENTS_LOCK]),
            tx.execute(&stmts.insert, &insert),
        )?;
        Ok(inserted)
    }

    /// Prepares and writes them: for the writes that record an event or two.
    pub(super) async fn write(&self, tx: &Transaction<'_>, now_ms: i64) -> Result<(), StoreError> {
        let stmt = EventRows::prepare(tx).await?;
        self.execute(tx, &stmt, now_ms).await?;
        Ok(())
    }
}

/// One event's data, from `(name, value)` pairs.
pub(super) fn data<const N: usize>(fields: [(&str, Value); N]) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Records one event of `thread` in `tx`.
pub(super) async fn record(
    tx: &Transaction<'_>,
    now_ms: i64,
    thread: &str,
    step: u64,
    kind: EventKind,
    data: Map<String, Value>,
) -> Result<(), StoreError> {
    let mut rows = EventRows::default();
    rows.add(thread, step, kind, data)?;
    rows.write(tx, now_ms).await
}

/// [`CheckpointStore::events_page`](crate::CheckpointStore::events_page), read as the
/// reader takes it (as `paged::logs_page`).
pub(super) async fn events_page(
    store: &PgStore,
    thread: &str,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<Page<RunEvent>, StoreError> {
    exists(store, thread).await?;
    let (sender, page) = Page::channel();
    let (store, thread) = (store.clone(), thread.to_owned());
    tokio::spawn(events(store, thread, cursor, limit, sender));
    Ok(page)
}

async fn events(
    store: PgStore,
    thread: String,
    cursor: Option<Cursor>,
    limit: usize,
    sender: PageSender<RunEvent>,
) {
    let limit = EVENTS_PAGE.clamp(limit);
    let mut after = cursor.map_or(0, Cursor::position);
    let mut sent = 0;
    loop {
        // One more than wanted: whether another page follows is known without a query.
        let (t, want) = (thread.clone(), (limit - sent).min(EVENT_CHUNK) + 1);
        let chunk = store
            .read(move |client| Box::pin(async move { chunk(client, &t, after, want).await }))
            .await;
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => return sender.fail(error).await,
        };
        let more = chunk.len() == want;
        if more {
            chunk.pop();
        }
        for event in chunk {
            after = event.id;
            sent += 1;
            if !sender.entry(event).await {
                return;
            }
        }
        if !more {
            return sender.end(None).await;
        }
        if sent == limit {
            return sender.end(Some(Cursor::after(after))).await;
        }
    }
}

/// Takes the lock that orders the transactions adding events, in a transaction that
/// adds them other than by [`EventRows`] (the import of a bundle).
pub(super) async fn lock(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached(LOCK_AND_NOTIFY).await?;
    tx.execute(&stmt, &[&EVENTS_LOCK]).await?;
    Ok(())
}

/// [`CheckpointStore::events_after`](crate::CheckpointStore::events_after): walks the
/// primary key from `after` (a follower's cursor is near its end), looking each event's
/// run up when a workflow is asked for; one thread's walks its index.
pub(super) async fn after(
    store: &PgStore,
    filter: &EventFilter,
    after: u64,
    limit: usize,
) -> Result<Vec<RunEvent>, StoreError> {
    let limit = i64::try_from(EVENTS_PAGE.clamp(limit)).unwrap_or(i64::MAX);
    // One statement per combination of filters, so that each has a plan of its own (one
    // thread's walks its index; `$2 IS NULL OR ...` would leave a generic plan none).
    let mut sql = String::from(
        "SELECT e.id, e.at, e.step, e.kind, e.data_json, e.thread FROM events e WHERE e.id > $1",
    );
    let mut texts = Vec::new();
    if let Some(thread) = &filter.thread {
        texts.push(thread.clone());
        sql.push_str(&format!(" AND e.thread = ${}", texts.len() + 2));
    }
    if let Some(workflow) = &filter.workflow {
        texts.push(workflow.clone());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM runs r WHERE r.thread = e.thread AND r.workflow_name = ${})",
            texts.len() + 2
        ));
    }
    sql.push_str(" ORDER BY e.id LIMIT $2");
    store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client.prepare_cached(&sql).await?;
                let after = signed(after);
                let mut params: Vec<&(dyn ToSql + Sync)> = vec![&after, &limit];
                params.extend(texts.iter().map(|text| text as &(dyn ToSql + Sync)));
                let rows = client.query(&stmt, &params).await?;
                rows.iter().map(|row| decode(row, row.get(5))).collect()
            })
        })
        .await
}

/// The id of the newest event, 0 when there is none.
pub(super) async fn last_id(store: &PgStore) -> Result<u64, StoreError> {
    store
        .read(|client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached("SELECT coalesce(max(id), 0) FROM events")
                    .await?;
                let row = client.query_one(&stmt, &[]).await?;
                unsigned(row.get(0), "event id")
            })
        })
        .await
}

/// An event from a row of `id, at, step, kind, data_json` (and maybe more) of `thread`.
fn decode(row: &tokio_postgres::Row, thread: &str) -> Result<RunEvent, StoreError> {
    let step = unsigned(row.get(2), "event step")?;
    let kind: &str = row.get(3);
    let kind = EventKind::parse(kind).ok_or_else(|| {
        StoreError::Corrupt(format!("thread {thread:?}: unknown event kind {kind:?}"))
    })?;
    Ok(RunEvent {
        id: unsigned(row.get(0), "event id")?,
        thread: thread.to_owned(),
        at_ms: row.get(1),
        step,
        kind,
        data: from_json(thread, step, "event data", row.get(4))?,
    })
}

/// Up to `limit` events of `thread` with ids after `after`, oldest first.
async fn chunk(
    client: &impl GenericClient,
    thread: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<RunEvent>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, at, step, kind, data_json FROM events
             WHERE thread = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&stmt, &[&thread, &signed(after), &limit])
        .await?;
    rows.iter().map(|row| decode(row, thread)).collect()
}
