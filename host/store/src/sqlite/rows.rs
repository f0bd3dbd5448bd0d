//! The read side of the SQLite store: loading runs, states and leases from rows (the
//! encoding both backends share is in the crate's `rows`). The paged
//! reads (history, logs) are in `paged`.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

pub(crate) use crate::rows::*;

use crate::{ComponentVersion, PendingWrite, RunRecord, StoreError};

/// The columns of a `runs` row that [`StoredRun::from_row`] reads, in its order: for a SELECT,
/// or for the RETURNING clause of a write that hands back the row it wrote.
macro_rules! run_columns {
    () => {
        "thread, workflow_name, workflow_digest, workflow_path, status, step, next_json, error,
         error_node, attempt, created_at, updated_at, wake_at, interrupt_json, resume_json,
         timed_out, wakes, retry_base, joins_json, lease_owner, lease_expires, lease_epoch,
         head, branch, parent, waiting_json, sends_json"
    };
}
pub(super) use run_columns;

// Reads.

pub(super) fn load_run(conn: &Connection, thread: &str) -> Result<Option<RunRecord>, StoreError> {
    // The run row, its state and its pending writes are read in one transaction, so from
    // the same snapshot: see `SqliteStore::read`.
    let mut stmt = conn.prepare_cached(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs WHERE thread = ?1"
    ))?;
    let run = stmt.query_row([thread], StoredRun::from_row).optional()?;
    let Some(run) = run else {
        return Ok(None);
    };
    let pending = pending_writes(conn, thread, run.raw.step + 1)?;
    let state = state_at(conn, thread, run.raw.step)?;
    let plugins = run_plugins(conn, thread)?;
    let tags = run_tags(conn, thread)?;
    run.decode(state, pending, plugins, tags).map(Some)
}

/// The run's tags.
pub(super) fn run_tags(
    conn: &Connection,
    thread: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM run_tags WHERE thread = ?1")?;
    let rows = stmt.query_map([thread], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The plugin versions a run is pinned to.
pub(super) fn run_plugins(
    conn: &Connection,
    thread: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
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
    Ok(sized_state_at(conn, thread, step)?
        .into_iter()
        .map(|(key, value, _)| (key, value))
        .collect())
}

/// [`state_at`], with the size in bytes of each value's JSON.
pub(super) fn sized_state_at(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let keys = keys_at(conn, thread, step)?;
    let mut first_write = conn.prepare_cached(
        "SELECT step, ord FROM state_writes WHERE thread = ?1 AND key = ?2
         ORDER BY step LIMIT 1",
    )?;
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        let first = first_write.query_row(params![thread, key], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        let (value, size) = latest_value(conn, thread, &key, step)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "thread {thread:?} step {step}: state key {key:?} has no write"
            ))
        })?;
        values.push((first, key, value, size));
    }
    values.sort_by_key(|(first, ..)| *first);
    Ok(values
        .into_iter()
        .map(|(_, key, value, size)| (key, value, size))
        .collect())
}

/// The keys written at or before `step`, one index seek each (a skip scan of the
/// primary key, which starts with the key).
pub(super) fn keys_at(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Vec<String>, StoreError> {
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
    Ok(keys
        .query_map(params![thread, step], |row| row.get(0))?
        .collect::<Result<_, _>>()?)
}

/// The value of state key `key` after `step` (its latest write at or before it) and the
/// size in bytes of its JSON; `None` if the key was not written by then.
pub(super) fn latest_value(
    conn: &Connection,
    thread: &str,
    key: &str,
    step: u64,
) -> Result<Option<(Value, u64)>, StoreError> {
    let mut latest = conn.prepare_cached(
        "SELECT w.value_json, b.data
         FROM state_writes w LEFT JOIN blobs b ON b.digest = w.blob
         WHERE w.thread = ?1 AND w.key = ?2 AND w.step <= ?3
         ORDER BY w.step DESC LIMIT 1",
    )?;
    let found = latest
        .query_row(params![thread, key, step], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ))
        })
        .optional()?;
    let Some((inline, blob)) = found else {
        return Ok(None);
    };
    let json = inline.or(blob).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
        ))
    })?;
    let what = format!("value of state key {key:?}");
    let value = from_json::<Value>(thread, step, &what, &json)?;
    Ok(Some((value, json.len() as u64)))
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

/// A row of [`run_columns!`]: the columns both backends decode alike, and the run's
/// position on its branches.
pub(super) struct StoredRun {
    pub raw: RawRun,
    /// The run's latest checkpoint (`runs.head`).
    pub head: Option<String>,
    pub branch: u64,
}

impl StoredRun {
    /// Reads a row of [`run_columns!`].
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRun> {
        Ok(StoredRun {
            raw: RawRun::from_row(row)?,
            head: row.get(22)?,
            branch: row.get(23)?,
        })
    }

    /// The whole record, with what is read from other tables.
    pub(super) fn decode(
        self,
        state: Map<String, Value>,
        pending: Vec<PendingWrite>,
        plugins: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<RunRecord, StoreError> {
        let mut run = self.raw.decode(state, pending, plugins)?;
        run.tags = tags;
        run.checkpoint = self.head;
        run.branch = self.branch;
        Ok(run)
    }
}

impl RawRun {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRun> {
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
            lease_epoch: row.get(21)?,
            parent: row.get(24)?,
            waiting_json: row.get(25)?,
            sends_json: row.get(26)?,
        })
    }
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

pub(super) fn leases(conn: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT lease_owner, max(ifnull(lease_expires, 0)) FROM runs
         WHERE lease_owner IS NOT NULL GROUP BY lease_owner ORDER BY lease_owner",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
