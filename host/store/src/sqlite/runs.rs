//! The writes that move a run: creating it, committing a step or recording a setback,
//! resuming and cancelling it. Each runs inside the writer's transaction (in its own
//! savepoint), after the [guards](super::guards) that fence it.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use super::compose;
use super::events::record;
use super::guards::{expect_next_step, fenced, position, run_row};
use super::rows::*;
use crate::{
    EventKind, LogLine, NewRun, RunRecord, RunStatus, Setback, StepCommit, StepSetback, StoreError,
};

/// A new checkpoint id: 16 lowercase hex digits, random (unique in practice: a collision
/// fails the write on the unique index rather than pass unnoticed).
pub(super) fn checkpoint_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

pub(super) fn create_run(
    conn: &Connection,
    now_ms: i64,
    run: &NewRun,
    input: &[StoredValue],
) -> Result<RunRecord, StoreError> {
    // A run created leased is driven at once by its creator.
    let status = match run.lease {
        Some(_) => RunStatus::Running,
        None => RunStatus::Pending,
    };
    let lease_owner = run.lease.as_ref().map(|(owner, _)| owner.clone());
    let lease_expires = run.lease.as_ref().map(|(_, ms)| now_ms + ms);
    match position(conn, &run.thread) {
        Err(StoreError::NotFound { .. }) => {}
        Ok((_, status)) => {
            return Err(StoreError::ThreadExists {
                thread: run.thread.clone(),
                status,
            });
        }
        Err(error) => return Err(error),
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO workflows (digest, name, text, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        run.workflow_digest,
        run.workflow_name,
        run.workflow_text,
        now_ms
    ])?;
    conn.prepare_cached(
        "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status, step,
                           next_json, attempt, created_at, updated_at,
                           lease_owner, lease_expires, lease_epoch, seq, parent)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 0, ?7, ?7, ?8, ?9, ?8 IS NOT NULL,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?10)",
    )?
    .execute(params![
        run.thread,
        run.workflow_name,
        run.workflow_digest,
        run.workflow_path,
        status.as_str(),
        to_json(&run.next)?,
        now_ms,
        lease_owner,
        lease_expires,
        run.parent,
    ])?;
    insert_state(conn, now_ms, &run.thread, 0, 0, input)?;
    insert_tags(conn, &run.thread, &run.tags)?;
    record(
        conn,
        now_ms,
        &run.thread,
        0,
        EventKind::Created,
        json!({
            "workflow": run.workflow_name,
            "workflow_digest": run.workflow_digest,
            "tags": run.tags,
        }),
    )?;
    let mut pin = conn
        .prepare_cached("INSERT INTO run_plugins (thread, plugin, digest) VALUES (?1, ?2, ?3)")?;
    for (plugin, digest) in &run.plugins {
        pin.execute(params![run.thread, plugin, digest])
            .map_err(|error| match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::ComponentMissing {
                    digest: digest.clone(),
                },
                _ => error.into(),
            })?;
    }
    Ok(RunRecord {
        thread: run.thread.clone(),
        workflow_name: run.workflow_name.clone(),
        workflow_digest: run.workflow_digest.clone(),
        workflow_path: run.workflow_path.clone(),
        status,
        step: 0,
        next: run.next.clone(),
        state: run.input.clone(),
        error: None,
        error_node: None,
        attempt: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        wake_at_ms: None,
        interrupt: None,
        resume: None,
        timed_out: false,
        wakes: 0,
        retry_base: 0,
        joins: BTreeMap::new(),
        lease_epoch: u64::from(lease_owner.is_some()),
        lease_owner,
        lease_expires_ms: lease_expires,
        pending: Vec::new(),
        plugins: run.plugins.clone(),
        tags: run.tags.clone(),
        checkpoint: None,
        branch: 0,
        taken_over_from: None,
        parent: run.parent.clone(),
        waiting: None,
        send_inputs: BTreeMap::new(),
    })
}

