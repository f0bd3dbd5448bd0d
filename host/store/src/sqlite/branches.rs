//! History beyond the current branch on SQLite: the checkpoints a replay in place
//! superseded, each with the state it had on its own branch, and what each step changed
//! (a key's value before and after), for `history --all` and `--diff`.
//!
//! The live tables hold the current branch's chain; a superseded checkpoint's state is the
//! fold of the writes along its own chain: its branch's writes after the step the branch
//! started from, then its parent branch's up to there, and so on down to branch 0 (whose
//! writes start at the run's input), each found in the live or the superseded tables.
//! Such a state costs a read of the chain's writes: a superseded checkpoint is read for
//! `--all` only, never on the step path.

use std::collections::HashMap;

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::{Map, Value};

use super::rows::{from_json, latest_value};
use crate::{Cursor, HistoryDetail, HistoryEntry, KeyChange, StoreError};

/// Where a history page goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// On the current branch, before this step.
    Live(u64),
    /// Among the superseded checkpoints, after `(branch, step)` (from the newest branch
    /// when `None`) in the order (branch DESC, step DESC).
    Superseded(Option<(u64, u64)>),
}

/// The high bit of a cursor among superseded checkpoints (a step of the current branch is
/// below it): `(1 << 63) | (branch << 32) | step`.
const SUPERSEDED: u64 = 1 << 63;

impl Place {
    pub(super) fn of(cursor: Option<Cursor>) -> Place {
        match cursor.map(Cursor::position) {
            None => Place::Live(i64::MAX as u64),
            Some(position) if position & SUPERSEDED == 0 => {
                Place::Live(position.min(i64::MAX as u64))
            }
            Some(position) => Place::Superseded(Some((
                (position >> 32) & 0x7fff_ffff,
                position & 0xffff_ffff,
            ))),
        }
    }

    /// The cursor of the page that goes on after the entry of `(branch, step)`.
    pub(super) fn after_superseded(branch: u64, step: u64) -> Cursor {
        Cursor::after(SUPERSEDED | (branch << 32) | (step & 0xffff_ffff))
    }
}

/// One branch's part of a chain: its writes of the steps in `(after, upto]`.
type Range = (u64, i64, i64);

/// The ranges of the chain of the state after `step` on `branch`.
fn chain(
    conn: &Connection,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<Range>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT branch, parent_branch, from_step FROM branches WHERE thread = ?1",
    )?;
    let parents: HashMap<u64, (u64, i64)> = stmt
        .query_map([thread], |row| {
            Ok((row.get(0)?, (row.get(1)?, row.get(2)?)))
        })?
        .collect::<Result<_, _>>()?;
    let (mut ranges, mut current) = (Vec::new(), branch);
    let mut upto = i64::try_from(step).unwrap_or(i64::MAX);
    // Each replay records its branch; a chain is at most as long as there are branches.
    for _ in 0..=parents.len() {
        match parents.get(&current) {
            Some(&(parent, from)) => {
                ranges.push((current, from, upto));
                (current, upto) = (parent, from);
            }
            None => {
                ranges.push((current, -1, upto));
                return Ok(ranges);
            }
        }
    }
    Err(StoreError::Corrupt(format!(
        "thread {thread:?}: the branches of its replays form a cycle"
    )))
}

/// The state after `step` on `branch` (which may be superseded), with each value's size,
/// keys in the order first written.
fn chain_state(
    conn: &Connection,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let ranges = chain(conn, thread, branch, step)?;
    let mut args = vec![Sql::Text(thread.to_owned())];
    // Numbered parameters, so that both tables' conditions name the same values.
    let mut on_chain = Vec::new();
    for (branch, after, upto) in ranges {
        let n = args.len() + 1;
        on_chain.push(format!(
            "(branch = ?{n} AND step > ?{} AND step <= ?{})",
            n + 1,
            n + 2
        ));
        args.extend([
            Sql::Integer(i64::try_from(branch).unwrap_or(i64::MAX)),
            Sql::Integer(after),
            Sql::Integer(upto),
        ]);
    }
    let on_chain = on_chain.join(" OR ");
    let sql = format!(
        "WITH w AS (
             SELECT key, step, ord, value_json, blob FROM state_writes
             WHERE thread = ?1 AND ({on_chain})
             UNION ALL
             SELECT key, step, ord, value_json, blob FROM superseded_writes
             WHERE thread = ?1 AND ({on_chain})
         ),
         latest AS (
             SELECT key, value_json, blob,
                    ROW_NUMBER() OVER (PARTITION BY key ORDER BY step DESC) AS n
             FROM w
         ),
         first AS (
             SELECT key, step, ord,
                    ROW_NUMBER() OVER (PARTITION BY key ORDER BY step, ord) AS n
             FROM w
         )
         SELECT l.key, l.value_json, b.data
         FROM latest l JOIN first f ON f.key = l.key AND f.n = 1
         LEFT JOIN blobs b ON b.digest = l.blob
         WHERE l.n = 1
         ORDER BY f.step, f.ord"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (key, inline, blob) = row?;
        let (value, size) = stored_value(thread, step, &key, inline, blob)?;
        Ok((key, value, size))
    })
    .collect()
}

