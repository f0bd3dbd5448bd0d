//! A run's events on Postgres: appended by the writes that cause them, in their
//! transaction (one array INSERT for all the events of a statement's runs: a batch of step
//! commits adds one statement, not one per commit), and read in pages, oldest first.

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::Statement;

use super::PgStore;
use super::paged::exists;
use super::reads::{signed, unsigned};
use super::rows::{from_json, to_json};
use crate::page::PageSender;
use crate::{Cursor, EVENTS_PAGE, EventKind, Page, RunEvent, StoreError};

/// Events are read at most this many at a time.
const EVENT_CHUNK: usize = 256;

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

    pub(super) async fn prepare(tx: &Transaction<'_>) -> Result<Statement, StoreError> {
        // Ids follow the order added (WITH ORDINALITY, ORDER BY): the order they happened.
        Ok(tx
            .prepare_cached(
                "INSERT INTO events (thread, at, step, kind, data_json)
                 SELECT thread, $1, step, kind, data_json
                 FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[]) WITH ORDINALITY
                      AS e (thread, step, kind, data_json, n)
                 ORDER BY n",
            )
            .await?)
    }

    pub(super) async fn execute(
        &self,
        tx: &Transaction<'_>,
        stmt: &Statement,
        now_ms: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        if self.threads.is_empty() {
            return Ok(0);
        }
        tx.execute(
            stmt,
            &[&now_ms, &self.threads, &self.steps, &self.kinds, &self.data],
        )
        .await
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
    rows.iter()
        .map(|row| {
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
        })
        .collect()
}