pub(super) fn set_status(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    status: RunStatus,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET status = ?2, updated_at = ?3,
                 error = CASE WHEN ?2 = 'running' THEN NULL ELSE error END,
                 error_node = CASE WHEN ?2 = 'running' THEN NULL ELSE error_node END,
                 -- What a run waits for is kept only while it waits.
                 waiting_json = CASE WHEN ?2 = 'waiting' THEN waiting_json END,
                 woken = CASE WHEN ?2 = 'waiting' THEN woken ELSE 0 END
             WHERE thread = ?1 AND (status <> 'cancelled' OR ?2 = 'cancelled')",
        )?
        .execute(params![thread, status.as_str(), now_ms])?;
    if changed == 0 {
        // Cancel wins: a cancelled run is never made runnable again.
        position(conn, thread)?;
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    Ok(())
}

/// The labels of a new run.
pub(super) fn insert_tags(
    conn: &Connection,
    thread: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    let mut insert =
        conn.prepare_cached("INSERT INTO run_tags (thread, key, value) VALUES (?1, ?2, ?3)")?;
    for (key, value) in tags {
        insert.execute(params![thread, key, value])?;
    }
    Ok(())
}

/// The row a commit or an edit hands back: the `runs` row as its UPDATE wrote it, and
/// the run's pins and tags.
pub(super) type Position = (
    StoredRun,
    BTreeMap<String, String>,
    BTreeMap<String, String>,
);

/// Writes the commit; returns the run's position as the commit left it.
pub(super) fn commit_step(
    conn: &Connection,
    now_ms: i64,
    commit: &StepCommit,
    changes: &[StoredValue],
) -> Result<Position, StoreError> {
    let run = fenced(conn, &commit.thread, commit.owner.as_deref())?;
    expect_next_step(&commit.thread, run.step, commit.step)?;
    let id = checkpoint_id();
    let sends = crate::rows::sends_json(&commit.send_inputs)?;
    // The parent is the run's head, and the branch the run's: read by the INSERT itself.
    conn.prepare_cached(
        "INSERT INTO checkpoints (thread, step, id, parent, branch, node, next_json,
                                  component_digest, workflow_digest, created_at, sends_json)
         SELECT ?1, ?2, ?7, head, branch, ?3, ?4, ?5, workflow_digest, ?6, ?8
         FROM runs WHERE thread = ?1",
    )?
    .execute(params![
        commit.thread,
        commit.step,
        commit.node,
        to_json(&commit.next)?,
        commit.component_digest,
        now_ms,
        id,
        sends,
    ])?;
    insert_state(
        conn,
        now_ms,
        &commit.thread,
        commit.step,
        run.branch,
        changes,
    )?;
    insert_logs(conn, &commit.thread, &commit.logs)?;
    conn.prepare_cached("DELETE FROM pending_writes WHERE thread = ?1 AND step <= ?2")?
        .execute(params![commit.thread, commit.step])?;
    let row =
        if run.status == commit.status && run.wake_at_ms.is_none() && commit.wake_at_ms.is_none() {
            // The common step of a running run: leave `status` and `wake_at` out of the
            // statement, so that the indexes on them are not rewritten (fewer pages to sync).
            conn.prepare_cached(concat!(
                "UPDATE runs SET step = ?2, next_json = ?3, joins_json = ?4, wakes = ?5,
                             attempt = 0, retry_base = 0, error = NULL, error_node = NULL,
                             interrupt_json = NULL, resume_json = NULL, timed_out = 0,
                             updated_at = ?6, head = ?7, sends_json = ?8
             WHERE thread = ?1 RETURNING ",
                run_columns!()
            ))?
            .query_row(
                params![
                    commit.thread,
                    commit.step,
                    to_json(&commit.next)?,
                    to_json(&commit.joins)?,
                    commit.wakes,
                    now_ms,
                    id,
                    sends,
                ],
                StoredRun::from_row,
            )?
        } else {
            conn.prepare_cached(concat!(
                "UPDATE runs SET step = ?2, next_json = ?3, status = ?4, joins_json = ?5,
                             wakes = ?6, wake_at = ?7, attempt = 0, retry_base = 0,
                             error = NULL, error_node = NULL, interrupt_json = NULL,
                             resume_json = NULL, timed_out = 0, updated_at = ?8, head = ?9,
                             sends_json = ?10, waiting_json = NULL, woken = 0,
                             -- A completed run needs no lease: releasing it here saves the
                             -- release its own durable commit.
                             lease_owner = CASE WHEN ?4 = 'completed' THEN NULL
                                                ELSE lease_owner END,
                             lease_expires = CASE WHEN ?4 = 'completed' THEN NULL
                                                  ELSE lease_expires END
             WHERE thread = ?1 RETURNING ",
                run_columns!()
            ))?
            .query_row(
                params![
                    commit.thread,
                    commit.step,
                    to_json(&commit.next)?,
                    commit.status.as_str(),
                    to_json(&commit.joins)?,
                    commit.wakes,
                    commit.wake_at_ms,
                    now_ms,
                    id,
                    sends,
                ],
                StoredRun::from_row,
            )?
        };
    let mut data = json!({
        "node": commit.node,
        "checkpoint": id,
        "status": commit.status.as_str(),
    });
    if let Some(wake_at) = commit.wake_at_ms {
        data["wake_at"] = json!(wake_at);
    }
    record(
        conn,
        now_ms,
        &commit.thread,
        commit.step,
        EventKind::Step,
        data,
    )?;
    if let Some(signal) = commit.consumed_signal {
        compose::deliver(conn, &commit.thread, signal, commit.step)?;
    }
    if commit.status == RunStatus::Completed {
        compose::wake_parent(conn, now_ms, &commit.thread)?;
    }
    // Pins change only by an upgrade, which a lease holder does not make: still read in
    // this transaction, so the position is the stored one whoever upgraded the run.
    let (plugins, tags) = (
        run_plugins(conn, &commit.thread)?,
        run_tags(conn, &commit.thread)?,
    );
    Ok((row, plugins, tags))
}

