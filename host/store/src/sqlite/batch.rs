//! Creating many runs in one writer command (`savepoint start --batch`,
//! `POST /runs/batch`): one transaction, the statements prepared once for all the runs,
//! each workflow text written once, and the creation order (`seq`) read once.

use rusqlite::{Connection, params};
use serde_json::json;

use super::guards::position;
use super::rows::*;
use super::runs::{insert_state, insert_tags};
use crate::{EventKind, NewRun, RunStatus, StoreError};

/// A new run and its encoded input.
pub(super) struct Creation {
    pub run: NewRun,
    pub input: Vec<StoredValue>,
}

/// Creates every run of `runs` as [`create_run`](super::runs::create_run) creates one;
/// the writer's savepoint makes it all or none. Returns how many were created.
pub(super) fn create_runs(
    conn: &Connection,
    now_ms: i64,
    runs: &[Creation],
) -> Result<usize, StoreError> {
    let mut workflow = conn.prepare_cached(
        "INSERT OR IGNORE INTO workflows (digest, name, text, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status, step,
                           next_json, attempt, created_at, updated_at,
                           lease_owner, lease_expires, lease_epoch, seq, parent)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 0, ?7, ?7, ?8, ?9, ?8 IS NOT NULL, ?10, ?11)",
    )?;
    let mut event = conn.prepare_cached(
        "INSERT INTO events (thread, at, step, kind, data_json) VALUES (?1, ?2, 0, ?3, ?4)",
    )?;
    let mut pin = conn
        .prepare_cached("INSERT INTO run_plugins (thread, plugin, digest) VALUES (?1, ?2, ?3)")?;
    // The creation order continues after the newest run; read once, not per run.
    let mut seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM runs")?
        .query_row([], |row| row.get(0))?;
    // What runs of one batch share is encoded once: the workflow row, `next`, and the
    // created event's data (the same while the tags are).
    let mut last_digest: Option<&str> = None;
    let mut last_next: Option<(&Vec<String>, String)> = None;
    let mut last_event: Option<(&NewRun, String)> = None;
    for Creation { run, input } in runs {
        if last_digest != Some(run.workflow_digest.as_str()) {
            workflow.execute(params![
                run.workflow_digest,
                run.workflow_name,
                run.workflow_text,
                now_ms
            ])?;
            last_digest = Some(&run.workflow_digest);
        }
        let next_json = match &last_next {
            Some((next, json)) if *next == &run.next => json.clone(),
            _ => {
                let json = to_json(&run.next)?;
                last_next = Some((&run.next, json.clone()));
                json
            }
        };
        // A run created leased is driven at once by its creator.
        let status = match run.lease {
            Some(_) => RunStatus::Running,
            None => RunStatus::Pending,
        };
        let lease_owner = run.lease.as_ref().map(|(owner, _)| owner.as_str());
        let lease_expires = run.lease.as_ref().map(|(_, ms)| now_ms + ms);
        seq += 1;
        insert
            .execute(params![
                run.thread,
                run.workflow_name,
                run.workflow_digest,
                run.workflow_path,
                status.as_str(),
                next_json,
                now_ms,
                lease_owner,
                lease_expires,
                seq,
                run.parent,
            ])
            .map_err(|error| taken(conn, &run.thread, error))?;
        insert_state(conn, now_ms, &run.thread, 0, 0, input)?;
        insert_tags(conn, &run.thread, &run.tags)?;
        let data = match &last_event {
            Some((last, data)) if same_event(last, run) => data.clone(),
            _ => {
                let data = to_json(&json!({
                    "workflow": run.workflow_name,
                    "workflow_digest": run.workflow_digest,
                    "tags": run.tags,
                }))?;
                last_event = Some((run, data.clone()));
                data
            }
        };
        event.execute(params![
            run.thread,
            now_ms,
            EventKind::Created.as_str(),
            data
        ])?;
        for (plugin, digest) in &run.plugins {
            pin.execute(params![run.thread, plugin, digest])
                .map_err(|error| match error.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::ComponentMissing {
                            digest: digest.clone(),
                        }
                    }
                    _ => error.into(),
                })?;
        }
    }
    Ok(runs.len())
}

/// Whether two runs' created events say the same.
fn same_event(a: &NewRun, b: &NewRun) -> bool {
    a.workflow_name == b.workflow_name && a.workflow_digest == b.workflow_digest && a.tags == b.tags
}

/// The error of a run INSERT that failed: [`StoreError::ThreadExists`] when the thread
/// is taken (the primary key refused it: one check per run that the INSERT makes anyway,
/// instead of a read before it).
fn taken(conn: &Connection, thread: &str, error: rusqlite::Error) -> StoreError {
    if error.sqlite_error_code() != Some(rusqlite::ErrorCode::ConstraintViolation) {
        return error.into();
    }
    match position(conn, thread) {
        Ok((_, status)) => StoreError::ThreadExists {
            thread: thread.to_owned(),
            status,
        },
        Err(_) => error.into(),
    }
}
