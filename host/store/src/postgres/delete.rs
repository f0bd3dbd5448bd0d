//! Deleting a run on Postgres: in bounded jobs of the writer, so that a run of many
//! thousand steps does not hold the writer (other runs' steps commit between the jobs);
//! then, in a transaction of its own that locks out writers as gc does, the shared rows
//! (state values, component versions, workflow texts) that only the run referred to.
//!
//! The first job marks the run `cancelled`: whoever executes it is fenced from then on,
//! and a delete cut short (the process died, the server went away) leaves a cancelled
//! run that deleting again finishes. The run's row goes last, so its thread stays taken
//! until everything else of it is gone.

use std::collections::BTreeSet;

use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::PgStore;
use super::pins::GC_ATTEMPTS;
use super::runs::run_row;
use super::writer::Wake;
use crate::{Collected, Deleted, RunStatus, StoreError};

/// At most this many rows are deleted per job of the writer (a job of 1000 small rows
/// takes a few milliseconds: a step queued behind it waits about that long).
const CHUNK: i64 = 1000;

/// The tables of a run's rows that can be long, each with the DELETE of one chunk of
/// thread `$1` (at most `$2` rows), returning the shared row each deleted row referred to.
const CHUNKED: &[(Table, &str)] = &[
    (
        Table::Logs,
        "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE thread = $1 LIMIT $2)
         RETURNING NULL::text",
    ),
    (
        Table::Events,
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE thread = $1 LIMIT $2)
         RETURNING NULL::text",
    ),
    (
        Table::Values,
        "DELETE FROM state_writes w
         USING (SELECT thread, key, step FROM state_writes WHERE thread = $1 LIMIT $2) d
         WHERE w.thread = d.thread AND w.key = d.key AND w.step = d.step
         RETURNING w.blob",
    ),
    (
        Table::Values,
        "DELETE FROM superseded_writes w
         USING (SELECT thread, branch, key, step FROM superseded_writes
                WHERE thread = $1 LIMIT $2) d
         WHERE w.thread = d.thread AND w.branch = d.branch AND w.key = d.key
           AND w.step = d.step
         RETURNING w.blob",
    ),
    (
        Table::Checkpoints,
        "DELETE FROM checkpoints c
         USING (SELECT thread, step FROM checkpoints WHERE thread = $1 LIMIT $2) d
         WHERE c.thread = d.thread AND c.step = d.step
         RETURNING c.workflow_digest",
    ),
    (
        Table::Checkpoints,
        "DELETE FROM superseded_checkpoints c
         USING (SELECT thread, branch, step FROM superseded_checkpoints
                WHERE thread = $1 LIMIT $2) d
         WHERE c.thread = d.thread AND c.branch = d.branch AND c.step = d.step
         RETURNING c.workflow_digest",
    ),
];

/// What a chunk's rows are counted as, and what their returned column names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Logs,
    Events,
    /// State writes: their blobs.
    Values,
    /// Checkpoints: their workflow texts.
    Checkpoints,
}

/// The shared rows a deleted run referred to: freed if no one else does.
#[derive(Debug, Default)]
struct Referred {
    blobs: BTreeSet<String>,
    components: BTreeSet<String>,
    workflows: BTreeSet<String>,
}

/// [`CheckpointStore::delete_run`](crate::CheckpointStore::delete_run).
pub(super) async fn delete_run(
    store: &PgStore,
    thread: &str,
    force: bool,
) -> Result<Deleted, StoreError> {
    let begin = (thread.to_owned(), force);
    let (components, workflow) = store
        .writer
        .call(begin, Wake::Nobody, |b, tx, now| {
            Box::pin(begin_delete(b, tx, now))
        })
        .await?;
    let mut referred = Referred {
        components: components.into_iter().collect(),
        workflows: BTreeSet::from([workflow]),
        ..Referred::default()
    };
    let mut deleted = Deleted::default();
    for (index, (table, _)) in CHUNKED.iter().enumerate() {
        loop {
            let chunk = (thread.to_owned(), index);
            let (count, shared) = store
                .writer
                .call(chunk, Wake::Nobody, |c, tx, _| {
                    Box::pin(delete_chunk(c, tx))
                })
                .await?;
            let count = count as u64;
            match table {
                Table::Logs => deleted.logs += count,
                Table::Events => deleted.events += count,
                Table::Values => referred.blobs.extend(shared),
                Table::Checkpoints => {
                    deleted.checkpoints += count;
                    referred.workflows.extend(shared);
                }
            }
            if count < CHUNK as u64 {
                break;
            }
        }
    }
    deleted.events += store
        .writer
        .call(thread.to_owned(), Wake::Nobody, |t, tx, _| {
            Box::pin(delete_row(t, tx))
        })
        .await?;
    deleted.freed = free(store, &referred).await?;
    Ok(deleted)
}

