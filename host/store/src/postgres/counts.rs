//! How many runs there are in each status, and the due-and-waiting backlog, on Postgres
//! ([`CheckpointStore::count_runs`](crate::CheckpointStore::count_runs)).

use std::collections::BTreeMap;

use super::PgStore;
use super::reads::unsigned;
use super::rows::parse_status;
use crate::{RunCounts, StoreError};

/// Both counts in one statement, so one snapshot: a row per status (a grouping that an
/// index-only scan of `runs_by_status_seq` can serve), then a row without a status for the
/// backlog. The backlog is what `claim_due` would take now, less its dead-owner check
/// (which needs the daemons' records): a dead process's lease counts once it expires. Its
/// two halves are separate sums so that each has its own index: `runs_by_status_seq` and
/// `runs_parked_by_wake` (wake_at, parked runs only).
pub(super) async fn count_runs(store: &PgStore, now_ms: i64) -> Result<RunCounts, StoreError> {
    let rows = store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        "SELECT status, count(*) FROM runs GROUP BY status
                         UNION ALL
                         SELECT NULL,
                                (SELECT count(*) FROM runs
                                 WHERE status IN ('pending', 'running')
                                   AND (lease_owner IS NULL OR lease_expires IS NULL
                                        OR lease_expires <= $1))
                              + (SELECT count(*) FROM runs
                                 WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')
                                   AND wake_at <= $1
                                   AND (lease_owner IS NULL OR lease_expires IS NULL
                                        OR lease_expires <= $1))",
                    )
                    .await?;
                Ok(client.query(&stmt, &[&now_ms]).await?)
            })
        })
        .await?;
    let mut counts = RunCounts::default();
    let mut by_status = BTreeMap::new();
    for row in rows {
        let count: u64 = unsigned(row.get(1), "run count")?;
        match row.get::<_, Option<&str>>(0) {
            Some(status) => {
                by_status.insert(parse_status("(counting runs)", status)?, count);
            }
            None => counts.due_waiting = count,
        }
    }
    counts.by_status = by_status;
    Ok(counts)
}
