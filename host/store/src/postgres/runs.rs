//! The writes that move a run: creating it, committing a step or recording a setback,
//! resuming, cancelling and upgrading it, and storing component bytes. Each runs in the
//! writer's transaction: it first reads what it must check, with the run's row locked
//! (`FOR UPDATE`, so another host's write waits for this transaction), refuses before it
//! writes anything if a check fails, and then sends its writes together (tokio-postgres
//! pipelines statements that are issued at once: one round trip, not one per statement).

use std::collections::BTreeMap;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

/// A statement's parameters, bound before statements are sent together.
type Params<'a, const N: usize> = [&'a (dyn ToSql + Sync); N];

use super::reads::signed;
use super::rows::*;
use crate::{
    LogLine, NewRun, RunRecord, RunStatus, RunUpgrade, Setback, StepCommit, StepSetback, StoreError,
};

/// What the writes check before writing.
pub(super) struct RunRow {
    pub step: u64,
    pub status: RunStatus,
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
}

/// The run's position, status and lease, its row locked until the transaction ends;
/// [`StoreError::NotFound`] if there is no run.
pub(super) async fn run_row(tx: &Transaction<'_>, thread: &str) -> Result<RunRow, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT step, status, lease_owner, lease_expires FROM runs WHERE thread = $1
             FOR UPDATE",
        )
        .await?;
    let row = tx
        .query_opt(&stmt, &[&thread])
        .await?
        .ok_or_else(|| not_found(thread))?;
    let status: String = row.get(1);
    Ok(RunRow {
        step: super::reads::unsigned(row.get(0), "step")?,
        status: parse_status(thread, &status)?,
        lease_owner: row.get(2),
        lease_expires_ms: row.get(3),
    })
}

/// The run, unless it was cancelled ([`StoreError::Cancelled`]) or `owner` is given and
/// does not hold its lease ([`StoreError::LeaseLost`]): the fence of every write made
/// under a lease.
pub(super) async fn fenced(
    tx: &Transaction<'_>,
    thread: &str,
    owner: Option<&str>,
) -> Result<RunRow, StoreError> {
    let run = run_row(tx, thread).await?;
    if run.status == RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    if let Some(owner) = owner
        && run.lease_owner.as_deref() != Some(owner)
    {
        return Err(StoreError::LeaseLost {
            thread: thread.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(run)
}

fn expect_next_step(thread: &str, stored: u64, step: u64) -> Result<(), StoreError> {
    let expected = stored + 1;
    if step == expected {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            thread: thread.to_owned(),
            expected_step: expected,
            found_step: step,
        })
    }
}

/// A new run and its encoded input.
pub(super) struct Creation {
    pub run: NewRun,
    pub input: Vec<StoredValue>,
}

pub(super) async fn create_run(
    create: &Creation,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let run = &create.run;
    let taken = tx
        .prepare_cached("SELECT status FROM runs WHERE thread = $1")
        .await?;
    if let Some(row) = tx.query_opt(&taken, &[&run.thread]).await? {
        let status: String = row.get(0);
        return Err(StoreError::ThreadExists {
            thread: run.thread.clone(),
            status: parse_status(&run.thread, &status)?,
        });
    }
    // The versions to pin must be stored (and stay, while this transaction lasts: a gc
    // cannot delete a row locked FOR KEY SHARE).
    let digests: Vec<&str> = run.plugins.values().map(String::as_str).collect();
    if !digests.is_empty() {
        let stored = tx
            .prepare_cached(
                "SELECT digest FROM components WHERE digest = ANY($1::text[]) FOR KEY SHARE",
            )
            .await?;
        let stored: Vec<String> = tx
            .query(&stored, &[&digests])
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let Some(missing) = digests.iter().find(|d| !stored.iter().any(|s| s == *d)) {
            return Err(StoreError::ComponentMissing {
                digest: (*missing).to_owned(),
            });
        }
    }
    // A run created leased is driven at once by its creator.
    let status = match run.lease {
        Some(_) => RunStatus::Running,
        None => RunStatus::Pending,
    };
    let lease_owner = run.lease.as_ref().map(|(owner, _)| owner.clone());
    let lease_expires = run.lease.as_ref().map(|(_, ms)| now_ms + ms);
    let lease_epoch = i64::from(lease_owner.is_some());
    let workflow = prepared_workflow(tx).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, attempt, created_at, updated_at,
                               lease_owner, lease_expires, lease_epoch)
             VALUES ($1, $2, $3, $4, $5, 0, $6, 0, $7, $7, $8, $9, $10)",
        )
        .await?;
    let state = StateWrites::prepare(tx).await?;
    let pin = prepared_pins(tx).await?;
    let next_json = to_json(&run.next)?;
    let (plugins, pin_digests): (Vec<&str>, Vec<&str>) = run
        .plugins
        .iter()
        .map(|(plugin, digest)| (plugin.as_str(), digest.as_str()))
        .unzip();
    let status_text = status.as_str();
    let workflow_params: Params<4> = [
        &run.workflow_digest,
        &run.workflow_name,
        &run.workflow_text,
        &now_ms,
    ];
    let insert_params: Params<10> = [
        &run.thread,
        &run.workflow_name,
        &run.workflow_digest,
        &run.workflow_path,
        &status_text,
        &next_json,
        &now_ms,
        &lease_owner,
        &lease_expires,
        &lease_epoch,
    ];
    let pin_params: Params<3> = [&run.thread, &plugins, &pin_digests];
    // In the order they must run (the run refers to its workflow text): sent at once.
    tokio::try_join!(
        tx.execute(&workflow, &workflow_params),
        tx.execute(&insert, &insert_params),
        state.execute(tx, now_ms, &run.thread, 0, &create.input),
        tx.execute(&pin, &pin_params),
    )?;
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
    })
}

