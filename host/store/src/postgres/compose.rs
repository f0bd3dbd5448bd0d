//! Composition in the Postgres store (issue 18), as `sqlite/compose.rs` does it: the
//! mailbox of signals, waking a waiting run when what it waits for comes, child runs'
//! parents, and cancels that cascade down. The writes run inside the writer's
//! transaction of the write they belong to.

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;

use super::events::{data, record};
use super::reads::{signed, unsigned};
use super::rows::{from_json, not_found, to_json};
use super::runs::run_row;
use crate::{EventKind, RunStatus, Signal, StoreError, Wait};

/// Marks the signal delivered at `step`; refuses (so that the write is not committed) a
/// signal that is not an undelivered one of this run.
pub(super) async fn deliver(
    tx: &Transaction<'_>,
    thread: &str,
    signal: u64,
    step: u64,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE signals SET delivered_step = $3
             WHERE id = $2 AND thread = $1 AND delivered_step IS NULL",
        )
        .await?;
    let marked = tx
        .execute(&stmt, &[&thread, &signed(signal), &signed(step)])
        .await?;
    if marked == 0 {
        return Err(StoreError::Corrupt(format!(
            "thread {thread:?}: signal {signal} is not an undelivered signal of this run"
        )));
    }
    Ok(())
}

/// Finished runs (completed, failed for good, cancelled) wake their parents that wait for
/// children.
pub(super) async fn wake_parents(
    tx: &Transaction<'_>,
    now_ms: i64,
    threads: &[&str],
) -> Result<(), StoreError> {
    if threads.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE runs p SET wake_at = least(p.wake_at, $2), woken = 1
             FROM runs c
             WHERE c.thread = ANY($1::text[]) AND p.thread = c.parent
               AND p.status = 'waiting' AND p.waiting_json::jsonb ->> 'for' = 'children'",
        )
        .await?;
    tx.execute(&stmt, &[&threads, &now_ms]).await?;
    Ok(())
}

/// After a run parked `waiting` for `wait`: wakes it at once if what it waits for came
/// before it parked.
pub(super) async fn wake_if_there(
    tx: &Transaction<'_>,
    now_ms: i64,
    thread: &str,
    wait: &Wait,
) -> Result<(), StoreError> {
    let there = match wait {
        Wait::Signal { name, .. } => {
            let stmt = tx
                .prepare_cached(
                    "SELECT 1 FROM signals WHERE thread = $1 AND name = $2
                       AND delivered_step IS NULL LIMIT 1",
                )
                .await?;
            tx.query_opt(&stmt, &[&thread, name]).await?.is_some()
        }
        Wait::Children { threads } => {
            let stmt = tx
                .prepare_cached(
                    "SELECT 1 FROM runs WHERE thread = ANY($1::text[])
                       AND status IN ('completed', 'failed', 'cancelled') LIMIT 1",
                )
                .await?;
            tx.query_opt(&stmt, &[threads]).await?.is_some()
        }
    };
    if there {
        let stmt = tx
            .prepare_cached(
                "UPDATE runs SET wake_at = least(wake_at, $2), woken = 1
                 WHERE thread = $1 AND status = 'waiting'",
            )
            .await?;
        tx.execute(&stmt, &[&thread, &now_ms]).await?;
    }
    Ok(())
}

/// Cancels every unfinished descendant of `thread`, each with its `cancelled` event.
pub(super) async fn cancel_descendants(
    tx: &Transaction<'_>,
    now_ms: i64,
    thread: &str,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "WITH RECURSIVE tree (thread) AS (
                 SELECT thread FROM runs WHERE parent = $1
                 UNION SELECT r.thread FROM runs r JOIN tree t ON r.parent = t.thread
             )
             UPDATE runs r SET status = 'cancelled', wake_at = NULL, updated_at = $2,
                               waiting_json = NULL, woken = 0
             FROM tree t
             WHERE r.thread = t.thread AND r.status NOT IN ('completed', 'cancelled')
             RETURNING r.thread, r.step",
        )
        .await?;
    for row in tx.query(&stmt, &[&thread, &now_ms]).await? {
        let child: String = row.get(0);
        let step: u64 = unsigned(row.get(1), "step")?;
        let event = data([("by", "cascade".into()), ("parent", thread.into())]);
        record(tx, now_ms, &child, step, EventKind::Cancelled, event).await?;
    }
    Ok(())
}