/// The first job: checks the run may be deleted and marks it `cancelled`; the component
/// versions it is pinned to and its workflow text.
async fn begin_delete(
    begin: &(String, bool),
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(Vec<String>, String), StoreError> {
    let (thread, force) = begin;
    let run = run_row(tx, thread).await?;
    let finished = matches!(
        run.status,
        RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
    );
    if !finished && !force {
        return Err(StoreError::Unfinished {
            thread: thread.clone(),
            status: run.status,
        });
    }
    let cancel = tx
        .prepare_cached(
            "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = $2,
                             waiting_json = NULL, woken = 0
             WHERE thread = $1 RETURNING workflow_digest",
        )
        .await?;
    if run.status != RunStatus::Cancelled {
        // A parent that waits for this run would otherwise wait for it for good.
        super::compose::wake_parents(tx, now_ms, &[thread.as_str()]).await?;
    }
    let pins = tx
        .prepare_cached("SELECT digest FROM run_plugins WHERE thread = $1")
        .await?;
    let workflow: String = tx.query_one(&cancel, &[thread, &now_ms]).await?.get(0);
    let components = tx.query(&pins, &[thread]).await?;
    Ok((components.iter().map(|row| row.get(0)).collect(), workflow))
}

/// One chunk of `CHUNKED[index]`: how many rows went, and the shared rows they referred
/// to.
async fn delete_chunk(
    chunk: &(String, usize),
    tx: &Transaction<'_>,
) -> Result<(usize, Vec<String>), StoreError> {
    let (thread, index) = chunk;
    let stmt = tx.prepare_cached(CHUNKED[*index].1).await?;
    let rows = tx.query(&stmt, &[thread, &CHUNK]).await?;
    let shared = rows.iter().filter_map(|row| row.get(0)).collect();
    Ok((rows.len(), shared))
}

/// The last job: the run's row and its few other rows (pending writes, branches, tags,
/// pins, its mailbox), and any event a claim appended since its events went; how many
/// events.
async fn delete_row(thread: &String, tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let events = tx
        .prepare_cached("DELETE FROM events WHERE thread = $1")
        .await?;
    let signals = tx
        .prepare_cached("DELETE FROM signals WHERE thread = $1")
        .await?;
    tx.execute(&signals, &[thread]).await?;
    let row = tx
        .prepare_cached("DELETE FROM runs WHERE thread = $1")
        .await?;
    // The other tables' rows go with the run's (ON DELETE CASCADE): a handful each.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [thread];
    let (events, _) = tokio::try_join!(tx.execute(&events, &params), tx.execute(&row, &params))?;
    Ok(events)
}

/// Deletes the shared rows of `referred` that no one refers to any more, as gc does (see
/// `pins::collect_garbage` for the locks, and why it may start over).
async fn free(store: &PgStore, referred: &Referred) -> Result<Collected, StoreError> {
    let mut client = store.client().await?;
    let mut attempt = 1;
    loop {
        match free_once(&mut client, referred).await {
            Err(error)
                if attempt < GC_ATTEMPTS
                    && matches!(
                        error.code(),
                        Some(&SqlState::T_R_DEADLOCK_DETECTED)
                            | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    ) =>
            {
                attempt += 1;
            }
            result => return result.map_err(|error| store.classify(error.into())),
        }
    }
}

async fn free_once(
    client: &mut deadpool_postgres::Object,
    referred: &Referred,
) -> Result<Collected, tokio_postgres::Error> {
    let blobs: Vec<&str> = referred.blobs.iter().map(String::as_str).collect();
    let components: Vec<&str> = referred.components.iter().map(String::as_str).collect();
    let workflows: Vec<&str> = referred.workflows.iter().map(String::as_str).collect();
    let tx = client.transaction().await?;
    tx.batch_execute("LOCK TABLE workflows, blobs, run_plugins IN SHARE ROW EXCLUSIVE MODE")
        .await?;
    let components = tx
        .query_one(
            "WITH gone AS (
                 DELETE FROM components c WHERE c.digest = ANY($1::text[])
                   AND NOT EXISTS (SELECT 1 FROM run_plugins p WHERE p.digest = c.digest)
                 RETURNING octet_length(c.bytes) AS size
             ) SELECT count(*), coalesce(sum(size), 0)::bigint FROM gone",
            &[&components],
        )
        .await?;
    let values = tx
        .query_one(
            "WITH gone AS (
                 DELETE FROM blobs b WHERE b.digest = ANY($1::text[])
                   AND NOT EXISTS (SELECT 1 FROM state_writes w WHERE w.blob = b.digest)
                   AND NOT EXISTS (SELECT 1 FROM superseded_writes w WHERE w.blob = b.digest)
                 RETURNING octet_length(b.data) AS size
             ) SELECT count(*), coalesce(sum(size), 0)::bigint FROM gone",
            &[&blobs],
        )
        .await?;
    let workflows = tx
        .execute(
            "DELETE FROM workflows f WHERE f.digest = ANY($1::text[])
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM superseded_checkpoints c
                               WHERE c.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.workflow_digest = f.digest)",
            &[&workflows],
        )
        .await?;
    tx.commit().await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Collected {
        components: count(components.get(0)),
        component_bytes: count(components.get(1)),
        values: count(values.get(0)),
        value_bytes: count(values.get(1)),
        workflows,
    })
}