/// Stores a workflow text unless stored: `$1` digest, `$2` name, `$3` text, `$4` now.
async fn prepared_workflow(tx: &Transaction<'_>) -> Result<Statement, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO workflows (digest, name, text, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (digest) DO NOTHING",
        )
        .await?)
}

/// Pins run `$1` to plugins `$2` at digests `$3` (arrays of one length).
async fn prepared_pins(tx: &Transaction<'_>) -> Result<Statement, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO run_plugins (thread, plugin, digest)
             SELECT $1, plugin, digest FROM unnest($2::text[], $3::text[]) AS p (plugin, digest)",
        )
        .await?)
}

/// The statement that writes the keys a step (0: the input) changed, long values into
/// `blobs` once.
struct StateWrites(Statement);

impl StateWrites {
    async fn prepare(tx: &Transaction<'_>) -> Result<StateWrites, StoreError> {
        // The blobs are inserted (or found) in the same statement as the rows that refer
        // to them, which a concurrent gc (it locks `blobs` against writers) cannot split.
        let stmt = tx
            .prepare_cached(
                "WITH long AS (
                     INSERT INTO blobs (digest, data, created_at)
                     SELECT digest, data, $3 FROM unnest($7::text[], $8::text[]) AS b (digest, data)
                     WHERE digest IS NOT NULL
                     ON CONFLICT (digest) DO NOTHING
                 )
                 INSERT INTO state_writes (thread, step, key, ord, value_json, blob)
                 SELECT $1, $2, key, ord - 1, value_json, blob
                 FROM unnest($4::text[], $5::text[], $6::text[])
                      WITH ORDINALITY AS w (key, value_json, blob, ord)",
            )
            .await?;
        Ok(StateWrites(stmt))
    }

    async fn execute(
        &self,
        tx: &Transaction<'_>,
        now_ms: i64,
        thread: &str,
        step: u64,
        values: &[StoredValue],
    ) -> Result<u64, tokio_postgres::Error> {
        let keys: Vec<&str> = values.iter().map(|v| v.key.as_str()).collect();
        let inline: Vec<Option<&str>> = values
            .iter()
            .map(|v| v.blob.is_none().then_some(v.json.as_str()))
            .collect();
        let blobs: Vec<Option<&str>> = values.iter().map(|v| v.blob.as_deref()).collect();
        let long: Vec<&StoredValue> = values.iter().filter(|v| v.blob.is_some()).collect();
        let long_digests: Vec<Option<&str>> = long.iter().map(|v| v.blob.as_deref()).collect();
        let long_data: Vec<&str> = long.iter().map(|v| v.json.as_str()).collect();
        tx.execute(
            &self.0,
            &[
                &thread,
                &signed(step),
                &now_ms,
                &keys,
                &inline,
                &blobs,
                &long_digests,
                &long_data,
            ],
        )
        .await
    }
}

