//! Leases on Postgres: which host executes a run ([`claim_due`], [`claim`], [`renew`],
//! [`release`]), and the records of the daemons that serve the database.
//!
//! Several hosts claim at once: the runs a host takes are locked `FOR UPDATE SKIP LOCKED`,
//! so two hosts' claims never wait for each other and never take the same run; a run that
//! another transaction has locked (being claimed, committed or cancelled right now) is
//! left for the next look.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;

use super::due::choose;
use super::events::{EventRows, data};
use super::reads::unsigned;
use super::rows::existing_run;
use super::runs::run_row;
use crate::{EventKind, RunRecord, StoreError};

/// What [`claim_due`] is asked.
pub(super) struct ClaimDue {
    pub owner: String,
    pub limit: usize,
    pub lease_ms: i64,
    pub dead_owners: Vec<String>,
}

pub(super) async fn claim_due(
    claim: &ClaimDue,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<RunRecord>, StoreError> {
    let threads = choose(tx, now_ms, &claim.owner, claim.limit, &claim.dead_owners).await?;
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    let mut taken_over = take_leases(tx, now_ms, &threads, &claim.owner, claim.lease_ms).await?;
    let mut runs = Vec::with_capacity(threads.len());
    for thread in &threads {
        let run = existing_run(tx, thread).await?;
        runs.push(RunRecord {
            taken_over_from: taken_over.remove(thread),
            ..run
        });
    }
    Ok(runs)
}

/// What [`claim`] is asked.
pub(super) struct Claim {
    pub thread: String,
    pub owner: String,
    pub lease_ms: i64,
    pub dead_owners: Vec<String>,
}

pub(super) async fn claim(
    claim: &Claim,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let run = run_row(tx, &claim.thread).await?;
    if let Some(holder) = run.lease_owner
        && holder != claim.owner
        && !claim.dead_owners.contains(&holder)
        && let Some(expires_ms) = run.lease_expires_ms.filter(|&expires| expires > now_ms)
    {
        return Err(StoreError::Leased {
            thread: claim.thread.clone(),
            owner: holder,
            expires_ms,
        });
    }
    let threads = [claim.thread.clone()];
    let mut taken_over = take_leases(tx, now_ms, &threads, &claim.owner, claim.lease_ms).await?;
    let run = existing_run(tx, &claim.thread).await?;
    Ok(RunRecord {
        taken_over_from: taken_over.remove(&claim.thread),
        ..run
    })
}

/// Leases the runs to `owner` until `lease_ms` from now, each in a new lease epoch unless
/// `owner` holds it already; an interrupted run whose deadline passed is marked timed out.
/// A claim of a `running` run counts the call its previous holder may have made and lost
/// as an attempt (see SQLite's `take_lease` for why). Returns the owner each run was taken
/// over from, for those another owner held.
async fn take_leases(
    tx: &Transaction<'_>,
    now_ms: i64,
    threads: &[String],
    owner: &str,
    lease_ms: i64,
) -> Result<HashMap<String, String>, StoreError> {
    let mut taken_over = HashMap::new();
    let before = tx
        .prepare_cached(
            "SELECT thread, step, status, wake_at, timed_out, lease_owner, attempt, woken
             FROM runs WHERE thread = ANY($1::text[])",
        )
        .await?;
    let mut event_rows = EventRows::default();
    for row in tx.query(&before, &[&threads]).await? {
        let thread: &str = row.get(0);
        let step: u64 = unsigned(row.get(1), "step")?;
        let status: &str = row.get(2);
        let due = row
            .get::<_, Option<i64>>(3)
            .is_some_and(|wake| wake <= now_ms);
        match status {
            "sleeping" | "retrying" if due => {
                let event = data([("status", Value::from(status))]);
                event_rows.add(thread, step, EventKind::Woke, event)?;
            }
            "interrupted" if due && row.get::<_, i64>(4) == 0 => {
                let event = data([("timed_out", Value::from(true))]);
                event_rows.add(thread, step, EventKind::Woke, event)?;
            }
            "waiting" if due => {
                let event = data([
                    ("status", Value::from(status)),
                    ("timed_out", Value::from(row.get::<_, i64>(7) == 0)),
                ]);
                event_rows.add(thread, step, EventKind::Woke, event)?;
            }
            _ => {}
        }
        let holder: Option<&str> = row.get(5);
        if let Some(holder) = holder.filter(|holder| *holder != owner) {
            // The attempt the next call makes: a running run's lost call counts (below).
            let attempt: u64 = unsigned(row.get(6), "attempt")?;
            let next = attempt + u64::from(status == "running") + 1;
            let event = data([
                ("owner", Value::from(owner)),
                ("from", Value::from(holder)),
                ("attempt", Value::from(next)),
            ]);
            event_rows.add(thread, step, EventKind::LeaseTakenOver, event)?;
            taken_over.insert(thread.to_owned(), holder.to_owned());
        }
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET lease_owner = $2, lease_expires = $3,
                 timed_out = CASE WHEN status = 'interrupted' AND wake_at <= $4 THEN 1
                                  WHEN status = 'waiting' AND wake_at <= $4 AND woken = 0
                                      THEN 1
                                  ELSE timed_out END,
                 attempt = attempt + CASE WHEN status = 'running' THEN 1 ELSE 0 END,
                 lease_epoch = lease_epoch
                     + CASE WHEN lease_owner IS DISTINCT FROM $2 THEN 1 ELSE 0 END
             WHERE thread = ANY($1::text[])",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&threads, &owner, &now_ms.saturating_add(lease_ms), &now_ms],
    )
    .await?;
    // Last: the events' lock is held until the commit (see `events`).
    event_rows.write(tx, now_ms).await?;
    Ok(taken_over)
}

/// What [`renew`] is asked.
pub(super) struct Renewal {
    pub owner: String,
    pub threads: Vec<String>,
    pub lease_ms: i64,
}

pub(super) async fn renew(
    renewal: &Renewal,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET lease_expires = $3
             WHERE thread = ANY($1::text[]) AND lease_owner = $2 AND status <> 'cancelled'
             RETURNING thread",
        )
        .await?;
    let kept: Vec<String> = tx
        .query(
            &stmt,
            &[
                &renewal.threads,
                &renewal.owner,
                &now_ms.saturating_add(renewal.lease_ms),
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(renewal
        .threads
        .iter()
        .filter(|thread| !kept.contains(thread))
        .cloned()
        .collect())
}

pub(super) async fn release(
    lease: &(String, String),
    tx: &Transaction<'_>,
    _now_ms: i64,
) -> Result<(), StoreError> {
    let (owner, thread) = lease;
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET lease_owner = NULL, lease_expires = NULL
             WHERE thread = $1 AND lease_owner = $2",
        )
        .await?;
    tx.execute(&stmt, &[thread, owner]).await?;
    Ok(())
}

pub(super) async fn announce_daemon(
    daemon: &(String, i64),
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (owner, ttl_ms) = daemon;
    let forget = tx
        .prepare_cached("DELETE FROM daemons WHERE expires_at < $1")
        .await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO daemons (owner, started_at, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .await?;
    let expires = now_ms.saturating_add(*ttl_ms);
    let forget_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&now_ms];
    let upsert_params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [owner, &now_ms, &expires];
    tokio::try_join!(
        tx.execute(&forget, &forget_params),
        tx.execute(&upsert, &upsert_params),
    )?;
    Ok(())
}

pub(super) async fn retire_daemon(
    owner: &String,
    tx: &Transaction<'_>,
    _now_ms: i64,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("DELETE FROM daemons WHERE owner = $1")
        .await?;
    tx.execute(&stmt, &[owner]).await?;
    Ok(())
}
