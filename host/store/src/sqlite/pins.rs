//! The writes of exact-code pinning: stored component versions, moving a run to other
//! versions (upgrade), and removing what no run needs (gc). Run bundles are in
//! [`super::bundle`].

use rusqlite::{Connection, params};

use serde_json::json;

use super::events::record;
use super::guards::run_row;
use super::rows::load_run;
use super::rows::not_found;
use crate::{Collected, EventKind, RunRecord, RunStatus, RunUpgrade, StoreError};

/// Stores a component's bytes under `digest`, unless stored already.
pub(super) fn save_component(
    conn: &Connection,
    now_ms: i64,
    digest: &str,
    name: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    // Look first: binding megabytes only to be ignored costs a copy.
    let stored = conn
        .prepare_cached("SELECT 1 FROM components WHERE digest = ?1")?
        .exists([digest])?;
    if !stored {
        conn.prepare_cached(
            "INSERT INTO components (digest, name, bytes, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![digest, name, bytes, now_ms])?;
    }
    Ok(())
}

pub(super) fn upgrade_run(
    conn: &Connection,
    now_ms: i64,
    upgrade: &RunUpgrade,
) -> Result<RunRecord, StoreError> {
    let thread = upgrade.thread.as_str();
    let run = run_row(conn, thread)?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.to_owned(),
            status: run.status,
        });
    }
    if let (Some(owner), Some(expires_ms)) = (run.lease_owner, run.lease_expires_ms)
        && expires_ms > now_ms
    {
        return Err(StoreError::Leased {
            thread: thread.to_owned(),
            owner,
            expires_ms,
        });
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO workflows (digest, name, text, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        upgrade.workflow_digest,
        upgrade.workflow_name,
        upgrade.workflow_text,
        now_ms
    ])?;
    conn.prepare_cached(
        "UPDATE runs SET workflow_digest = ?2, workflow_name = ?3, updated_at = ?4
         WHERE thread = ?1",
    )?
    .execute(params![
        thread,
        upgrade.workflow_digest,
        upgrade.workflow_name,
        now_ms
    ])?;
    conn.prepare_cached("DELETE FROM run_plugins WHERE thread = ?1")?
        .execute([thread])?;
    let mut pin = conn
        .prepare_cached("INSERT INTO run_plugins (thread, plugin, digest) VALUES (?1, ?2, ?3)")?;
    for (plugin, digest) in &upgrade.plugins {
        pin.execute(params![thread, plugin, digest])?;
    }
    let data = json!({"workflow_digest": upgrade.workflow_digest, "plugins": upgrade.plugins});
    record(conn, now_ms, thread, run.step, EventKind::Upgraded, data)?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

pub(super) fn collect_garbage(conn: &Connection) -> Result<Collected, StoreError> {
    let count = |sql: &str| -> Result<(u64, u64), StoreError> {
        Ok(conn.query_row(sql, [], |row| Ok((row.get(0)?, row.get(1)?)))?)
    };
    conn.execute(
        "DELETE FROM run_plugins WHERE thread IN
             (SELECT thread FROM runs WHERE status IN ('completed', 'cancelled'))",
        [],
    )?;
    let unpinned = "FROM components WHERE digest NOT IN (SELECT digest FROM run_plugins)";
    let (components, component_bytes) = count(&format!(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) {unpinned}"
    ))?;
    conn.execute(&format!("DELETE {unpinned}"), [])?;
    let unused = "FROM blobs WHERE digest NOT IN
                      (SELECT blob FROM state_writes WHERE blob IS NOT NULL)";
    let (values, value_bytes) = count(&format!(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) {unused}"
    ))?;
    conn.execute(&format!("DELETE {unused}"), [])?;
    let workflows = conn.execute(
        "DELETE FROM workflows WHERE digest NOT IN (SELECT workflow_digest FROM runs)
             AND digest NOT IN (SELECT workflow_digest FROM checkpoints)
             AND digest NOT IN (SELECT workflow_digest FROM schedules)",
        [],
    )? as u64;
    Ok(Collected {
        components,
        component_bytes,
        values,
        value_bytes,
        workflows,
    })
}