/// The statement that appends log lines.
struct LogWrites(Statement);

impl LogWrites {
    async fn prepare(tx: &Transaction<'_>) -> Result<LogWrites, StoreError> {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO logs (thread, step, node, attempt, level, message, at)
                 SELECT $1, step, node, attempt, level, message, at
                 FROM unnest($2::int8[], $3::text[], $4::int8[], $5::text[], $6::text[],
                             $7::int8[]) WITH ORDINALITY
                      AS l (step, node, attempt, level, message, at, n)
                 ORDER BY n",
            )
            .await?;
        Ok(LogWrites(stmt))
    }

    async fn execute(
        &self,
        tx: &Transaction<'_>,
        thread: &str,
        logs: &[LogLine],
    ) -> Result<u64, tokio_postgres::Error> {
        let steps: Vec<i64> = logs.iter().map(|l| signed(l.step)).collect();
        let nodes: Vec<&str> = logs.iter().map(|l| l.node.as_str()).collect();
        let attempts: Vec<i64> = logs.iter().map(|l| i64::from(l.attempt)).collect();
        let levels: Vec<&str> = logs.iter().map(|l| l.level.as_str()).collect();
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        let at: Vec<i64> = logs.iter().map(|l| l.at_ms).collect();
        tx.execute(
            &self.0,
            &[&thread, &steps, &nodes, &attempts, &levels, &messages, &at],
        )
        .await
    }
}

pub(super) async fn set_status(
    change: &(String, RunStatus),
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (thread, status) = change;
    let run = run_row(tx, thread).await?;
    // Cancel wins: a cancelled run is never made runnable again.
    if run.status == RunStatus::Cancelled && *status != RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.clone(),
        });
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET status = $2, updated_at = $3,
                 error = CASE WHEN $2 = 'running' THEN NULL ELSE error END,
                 error_node = CASE WHEN $2 = 'running' THEN NULL ELSE error_node END
             WHERE thread = $1",
        )
        .await?;
    tx.execute(&stmt, &[thread, &status.as_str(), &now_ms])
        .await?;
    Ok(())
}

/// A step's commit and its encoded changes.
pub(super) struct Commit {
    pub commit: StepCommit,
    pub changes: Vec<StoredValue>,
}

