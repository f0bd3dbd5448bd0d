//! Which runs a claim takes ([`choose`]), read from the due-time indexes of migration
//! 0011: for each workflow, at most `limit` runnable runs from the front of
//! `runs_ready_by_workflow` and as many due ones from the front of
//! `runs_parked_by_workflow`. The fairness rule among workflows then works on that bounded
//! set, which holds every run the rule could pick (a run further back in its workflow has
//! a turn past `limit`), instead of sorting every runnable run of the database.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, params};

use crate::StoreError;
use crate::due::{Candidate, Due};

/// Not leased by a live owner (`?1`: now, `?2`: the dead owners as a JSON array).
macro_rules! unleased {
    () => {
        " AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires <= ?1
               OR lease_owner IN (SELECT value FROM json_each(?2)))"
    };
}

/// The statuses of a run that is runnable whatever the time, and of a parked one (due at
/// its `wake_at`): the conditions of the partial indexes, spelled as they are there so
/// that SQLite can use them.
const READY: &str = "status IN ('pending', 'running')";
const PARKED: &str = "status IN ('sleeping', 'retrying', 'interrupted', 'waiting')";

/// The threads a claim by `owner` of at most `limit` runs takes now, in the order to take
/// them: all the runnable runs if fewer than `limit` are, oldest first; otherwise the
/// lowest turns, where a run's turn is the number of runs of its workflow that `owner`
/// drives now plus its place among its workflow's runnable runs (oldest first). So a free
/// slot goes to the workflow that holds the fewest, and one workflow's backlog (or its
/// runs that sleep in the guest) never keeps another workflow's runs waiting while it
/// holds more than its share.
pub(super) fn choose(
    conn: &Connection,
    now_ms: i64,
    owner: &str,
    limit: usize,
    dead_owners_json: &str,
) -> Result<Vec<String>, StoreError> {
    let mut due = Due::new(limit);
    for workflow in workflows(conn)? {
        let runs = due_runs(conn, now_ms, &workflow, limit, dead_owners_json)?;
        due.add(workflow, runs);
    }
    if due.all_fit() {
        return Ok(due.oldest_first());
    }
    Ok(due.by_turns(&held(conn, now_ms, owner)?))
}

/// The workflows that have runnable or parked runs: a walk that jumps from one workflow
/// to the next in the two partial indexes (one lookup per workflow, not per run).
fn workflows(conn: &Connection) -> Result<BTreeSet<String>, StoreError> {
    let mut found = BTreeSet::new();
    for (index, status) in [
        ("runs_ready_by_workflow", READY),
        ("runs_parked_by_workflow", PARKED),
    ] {
        let first = format!(
            "SELECT workflow_name FROM runs INDEXED BY {index} WHERE {status}
             ORDER BY workflow_name LIMIT 1"
        );
        let next = format!(
            "SELECT workflow_name FROM runs INDEXED BY {index} WHERE {status}
               AND workflow_name > ?1
             ORDER BY workflow_name LIMIT 1"
        );
        let mut at: Option<String> = conn
            .prepare_cached(&first)?
            .query_map([], |row| row.get(0))?
            .next()
            .transpose()?;
        let mut next = conn.prepare_cached(&next)?;
        while let Some(workflow) = at {
            at = next
                .query_map([&workflow], |row| row.get(0))?
                .next()
                .transpose()?;
            found.insert(workflow);
        }
    }
    Ok(found)
}

/// At most `limit` of the oldest runnable runs of `workflow`, and at most `limit` of its
/// parked runs that are due, that no live owner holds.
fn due_runs(
    conn: &Connection,
    now_ms: i64,
    workflow: &str,
    limit: usize,
    dead_owners_json: &str,
) -> Result<Vec<Candidate>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let args = params![now_ms, dead_owners_json, workflow, limit];
    let ready = conn.prepare_cached(&format!(
        "SELECT created_at, updated_at, thread FROM runs INDEXED BY runs_ready_by_workflow
         WHERE {READY} AND workflow_name = ?3 {}
         ORDER BY created_at, updated_at, thread LIMIT ?4",
        unleased!()
    ))?;
    let parked = conn.prepare_cached(&format!(
        "SELECT wake_at, updated_at, thread FROM runs INDEXED BY runs_parked_by_workflow
         WHERE {PARKED} AND workflow_name = ?3 AND wake_at <= ?1 {}
         ORDER BY wake_at, updated_at, thread LIMIT ?4",
        unleased!()
    ))?;
    let mut runs = Vec::new();
    for mut stmt in [ready, parked] {
        let rows = stmt.query_map(args, |row| {
            Ok(Candidate {
                due_at: row.get(0)?,
                updated_at: row.get(1)?,
                thread: row.get(2)?,
            })
        })?;
        for row in rows {
            runs.push(row?);
        }
    }
    Ok(runs)
}

/// How many runs of each workflow `owner` drives now (through `runs_by_owner`).
fn held(conn: &Connection, now_ms: i64, owner: &str) -> Result<HashMap<String, usize>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT workflow_name, COUNT(*) FROM runs
         WHERE lease_owner = ?2 AND lease_expires > ?1 AND status IN ('pending', 'running')
         GROUP BY workflow_name",
    )?;
    let rows = stmt.query_map(params![now_ms, owner], |row| {
        Ok((row.get(0)?, row.get::<_, i64>(1)? as usize))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The earliest wake time of a parked run: the first entry of `runs_parked_by_wake` (named,
/// because without statistics SQLite would rather walk `runs_by_status` through every
/// parked run).
pub(super) fn next_wake(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(NEXT_WAKE)?;
    Ok(stmt.query_row([], |row| row.get(0))?)
}

/// The query of [`next_wake`].
pub(super) const NEXT_WAKE: &str = "SELECT min(wake_at) FROM runs INDEXED BY runs_parked_by_wake
     WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')";
