//! Run listings: pages of the runs that match a filter, newest created first, and the
//! finished runs that retention deletes.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params, params_from_iter};

use super::rows::{parse_status, run_tags};
use crate::types::thread_prefix_end;
use crate::{Cursor, RUNS_PAGE, RunFilter, RunSummary, RunsPage, StoreError};

/// One page of [`CheckpointStore::list_runs`](crate::CheckpointStore::list_runs). The
/// statement names only the filters given, so that SQLite picks the index of the one
/// that narrows (`runs_by_status`, `runs_by_workflow`, `run_tags_by_value`) and walks it
/// down `seq` with no sort: a page reads about `limit` rows of a selective filter. A
/// thread prefix is a range of the primary key: the runs it matches, then sorted.
pub(super) fn list_runs(
    conn: &Connection,
    filter: &RunFilter,
    cursor: Option<Cursor>,
    limit: usize,
) -> Result<RunsPage, StoreError> {
    let limit = RUNS_PAGE.clamp(limit);
    let before = cursor.map_or(i64::MAX, |c| {
        i64::try_from(c.position()).unwrap_or(i64::MAX)
    });
    let mut sql = String::from(
        "SELECT thread, workflow_name, status, step, created_at, updated_at, seq, parent FROM runs
         WHERE seq < ?",
    );
    let mut args = vec![Sql::Integer(before)];
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        args.push(Sql::Text(status.as_str().to_owned()));
    }
    if let Some(workflow) = &filter.workflow {
        sql.push_str(" AND workflow_name = ?");
        args.push(Sql::Text(workflow.clone()));
    }
    if let Some(parent) = &filter.parent {
        // Through `runs_by_parent`: a run's children, then sorted.
        sql.push_str(" AND parent = ?");
        args.push(Sql::Text(parent.clone()));
    }
    if let Some(since) = filter.created_since_ms {
        sql.push_str(" AND created_at >= ?");
        args.push(Sql::Integer(since));
    }
    if let Some(prefix) = &filter.thread_prefix {
        // A range of the primary key (BINARY collation: byte order), not LIKE, which
        // ignores case and takes `%` and `_` as wildcards.
        sql.push_str(" AND thread >= ?");
        args.push(Sql::Text(prefix.clone()));
        if let Some(end) = thread_prefix_end(prefix) {
            sql.push_str(" AND thread < ?");
            args.push(Sql::Text(end));
        }
    }
    for (key, value) in &filter.tags {
        sql.push_str(" AND thread IN (SELECT thread FROM run_tags WHERE key = ? AND value = ?)");
        args.push(Sql::Text(key.clone()));
        args.push(Sql::Text(value.clone()));
    }
    // One more than the page, to tell whether there is a next page.
    sql.push_str(" ORDER BY seq DESC LIMIT ?");
    args.push(Sql::Integer(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, u64>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, i64>(5)?,
            row.get::<_, u64>(6)?,
            row.get::<_, Option<String>>(7)?,
        ))
    })?;
    let mut runs = Vec::new();
    let mut last_seq = None;
    let mut more = false;
    for row in rows {
        let (thread, workflow_name, status, step, created_at_ms, updated_at_ms, seq, parent) = row?;
        if runs.len() == limit {
            more = true;
            break;
        }
        last_seq = Some(seq);
        runs.push(RunSummary {
            status: parse_status(&thread, &status)?,
            tags: run_tags(conn, &thread)?,
            thread,
            parent,
            workflow_name,
            step,
            created_at_ms,
            updated_at_ms,
        });
    }
    Ok(RunsPage {
        runs,
        next_cursor: last_seq.filter(|_| more).map(Cursor::after),
    })
}

/// [`CheckpointStore::finished_before`](crate::CheckpointStore::finished_before).
pub(super) fn finished_before(
    conn: &Connection,
    cutoff_ms: i64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT thread FROM runs
         WHERE status IN ('completed', 'failed', 'cancelled') AND updated_at < ?1
         ORDER BY updated_at, seq LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![cutoff_ms, limit], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