pub(super) fn setback_step(
    conn: &Connection,
    now_ms: i64,
    setback: &StepSetback,
) -> Result<(), StoreError> {
    let run = fenced(conn, &setback.thread, setback.owner.as_deref())?;
    expect_next_step(&setback.thread, run.step, setback.step)?;
    insert_logs(conn, &setback.thread, &setback.logs)?;
    let mut upsert = conn.prepare_cached(
        "INSERT INTO pending_writes (thread, step, node, update_json, goto, component_digest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (thread, step, node) DO UPDATE SET update_json = excluded.update_json,
             goto = excluded.goto, component_digest = excluded.component_digest",
    )?;
    for write in &setback.pending {
        upsert.execute(params![
            setback.thread,
            setback.step,
            write.node,
            to_json(&write.update)?,
            write.goto,
            write.component_digest,
        ])?;
    }
    let SetbackRow {
        status,
        error,
        error_node,
        wake_at,
        interrupt,
        used_up,
        waiting,
    } = SetbackRow::of(setback)?;
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, error = ?3, error_node = ?4, attempt = ?5, wake_at = ?6,
                         interrupt_json = ?7,
                         resume_json = CASE WHEN ?8 THEN NULL ELSE resume_json END,
                         timed_out = CASE WHEN ?8 THEN 0 ELSE timed_out END,
                         updated_at = ?9, waiting_json = ?10, woken = 0
         WHERE thread = ?1",
    )?
    .execute(params![
        setback.thread,
        status.as_str(),
        error,
        error_node,
        setback.attempt,
        wake_at,
        interrupt,
        used_up,
        now_ms,
        waiting,
    ])?;
    if let Some(signal) = setback.consumed_signal {
        compose::deliver(conn, &setback.thread, signal, setback.step)?;
    }
    match &setback.kind {
        Setback::Waiting { wait, .. } => {
            compose::wake_if_there(conn, now_ms, &setback.thread, wait)?
        }
        Setback::Failed => compose::wake_parent(conn, now_ms, &setback.thread)?,
        _ => {}
    }
    let (kind, data) = match &setback.kind {
        Setback::Failed => (
            EventKind::AttemptFailed,
            json!({"node": setback.node, "attempt": setback.attempt, "error": error,
                   "retry_at": null}),
        ),
        Setback::Retry { wake_at_ms } => (
            EventKind::AttemptFailed,
            json!({"node": setback.node, "attempt": setback.attempt, "error": error,
                   "retry_at": wake_at_ms}),
        ),
        Setback::Interrupted {
            payload,
            deadline_ms,
        } => (
            EventKind::Interrupted,
            json!({"node": setback.node, "payload": payload, "deadline": deadline_ms}),
        ),
        Setback::Waiting { wait, deadline_ms } => (
            EventKind::Waiting,
            Value::Object(wait.event_data(&setback.node, *deadline_ms)),
        ),
    };
    record(conn, now_ms, &setback.thread, run.step, kind, data)?;
    Ok(())
}

