//! The read side of the SQLite store and the row encoding both sides share:
//! loading runs, checkpoints, logs and leases from rows, and JSON/status
//! conversions.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::sqlite::position;
use super::{
    Checkpoint, ComponentVersion, LogLine, PendingWrite, RunRecord, RunStatus, RunSummary,
    StoreError,
};

// Reads.

pub(super) fn load_run(conn: &Connection, thread: &str) -> Result<Option<RunRecord>, StoreError> {
    // The run row, its state and its pending writes are read in one transaction, so from
    // the same snapshot: see `SqliteStore::read`.
    let mut stmt = conn.prepare_cached(
        "SELECT r.thread, r.workflow_name, r.workflow_digest, r.workflow_path, r.status, r.step,
                r.next_json, r.error, r.error_node, r.attempt, r.created_at, r.updated_at,
                r.wake_at, r.interrupt_json, r.resume_json, r.timed_out, r.wakes, r.retry_base,
                r.joins_json, r.lease_owner, r.lease_expires
         FROM runs r WHERE r.thread = ?1",
    )?;
    let raw = stmt
        .query_row([thread], |row| {
            Ok(RawRun {
                thread: row.get(0)?,
                workflow_name: row.get(1)?,
                workflow_digest: row.get(2)?,
                workflow_path: row.get(3)?,
                status: row.get(4)?,
                step: row.get(5)?,
                next_json: row.get(6)?,
                error: row.get(7)?,
                error_node: row.get(8)?,
                attempt: row.get(9)?,
                created_at_ms: row.get(10)?,
                updated_at_ms: row.get(11)?,
                wake_at_ms: row.get(12)?,
                interrupt_json: row.get(13)?,
                resume_json: row.get(14)?,
                timed_out: row.get(15)?,
                wakes: row.get(16)?,
                retry_base: row.get(17)?,
                joins_json: row.get(18)?,
                lease_owner: row.get(19)?,
                lease_expires_ms: row.get(20)?,
            })
        })
        .optional()?;
    let Some(raw) = raw else {
        return Ok(None);
    };
    let pending = pending_writes(conn, thread, raw.step + 1)?;
    let state = state_at(conn, thread, raw.step)?;
    let plugins = run_plugins(conn, thread)?;
    raw.decode(state, pending, plugins).map(Some)
}

/// The plugin versions a run is pinned to.
fn run_plugins(conn: &Connection, thread: &str) -> Result<BTreeMap<String, String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT plugin, digest FROM run_plugins WHERE thread = ?1")?;
    let rows = stmt.query_map([thread], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The state after `step` (0: the input): for every key, its latest write at or before
/// `step`, in the order the keys were first written. Costs a few index lookups per key,
/// however long the run's history.
pub(super) fn state_at(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Map<String, Value>, StoreError> {
    // The keys, one index seek each (a skip scan of `state_writes_by_key`).
    let mut keys = conn.prepare_cached(
        "WITH RECURSIVE keys (key) AS (
             SELECT MIN(key) FROM state_writes WHERE thread = ?1 AND step <= ?2
             UNION ALL
             SELECT (SELECT MIN(key) FROM state_writes
                     WHERE thread = ?1 AND key > keys.key AND step <= ?2)
             FROM keys WHERE keys.key IS NOT NULL
         )
         SELECT key FROM keys WHERE key IS NOT NULL",
    )?;
    let keys: Vec<String> = keys
        .query_map(params![thread, step], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut latest = conn.prepare_cached(
        "SELECT w.value_json, b.data,
                (SELECT f.step FROM state_writes f WHERE f.thread = ?1 AND f.key = ?2
                 ORDER BY f.step LIMIT 1) AS first_step,
                (SELECT f.ord FROM state_writes f WHERE f.thread = ?1 AND f.key = ?2
                 ORDER BY f.step LIMIT 1) AS first_ord
         FROM state_writes w LEFT JOIN blobs b ON b.digest = w.blob
         WHERE w.thread = ?1 AND w.key = ?2 AND w.step <= ?3
         ORDER BY w.step DESC LIMIT 1",
    )?;
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        let (inline, blob, first) = latest.query_row(params![thread, key, step], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
                (row.get::<_, i64>(2)?, row.get::<_, i64>(3)?),
            ))
        })?;
        let json = inline.or(blob).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
            ))
        })?;
        let what = format!("value of state key {key:?}");
        values.push((first, key, from_json::<Value>(thread, step, &what, &json)?));
    }
    values.sort_by_key(|(first, _, _)| *first);
    Ok(values.into_iter().map(|(_, k, v)| (k, v)).collect())
}