/// A stored value (inline JSON, or a blob's data) decoded, with its size in bytes.
fn stored_value(
    thread: &str,
    step: u64,
    key: &str,
    inline: Option<String>,
    blob: Option<String>,
) -> Result<(Value, u64), StoreError> {
    let json = inline.or(blob).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "thread {thread:?} step {step}: the stored value of state key {key:?} is missing"
        ))
    })?;
    let what = format!("value of state key {key:?}");
    let value = from_json::<Value>(thread, step, &what, &json)?;
    Ok((value, json.len() as u64))
}

/// The newest superseded checkpoint after `after` (see [`Place::Superseded`]), with its
/// whole state's size in bytes if asked for it, or `None` if there is none.
pub(super) fn next_superseded(
    conn: &Connection,
    thread: &str,
    after: Option<(u64, u64)>,
    detail: HistoryDetail,
) -> Result<Option<(HistoryEntry, u64)>, StoreError> {
    let (before_branch, before_step) = match after {
        Some((branch, step)) => (
            i64::try_from(branch).unwrap_or(i64::MAX),
            i64::try_from(step).unwrap_or(i64::MAX),
        ),
        None => (i64::MAX, i64::MAX),
    };
    let row = conn
        .prepare_cached(
            "SELECT branch, step, node, next_json, component_digest, workflow_digest,
                    created_at, id, parent
             FROM superseded_checkpoints
             WHERE thread = ?1 AND (branch, step) < (?2, ?3)
             ORDER BY branch DESC, step DESC LIMIT 1",
        )?
        .query_row(params![thread, before_branch, before_step], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, u64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, i64>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, Option<String>>(8)?,
            ))
        })
        .optional()?;
    let Some((
        branch,
        step,
        node,
        next_json,
        component_digest,
        workflow_digest,
        created_at_ms,
        id,
        parent,
    )) = row
    else {
        return Ok(None);
    };
    let written = superseded_writes(conn, thread, branch, step)?;
    let changed = written
        .iter()
        .map(|(key, _, size)| (key.clone(), *size))
        .collect();
    let (mut state, mut changes, mut bytes) = (None, None, 0);
    match detail {
        HistoryDetail::ChangedKeys => {}
        HistoryDetail::WholeStates => {
            let whole = chain_state(conn, thread, branch, step)?;
            bytes = whole.iter().map(|(_, _, size)| size).sum();
            state = Some(whole.into_iter().map(|(k, v, _)| (k, v)).collect());
        }
        HistoryDetail::Changes => {
            let before: Map<String, Value> = chain_state(conn, thread, branch, step - 1)?
                .into_iter()
                .map(|(k, v, _)| (k, v))
                .collect();
            changes = Some(
                written
                    .into_iter()
                    .map(|(key, after, _)| KeyChange {
                        before: before.get(&key).cloned(),
                        key,
                        after,
                    })
                    .collect(),
            );
        }
    }
    let entry = HistoryEntry {
        checkpoint: id,
        parent,
        branch,
        superseded: true,
        step,
        node,
        next: from_json(thread, step, "next-node list", &next_json)?,
        component_digest,
        workflow_digest,
        created_at_ms,
        changed,
        state,
        changes,
    };
    Ok(Some((entry, bytes)))
}

/// The keys a superseded step wrote, in order, with their values and sizes.
fn superseded_writes(
    conn: &Connection,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.key, w.value_json, b.data FROM superseded_writes w
         LEFT JOIN blobs b ON b.digest = w.blob
         WHERE w.thread = ?1 AND w.branch = ?2 AND w.step = ?3 ORDER BY w.ord",
    )?;
    let rows = stmt.query_map(params![thread, branch, step], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (key, inline, blob) = row?;
        let (value, size) = stored_value(thread, step, &key, inline, blob)?;
        Ok((key, value, size))
    })
    .collect()
}

/// Each key the live step `step` wrote, in order, with its value before and after.
pub(super) fn live_changes(
    conn: &Connection,
    thread: &str,
    step: u64,
) -> Result<Vec<KeyChange>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.key, w.value_json, b.data FROM state_writes w
         LEFT JOIN blobs b ON b.digest = w.blob
         WHERE w.thread = ?1 AND w.step = ?2 ORDER BY w.ord",
    )?;
    let rows = stmt.query_map(params![thread, step], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
        ))
    })?;
    let written: Vec<(String, Option<String>, Option<String>)> = rows.collect::<Result<_, _>>()?;
    written
        .into_iter()
        .map(|(key, inline, blob)| {
            let (after, _) = stored_value(thread, step, &key, inline, blob)?;
            let before = match step.checked_sub(1) {
                Some(earlier) => latest_value(conn, thread, &key, earlier)?.map(|(v, _)| v),
                None => None,
            };
            Ok(KeyChange { key, before, after })
        })
        .collect()
}

/// Whether a superseded checkpoint comes after `after` (see [`Place::Superseded`]).
pub(super) fn superseded_after(
    conn: &Connection,
    thread: &str,
    after: Option<(u64, u64)>,
) -> Result<bool, StoreError> {
    let (before_branch, before_step) = match after {
        Some((branch, step)) => (
            i64::try_from(branch).unwrap_or(i64::MAX),
            i64::try_from(step).unwrap_or(i64::MAX),
        ),
        None => (i64::MAX, i64::MAX),
    };
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM superseded_checkpoints
                            WHERE thread = ?1 AND (branch, step) < (?2, ?3))",
        )?
        .query_row(params![thread, before_branch, before_step], |row| {
            row.get(0)
        })?)
}
