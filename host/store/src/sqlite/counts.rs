//! How many runs there are in each status, and the due-and-waiting backlog
//! ([`CheckpointStore::count_runs`](crate::CheckpointStore::count_runs)): what the
//! dashboard shows above the runs list and the metrics' gauges read at each scrape.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::{RunCounts, StoreError};

/// Both counts in one read snapshot. The grouping walks `runs_by_status` (status, seq)
/// without touching the rows; the backlog reads only the rows it counts, through
/// `runs_by_status` for pending and running runs and `runs_parked_by_wake` (wake_at,
/// parked runs only) for the parked ones that are due, so a scrape costs about the number of runs, in
/// index entries, and the backlog's rows.
pub(super) fn count_runs(conn: &Connection, now_ms: i64) -> Result<RunCounts, StoreError> {
    let mut by_status = BTreeMap::new();
    let mut grouped = conn.prepare_cached("SELECT status, count(*) FROM runs GROUP BY status")?;
    let rows = grouped.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
    for row in rows {
        let (status, count): (String, u64) = row?;
        by_status.insert(
            crate::rows::parse_status("(counting runs)", &status)?,
            count,
        );
    }
    // What `claim_due` would take now, less its dead-owner check (which needs the
    // daemons' records): the lease of a process that died counts once it expires. Two
    // sums, not one OR, so that each half has its own index range.
    let due_waiting = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM runs
                     WHERE status IN ('pending', 'running')
                       AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires <= ?1))
                  + (SELECT count(*) FROM runs
                     WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')
                       AND wake_at <= ?1
                       AND (lease_owner IS NULL OR lease_expires IS NULL OR lease_expires <= ?1))",
        )?
        .query_row([now_ms], |row| row.get(0))?;
    Ok(RunCounts {
        by_status,
        due_waiting,
    })
}
