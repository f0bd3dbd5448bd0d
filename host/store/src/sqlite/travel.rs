//! Time travel on SQLite: forking a run from one of its checkpoints, editing a run's
//! state as a checkpoint of its own, and replaying a run in place from one of its steps
//! (the checkpoints after it move to the superseded tables, on the branch they were
//! written on). Each is one job of the writer, checked before it writes anything.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::events::record;
use super::rows::{from_json, keys_at, load_run, not_found, parse_status, to_json};
use super::runs::{checkpoint_id, insert_state};
use crate::rows::StoredValue;
use crate::{EventKind, ForkRun, ReplayRun, RunRecord, RunStatus, StateEdit, StoreError};

/// What time travel checks and reads of a run.
struct Position {
    step: u64,
    first_step: u64,
    status: RunStatus,
    lease_owner: Option<String>,
    lease_expires_ms: Option<i64>,
    head: Option<String>,
    branch: u64,
}

fn position(conn: &Connection, thread: &str) -> Result<Position, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT step, first_step, status, lease_owner, lease_expires, head, branch
             FROM runs WHERE thread = ?1",
        )?
        .query_row([thread], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, u64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, u64>(6)?,
            ))
        })
        .optional()?;
    let (step, first_step, status, lease_owner, lease_expires_ms, head, branch) =
        row.ok_or_else(|| not_found(thread))?;
    Ok(Position {
        step,
        first_step,
        status: parse_status(thread, &status)?,
        lease_owner,
        lease_expires_ms,
        head,
        branch,
    })
}

impl Position {
    /// Refuses a run that was cancelled or that a live owner executes now.
    fn check_idle(&self, thread: &str, now_ms: i64) -> Result<(), StoreError> {
        let lease = (self.lease_owner.as_deref(), self.lease_expires_ms);
        crate::rows::check_idle(thread, self.status, lease, now_ms)
    }

    /// [`StoreError::StepMissing`] unless the run's current branch has `step`.
    fn check_step(&self, thread: &str, step: u64) -> Result<(), StoreError> {
        crate::rows::check_step(thread, step, self.first_step, self.step)
    }
}

/// The run's checkpoint at `step` on its current branch: what a fork or a replay from it
/// starts at.
struct At {
    id: String,
    next: Vec<String>,
    /// The inputs of the sends among `next` (the `sends_json` column, NULL when none).
    sends_json: Option<String>,
}

/// The run's checkpoint at `step` on its current branch (`None` for a step that has
/// none: 0, the input).
fn checkpoint_at(conn: &Connection, thread: &str, step: u64) -> Result<Option<At>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT id, next_json, sends_json FROM checkpoints WHERE thread = ?1 AND step = ?2",
        )?
        .query_row(params![thread, step], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })
        .optional()?;
    row.map(|(id, next, sends_json)| {
        Ok(At {
            id,
            next: from_json(thread, step, "next-node list", &next)?,
            sends_json,
        })
    })
    .transpose()
}

fn loaded(conn: &Connection, thread: &str) -> Result<RunRecord, StoreError> {
    load_run(conn, thread)?.ok_or_else(|| not_found(thread))
}

pub(super) fn edit_run(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    after_step: u64,
    edit: &StateEdit,
    changes: &[StoredValue],
) -> Result<RunRecord, StoreError> {
    let run = position(conn, thread)?;
    run.check_idle(thread, now_ms)?;
    if after_step != run.step {
        return Err(StoreError::Conflict {
            thread: thread.to_owned(),
            expected_step: run.step + 1,
            found_step: after_step + 1,
        });
    }
    write_edit(conn, now_ms, thread, &run, edit, changes)?;
    loaded(conn, thread)
}