/// Writes the commit; returns the `runs` row as the UPDATE wrote it, and the run's pins.
pub(super) async fn commit_step(
    data: &Commit,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(RawRun, BTreeMap<String, String>), StoreError> {
    let commit = &data.commit;
    let run = fenced(tx, &commit.thread, commit.owner.as_deref()).await?;
    expect_next_step(&commit.thread, run.step, commit.step)?;
    let checkpoint = tx
        .prepare_cached(
            "INSERT INTO checkpoints (thread, step, node, next_json, component_digest,
                                      workflow_digest, created_at)
             SELECT $1, $2, $3, $4, $5, workflow_digest, $6 FROM runs WHERE thread = $1",
        )
        .await?;
    let state = StateWrites::prepare(tx).await?;
    let logs = LogWrites::prepare(tx).await?;
    let pending = tx
        .prepare_cached("DELETE FROM pending_writes WHERE thread = $1 AND step <= $2")
        .await?;
    let update = tx
        .prepare_cached(concat!(
            "UPDATE runs SET step = $2, next_json = $3, status = $4, joins_json = $5,
                             wakes = $6, wake_at = $7, attempt = 0, retry_base = 0,
                             error = NULL, error_node = NULL, interrupt_json = NULL,
                             resume_json = NULL, timed_out = 0, updated_at = $8,
                             -- A completed run needs no lease: releasing it here saves the
                             -- release its own commit.
                             lease_owner = CASE WHEN $4 = 'completed' THEN NULL
                                                ELSE lease_owner END,
                             lease_expires = CASE WHEN $4 = 'completed' THEN NULL
                                                  ELSE lease_expires END
             WHERE thread = $1 RETURNING ",
            run_columns!()
        ))
        .await?;
    let pins = tx
        .prepare_cached("SELECT plugin, digest FROM run_plugins WHERE thread = $1")
        .await?;
    let step = signed(commit.step);
    let next_json = to_json(&commit.next)?;
    let joins_json = to_json(&commit.joins)?;
    let wakes = i64::from(commit.wakes);
    let status = commit.status.as_str();
    let checkpoint_params: Params<6> = [
        &commit.thread,
        &step,
        &commit.node,
        &next_json,
        &commit.component_digest,
        &now_ms,
    ];
    let pending_params: Params<2> = [&commit.thread, &step];
    let update_params: Params<8> = [
        &commit.thread,
        &step,
        &next_json,
        &status,
        &joins_json,
        &wakes,
        &commit.wake_at_ms,
        &now_ms,
    ];
    let pins_params: Params<1> = [&commit.thread];
    let (_, _, _, _, row, pins) = tokio::try_join!(
        tx.execute(&checkpoint, &checkpoint_params),
        state.execute(tx, now_ms, &commit.thread, commit.step, &data.changes),
        logs.execute(tx, &commit.thread, &commit.logs),
        tx.execute(&pending, &pending_params),
        tx.query_one(&update, &update_params),
        tx.query(&pins, &pins_params),
    )?;
    let plugins = pins.iter().map(|row| (row.get(0), row.get(1))).collect();
    Ok((RawRun::from_pg(&row)?, plugins))
}

pub(super) async fn setback_step(
    setback: &StepSetback,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let run = fenced(tx, &setback.thread, setback.owner.as_deref()).await?;
    expect_next_step(&setback.thread, run.step, setback.step)?;
    let logs = LogWrites::prepare(tx).await?;
    let pending = tx
        .prepare_cached(
            "INSERT INTO pending_writes (thread, step, node, update_json, goto, component_digest)
             SELECT $1, $2, node, update_json, goto, component_digest
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[])
                  AS p (node, update_json, goto, component_digest)
             ON CONFLICT (thread, step, node) DO UPDATE SET update_json = excluded.update_json,
                 goto = excluded.goto, component_digest = excluded.component_digest",
        )
        .await?;
    let update = tx
        .prepare_cached(
            "UPDATE runs SET status = $2, error = $3, error_node = $4, attempt = $5,
                             wake_at = $6, interrupt_json = $7,
                             resume_json = CASE WHEN $8 THEN NULL ELSE resume_json END,
                             timed_out = CASE WHEN $8 THEN 0 ELSE timed_out END,
                             updated_at = $9
             WHERE thread = $1",
        )
        .await?;
    let node = Some(setback.node.as_str());
    // (status, error, error_node, wake_at, interrupt_json, whether the resume input was
    // used up)
    let (status, error, error_node, wake_at, interrupt, used_up) = match &setback.kind {
        Setback::Failed => (
            RunStatus::Failed,
            setback.error.as_deref(),
            node,
            None,
            None,
            false,
        ),
        Setback::Retry { wake_at_ms } => (
            RunStatus::Retrying,
            setback.error.as_deref(),
            node,
            Some(*wake_at_ms),
            None,
            false,
        ),
        Setback::Interrupted {
            payload,
            deadline_ms,
        } => (
            RunStatus::Interrupted,
            None,
            None,
            *deadline_ms,
            Some(to_json(payload)?),
            true,
        ),
    };
    let step = signed(setback.step);
    let nodes: Vec<&str> = setback.pending.iter().map(|w| w.node.as_str()).collect();
    let updates = setback
        .pending
        .iter()
        .map(|w| to_json(&w.update))
        .collect::<Result<Vec<_>, _>>()?;
    let gotos: Vec<Option<&str>> = setback.pending.iter().map(|w| w.goto.as_deref()).collect();
    let digests: Vec<&str> = setback
        .pending
        .iter()
        .map(|w| w.component_digest.as_str())
        .collect();
    let attempt = i64::from(setback.attempt);
    let status = status.as_str();
    let pending_params: Params<6> = [&setback.thread, &step, &nodes, &updates, &gotos, &digests];
    let update_params: Params<9> = [
        &setback.thread,
        &status,
        &error,
        &error_node,
        &attempt,
        &wake_at,
        &interrupt,
        &used_up,
        &now_ms,
    ];
    tokio::try_join!(
        logs.execute(tx, &setback.thread, &setback.logs),
        tx.execute(&pending, &pending_params),
        tx.execute(&update, &update_params),
    )?;
    Ok(())
}

