//! Time travel on Postgres: forking a run from one of its checkpoints, editing a run's
//! state as a checkpoint of its own, and replaying a run in place from one of its steps
//! (the checkpoints after it move to the superseded tables, on the branch they were
//! written on). Each is one command of the writer, checked (with the run's row locked)
//! before it writes anything.

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;

use super::commits::new_checkpoint_id;
use super::events::{EventRows, data, record};
use super::many::StateRows;
use super::reads::{signed, unsigned};
use super::rows::*;
use crate::{EventKind, ForkRun, ReplayRun, RunRecord, RunStatus, StateEdit, StoreError};

/// A statement's parameters, bound before statements are sent together.
type Params<'a, const N: usize> = [&'a (dyn tokio_postgres::types::ToSql + Sync); N];

/// What time travel checks and reads of a run, its row locked.
struct Position {
    step: u64,
    first_step: u64,
    status: RunStatus,
    lease_owner: Option<String>,
    lease_expires_ms: Option<i64>,
    head: Option<String>,
    branch: u64,
    workflow_digest: String,
}

/// The run's position, its row locked until the transaction ends; [`StoreError::NotFound`]
/// if there is none.
async fn position(tx: &Transaction<'_>, thread: &str) -> Result<Position, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT step, first_step, status, lease_owner, lease_expires, head, branch,
                    workflow_digest
             FROM runs WHERE thread = $1 FOR UPDATE",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&thread])
        .await?
        .ok_or_else(|| not_found(thread))?;
    Ok(Position {
        step: unsigned(row.get(0), "step")?,
        first_step: unsigned(row.get(1), "first step")?,
        status: parse_status(thread, row.get(2))?,
        lease_owner: row.get(3),
        lease_expires_ms: row.get(4),
        head: row.get(5),
        branch: unsigned(row.get(6), "branch")?,
        workflow_digest: row.get(7),
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

/// The id, next node(s) and send inputs (`sends_json`) of the run's checkpoint at `step`
/// on its current branch (`None` for step 0, the input, which has none).
async fn checkpoint_at(
    tx: &Transaction<'_>,
    thread: &str,
    step: u64,
) -> Result<Option<(String, Vec<String>, Option<String>)>, StoreError> {
    if step == 0 {
        return Ok(None);
    }
    let stmt = tx
        .prepare_cached(
            "SELECT id, next_json, sends_json FROM checkpoints WHERE thread = $1 AND step = $2",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&thread, &signed(step)])
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {thread:?}: the checkpoint of step {step} is missing"
            ))
        })?;
    let next = from_json(thread, step, "next-node list", row.get(1))?;
    Ok(Some((row.get(0), next, row.get(2))))
}

/// A state edit and its encoded changes.
pub(super) struct Edit {
    pub thread: String,
    pub after_step: u64,
    pub edit: StateEdit,
    pub changes: Vec<StoredValue>,
}

pub(super) async fn edit_run(
    edit: &Edit,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let thread = edit.thread.as_str();
    let run = position(tx, thread).await?;
    run.check_idle(thread, now_ms)?;
    if edit.after_step != run.step {
        return Err(StoreError::Conflict {
            thread: thread.to_owned(),
            expected_step: run.step + 1,
            found_step: edit.after_step + 1,
        });
    }
    let at = Head {
        step: run.step,
        head: run.head.as_deref(),
        branch: run.branch,
        workflow_digest: &run.workflow_digest,
    };
    write_edit(tx, now_ms, thread, at, &edit.edit, &edit.changes).await?;
    existing_run(tx, thread).await
}

/// Where an edit goes: after the run's `step`, whose checkpoint is `head`.
#[derive(Clone, Copy)]
struct Head<'a> {
    step: u64,
    head: Option<&'a str>,
    branch: u64,
    workflow_digest: &'a str,
}

