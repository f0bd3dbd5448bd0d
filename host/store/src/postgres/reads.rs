//! The reads of the Postgres store that are not paged: whole states, run listings, wake
//! times, leases and daemons, and stored components. (Paged reads are in `paged`; what a
//! write reads back, in the writes' own transactions.)
//!
//! Each read is one short use of a pooled connection ([`PgStore::read`]), mostly one
//! statement: a network round trip costs more than the work of most of these queries,
//! so a whole state is put together by one query rather than a lookup per key.
//! Orderings by name (threads, owners) use the "C" collation: bytes, as SQLite
//! compares them, whatever the database's locale, so both backends list alike.

use deadpool_postgres::{GenericClient, Object};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::PgStore;
use super::rows::{from_json, not_found};
use crate::StoreError;

impl PgStore {
    /// Runs `query` on a connection of the pool, which goes back to the pool when the
    /// query is done: a paged read takes one per entry, so a slow reader of a page holds
    /// none while it waits. Its failures as `fault` classifies them.
    pub(super) async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c Object) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        let client = self.client().await?;
        let result = query(&client).await;
        result.map_err(|error| self.classify(error))
    }
}

/// A step or count as Postgres holds it (`BIGINT`, never negative by the schema).
pub(super) fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("stored {what} {value} is out of range")))
}

/// A step or id bound to a `BIGINT` parameter. Steps and ids are at most `i64::MAX` (they
/// come from the database); a cursor beyond that means "after everything".
pub(super) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The run's committed step count; [`StoreError::NotFound`] if there is no run.
pub(super) async fn committed_step(
    client: &impl GenericClient,
    thread: &str,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached("SELECT step FROM runs WHERE thread = $1")
        .await?;
    let row = client.query_opt(&stmt, &[&thread]).await?;
    let row = row.ok_or_else(|| not_found(thread))?;
    unsigned(row.get(0), "step")
}

/// [`CheckpointStore::state_at`](crate::CheckpointStore::state_at).
pub(super) async fn state_at_step(
    store: &PgStore,
    thread: &str,
    step: u64,
) -> Result<Option<Map<String, Value>>, StoreError> {
    let thread = thread.to_owned();
    store
        .read(move |client| {
            Box::pin(async move {
                // Checkpoints never change once written: the state of a committed step
                // reads the same whatever commits meanwhile, so no snapshot is needed
                // (a replay in place that moves it away is a race the caller lost).
                let stmt = client
                    .prepare_cached("SELECT step, first_step FROM runs WHERE thread = $1")
                    .await?;
                let row = client.query_opt(&stmt, &[&thread]).await?;
                let row = row.ok_or_else(|| not_found(&thread))?;
                let last: u64 = unsigned(row.get(0), "step")?;
                let first: u64 = unsigned(row.get(1), "first step")?;
                // A fork has no steps before the one it was forked at.
                if step > last || step < first {
                    return Ok(None);
                }
                state_at(client, &thread, step).await.map(Some)
            })
        })
        .await
}

/// The state after `step` (0: the input): for every key, its latest write at or before
/// `step`, in the order the keys were first written.
pub(super) async fn state_at(
    client: &impl GenericClient,
    thread: &str,
    step: u64,
) -> Result<Map<String, Value>, StoreError> {
    Ok(sized_state_at(client, thread, step)
        .await?
        .into_iter()
        .map(|(key, value, _)| (key, value))
        .collect())
}

/// [`state_at`], with the size in bytes of each value's JSON. One query, whose cost grows
/// with the number of keys, not with the run's length: the keys are found by a skip scan
/// of the primary key `(thread, key, step)` (one index seek per key, however many steps
/// wrote it), and each key's latest and first write by one seek each.
pub(super) async fn sized_state_at(
    client: &impl GenericClient,
    thread: &str,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "WITH RECURSIVE keys (key) AS (
                 SELECT min(key) FROM state_writes WHERE thread = $1 AND step <= $2
                 UNION ALL
                 SELECT (SELECT min(w.key) FROM state_writes w
                         WHERE w.thread = $1 AND w.key > keys.key AND w.step <= $2)
                 FROM keys WHERE keys.key IS NOT NULL
             )
             SELECT k.key, latest.value_json, b.data
             FROM keys k
             CROSS JOIN LATERAL (
                 SELECT w.value_json, w.blob FROM state_writes w
                 WHERE w.thread = $1 AND w.key = k.key AND w.step <= $2
                 ORDER BY w.step DESC LIMIT 1
             ) latest
             CROSS JOIN LATERAL (
                 SELECT w.step, w.ord FROM state_writes w
                 WHERE w.thread = $1 AND w.key = k.key
                 ORDER BY w.step LIMIT 1
             ) first
             LEFT JOIN blobs b ON b.digest = latest.blob
             WHERE k.key IS NOT NULL
             ORDER BY first.step, first.ord",
        )
        .await?;
    let rows = client.query(&stmt, &[&thread, &signed(step)]).await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let (value, size) = stored_value(thread, step, &key, row.get(1), row.get(2))?;
            Ok((key, value, size))
        })
        .collect()
}

/// A state value as `state_writes` holds it (inline, or the JSON of its blob), parsed,
/// with the size in bytes of its JSON.
pub(super) fn stored_value(
    thread: &str,
    step: u64,
    key: &str,
    inline: Option<String>,
    blob: Option<String>,
) -> Result<(Value, u64), StoreError> {
    let json = inline.or(blob).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
        ))
    })?;
    let what = format!("value of state key {key:?}");
    let value = from_json::<Value>(thread, step, &what, &json)?;
    Ok((value, json.len() as u64))
}

/// [`CheckpointStore::leases`](crate::CheckpointStore::leases).
pub(super) async fn leases(store: &PgStore) -> Result<Vec<(String, i64)>, StoreError> {
    owners(
        store,
        "SELECT lease_owner, max(coalesce(lease_expires, 0)) FROM runs
         WHERE lease_owner IS NOT NULL
         GROUP BY lease_owner ORDER BY lease_owner COLLATE \"C\"",
    )
    .await
}

/// [`CheckpointStore::daemons`](crate::CheckpointStore::daemons).
pub(super) async fn daemons(store: &PgStore) -> Result<Vec<(String, i64)>, StoreError> {
    owners(
        store,
        "SELECT owner, expires_at FROM daemons ORDER BY owner COLLATE \"C\"",
    )
    .await
}

/// The (owner, time) rows of `query`.
async fn owners(store: &PgStore, query: &'static str) -> Result<Vec<(String, i64)>, StoreError> {
    store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client.prepare_cached(query).await?;
                let rows = client.query(&stmt, &[]).await?;
                Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
            })
        })
        .await
}

/// [`CheckpointStore::next_wake`](crate::CheckpointStore::next_wake).
pub(super) async fn next_wake(store: &PgStore) -> Result<Option<i64>, StoreError> {
    store
        .read(|client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        // The first entry of `runs_parked_by_wake`.
                        "SELECT min(wake_at) FROM runs
                         WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')",
                    )
                    .await?;
                Ok(client.query_one(&stmt, &[]).await?.get(0))
            })
        })
        .await
}

/// [`CheckpointStore::component_bytes`](crate::CheckpointStore::component_bytes).
pub(super) async fn component_bytes(
    store: &PgStore,
    digest: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let digest = digest.to_owned();
    store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached("SELECT bytes FROM components WHERE digest = $1")
                    .await?;
                let row = client.query_opt(&stmt, &[&digest]).await?;
                Ok(row.map(|row| row.get(0)))
            })
        })
        .await
}
