//! History beyond the current branch on Postgres: the checkpoints a replay in place
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

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};

use super::reads::{signed, stored_value, unsigned};
use super::rows::from_json;
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
            None => Place::Live(u64::MAX),
            Some(position) if position & SUPERSEDED == 0 => Place::Live(position),
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
async fn chain(
    client: &impl GenericClient,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<Range>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT branch, parent_branch, from_step FROM branches WHERE thread = $1")
        .await?;
    let mut parents = HashMap::new();
    for row in client.query(&stmt, &[&thread]).await? {
        let branch: u64 = unsigned(row.get(0), "branch")?;
        let parent: u64 = unsigned(row.get(1), "parent branch")?;
        parents.insert(branch, (parent, row.get::<_, i64>(2)));
    }
    let (mut ranges, mut current, mut upto) = (Vec::new(), branch, signed(step));
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
async fn chain_state(
    client: &impl GenericClient,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let ranges = chain(client, thread, branch, step).await?;
    let branches: Vec<i64> = ranges.iter().map(|r| signed(r.0)).collect();
    let after: Vec<i64> = ranges.iter().map(|r| r.1).collect();
    let upto: Vec<i64> = ranges.iter().map(|r| r.2).collect();
    let stmt = client
        .prepare_cached(
            "WITH r AS (
                 SELECT * FROM unnest($2::int8[], $3::int8[], $4::int8[])
                     AS r (branch, after, upto)
             ),
             w AS (
                 SELECT s.key, s.step, s.ord, s.value_json, s.blob FROM state_writes s
                 JOIN r ON s.branch = r.branch AND s.step > r.after AND s.step <= r.upto
                 WHERE s.thread = $1
                 UNION ALL
                 SELECT s.key, s.step, s.ord, s.value_json, s.blob FROM superseded_writes s
                 JOIN r ON s.branch = r.branch AND s.step > r.after AND s.step <= r.upto
                 WHERE s.thread = $1
             ),
             latest AS (SELECT DISTINCT ON (key) key, value_json, blob FROM w
                        ORDER BY key, step DESC),
             first AS (SELECT DISTINCT ON (key) key, step, ord FROM w ORDER BY key, step, ord)
             SELECT l.key, l.value_json, b.data
             FROM latest l JOIN first f USING (key) LEFT JOIN blobs b ON b.digest = l.blob
             ORDER BY f.step, f.ord",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&thread, &branches, &after, &upto])
        .await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let (value, size) = stored_value(thread, step, &key, row.get(1), row.get(2))?;
            Ok((key, value, size))
        })
        .collect()
}

/// The newest superseded checkpoint after `after` (see [`Place::Superseded`]), with its
/// whole state's size in bytes if asked for it, or `None` if there is none.
pub(super) async fn next_superseded(
    client: &impl GenericClient,
    thread: &str,
    after: Option<(u64, u64)>,
    detail: HistoryDetail,
) -> Result<Option<(HistoryEntry, u64)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT branch, step, node, next_json, component_digest, workflow_digest,
                    created_at, id, parent
             FROM superseded_checkpoints
             WHERE thread = $1 AND (branch, step) < ($2, $3)
             ORDER BY branch DESC, step DESC LIMIT 1",
        )
        .await?;
    let (before_branch, before_step) = match after {
        Some((branch, step)) => (signed(branch), signed(step)),
        None => (i64::MAX, i64::MAX),
    };
    let Some(row) = client
        .query_opt(&stmt, &[&thread, &before_branch, &before_step])
        .await?
    else {
        return Ok(None);
    };
    let branch: u64 = unsigned(row.get(0), "branch")?;
    let step: u64 = unsigned(row.get(1), "step")?;
    let written = superseded_writes(client, thread, branch, step).await?;
    let changed = written
        .iter()
        .map(|(key, _, size)| (key.clone(), *size))
        .collect();
    let (mut state, mut changes, mut bytes) = (None, None, 0);
    match detail {
        HistoryDetail::ChangedKeys => {}
        HistoryDetail::WholeStates => {
            let whole = chain_state(client, thread, branch, step).await?;
            bytes = whole.iter().map(|(_, _, size)| size).sum();
            state = Some(whole.into_iter().map(|(k, v, _)| (k, v)).collect());
        }
        HistoryDetail::Changes => {
            let before: Map<String, Value> = chain_state(client, thread, branch, step - 1)
                .await?
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
        checkpoint: row.get(7),
        parent: row.get(8),
        branch,
        superseded: true,
        step,
        node: row.get(2),
        next: from_json(thread, step, "next-node list", row.get(3))?,
        component_digest: row.get(4),
        workflow_digest: row.get(5),
        created_at_ms: row.get(6),
        changed,
        state,
        changes,
    };
    Ok(Some((entry, bytes)))
}

/// The keys a superseded step wrote, in order, with their values and sizes.
async fn superseded_writes(
    client: &impl GenericClient,
    thread: &str,
    branch: u64,
    step: u64,
) -> Result<Vec<(String, Value, u64)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT w.key, w.value_json, b.data FROM superseded_writes w
             LEFT JOIN blobs b ON b.digest = w.blob
             WHERE w.thread = $1 AND w.branch = $2 AND w.step = $3 ORDER BY w.ord",
        )
        .await?;
    let rows = client
        .query(&stmt, &[&thread, &signed(branch), &signed(step)])
        .await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let (value, size) = stored_value(thread, step, &key, row.get(1), row.get(2))?;
            Ok((key, value, size))
        })
        .collect()
}

/// Whether a superseded checkpoint comes after `after` (see [`Place::Superseded`]).
pub(super) async fn superseded_after(
    client: &impl GenericClient,
    thread: &str,
    after: Option<(u64, u64)>,
) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM superseded_checkpoints
                            WHERE thread = $1 AND (branch, step) < ($2, $3))",
        )
        .await?;
    let (branch, step) = match after {
        Some((branch, step)) => (signed(branch), signed(step)),
        None => (i64::MAX, i64::MAX),
    };
    Ok(client
        .query_one(&stmt, &[&thread, &branch, &step])
        .await?
        .get(0))
}

/// What step `step` of the current branch changed: each key it wrote, in order, with its
/// value before (its latest write of an earlier step, on the current branch's chain, which
/// the live table holds) and after.
pub(super) async fn live_changes(
    client: &impl GenericClient,
    thread: &str,
    step: u64,
) -> Result<Vec<KeyChange>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT w.key, w.value_json, bw.data, before.step IS NOT NULL, before.value_json,
                    bb.data
             FROM state_writes w
             LEFT JOIN blobs bw ON bw.digest = w.blob
             LEFT JOIN LATERAL (
                 SELECT p.step, p.value_json, p.blob FROM state_writes p
                 WHERE p.thread = w.thread AND p.key = w.key AND p.step < w.step
                 ORDER BY p.step DESC LIMIT 1
             ) before ON TRUE
             LEFT JOIN blobs bb ON bb.digest = before.blob
             WHERE w.thread = $1 AND w.step = $2 ORDER BY w.ord",
        )
        .await?;
    let rows = client.query(&stmt, &[&thread, &signed(step)]).await?;
    rows.iter()
        .map(|row| {
            let key: String = row.get(0);
            let (after, _) = stored_value(thread, step, &key, row.get(1), row.get(2))?;
            let before = if row.get::<_, bool>(3) {
                Some(stored_value(thread, step, &key, row.get(4), row.get(5))?.0)
            } else {
                None
            };
            Ok(KeyChange { key, before, after })
        })
        .collect()
}
