//! The hot path: the step commits of a batch, written together. However many runs'
//! steps the writer has gathered, their commit is one fence (the runs' rows read and
//! locked in one statement), then one statement per table for all of them (checkpoints,
//! state values, logs, pending writes, the runs' new positions, read back with their
//! pins), sent together: a few round trips and statements per batch, not per step.
//!
//! Each commit is checked on its own (the run exists, is not cancelled, its lease is the
//! committer's, the step follows the stored one), and one that fails a check is left out
//! with its error, before anything is written. Two commits of one run in a batch (no
//! runtime sends them, a run's next step waits for its commit) fail on the checkpoint's
//! key and send the batch back to be written command by command.

use std::collections::{BTreeMap, HashMap};

use deadpool_postgres::{GenericClient, Transaction};

use serde_json::{Map, Value};

use super::events::{EventRows, data};
use super::many::{LogRows, StateRows};
use super::reads::{signed, unsigned};
use super::rows::*;
use crate::{EventKind, RunStatus, StepCommit, StoreError};

/// A step's commit and its encoded changes.
pub(super) struct Commit {
    pub commit: StepCommit,
    pub changes: Vec<StoredValue>,
}

/// What a commit gives back: the run as the commit left it, its pins and tags.
pub(super) struct Committed {
    pub run: PgRun,
    pub plugins: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// The columns of [`run_columns!`] of the `runs` row `r`, for a RETURNING clause where
/// other tables' columns have the same names.
macro_rules! r_run_columns {
    () => {
        "r.thread, r.workflow_name, r.workflow_digest, r.workflow_path, r.status, r.step,
         r.next_json, r.error, r.error_node, r.attempt, r.created_at, r.updated_at, r.wake_at,
         r.interrupt_json, r.resume_json, r.timed_out, r.wakes, r.retry_base, r.joins_json,
         r.lease_owner, r.lease_expires, r.lease_epoch, r.head, r.branch, r.parent,
         r.waiting_json, r.sends_json"
    };
}

/// Writes `commits` in `tx`; each one's result, in order: what it committed, or why it
/// was refused. `Err` if a statement failed (the transaction is then aborted).
pub(super) async fn commit_steps(
    commits: &[&Commit],
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<Vec<Result<Committed, StoreError>>, StoreError> {
    let threads: Vec<&str> = commits.iter().map(|c| c.commit.thread.as_str()).collect();
    let fence = tx
        .prepare_cached(
            "SELECT thread, step, status, lease_owner, branch FROM runs
             WHERE thread = ANY($1::text[]) ORDER BY thread FOR UPDATE",
        )
        .await?;
    let stored: HashMap<String, Stored> = tx
        .query(&fence, &[&threads])
        .await?
        .iter()
        .map(|row| {
            let stored = Stored {
                step: unsigned(row.get(1), "step")?,
                status: row.get(2),
                lease_owner: row.get(3),
                branch: unsigned(row.get(4), "branch")?,
            };
            Ok((row.get(0), stored))
        })
        .collect::<Result<_, StoreError>>()?;
    let checks: Vec<Result<(), StoreError>> = commits
        .iter()
        .map(|c| check(&c.commit, stored.get(&c.commit.thread)))
        .collect();
    let accepted: Vec<(&Commit, u64)> = commits
        .iter()
        .zip(&checks)
        .filter(|(_, check)| check.is_ok())
        .map(|(commit, _)| {
            let branch = stored.get(&commit.commit.thread).map_or(0, |s| s.branch);
            (*commit, branch)
        })
        .collect();
    let mut written = if accepted.is_empty() {
        HashMap::new()
    } else {
        write(&accepted, tx, now_ms).await?
    };
    Ok(commits
        .iter()
        .zip(checks)
        .map(|(c, check)| {
            check?;
            written.remove(&c.commit.thread).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "thread {:?}: the commit's row was not written back",
                    c.commit.thread
                ))
            })
        })
        .collect())
}

/// What the fence reads of a run's row.
struct Stored {
    step: u64,
    status: String,
    lease_owner: Option<String>,
    branch: u64,
}

