//! Leases: which process executes a run ([`claim_due`], [`claim`], [`renew`],
//! [`release`]), and the records of the daemons that serve the database.

use rusqlite::{Connection, params};
use serde_json::json;

use super::due::choose;
use super::events::record;
use super::guards::{RunRow, run_row};
use super::rows::{load_run, not_found};
use crate::{EventKind, RunRecord, RunStatus, StoreError};

/// Leases to `owner` the runs that are due now, at most `limit` of them (which ones:
/// [`choose`]), in one transaction, and returns them as they are then.
pub(super) fn claim_due(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    limit: usize,
    lease_ms: i64,
    dead_owners_json: &str,
) -> Result<Vec<RunRecord>, StoreError> {
    choose(conn, now_ms, owner, limit, dead_owners_json)?
        .iter()
        .map(|thread| {
            let from = take_lease(conn, now_ms, thread, owner, lease_ms)?;
            let run = load_run(conn, thread)?.ok_or_else(|| not_found(thread))?;
            Ok(RunRecord {
                taken_over_from: from,
                ..run
            })
        })
        .collect()
}

pub(super) fn claim(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    owner: &str,
    lease_ms: i64,
    dead_owners: &[String],
) -> Result<RunRecord, StoreError> {
    let run = run_row(conn, thread)?;
    if let Some(holder) = run.lease_owner
        && holder != owner
        && !dead_owners.contains(&holder)
        && let Some(expires_ms) = run.lease_expires_ms.filter(|&expires| expires > now_ms)
    {
        return Err(StoreError::Leased {
            thread: thread.to_owned(),
            owner: holder,
            expires_ms,
        });
    }
    let from = take_lease(conn, now_ms, thread, owner, lease_ms)?;
    let run = load_run(conn, thread)?.ok_or_else(|| not_found(thread))?;
    Ok(RunRecord {
        taken_over_from: from,
        ..run
    })
}

/// The events of a claim of `before` (the run as it was) by `owner`: it woke a due run,
/// and it took the run over from another owner (whose call, if the run was `running`,
/// counts as an attempt: the next call makes the attempt after it).
fn claim_events(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    owner: &str,
    before: &RunRow,
) -> Result<Option<String>, StoreError> {
    let due = before.wake_at_ms.is_some_and(|wake_at| wake_at <= now_ms);
    match before.status {
        RunStatus::Sleeping | RunStatus::Retrying if due => {
            let data = json!({"status": before.status.as_str()});
            record(conn, now_ms, thread, before.step, EventKind::Woke, data)?;
        }
        RunStatus::Interrupted if due && !before.timed_out => {
            let data = json!({"timed_out": true});
            record(conn, now_ms, thread, before.step, EventKind::Woke, data)?;
        }
        RunStatus::Waiting if due => {
            let data = json!({"status": "waiting", "timed_out": !before.woken});
            record(conn, now_ms, thread, before.step, EventKind::Woke, data)?;
        }
        _ => {}
    }
    if let Some(from) = before.lease_owner.as_deref()
        && from != owner
    {
        let cut_short = u32::from(before.status == RunStatus::Running);
        let data = json!({
            "owner": owner,
            "from": from,
            "attempt": before.attempt + cut_short + 1,
        });
        record(
            conn,
            now_ms,
            thread,
            before.step,
            EventKind::LeaseTakenOver,
            data,
        )?;
        return Ok(Some(from.to_owned()));
    }
    Ok(None)
}

/// Leases the run to `owner` until `lease_ms` from now, in a new lease epoch unless `owner`
/// holds it already; an interrupted run whose deadline passed is marked timed out.
/// Returns the owner whose lease was taken over, if another held it.
///
/// A `running` run is one whose holder may have started a call of its next step: every
/// way into `running` (created leased, a commit that goes on, `set_status`, a resume with
/// input) is followed by that call. So a claim of a `running` run counts the call its
/// previous holder may have made and lost (it crashed, stalled or stopped) as an attempt,
/// and the replayed call sees `ctx.attempt` one higher; this costs no write beyond the
/// claim's own.
pub(super) fn take_lease(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    owner: &str,
    lease_ms: i64,
) -> Result<Option<String>, StoreError> {
    let before = run_row(conn, thread)?;
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = ?2, lease_expires = ?3,
             timed_out = CASE WHEN status = 'interrupted' AND wake_at <= ?4 THEN 1
                              WHEN status = 'waiting' AND wake_at <= ?4 AND woken = 0 THEN 1
                              ELSE timed_out END,
             attempt = attempt + (status = 'running'),
             lease_epoch = lease_epoch + (lease_owner IS NOT ?2)
         WHERE thread = ?1",
    )?
    .execute(params![
        thread,
        owner,
        now_ms.saturating_add(lease_ms),
        now_ms
    ])?;
    claim_events(conn, now_ms, thread, owner, &before)
}

pub(super) fn renew(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    threads: &[String],
    lease_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let mut extend = conn.prepare_cached(
        "UPDATE runs SET lease_expires = ?3
         WHERE thread = ?1 AND lease_owner = ?2 AND status <> 'cancelled'",
    )?;
    let mut stopped = Vec::new();
    for thread in threads {
        if extend.execute(params![thread, owner, now_ms.saturating_add(lease_ms)])? == 0 {
            stopped.push(thread.clone());
        }
    }
    Ok(stopped)
}

pub(super) fn release(conn: &Connection, owner: &str, thread: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE runs SET lease_owner = NULL, lease_expires = NULL
         WHERE thread = ?1 AND lease_owner = ?2",
    )?
    .execute(params![thread, owner])?;
    Ok(())
}

pub(super) fn announce_daemon(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    ttl_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM daemons WHERE expires_at < ?1")?
        .execute([now_ms])?;
    conn.prepare_cached(
        "INSERT INTO daemons (owner, started_at, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at",
    )?
    .execute(params![owner, now_ms, now_ms.saturating_add(ttl_ms)])?;
    Ok(())
}
