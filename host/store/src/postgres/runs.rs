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

use serde_json::Value;

use super::compose;
use super::events::{EventRows, data, record};
use super::many::{LogRows, StateRows};
use super::reads::signed;
use super::rows::*;
use crate::{
    EventKind, NewRun, RunRecord, RunStatus, RunUpgrade, Setback, StepSetback, StoreError,
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
                               lease_owner, lease_expires, lease_epoch, parent)
             VALUES ($1, $2, $3, $4, $5, 0, $6, 0, $7, $7, $8, $9, $10, $11)",
        )
        .await?;
    let state = StateRows::prepare(tx).await?;
    let mut state_rows = StateRows::default();
    state_rows.add(&run.thread, 0, 0, &create.input);
    let pin = prepared_pins(tx).await?;
    let tag = tx
        .prepare_cached(
            "INSERT INTO run_tags (thread, key, value)
             SELECT $1, key, value FROM unnest($2::text[], $3::text[]) AS t (key, value)",
        )
        .await?;
    let events = EventRows::prepare(tx).await?;
    let mut event_rows = EventRows::default();
    event_rows.add(
        &run.thread,
        0,
        EventKind::Created,
        data([
            ("workflow", Value::from(run.workflow_name.as_str())),
            ("workflow_digest", Value::from(run.workflow_digest.as_str())),
            ("tags", serde_json::to_value(&run.tags).unwrap_or_default()),
        ]),
    )?;
    let (tag_keys, tag_values): (Vec<&str>, Vec<&str>) = run
        .tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .unzip();
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
    let insert_params: Params<11> = [
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
        &run.parent,
    ];
    let pin_params: Params<3> = [&run.thread, &plugins, &pin_digests];
    let tag_params: Params<3> = [&run.thread, &tag_keys, &tag_values];
    // In the order they must run (the run refers to its workflow text): sent at once.
    tokio::try_join!(
        tx.execute(&workflow, &workflow_params),
        tx.execute(&insert, &insert_params),
        state_rows.execute(tx, &state, now_ms),
        tx.execute(&pin, &pin_params),
        tx.execute(&tag, &tag_params),
        event_rows.execute(tx, &events, now_ms),
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
        tags: run.tags.clone(),
        checkpoint: None,
        branch: 0,
        taken_over_from: None,
        parent: run.parent.clone(),
        waiting: None,
        send_inputs: BTreeMap::new(),
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
                 error_node = CASE WHEN $2 = 'running' THEN NULL ELSE error_node END,
                 waiting_json = CASE WHEN $2 = 'waiting' THEN waiting_json END,
                 woken = CASE WHEN $2 = 'waiting' THEN woken ELSE 0 END
             WHERE thread = $1",
        )
        .await?;
    tx.execute(&stmt, &[thread, &status.as_str(), &now_ms])
        .await?;
    Ok(())
}

pub(super) async fn setback_step(
    setback: &StepSetback,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let run = fenced(tx, &setback.thread, setback.owner.as_deref()).await?;
    expect_next_step(&setback.thread, run.step, setback.step)?;
    let logs = LogRows::prepare(tx).await?;
    let mut log_rows = LogRows::default();
    log_rows.add(&setback.thread, &setback.logs);
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
                             updated_at = $9, waiting_json = $10, woken = 0
             WHERE thread = $1",
        )
        .await?;
    let SetbackRow {
        status,
        error,
        error_node,
        wake_at,
        interrupt,
        used_up,
        waiting,
    } = SetbackRow::of(setback)?;
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
    let events = EventRows::prepare(tx).await?;
    let mut event_rows = EventRows::default();
    let (kind, event) = setback_event(setback);
    event_rows.add(&setback.thread, run.step, kind, event)?;
    let pending_params: Params<6> = [&setback.thread, &step, &nodes, &updates, &gotos, &digests];
    let update_params: Params<10> = [
        &setback.thread,
        &status,
        &error,
        &error_node,
        &attempt,
        &wake_at,
        &interrupt,
        &used_up,
        &now_ms,
        &waiting,
    ];
    tokio::try_join!(
        log_rows.execute(tx, &logs),
        tx.execute(&pending, &pending_params),
        tx.execute(&update, &update_params),
        event_rows.execute(tx, &events, now_ms),
    )?;
    if let Some(signal) = setback.consumed_signal {
        compose::deliver(tx, &setback.thread, signal, setback.step).await?;
    }
    match &setback.kind {
        Setback::Waiting { wait, .. } => {
            compose::wake_if_there(tx, now_ms, &setback.thread, wait).await?
        }
        Setback::Failed => compose::wake_parents(tx, now_ms, &[setback.thread.as_str()]).await?,
        _ => {}
    }
    Ok(())
}

