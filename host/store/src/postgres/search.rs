//! Run listings on Postgres: the runs that match a filter, newest created first, paged by
//! creation order (`runs.seq`), and the finished runs retention deletes.
//!
//! Each filter's combination is its own statement text (prepared once per connection),
//! not one text with `$n IS NULL OR ...` branches: a generic plan of the latter cannot use
//! the `(status, seq)` or `(workflow_name, seq)` index, which keep a page's cost at about
//! its length however many runs there are.

use std::collections::BTreeSet;

use tokio_postgres::types::ToSql;

use super::PgStore;
use super::reads::{signed, unsigned};
use super::rows::parse_status;
use crate::types::thread_prefix_end;
use crate::{Cursor, RUNS_PAGE, RunFilter, RunSummary, RunsPage, StoreError};

/// [`CheckpointStore::list_runs`](crate::CheckpointStore::list_runs).
pub(super) async fn list_runs(
    store: &PgStore,
    filter: &RunFilter,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<RunsPage, StoreError> {
    let limit = RUNS_PAGE.clamp(limit);
    let query = Query::of(filter, cursor, limit);
    let rows = store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client.prepare_cached(&query.sql).await?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    query.params.iter().map(|param| &**param as _).collect();
                Ok(client.query(&stmt, &params).await?)
            })
        })
        .await?;
    let mut runs = Vec::with_capacity(rows.len().min(limit));
    let mut last_seq = None;
    for row in rows.iter().take(limit) {
        let thread: String = row.get(0);
        let keys: Vec<String> = row.get(6);
        let values: Vec<String> = row.get(7);
        last_seq = Some(unsigned::<u64>(row.get(5), "run seq")?);
        runs.push(RunSummary {
            status: parse_status(&thread, row.get(2))?,
            workflow_name: row.get(1),
            step: unsigned(row.get(3), "step")?,
            created_at_ms: row.get(4),
            updated_at_ms: row.get(8),
            tags: keys.into_iter().zip(values).collect(),
            thread,
            parent: row.get(9),
        });
    }
    // One row more than the page was asked for: another page follows.
    let next_cursor = (rows.len() > limit)
        .then_some(last_seq)
        .flatten()
        .map(Cursor::after);
    Ok(RunsPage { runs, next_cursor })
}

/// The statement of a listing and its parameters.
struct Query {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    fn of(filter: &RunFilter, cursor: Option<Cursor>, limit: usize) -> Query {
        let mut query = Query {
            sql: "SELECT r.thread, r.workflow_name, r.status, r.step, r.created_at, r.seq,
                         ARRAY(SELECT t.key FROM run_tags t WHERE t.thread = r.thread
                               ORDER BY t.key COLLATE \"C\"),
                         ARRAY(SELECT t.value FROM run_tags t WHERE t.thread = r.thread
                               ORDER BY t.key COLLATE \"C\"),
                         r.updated_at, r.parent
                  FROM runs r WHERE TRUE"
                .to_owned(),
            params: Vec::new(),
        };
        if let Some(status) = filter.status {
            let n = query.param(status.as_str().to_owned());
            query.sql += &format!(" AND r.status = ${n}");
        }
        if let Some(workflow) = &filter.workflow {
            let n = query.param(workflow.clone());
            query.sql += &format!(" AND r.workflow_name = ${n}");
        }
        let tags: BTreeSet<&(String, String)> = filter.tags.iter().collect();
        if !tags.is_empty() {
            // Every tag asked for: as many of the run's tags match as were asked (a run
            // has one value per key).
            let (keys, values): (Vec<String>, Vec<String>) = tags.into_iter().cloned().unzip();
            let count = i64::try_from(keys.len()).unwrap_or(i64::MAX);
            let (k, v, c) = (query.param(keys), query.param(values), query.param(count));
            query.sql += &format!(
                " AND (SELECT count(*) FROM run_tags t
                       JOIN unnest(${k}::text[], ${v}::text[]) AS f (key, value)
                         ON t.key = f.key AND t.value = f.value
                       WHERE t.thread = r.thread) = ${c}"
            );
        }
        if let Some(parent) = &filter.parent {
            let n = query.param(parent.clone());
            query.sql += &format!(" AND r.parent = ${n}");
        }
        if let Some(since) = filter.created_since_ms {
            let n = query.param(since);
            query.sql += &format!(" AND r.created_at >= ${n}");
        }
        if let Some(prefix) = &filter.thread_prefix {
            // A range of `runs_by_thread_bytes` (byte order whatever the database's
            // collation), not LIKE, which takes `%` and `_` as wildcards.
            let n = query.param(prefix.clone());
            query.sql += &format!(" AND r.thread COLLATE \"C\" >= ${n}");
            if let Some(end) = thread_prefix_end(prefix) {
                let n = query.param(end);
                query.sql += &format!(" AND r.thread COLLATE \"C\" < ${n}");
            }
        }
        if let Some(cursor) = cursor {
            let n = query.param(signed(cursor.position()));
            query.sql += &format!(" AND r.seq < ${n}");
        }
        let n = query.param(i64::try_from(limit + 1).unwrap_or(i64::MAX));
        query.sql += &format!(" ORDER BY r.seq DESC LIMIT ${n}");
        query
    }

    /// Adds a parameter; its number.
    fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> usize {
        self.params.push(Box::new(value));
        self.params.len()
    }
}

/// [`CheckpointStore::finished_before`](crate::CheckpointStore::finished_before).
pub(super) async fn finished_before(
    store: &PgStore,
    cutoff_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    store
        .read(move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        "SELECT thread FROM runs
                         WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < $1
                         ORDER BY updated_at, thread COLLATE \"C\" LIMIT $2",
                    )
                    .await?;
                let rows = client.query(&stmt, &[&cutoff_ms, &limit]).await?;
                Ok(rows.iter().map(|row| row.get(0)).collect())
            })
        })
        .await
}