/// The checks of a commit against its run's stored row (`None`: no such run).
fn check(commit: &StepCommit, stored: Option<&Stored>) -> Result<(), StoreError> {
    let thread = &commit.thread;
    let Stored {
        step,
        status,
        lease_owner: owner,
        ..
    } = stored.ok_or_else(|| not_found(thread))?;
    if parse_status(thread, status)? == RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.clone(),
        });
    }
    if let Some(committer) = &commit.owner
        && owner.as_deref() != Some(committer.as_str())
    {
        return Err(StoreError::LeaseLost {
            thread: thread.clone(),
            owner: committer.clone(),
        });
    }
    if commit.step != step + 1 {
        return Err(StoreError::Conflict {
            thread: thread.clone(),
            expected_step: step + 1,
            found_step: commit.step,
        });
    }
    Ok(())
}

/// Writes the accepted commits (each with its run's branch); the runs as written, by
/// thread.
async fn write(
    accepted: &[(&Commit, u64)],
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<HashMap<String, Committed>, StoreError> {
    // Each checkpoint's parent is its run's head before the commit (the INSERT runs before
    // the UPDATE that moves the head: statements sent together run in order).
    let checkpoints = tx
        .prepare_cached(
            "INSERT INTO checkpoints (thread, step, node, next_json, component_digest,
                                      workflow_digest, created_at, id, parent, branch,
                                      sends_json)
             SELECT c.thread, c.step, c.node, c.next_json, c.component_digest,
                    r.workflow_digest, $6, c.id, r.head, r.branch, c.sends_json
             FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                         $7::text[], $8::text[])
                  AS c (thread, step, node, next_json, component_digest, id, sends_json)
             JOIN runs r ON r.thread = c.thread",
        )
        .await?;
    let commits: Vec<&Commit> = accepted.iter().map(|(commit, _)| *commit).collect();
    let ids: Vec<String> = commits.iter().map(|_| new_checkpoint_id()).collect();
    let events = EventRows::prepare(tx).await?;
    let state = StateRows::prepare(tx).await?;
    let logs = LogRows::prepare(tx).await?;
    let pending = tx
        .prepare_cached(
            "DELETE FROM pending_writes p USING unnest($1::text[], $2::int8[]) AS c (thread, step)
             WHERE p.thread = c.thread AND p.step <= c.step",
        )
        .await?;
    let update = tx
        .prepare_cached(concat!(
            "UPDATE runs r SET step = c.step, next_json = c.next_json, status = c.status,
                 joins_json = c.joins_json, wakes = c.wakes, wake_at = c.wake_at,
                 attempt = 0, retry_base = 0, error = NULL, error_node = NULL,
                 interrupt_json = NULL, resume_json = NULL, timed_out = 0, updated_at = $8,
                 -- A completed run needs no lease: releasing it here saves the release
                 -- its own commit.
                 lease_owner = CASE WHEN c.status = 'completed' THEN NULL ELSE r.lease_owner END,
                 lease_expires = CASE WHEN c.status = 'completed' THEN NULL
                                      ELSE r.lease_expires END,
                 head = c.id, sends_json = c.sends_json, waiting_json = NULL, woken = 0
             FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                         $6::int8[], $7::int8[], $9::text[], $10::text[])
                  AS c (thread, step, next_json, status, joins_json, wakes, wake_at, id,
                        sends_json)
             WHERE r.thread = c.thread
             RETURNING ",
            r_run_columns!()
        ))
        .await?;
    // The runs' pins and tags, in one statement.
    let pins = tx
        .prepare_cached(
            "SELECT thread, plugin, digest, TRUE FROM run_plugins WHERE thread = ANY($1::text[])
             UNION ALL
             SELECT thread, key, value, FALSE FROM run_tags WHERE thread = ANY($1::text[])",
        )
        .await?;

    let threads: Vec<&str> = commits.iter().map(|c| c.commit.thread.as_str()).collect();
    let steps: Vec<i64> = commits.iter().map(|c| signed(c.commit.step)).collect();
    let nodes: Vec<&str> = commits.iter().map(|c| c.commit.node.as_str()).collect();
    let next_json = commits
        .iter()
        .map(|c| to_json(&c.commit.next))
        .collect::<Result<Vec<_>, _>>()?;
    let components: Vec<&str> = commits
        .iter()
        .map(|c| c.commit.component_digest.as_str())
        .collect();
    let statuses: Vec<&str> = commits.iter().map(|c| c.commit.status.as_str()).collect();
    let joins_json = commits
        .iter()
        .map(|c| to_json(&c.commit.joins))
        .collect::<Result<Vec<_>, _>>()?;
    let wakes: Vec<i64> = commits.iter().map(|c| i64::from(c.commit.wakes)).collect();
    let wake_at: Vec<Option<i64>> = commits.iter().map(|c| c.commit.wake_at_ms).collect();
    let sends_json = commits
        .iter()
        .map(|c| crate::rows::sends_json(&c.commit.send_inputs))
        .collect::<Result<Vec<_>, _>>()?;
    let mut state_rows = StateRows::default();
    let mut log_rows = LogRows::default();
    let mut event_rows = EventRows::default();
    for ((c, branch), id) in accepted.iter().zip(&ids) {
        state_rows.add(&c.commit.thread, c.commit.step, *branch, &c.changes);
        log_rows.add(&c.commit.thread, &c.commit.logs);
        event_rows.add(
            &c.commit.thread,
            c.commit.step,
            EventKind::Step,
            step_event(&c.commit, id),
        )?;
    }

    type Params<'a, const N: usize> = [&'a (dyn tokio_postgres::types::ToSql + Sync); N];
    let checkpoint_params: Params<8> = [
        &threads,
        &steps,
        &nodes,
        &next_json,
        &components,
        &now_ms,
        &ids,
        &sends_json,
    ];
    let pending_params: Params<2> = [&threads, &steps];
    let update_params: Params<10> = [
        &threads,
        &steps,
        &next_json,
        &statuses,
        &joins_json,
        &wakes,
        &wake_at,
        &now_ms,
        &ids,
        &sends_json,
    ];
    let pins_params: Params<1> = [&threads];
    // Sent together (prepared above, so in this order), answered in one round trip.
    // The events last: their lock is held from there until the commit (see `events`).
    let (_, _, _, _, rows, pins, _) = tokio::try_join!(
        tx.execute(&checkpoints, &checkpoint_params),
        state_rows.execute(tx, &state, now_ms),
        log_rows.execute(tx, &logs),
        tx.execute(&pending, &pending_params),
        tx.query(&update, &update_params),
        tx.query(&pins, &pins_params),
        event_rows.execute(tx, &events, now_ms),
    )?;
    // Composition's writes, rare: only when a commit received a signal or completed a run.
    for c in &commits {
        if let Some(signal) = c.commit.consumed_signal {
            super::compose::deliver(tx, &c.commit.thread, signal, c.commit.step).await?;
        }
    }
    let completed: Vec<&str> = commits
        .iter()
        .filter(|c| c.commit.status == RunStatus::Completed)
        .map(|c| c.commit.thread.as_str())
        .collect();
    super::compose::wake_parents(tx, now_ms, &completed).await?;
    let mut pinned: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut tagged: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for row in &pins {
        let into = if row.get(3) { &mut pinned } else { &mut tagged };
        into.entry(row.get(0))
            .or_default()
            .insert(row.get(1), row.get(2));
    }
    rows.iter()
        .map(|row| {
            let run = PgRun::from_pg(row)?;
            let plugins = pinned.remove(run.thread()).unwrap_or_default();
            let tags = tagged.remove(run.thread()).unwrap_or_default();
            Ok((run.thread().to_owned(), Committed { run, plugins, tags }))
        })
        .collect()
}

/// A new checkpoint id: 16 lowercase hex digits, random (unique in the database: a
/// collision fails the insert on the id's unique index, and the step is tried again).
pub(super) fn new_checkpoint_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// The data of a commit's `step` event.
fn step_event(commit: &StepCommit, checkpoint: &str) -> Map<String, Value> {
    let mut data = data([
        ("node", Value::from(commit.node.as_str())),
        ("checkpoint", Value::from(checkpoint)),
        ("status", Value::from(commit.status.as_str())),
    ]);
    if let Some(wake_at) = commit.wake_at_ms {
        data.insert("wake_at".to_owned(), Value::from(wake_at));
    }
    data
}