/// What [`resume_input`] is given.
pub(super) struct Resume {
    pub thread: String,
    pub input_json: Option<String>,
    pub status: RunStatus,
    pub owner: Option<String>,
}

pub(super) async fn resume_input(
    resume: &Resume,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    fenced(tx, &resume.thread, resume.owner.as_deref()).await?;
    // On the right of SET, columns hold their values from before the update.
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET resume_json = $2, status = $3,
                 retry_base = CASE WHEN status = 'failed' THEN attempt ELSE retry_base END,
                 timed_out = CASE WHEN $2::text IS NULL THEN timed_out ELSE 0 END,
                 wake_at = NULL, error = NULL, error_node = NULL, interrupt_json = NULL,
                 updated_at = $4
             WHERE thread = $1",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &resume.thread,
            &resume.input_json,
            &resume.status.as_str(),
            &now_ms,
        ],
    )
    .await?;
    existing_run(tx, &resume.thread).await
}

pub(super) async fn cancel(
    thread: &String,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let run = run_row(tx, thread).await?;
    if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
        return Err(StoreError::Finished {
            thread: thread.clone(),
            status: run.status,
        });
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = $2
             WHERE thread = $1",
        )
        .await?;
    tx.execute(&stmt, &[thread, &now_ms]).await?;
    existing_run(tx, thread).await
}

pub(super) async fn upgrade_run(
    upgrade: &RunUpgrade,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let thread = upgrade.thread.as_str();
    let run = run_row(tx, thread).await?;
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
    let workflow = prepared_workflow(tx).await?;
    let update = tx
        .prepare_cached(
            "UPDATE runs SET workflow_digest = $2, workflow_name = $3, updated_at = $4
             WHERE thread = $1",
        )
        .await?;
    let unpin = tx
        .prepare_cached("DELETE FROM run_plugins WHERE thread = $1")
        .await?;
    let pin = prepared_pins(tx).await?;
    let (plugins, digests): (Vec<&str>, Vec<&str>) = upgrade
        .plugins
        .iter()
        .map(|(plugin, digest)| (plugin.as_str(), digest.as_str()))
        .unzip();
    let workflow_params: Params<4> = [
        &upgrade.workflow_digest,
        &upgrade.workflow_name,
        &upgrade.workflow_text,
        &now_ms,
    ];
    let update_params: Params<4> = [
        &thread,
        &upgrade.workflow_digest,
        &upgrade.workflow_name,
        &now_ms,
    ];
    let unpin_params: Params<1> = [&thread];
    let pin_params: Params<3> = [&thread, &plugins, &digests];
    tokio::try_join!(
        tx.execute(&workflow, &workflow_params),
        tx.execute(&update, &update_params),
        tx.execute(&unpin, &unpin_params),
        tx.execute(&pin, &pin_params),
    )?;
    existing_run(tx, thread).await
}

/// A component's bytes to store under their digest.
pub(super) struct Component {
    pub digest: String,
    pub name: String,
    pub bytes: Vec<u8>,
}

pub(super) async fn save_component(
    component: &Component,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    // Look first: sending megabytes only to be ignored costs a copy over the network.
    let stored = tx
        .prepare_cached("SELECT 1 FROM components WHERE digest = $1")
        .await?;
    if tx.query_opt(&stored, &[&component.digest]).await?.is_none() {
        let insert = tx
            .prepare_cached(
                "INSERT INTO components (digest, name, bytes, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (digest) DO NOTHING",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &component.digest,
                &component.name,
                &component.bytes,
                &now_ms,
            ],
        )
        .await?;
    }
    Ok(())
}
