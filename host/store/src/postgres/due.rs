//! Which runs a claim takes ([`choose`]), read from the due-time indexes of migration
//! 0004, as SQLite's store does (see its `due`): for each workflow, at most `limit`
//! runnable runs from the front of `runs_ready_by_workflow` and as many due ones from the
//! front of `runs_parked_by_workflow`; the fairness rule among workflows then works on
//! that bounded set instead of ranking every runnable run.

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Transaction};

use crate::StoreError;
use crate::due::{Candidate, Due};

/// Not leased by a live owner (`$1`: now, `$2`: the dead owners).
macro_rules! unleased {
    () => {
        " AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires <= $1
               OR lease_owner = ANY($2::text[]))"
    };
}

/// The workflows that have runnable or parked runs: a walk that jumps from one workflow
/// to the next in each partial index (one lookup per workflow, not per run).
const WORKFLOWS: &str = "
    WITH RECURSIVE
    ready (w) AS (
        (SELECT workflow_name FROM runs WHERE status IN ('pending', 'running')
         ORDER BY workflow_name LIMIT 1)
        UNION ALL
        SELECT (SELECT workflow_name FROM runs
                WHERE status IN ('pending', 'running') AND workflow_name > ready.w
                ORDER BY workflow_name LIMIT 1)
        FROM ready WHERE ready.w IS NOT NULL
    ),
    parked (w) AS (
        (SELECT workflow_name FROM runs
         WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')
         ORDER BY workflow_name LIMIT 1)
        UNION ALL
        SELECT (SELECT workflow_name FROM runs
                WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')
                  AND workflow_name > parked.w
                ORDER BY workflow_name LIMIT 1)
        FROM parked WHERE parked.w IS NOT NULL
    )
    SELECT w FROM ready WHERE w IS NOT NULL
    UNION
    SELECT w FROM parked WHERE w IS NOT NULL";

/// The threads a claim by `owner` of at most `limit` runs may take now, in the order to
/// take them: the same rule as SQLite's (all runnable runs oldest first if fewer than
/// `limit` are, else the lowest turns among workflows), each locked `FOR UPDATE`.
pub(super) async fn choose(
    tx: &Transaction<'_>,
    now_ms: i64,
    owner: &str,
    limit: usize,
    dead_owners: &[String],
) -> Result<Vec<String>, StoreError> {
    let cap = i64::try_from(limit).unwrap_or(i64::MAX);
    let workflows = tx.prepare_cached(WORKFLOWS).await?;
    // Locked as they are read, skipping runs another host's transaction holds (being
    // claimed, committed or cancelled right now: left for the next look), so that
    // claimers at once each get different runs. The candidates not taken stay locked
    // only until this claim commits.
    let ready = tx
        .prepare_cached(concat!(
            "SELECT created_at, updated_at, thread FROM runs
             WHERE status IN ('pending', 'running') AND workflow_name = $3",
            unleased!(),
            " ORDER BY created_at, updated_at, thread COLLATE \"C\" LIMIT $4
             FOR UPDATE SKIP LOCKED"
        ))
        .await?;
    let parked = tx
        .prepare_cached(concat!(
            "SELECT wake_at, updated_at, thread FROM runs
             WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting') AND workflow_name = $3
               AND wake_at <= $1",
            unleased!(),
            " ORDER BY wake_at, updated_at, thread COLLATE \"C\" LIMIT $4
             FOR UPDATE SKIP LOCKED"
        ))
        .await?;
    let mut due = Due::new(limit);
    for row in tx.query(&workflows, &[]).await? {
        let workflow: String = row.get(0);
        let mut runs = Vec::new();
        for stmt in [&ready, &parked] {
            let rows = tx
                .query(stmt, &[&now_ms, &dead_owners, &workflow, &cap])
                .await?;
            runs.extend(rows.iter().map(|row| Candidate {
                due_at: row.get(0),
                updated_at: row.get(1),
                thread: row.get(2),
            }));
        }
        due.add(workflow, runs);
    }
    if due.all_fit() {
        return Ok(due.oldest_first());
    }
    Ok(due.by_turns(&held(tx, now_ms, owner).await?))
}

/// How many runs of each workflow `owner` drives now (through `runs_by_owner`).
async fn held(
    tx: &Transaction<'_>,
    now_ms: i64,
    owner: &str,
) -> Result<HashMap<String, usize>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT workflow_name, COUNT(*) FROM runs
             WHERE lease_owner = $2 AND lease_expires > $1
               AND status IN ('pending', 'running')
             GROUP BY workflow_name",
        )
        .await?;
    Ok(tx
        .query(&stmt, &[&now_ms, &owner])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as usize))
        .collect())
}