/// Records `edit` as the run's checkpoint after `at.step`, and moves the run to it. Its
/// attempts start afresh (they were of the step the edit took the place of), and so do
/// its pending writes.
fn write_edit(
    conn: &Connection,
    now_ms: i64,
    thread: &str,
    at: &Position,
    edit: &StateEdit,
    changes: &[StoredValue],
) -> Result<(), StoreError> {
    let step = at.step + 1;
    let id = checkpoint_id();
    let next_json = to_json(&edit.next)?;
    let sends_json = kept_sends(conn, thread, at.step, &edit.next)?;
    conn.prepare_cached(
        "INSERT INTO checkpoints (thread, step, id, parent, branch, node, next_json,
                                  component_digest, workflow_digest, created_at, sends_json)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, '', workflow_digest, ?8, ?9
         FROM runs WHERE thread = ?1",
    )?
    .execute(params![
        thread, step, id, at.head, at.branch, edit.node, next_json, now_ms, sends_json
    ])?;
    insert_state(conn, now_ms, thread, step, at.branch, changes)?;
    conn.prepare_cached(
        "UPDATE runs SET step = ?2, next_json = ?3, head = ?4, attempt = 0, retry_base = 0,
                         updated_at = ?5, sends_json = ?6
         WHERE thread = ?1",
    )?
    .execute(params![thread, step, next_json, id, now_ms, sends_json])?;
    conn.prepare_cached("DELETE FROM pending_writes WHERE thread = ?1")?
        .execute([thread])?;
    let data = json!({
        "as_node": edit.as_node,
        "values": Value::Object(edit.values.clone()),
        "checkpoint": id,
        "by": edit.by,
    });
    record(conn, now_ms, thread, step, EventKind::Edited, data)
}

pub(super) fn fork_run(
    conn: &Connection,
    now_ms: i64,
    fork: &ForkRun,
    changes: &[StoredValue],
) -> Result<RunRecord, StoreError> {
    let (source, step, thread) = (fork.source.as_str(), fork.step, fork.thread.as_str());
    let from = position(conn, source)?;
    from.check_step(source, step)?;
    let taken = conn
        .prepare_cached("SELECT status FROM runs WHERE thread = ?1")?
        .query_row([thread], |row| row.get::<_, String>(0))
        .optional()?;
    if let Some(status) = taken {
        return Err(StoreError::ThreadExists {
            thread: thread.to_owned(),
            status: parse_status(thread, &status)?,
        });
    }
    let (from_checkpoint, next, sends_json) = match checkpoint_at(conn, source, step)? {
        Some(at) => (Some(at.id), at.next, at.sends_json),
        None => (None, fork.start.clone(), None),
    };
    // The fork's own first checkpoint, unless it starts from the input.
    let head = from_checkpoint.as_ref().map(|_| checkpoint_id());
    let next_json = to_json(&next)?;
    conn.prepare_cached(
        "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status, step,
                           next_json, attempt, created_at, updated_at, first_step, head, branch,
                           seq, sends_json)
         SELECT ?2, workflow_name, workflow_digest, workflow_path, 'pending', ?3, ?4, 0, ?5,
                ?5, ?3, ?6, 0, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs), ?7
         FROM runs WHERE thread = ?1",
    )?
    .execute(params![
        source, thread, step, next_json, now_ms, head, sends_json
    ])?;
    if let Some(head) = &head {
        conn.prepare_cached(
            "INSERT INTO checkpoints (thread, step, id, parent, branch, node, next_json,
                                      component_digest, workflow_digest, created_at, sends_json)
             SELECT ?2, ?3, ?4, ?5, 0, 'fork', ?6, '', workflow_digest, ?7, ?8
             FROM runs WHERE thread = ?1",
        )?
        .execute(params![
            source,
            thread,
            step,
            head,
            from_checkpoint,
            next_json,
            now_ms,
            sends_json
        ])?;
    }
    copy_state(conn, source, step, thread)?;
    conn.prepare_cached(
        "INSERT INTO run_plugins (thread, plugin, digest)
         SELECT ?2, plugin, digest FROM run_plugins WHERE thread = ?1",
    )?
    .execute(params![source, thread])?;
    conn.prepare_cached(
        "INSERT INTO run_tags (thread, key, value)
         SELECT ?2, key, value FROM run_tags WHERE thread = ?1",
    )?
    .execute(params![source, thread])?;
    let data = json!({
        "from": source,
        "from_step": step,
        "from_checkpoint": from_checkpoint,
        "by": fork.by,
    });
    record(conn, now_ms, thread, step, EventKind::Forked, data)?;
    if let Some(edit) = &fork.edit {
        let at = position(conn, thread)?;
        write_edit(conn, now_ms, thread, &at, edit, changes)?;
    }
    loaded(conn, thread)
}

/// The send inputs an edit keeps ([`crate::rows::kept_sends`]).
fn kept_sends(
    conn: &Connection,
    thread: &str,
    step: u64,
    next: &[String],
) -> Result<Option<String>, StoreError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT sends_json FROM runs WHERE thread = ?1")?
        .query_row([thread], |row| row.get(0))?;
    crate::rows::kept_sends(thread, step, stored.as_deref(), next)
}

