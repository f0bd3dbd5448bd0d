//! What both backends store alike: a `runs` row before its JSON is parsed ([`RawRun`]),
//! and the encoding of states, statuses and JSON columns. Each backend reads its own rows
//! into a [`RawRun`] (SQLite's `sqlite/rows.rs`, Postgres's `postgres/rows.rs`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{PendingWrite, RunRecord, RunStatus, Setback, StepSetback, StoreError};

/// A `runs` row (with its state) before its JSON and status are parsed.
pub(crate) struct RawRun {
    pub(crate) thread: String,
    pub(crate) workflow_name: String,
    pub(crate) workflow_digest: String,
    pub(crate) workflow_path: String,
    pub(crate) status: String,
    pub(crate) step: u64,
    pub(crate) next_json: String,
    pub(crate) error: Option<String>,
    pub(crate) error_node: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) created_at_ms: i64,
    pub(crate) updated_at_ms: i64,
    pub(crate) wake_at_ms: Option<i64>,
    pub(crate) interrupt_json: Option<String>,
    pub(crate) resume_json: Option<String>,
    pub(crate) timed_out: bool,
    pub(crate) wakes: u32,
    pub(crate) retry_base: u32,
    pub(crate) joins_json: String,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_expires_ms: Option<i64>,
    pub(crate) lease_epoch: u64,
    pub(crate) parent: Option<String>,
    pub(crate) waiting_json: Option<String>,
    pub(crate) sends_json: Option<String>,
}

impl RawRun {
    pub(crate) fn decode(
        self,
        state: Map<String, Value>,
        pending: Vec<PendingWrite>,
        plugins: BTreeMap<String, String>,
    ) -> Result<RunRecord, StoreError> {
        let (thread, step) = (self.thread.as_str(), self.step);
        let optional_json = |what: &str, json: Option<&str>| {
            json.map(|json| from_json::<Value>(thread, step, what, json))
                .transpose()
        };
        let waiting = self
            .waiting_json
            .as_deref()
            .map(|json| from_json(thread, step, "wait", json))
            .transpose()?;
        let send_inputs = match self.sends_json.as_deref() {
            Some(json) => from_json(thread, step, "send inputs", json)?,
            None => BTreeMap::new(),
        };
        Ok(RunRecord {
            status: parse_status(thread, &self.status)?,
            next: from_json(thread, step, "next-node list", &self.next_json)?,
            state,
            interrupt: optional_json("interrupt", self.interrupt_json.as_deref())?,
            resume: optional_json("resume input", self.resume_json.as_deref())?,
            joins: from_json::<BTreeMap<String, BTreeSet<String>>>(
                thread,
                step,
                "join bookkeeping",
                &self.joins_json,
            )?,
            thread: self.thread,
            workflow_name: self.workflow_name,
            workflow_digest: self.workflow_digest,
            workflow_path: self.workflow_path,
            step: self.step,
            error: self.error,
            error_node: self.error_node,
            attempt: self.attempt,
            created_at_ms: self.created_at_ms,
            updated_at_ms: self.updated_at_ms,
            wake_at_ms: self.wake_at_ms,
            timed_out: self.timed_out,
            wakes: self.wakes,
            retry_base: self.retry_base,
            lease_owner: self.lease_owner,
            lease_expires_ms: self.lease_expires_ms,
            lease_epoch: self.lease_epoch,
            // Not in the row: each backend's run row sets them (SQLite's `StoredRun`,
            // Postgres's `PgRun`).
            tags: BTreeMap::new(),
            checkpoint: None,
            branch: 0,
            taken_over_from: None,
            pending,
            plugins,
            waiting,
            send_inputs,
            parent: self.parent,
        })
    }
}

/// Refuses changing the past of a run that was cancelled or that a live owner executes now
/// (fork, edit, replay), on either backend.
pub(crate) fn check_idle(
    thread: &str,
    status: RunStatus,
    lease: (Option<&str>, Option<i64>),
    now_ms: i64,
) -> Result<(), StoreError> {
    if status == RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    if let (Some(owner), Some(expires_ms)) = lease
        && expires_ms > now_ms
    {
        return Err(StoreError::Leased {
            thread: thread.to_owned(),
            owner: owner.to_owned(),
            expires_ms,
        });
    }
    Ok(())
}

/// [`StoreError::StepMissing`] unless `step` is within the run's `first..=last`.
pub(crate) fn check_step(thread: &str, step: u64, first: u64, last: u64) -> Result<(), StoreError> {
    if step < first || step > last {
        return Err(StoreError::StepMissing {
            thread: thread.to_owned(),
            step,
            first,
            last,
        });
    }
    Ok(())
}