/// What [`send_signal`] is asked.
pub(super) struct Sending {
    pub thread: String,
    pub name: String,
    pub data: Value,
}

/// [`CheckpointStore::send_signal`](crate::CheckpointStore::send_signal).
pub(super) async fn send_signal(
    sending: &Sending,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Signal, StoreError> {
    let Sending {
        thread,
        name,
        data: payload,
    } = sending;
    let run = run_row(tx, thread).await?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.clone(),
            status: run.status,
        });
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO signals (thread, name, data_json, sent_at) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(&insert, &[thread, name, &to_json(payload)?, &now_ms])
        .await?;
    let id: u64 = unsigned(row.get(0), "signal id")?;
    let event = data([
        ("name", name.as_str().into()),
        ("signal", id.into()),
        ("data", payload.clone()),
    ]);
    record(tx, now_ms, thread, run.step, EventKind::Signalled, event).await?;
    let wake = tx
        .prepare_cached(
            "UPDATE runs SET wake_at = least(wake_at, $2), woken = 1
             WHERE thread = $1 AND status = 'waiting'
               AND waiting_json::jsonb ->> 'for' = 'signal'
               AND waiting_json::jsonb ->> 'name' = $3",
        )
        .await?;
    tx.execute(&wake, &[thread, &now_ms, name]).await?;
    Ok(Signal {
        id,
        thread: thread.clone(),
        name: name.clone(),
        data: payload.clone(),
        sent_at_ms: now_ms,
        delivered_step: None,
    })
}

fn decode(row: &tokio_postgres::Row) -> Result<Signal, StoreError> {
    let thread: String = row.get(1);
    let delivered_step = row
        .get::<_, Option<i64>>(5)
        .map(|step| unsigned(step, "step"))
        .transpose()?;
    let json: String = row.get(3);
    Ok(Signal {
        id: unsigned(row.get(0), "signal id")?,
        data: from_json(&thread, delivered_step.unwrap_or(0), "signal data", &json)?,
        thread,
        name: row.get(2),
        sent_at_ms: row.get(4),
        delivered_step,
    })
}

/// [`CheckpointStore::next_signal`](crate::CheckpointStore::next_signal).
pub(super) async fn next_signal(
    client: &impl GenericClient,
    thread: &str,
    name: &str,
) -> Result<Option<Signal>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, thread, name, data_json, sent_at, delivered_step FROM signals
             WHERE thread = $1 AND name = $2 AND delivered_step IS NULL ORDER BY id LIMIT 1",
        )
        .await?;
    client
        .query_opt(&stmt, &[&thread, &name])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// [`CheckpointStore::signals`](crate::CheckpointStore::signals).
pub(super) async fn signals(
    client: &impl GenericClient,
    thread: &str,
    limit: usize,
) -> Result<Vec<Signal>, StoreError> {
    let exists = client
        .prepare_cached("SELECT 1 FROM runs WHERE thread = $1")
        .await?;
    if client.query_opt(&exists, &[&thread]).await?.is_none() {
        return Err(not_found(thread));
    }
    let stmt = client
        .prepare_cached(
            "SELECT id, thread, name, data_json, sent_at, delivered_step FROM signals
             WHERE thread = $1 ORDER BY id LIMIT $2",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    client
        .query(&stmt, &[&thread, &limit])
        .await?
        .iter()
        .map(decode)
        .collect()
}