/// Writes `source`'s whole state after `step` as `thread`'s writes of that step: large
/// values by their digest (shared, not copied), keys in the order the source has them
/// (of their first write). Index seeks per key, however long the source's history (one
/// statement that grouped the source's writes by key was planned as a scan per key).
fn copy_state(conn: &Connection, source: &str, step: u64, thread: &str) -> Result<(), StoreError> {
    let mut first_write = conn.prepare_cached(
        "SELECT step, ord FROM state_writes WHERE thread = ?1 AND key = ?2
         ORDER BY step LIMIT 1",
    )?;
    let mut latest = conn.prepare_cached(
        "SELECT value_json, blob FROM state_writes WHERE thread = ?1 AND key = ?2 AND step <= ?3
         ORDER BY step DESC LIMIT 1",
    )?;
    let mut rows = Vec::new();
    for key in keys_at(conn, source, step)? {
        let first: (i64, i64) =
            first_write.query_row(params![source, key], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let (json, blob): (Option<String>, Option<String>) = latest
            .query_row(params![source, key, step], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
        rows.push((first, key, json, blob));
    }
    rows.sort_by_key(|(first, ..)| *first);
    let mut insert = conn.prepare_cached(
        "INSERT INTO state_writes (thread, step, key, ord, value_json, blob, branch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    )?;
    for (ord, (_, key, json, blob)) in rows.into_iter().enumerate() {
        insert.execute(params![thread, step, key, ord, json, blob])?;
    }
    Ok(())
}

pub(super) fn replay_run(
    conn: &Connection,
    now_ms: i64,
    replay: &ReplayRun,
) -> Result<RunRecord, StoreError> {
    let thread = replay.thread.as_str();
    let run = position(conn, thread)?;
    run.check_idle(thread, now_ms)?;
    run.check_step(thread, replay.from_step)?;
    let (head, next, sends_json) = match checkpoint_at(conn, thread, replay.from_step)? {
        Some(at) => (Some(at.id), at.next, at.sends_json),
        None => (None, replay.start.clone(), None),
    };
    let branch = run.branch + 1;
    // The later checkpoints and their writes keep the branch they were written on.
    let superseded = conn
        .prepare_cached(
            "INSERT INTO superseded_checkpoints (thread, step, id, parent, branch, node,
                                                 next_json, component_digest,
                                                 workflow_digest, created_at)
             SELECT thread, step, id, parent, branch, node, next_json, component_digest,
                    workflow_digest, created_at
             FROM checkpoints WHERE thread = ?1 AND step > ?2",
        )?
        .execute(params![thread, replay.from_step])?;
    conn.prepare_cached("DELETE FROM checkpoints WHERE thread = ?1 AND step > ?2")?
        .execute(params![thread, replay.from_step])?;
    conn.prepare_cached(
        "INSERT INTO superseded_writes (thread, step, key, ord, value_json, blob, branch)
         SELECT thread, step, key, ord, value_json, blob, branch
         FROM state_writes WHERE thread = ?1 AND step > ?2",
    )?
    .execute(params![thread, replay.from_step])?;
    conn.prepare_cached("DELETE FROM state_writes WHERE thread = ?1 AND step > ?2")?
        .execute(params![thread, replay.from_step])?;
    conn.prepare_cached(
        "INSERT INTO branches (thread, branch, parent_branch, from_step, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        thread,
        branch,
        run.branch,
        replay.from_step,
        now_ms
    ])?;
    conn.prepare_cached(
        "UPDATE runs SET step = ?2, next_json = ?3, head = ?4, branch = ?5,
                         status = 'pending', error = NULL, error_node = NULL,
                         interrupt_json = NULL, resume_json = NULL, wake_at = NULL,
                         attempt = 0, retry_base = 0, timed_out = 0, joins_json = '{}',
                         updated_at = ?6, sends_json = ?7, waiting_json = NULL, woken = 0
         WHERE thread = ?1",
    )?
    .execute(params![
        thread,
        replay.from_step,
        to_json(&next)?,
        head,
        branch,
        now_ms,
        sends_json
    ])?;
    conn.prepare_cached("DELETE FROM pending_writes WHERE thread = ?1")?
        .execute([thread])?;
    let data = json!({
        "from_step": replay.from_step,
        "branch": branch,
        "superseded": superseded,
        "by": replay.by,
    });
    record(
        conn,
        now_ms,
        thread,
        replay.from_step,
        EventKind::Replayed,
        data,
    )?;
    loaded(conn, thread)
}