pub(crate) fn not_found(thread: &str) -> StoreError {
    StoreError::NotFound {
        thread: thread.to_owned(),
    }
}

pub(crate) fn parse_status(thread: &str, status: &str) -> Result<RunStatus, StoreError> {
    status
        .parse()
        .map_err(|error| StoreError::Corrupt(format!("thread {thread:?}: {error}")))
}

/// A state value whose JSON is at least this long is stored once, by digest, in `blobs`:
/// a large value that many runs or steps share (a document, a prompt) costs its size once.
/// Shorter values are stored inline, where a digest would cost more than it saves.
pub(crate) const BLOB_MIN: usize = 1024;

/// One key of the state, encoded for `state_writes`.
#[derive(Debug)]
pub(crate) struct StoredValue {
    pub key: String,
    pub json: String,
    /// Where `json` is stored in `blobs` (its digest), if it is long.
    pub blob: Option<String>,
}

/// Encodes the keys of `values`. Runs on the caller's thread, not the writer's: JSON and
/// hashing of many runs' checkpoints proceed in parallel, the writer only inserts.
pub(crate) fn encode_values(values: &Map<String, Value>) -> Result<Vec<StoredValue>, StoreError> {
    values
        .iter()
        .map(|(key, value)| {
            let json = to_json(value)?;
            let blob =
                (json.len() >= BLOB_MIN).then(|| savepoint_base::digest::sha256(json.as_bytes()));
            Ok(StoredValue {
                key: key.clone(),
                json,
                blob,
            })
        })
        .collect()
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode as JSON: {error}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(
    thread: &str,
    step: u64,
    what: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|error| {
        StoreError::Corrupt(format!(
            "thread {thread:?} step {step}: stored {what} is not valid: {error}"
        ))
    })
}

/// The `sends_json` column of a position (a run's, a checkpoint's): NULL when no send is
/// pending, so that a plain step writes nothing more than before (not even `'{}'`).
pub(crate) fn sends_json(inputs: &BTreeMap<String, Value>) -> Result<Option<String>, StoreError> {
    match inputs.is_empty() {
        true => Ok(None),
        false => to_json(inputs).map(Some),
    }
}

/// The `sends_json` an edit of a run leaves it (stored: the run's): the inputs of the
/// sends still among the edit's `next` (an edit as a node routes elsewhere, and the sends
/// it replaces are gone).
pub(crate) fn kept_sends(
    thread: &str,
    step: u64,
    stored: Option<&str>,
    next: &[String],
) -> Result<Option<String>, StoreError> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    let mut inputs: BTreeMap<String, Value> = from_json(thread, step, "send inputs", stored)?;
    inputs.retain(|branch, _| next.contains(branch));
    sends_json(&inputs)
}

/// The `runs` columns a setback writes, as both backends store them.
pub(crate) struct SetbackRow<'a> {
    pub status: RunStatus,
    pub error: Option<&'a str>,
    pub error_node: Option<&'a str>,
    pub wake_at: Option<i64>,
    pub interrupt: Option<String>,
    /// Whether the resume input was used up (cleared with `timed_out`).
    pub used_up: bool,
    /// What a `waiting` run waits for (JSON); `None` for the other setbacks.
    pub waiting: Option<String>,
}

impl<'a> SetbackRow<'a> {
    pub(crate) fn of(setback: &'a StepSetback) -> Result<SetbackRow<'a>, StoreError> {
        let node = Some(setback.node.as_str());
        Ok(match &setback.kind {
            Setback::Failed => SetbackRow {
                status: RunStatus::Failed,
                error: setback.error.as_deref(),
                error_node: node,
                wake_at: None,
                interrupt: None,
                used_up: false,
                waiting: None,
            },
            Setback::Retry { wake_at_ms } => SetbackRow {
                status: RunStatus::Retrying,
                error: setback.error.as_deref(),
                error_node: node,
                wake_at: Some(*wake_at_ms),
                interrupt: None,
                used_up: false,
                waiting: None,
            },
            Setback::Interrupted {
                payload,
                deadline_ms,
            } => SetbackRow {
                status: RunStatus::Interrupted,
                error: None,
                error_node: None,
                wake_at: *deadline_ms,
                interrupt: Some(to_json(payload)?),
                used_up: true,
                waiting: None,
            },
            Setback::Waiting { wait, deadline_ms } => SetbackRow {
                status: RunStatus::Waiting,
                error: None,
                error_node: None,
                wake_at: *deadline_ms,
                interrupt: None,
                used_up: true,
                waiting: Some(to_json(wait)?),
            },
        })
    }
}