pub(super) fn resume_input(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    input_json: Option<&str>,
    status: RunStatus,
    owner: Option<&str>,
) -> Result<RunRecord, StoreError> {
    let run = fenced(conn, thread, owner)?;
    // On the right of SET, columns hold their values from before the update.
    conn.prepare_cached(
        "UPDATE runs SET resume_json = ?2, status = ?3,
             retry_base = CASE WHEN status = 'failed' THEN attempt ELSE retry_base END,
             timed_out = CASE WHEN ?2 IS NULL THEN timed_out ELSE 0 END,
             wake_at = NULL, error = NULL, error_node = NULL, interrupt_json = NULL,
             waiting_json = NULL, woken = 0, updated_at = ?4
         WHERE thread = ?1",
    )?
    .execute(params![thread, input_json, status.as_str(), now_ms])?;
    let (kind, data) = match input_json {
        Some(input) => (
            EventKind::Answered,
            json!({"input": from_json::<Value>(thread, run.step, "resume input", input)?}),
        ),
        None => (EventKind::Resumed, json!({"status": run.status.as_str()})),
    };
    record(conn, now_ms, thread, run.step, kind, data)?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

pub(super) fn cancel(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
) -> Result<RunRecord, StoreError> {
    let run = run_row(conn, thread)?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.to_owned(),
            status: run.status,
        });
    }
    conn.prepare_cached(
        "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = ?2,
                         waiting_json = NULL, woken = 0
         WHERE thread = ?1",
    )?
    .execute(params![thread, now_ms])?;
    record(
        conn,
        now_ms,
        thread,
        run.step,
        EventKind::Cancelled,
        json!({}),
    )?;
    compose::cancel_descendants(conn, now_ms, thread)?;
    compose::wake_parent(conn, now_ms, thread)?;
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

pub(super) fn insert_logs(
    conn: &Connection,
    thread: &str,
    logs: &[LogLine],
) -> Result<(), StoreError> {
    if logs.is_empty() {
        return Ok(());
    }
    // Numbered within the run (migration 0012): the end of its range of the primary key.
    let mut insert = conn.prepare_cached(
        "INSERT INTO logs (thread, id, step, node, attempt, level, message, at)
         VALUES (?1, (SELECT coalesce(max(id), 0) + 1 FROM logs WHERE thread = ?1),
                 ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for line in logs {
        insert.execute(params![
            thread,
            line.step,
            line.node,
            line.attempt,
            line.level,
            line.message,
            line.at_ms
        ])?;
    }
    Ok(())
}

/// Writes the keys a step (0: the input) changed, long values into `blobs` once.
pub(super) fn insert_state(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    step: u64,
    branch: u64,
    values: &[StoredValue],
) -> Result<(), StoreError> {
    if values.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO state_writes (thread, step, key, ord, value_json, blob, branch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (ord, value) in values.iter().enumerate() {
        match &value.blob {
            None => insert.execute(params![
                thread,
                step,
                value.key,
                ord,
                value.json,
                None::<&str>,
                branch
            ])?,
            Some(digest) => {
                conn.prepare_cached(
                    "INSERT INTO blobs (digest, data, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (digest) DO NOTHING",
                )?
                .execute(params![digest, value.json, now_ms])?;
                insert.execute(params![
                    thread,
                    step,
                    value.key,
                    ord,
                    None::<&str>,
                    digest,
                    branch
                ])?
            }
        };
    }
    Ok(())
}