/// Records `edit` as the run's checkpoint after `at`, and moves the run to it. Its
/// attempts start afresh (they were of the step the edit took the place of), and so do
/// its pending writes.
async fn write_edit(
    tx: &Transaction<'_>,
    now_ms: i64,
    thread: &str,
    at: Head<'_>,
    edit: &StateEdit,
    changes: &[StoredValue],
) -> Result<(), StoreError> {
    let step = at.step + 1;
    let id = new_checkpoint_id();
    let next_json = to_json(&edit.next)?;
    let stored = tx
        .prepare_cached("SELECT sends_json FROM runs WHERE thread = $1")
        .await?;
    let stored: Option<String> = tx.query_one(&stored, &[&thread]).await?.get(0);
    let sends_json = crate::rows::kept_sends(thread, at.step, stored.as_deref(), &edit.next)?;
    let checkpoint = tx
        .prepare_cached(
            "INSERT INTO checkpoints (thread, step, node, next_json, component_digest,
                                      workflow_digest, created_at, id, parent, branch,
                                      sends_json)
             VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10)",
        )
        .await?;
    let state = StateRows::prepare(tx).await?;
    let mut state_rows = StateRows::default();
    state_rows.add(thread, step, at.branch, changes);
    let update = tx
        .prepare_cached(
            "UPDATE runs SET step = $2, next_json = $3, head = $4, attempt = 0, retry_base = 0,
                             updated_at = $5, sends_json = $6
             WHERE thread = $1",
        )
        .await?;
    let pending = tx
        .prepare_cached("DELETE FROM pending_writes WHERE thread = $1")
        .await?;
    let events = EventRows::prepare(tx).await?;
    let mut event_rows = EventRows::default();
    event_rows.add(
        thread,
        step,
        EventKind::Edited,
        data([
            ("as_node", Value::from(edit.as_node.clone())),
            ("values", Value::Object(edit.values.clone())),
            ("checkpoint", Value::from(id.as_str())),
            ("by", Value::from(edit.by.as_str())),
        ]),
    )?;
    let (step, branch) = (signed(step), signed(at.branch));
    let checkpoint_params: Params<10> = [
        &thread,
        &step,
        &edit.node,
        &next_json,
        &at.workflow_digest,
        &now_ms,
        &id,
        &at.head,
        &branch,
        &sends_json,
    ];
    let update_params: Params<6> = [&thread, &step, &next_json, &id, &now_ms, &sends_json];
    let pending_params: Params<1> = [&thread];
    tokio::try_join!(
        tx.execute(&checkpoint, &checkpoint_params),
        state_rows.execute(tx, &state, now_ms),
        tx.execute(&update, &update_params),
        tx.execute(&pending, &pending_params),
        event_rows.execute(tx, &events, now_ms),
    )?;
    Ok(())
}

/// A fork and the encoded changes of its edit, if any.
pub(super) struct Fork {
    pub fork: ForkRun,
    pub changes: Vec<StoredValue>,
}

pub(super) async fn fork_run(
    fork: &Fork,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let ForkRun {
        source,
        step,
        thread,
        ..
    } = &fork.fork;
    let (source, step, thread) = (source.as_str(), *step, thread.as_str());
    // Shared: the source may be forked twice at once, and goes on meanwhile (its later
    // steps do not change the one forked from).
    let stmt = tx
        .prepare_cached(
            "SELECT step, first_step, workflow_name, workflow_digest, workflow_path FROM runs
             WHERE thread = $1 FOR SHARE",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&source])
        .await?
        .ok_or_else(|| not_found(source))?;
    let (last, first): (u64, u64) = (
        unsigned(row.get(0), "step")?,
        unsigned(row.get(1), "first step")?,
    );
    crate::rows::check_step(source, step, first, last)?;
    let taken = tx
        .prepare_cached("SELECT status FROM runs WHERE thread = $1")
        .await?;
    if let Some(taken) = tx.query_opt(&taken, &[&thread]).await? {
        return Err(StoreError::ThreadExists {
            thread: thread.to_owned(),
            status: parse_status(thread, taken.get(0))?,
        });
    }
    let workflow_digest: String = row.get(3);
    let (from_checkpoint, next, sends_json) = match checkpoint_at(tx, source, step).await? {
        Some((id, next, sends_json)) => (Some(id), next, sends_json),
        None => (None, fork.fork.start.clone(), None),
    };
    // The fork's own first checkpoint, unless it starts from the input.
    let head = from_checkpoint.as_ref().map(|_| new_checkpoint_id());
    let next_json = to_json(&next)?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, attempt, created_at, updated_at, first_step,
                               head, branch, sends_json)
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, 0, $7, $7, $5, $8, 0, $9)",
        )
        .await?;
    let checkpoint = tx
        .prepare_cached(
            "INSERT INTO checkpoints (thread, step, node, next_json, component_digest,
                                      workflow_digest, created_at, id, parent, branch,
                                      sends_json)
             SELECT $1, $2, 'fork', $3, '', $4, $5, $6, $7, 0, $8 WHERE $6::text IS NOT NULL",
        )
        .await?;
    // The source's whole state at the step, written as the fork's writes of that step:
    // large values by their digest (shared), keys in the order the source has them.
    let state = tx
        .prepare_cached(
            "INSERT INTO state_writes (thread, step, key, ord, value_json, blob, branch)
             WITH RECURSIVE keys (key) AS (
                 SELECT min(key) FROM state_writes WHERE thread = $1 AND step <= $2
                 UNION ALL
                 SELECT (SELECT min(w.key) FROM state_writes w
                         WHERE w.thread = $1 AND w.key > keys.key AND w.step <= $2)
                 FROM keys WHERE keys.key IS NOT NULL
             )
             SELECT $3, $2, k.key,
                    row_number() OVER (ORDER BY first.step, first.ord) - 1,
                    latest.value_json, latest.blob, 0
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
             WHERE k.key IS NOT NULL",
        )
        .await?;
    let pins = tx
        .prepare_cached(
            "INSERT INTO run_plugins (thread, plugin, digest)
             SELECT $2, plugin, digest FROM run_plugins WHERE thread = $1",
        )
        .await?;
    let tags = tx
        .prepare_cached(
            "INSERT INTO run_tags (thread, key, value)
             SELECT $2, key, value FROM run_tags WHERE thread = $1",
        )
        .await?;
    let workflow_name: String = row.get(2);
    let workflow_path: String = row.get(4);
    let at = signed(step);
    let insert_params: Params<9> = [
        &thread,
        &workflow_name,
        &workflow_digest,
        &workflow_path,
        &at,
        &next_json,
        &now_ms,
        &head,
        &sends_json,
    ];
    let checkpoint_params: Params<8> = [
        &thread,
        &at,
        &next_json,
        &workflow_digest,
        &now_ms,
        &head,
        &from_checkpoint,
        &sends_json,
    ];
    let state_params: Params<3> = [&source, &at, &thread];
    let copy_params: Params<2> = [&source, &thread];
    tokio::try_join!(
        tx.execute(&insert, &insert_params),
        tx.execute(&checkpoint, &checkpoint_params),
        tx.execute(&state, &state_params),
        tx.execute(&pins, &copy_params),
        tx.execute(&tags, &copy_params),
    )?;
    let event = data([
        ("from", Value::from(source)),
        ("from_step", Value::from(step)),
        ("from_checkpoint", Value::from(from_checkpoint.clone())),
        ("by", Value::from(fork.fork.by.as_str())),
    ]);
    record(tx, now_ms, thread, step, EventKind::Forked, event).await?;
    if let Some(edit) = &fork.fork.edit {
        let at = Head {
            step,
            head: head.as_deref(),
            branch: 0,
            workflow_digest: &workflow_digest,
        };
        write_edit(tx, now_ms, thread, at, edit, &fork.changes).await?;
    }
    existing_run(tx, thread).await
}