/// Every state of the run, step 0 (the input) to its last step, built by applying its
/// writes in order.
fn states(conn: &Connection, thread: &str) -> Result<Vec<Map<String, Value>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.step, w.key, w.value_json, b.data
         FROM state_writes w LEFT JOIN blobs b ON b.digest = w.blob
         WHERE w.thread = ?1 ORDER BY w.step, w.ord",
    )?;
    let rows = stmt.query_map([thread], |row| {
        Ok((
            row.get::<_, u64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut states = vec![Map::new()];
    for row in rows {
        let (step, key, inline, blob) = row?;
        let step_index = usize::try_from(step).unwrap_or(usize::MAX);
        while states.len() <= step_index {
            let last = states.last().cloned().unwrap_or_default();
            states.push(last);
        }
        let json = inline.or(blob).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
            ))
        })?;
        let what = format!("value of state key {key:?}");
        let value = from_json::<Value>(thread, step, &what, &json)?;
        if let Some(state) = states.last_mut() {
            state.insert(key, value);
        }
    }
    Ok(states)
}

/// The pending writes of `step`, by node.
pub(super) fn pending_writes(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Vec<PendingWrite>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT node, update_json, goto, component_digest FROM pending_writes
         WHERE thread = ?1 AND step = ?2 ORDER BY node",
    )?;
    let rows = stmt.query_map(params![thread, step], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, String>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (node, update_json, goto, component_digest) = row?;
        Ok(PendingWrite {
            update: from_json(thread, step, "pending update", &update_json)?,
            node,
            goto,
            component_digest,
        })
    })
    .collect()
}

/// A `runs` row (with its state) before its JSON and status are parsed.
pub(super) struct RawRun {
    thread: String,
    workflow_name: String,
    workflow_digest: String,
    workflow_path: String,
    status: String,
    step: u64,
    next_json: String,
    error: Option<String>,
    error_node: Option<String>,
    attempt: u32,
    created_at_ms: i64,
    updated_at_ms: i64,
    wake_at_ms: Option<i64>,
    interrupt_json: Option<String>,
    resume_json: Option<String>,
    timed_out: bool,
    wakes: u32,
    retry_base: u32,
    joins_json: String,
    lease_owner: Option<String>,
    lease_expires_ms: Option<i64>,
}

impl RawRun {
    fn decode(
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
            pending,
            plugins,
        })
    }
}

pub(super) fn history(conn: &Connection, thread: &str) -> Result<Vec<Checkpoint>, StoreError> {
    position(conn, thread)?;
    let mut states = states(conn, thread)?;
    let mut stmt = conn.prepare_cached(
        "SELECT step, node, next_json, component_digest, workflow_digest, created_at
         FROM checkpoints WHERE thread = ?1 ORDER BY step DESC",
    )?;
    let rows = stmt.query_map([thread], |row: &Row<'_>| {
        Ok((
            row.get::<_, u64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, i64>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (step, node, next_json, component_digest, workflow_digest, created_at) = row?;
        // Newest first: the states are taken from the end. A step that wrote no key has
        // the state of the step before it.
        let index = usize::try_from(step).unwrap_or(usize::MAX);
        let state = match states.len() {
            len if len > index + 1 => {
                states.truncate(index + 1);
                states.pop().unwrap_or_default()
            }
            len if len == index + 1 => states.pop().unwrap_or_default(),
            _ => states.last().cloned().unwrap_or_default(),
        };
        Ok(Checkpoint {
            thread: thread.to_owned(),
            step,
            node,
            state,
            next: from_json(thread, step, "next-node list", &next_json)?,
            component_digest,
            workflow_digest,
            created_at_ms: created_at,
        })
    })
    .collect()
}

pub(super) fn component_versions(conn: &Connection) -> Result<Vec<ComponentVersion>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.digest, c.name, LENGTH(c.bytes), c.created_at,
                (SELECT COUNT(*) FROM run_plugins p WHERE p.digest = c.digest),
                (SELECT json_group_array(p.thread) FROM run_plugins p JOIN runs r USING (thread)
                 WHERE p.digest = c.digest AND r.status NOT IN ('completed', 'cancelled'))
         FROM components c ORDER BY c.name, c.created_at, c.digest",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            ComponentVersion {
                digest: row.get(0)?,
                name: row.get(1)?,
                bytes: row.get(2)?,
                stored_at_ms: row.get(3)?,
                runs: row.get(4)?,
                unfinished: Vec::new(),
            },
            row.get::<_, String>(5)?,
        ))
    })?;
    rows.map(|row| {
        let (mut version, unfinished) = row?;
        version.unfinished = serde_json::from_str(&unfinished)
            .map_err(|e| StoreError::Corrupt(format!("run list of a component: {e}")))?;
        version.unfinished.sort();
        Ok(version)
    })
    .collect()
}