/// The event a setback records: an attempt that failed, or an interrupt.
fn setback_event(setback: &StepSetback) -> (EventKind, serde_json::Map<String, Value>) {
    let node = Value::from(setback.node.as_str());
    match &setback.kind {
        Setback::Failed | Setback::Retry { .. } => {
            let retry_at = match setback.kind {
                Setback::Retry { wake_at_ms } => Value::from(wake_at_ms),
                _ => Value::Null,
            };
            let event = data([
                ("node", node),
                ("attempt", Value::from(setback.attempt)),
                ("error", Value::from(setback.error.clone())),
                ("retry_at", retry_at),
            ]);
            (EventKind::AttemptFailed, event)
        }
        Setback::Interrupted {
            payload,
            deadline_ms,
        } => {
            let event = data([
                ("node", node),
                ("payload", payload.clone()),
                ("deadline", Value::from(*deadline_ms)),
            ]);
            (EventKind::Interrupted, event)
        }
        Setback::Waiting { wait, deadline_ms } => (
            EventKind::Waiting,
            wait.event_data(&setback.node, *deadline_ms),
        ),
    }
}

/// What [`resume_input`] is given.
pub(super) struct Resume {
    pub thread: String,
    pub input: Option<Value>,
    pub input_json: Option<String>,
    pub status: RunStatus,
    pub owner: Option<String>,
}

pub(super) async fn resume_input(
    resume: &Resume,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<RunRecord, StoreError> {
    let run = fenced(tx, &resume.thread, resume.owner.as_deref()).await?;
    // On the right of SET, columns hold their values from before the update.
    let stmt = tx
        .prepare_cached(
            "UPDATE runs SET resume_json = $2, status = $3,
                 retry_base = CASE WHEN status = 'failed' THEN attempt ELSE retry_base END,
                 timed_out = CASE WHEN $2::text IS NULL THEN timed_out ELSE 0 END,
                 wake_at = NULL, error = NULL, error_node = NULL, interrupt_json = NULL,
                 waiting_json = NULL, woken = 0, updated_at = $4
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
    let (kind, event) = match &resume.input {
        Some(input) => (EventKind::Answered, data([("input", input.clone())])),
        None => (
            EventKind::Resumed,
            data([("status", Value::from(run.status.as_str()))]),
        ),
    };
    record(tx, now_ms, &resume.thread, run.step, kind, event).await?;
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
            "UPDATE runs SET status = 'cancelled', wake_at = NULL, updated_at = $2,
                             waiting_json = NULL, woken = 0
             WHERE thread = $1",
        )
        .await?;
    tx.execute(&stmt, &[thread, &now_ms]).await?;
    record(tx, now_ms, thread, run.step, EventKind::Cancelled, data([])).await?;
    compose::cancel_descendants(tx, now_ms, thread).await?;
    compose::wake_parents(tx, now_ms, &[thread.as_str()]).await?;
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
    let events = EventRows::prepare(tx).await?;
    let mut event_rows = EventRows::default();
    event_rows.add(
        thread,
        run.step,
        EventKind::Upgraded,
        data([
            (
                "workflow_digest",
                Value::from(upgrade.workflow_digest.as_str()),
            ),
            (
                "plugins",
                serde_json::to_value(&upgrade.plugins).unwrap_or_default(),
            ),
        ]),
    )?;
    tokio::try_join!(
        tx.execute(&workflow, &workflow_params),
        tx.execute(&update, &update_params),
        tx.execute(&unpin, &unpin_params),
        tx.execute(&pin, &pin_params),
        event_rows.execute(tx, &events, now_ms),
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