pub(super) async fn replay_run(
    replay: &ReplayRun,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let thread = replay.thread.as_str();
    let run = position(tx, thread).await?;
    run.check_idle(thread, now_ms)?;
    run.check_step(thread, replay.from_step)?;
    let (head, next, sends_json) = match checkpoint_at(tx, thread, replay.from_step).await? {
        Some((id, next, sends_json)) => (Some(id), next, sends_json),
        None => (None, replay.start.clone(), None),
    };
    let branch = run.branch + 1;
    // The later checkpoints and their writes keep the branch they were written on.
    let checkpoints = tx
        .prepare_cached(
            "WITH moved AS (DELETE FROM checkpoints WHERE thread = $1 AND step > $2 RETURNING *)
             INSERT INTO superseded_checkpoints (thread, step, node, next_json, component_digest,
                                                 workflow_digest, created_at, id, parent, branch)
             SELECT thread, step, node, next_json, component_digest, workflow_digest,
                    created_at, id, parent, branch
             FROM moved",
        )
        .await?;
    let writes = tx
        .prepare_cached(
            "WITH moved AS (DELETE FROM state_writes WHERE thread = $1 AND step > $2 RETURNING *)
             INSERT INTO superseded_writes (thread, step, key, ord, value_json, blob, branch)
             SELECT thread, step, key, ord, value_json, blob, branch FROM moved",
        )
        .await?;
    let branches = tx
        .prepare_cached(
            "INSERT INTO branches (thread, branch, parent_branch, from_step, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let update = tx
        .prepare_cached(
            "UPDATE runs SET step = $2, next_json = $3, head = $4, branch = $5,
                             status = 'pending', error = NULL, error_node = NULL,
                             interrupt_json = NULL, resume_json = NULL, wake_at = NULL,
                             attempt = 0, retry_base = 0, timed_out = 0, joins_json = '{}',
                             updated_at = $6, sends_json = $7, waiting_json = NULL, woken = 0
             WHERE thread = $1",
        )
        .await?;
    let pending = tx
        .prepare_cached("DELETE FROM pending_writes WHERE thread = $1")
        .await?;
    let from = signed(replay.from_step);
    let (new_branch, old_branch) = (signed(branch), signed(run.branch));
    let next_json = to_json(&next)?;
    let move_params: Params<2> = [&thread, &from];
    let branch_params: Params<5> = [&thread, &new_branch, &old_branch, &from, &now_ms];
    let update_params: Params<7> = [
        &thread,
        &from,
        &next_json,
        &head,
        &new_branch,
        &now_ms,
        &sends_json,
    ];
    let pending_params: Params<1> = [&thread];
    let (superseded, _, _, _, _) = tokio::try_join!(
        tx.execute(&checkpoints, &move_params),
        tx.execute(&writes, &move_params),
        tx.execute(&branches, &branch_params),
        tx.execute(&update, &update_params),
        tx.execute(&pending, &pending_params),
    )?;
    let event = data([
        ("from_step", Value::from(replay.from_step)),
        ("branch", Value::from(branch)),
        ("superseded", Value::from(superseded)),
        ("by", Value::from(replay.by.as_str())),
    ]);
    record(
        tx,
        now_ms,
        thread,
        replay.from_step,
        EventKind::Replayed,
        event,
    )
    .await?;
    existing_run(tx, thread).await
}