pub(super) fn logs(conn: &Connection, thread: &str) -> Result<Vec<LogLine>, StoreError> {
    position(conn, thread)?;
    let mut stmt = conn.prepare_cached(
        "SELECT step, node, attempt, level, message, at FROM logs WHERE thread = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([thread], |row| {
        Ok(LogLine {
            step: row.get(0)?,
            node: row.get(1)?,
            attempt: row.get(2)?,
            level: row.get(3)?,
            message: row.get(4)?,
            at_ms: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn list_runs(
    conn: &Connection,
    status: Option<RunStatus>,
) -> Result<Vec<RunSummary>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT thread, workflow_name, status, step, updated_at FROM runs
         WHERE ?1 IS NULL OR status = ?1
         ORDER BY updated_at DESC, created_at DESC, thread",
    )?;
    let rows = stmt.query_map([status.map(RunStatus::as_str)], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u64>(3)?,
            row.get::<_, i64>(4)?,
        ))
    })?;
    rows.map(|row| {
        let (thread, workflow_name, status, step, updated_at_ms) = row?;
        Ok(RunSummary {
            status: parse_status(&thread, &status)?,
            thread,
            workflow_name,
            step,
            updated_at_ms,
        })
    })
    .collect()
}

pub(super) fn leases(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT lease_owner, max(ifnull(lease_expires, 0)) FROM runs
         WHERE lease_owner IS NOT NULL GROUP BY lease_owner ORDER BY lease_owner",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn next_wake(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT min(wake_at) FROM runs WHERE status IN ('sleeping', 'retrying', 'interrupted')",
    )?;
    Ok(stmt.query_row([], |row| row.get(0))?)
}

// Encoding.

pub(super) fn not_found(thread: &str) -> StoreError {
    StoreError::NotFound {
        thread: thread.to_owned(),
    }
}

pub(super) fn parse_status(thread: &str, status: &str) -> Result<RunStatus, StoreError> {
    status
        .parse()
        .map_err(|error| StoreError::Corrupt(format!("thread {thread:?}: {error}")))
}

/// A state value whose JSON is at least this long is stored once, by digest, in `blobs`:
/// a large value that many runs or steps share (a document, a prompt) costs its size once.
/// Shorter values are stored inline, where a digest would cost more than it saves.
pub(super) const BLOB_MIN: usize = 1024;

/// One key of the state, encoded for `state_writes`.
#[derive(Debug)]
pub(super) struct StoredValue {
    pub key: String,
    pub json: String,
    /// Where `json` is stored in `blobs` (its digest), if it is long.
    pub blob: Option<String>,
}

/// Encodes the keys of `values`. Runs on the caller's thread, not the writer's: JSON and
/// hashing of many runs' checkpoints proceed in parallel, the writer only inserts.
pub(super) fn encode_values(values: &Map<String, Value>) -> Result<Vec<StoredValue>, StoreError> {
    values
        .iter()
        .map(|(key, value)| {
            let json = to_json(value)?;
            let blob = (json.len() >= BLOB_MIN).then(|| crate::digest::sha256(json.as_bytes()));
            Ok(StoredValue {
                key: key.clone(),
                json,
                blob,
            })
        })
        .collect()
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode as JSON: {error}")))
}

pub(super) fn from_json<T: DeserializeOwned>(
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
