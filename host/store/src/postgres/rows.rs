//! A `runs` row of Postgres as a [`RawRun`], and a whole run read back (its row, state,
//! pending writes and pins), in whichever transaction the caller is in. The encoding both
//! backends share (JSON, statuses, state values) is the crate's `rows`.

use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use super::reads::{signed, state_at, unsigned};
pub(super) use crate::rows::*;
use crate::{PendingWrite, RunRecord, StoreError};

/// The columns of a `runs` row that [`RawRun::from_pg`] reads, in its order: for a SELECT,
/// or for the RETURNING clause of a write that hands back the row it wrote.
macro_rules! run_columns {
    () => {
        "thread, workflow_name, workflow_digest, workflow_path, status, step, next_json, error,
         error_node, attempt, created_at, updated_at, wake_at, interrupt_json, resume_json,
         timed_out, wakes, retry_base, joins_json, lease_owner, lease_expires, lease_epoch,
         head, branch, parent, waiting_json, sends_json"
    };
}

impl RawRun {
    /// Reads a row of [`run_columns!`].
    pub(super) fn from_pg(row: &Row) -> Result<RawRun, StoreError> {
        Ok(RawRun {
            thread: row.try_get(0)?,
            workflow_name: row.try_get(1)?,
            workflow_digest: row.try_get(2)?,
            workflow_path: row.try_get(3)?,
            status: row.try_get(4)?,
            step: unsigned(row.try_get(5)?, "step")?,
            next_json: row.try_get(6)?,
            error: row.try_get(7)?,
            error_node: row.try_get(8)?,
            attempt: unsigned(row.try_get(9)?, "attempt")?,
            created_at_ms: row.try_get(10)?,
            updated_at_ms: row.try_get(11)?,
            wake_at_ms: row.try_get(12)?,
            interrupt_json: row.try_get(13)?,
            resume_json: row.try_get(14)?,
            timed_out: row.try_get::<_, i64>(15)? != 0,
            wakes: unsigned(row.try_get(16)?, "wake count")?,
            retry_base: unsigned(row.try_get(17)?, "retry base")?,
            joins_json: row.try_get(18)?,
            lease_owner: row.try_get(19)?,
            lease_expires_ms: row.try_get(20)?,
            lease_epoch: unsigned(row.try_get(21)?, "lease epoch")?,
            parent: row.try_get(24)?,
            waiting_json: row.try_get(25)?,
            sends_json: row.try_get(26)?,
        })
    }
}

/// A row of [`run_columns!`]: the columns both backends decode alike, and Postgres's own
/// reading of the run's position on its branches.
pub(super) struct PgRun {
    pub raw: RawRun,
    /// The run's current checkpoint (`runs.head`).
    pub head: Option<String>,
    pub branch: u64,
}

impl PgRun {
    pub(super) fn from_pg(row: &Row) -> Result<PgRun, StoreError> {
        Ok(PgRun {
            raw: RawRun::from_pg(row)?,
            head: row.try_get(22)?,
            branch: unsigned(row.try_get(23)?, "branch")?,
        })
    }

    pub(super) fn thread(&self) -> &str {
        &self.raw.thread
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

/// The run with this thread, whole, as the caller's transaction sees it.
pub(super) async fn load_run(
    client: &impl GenericClient,
    thread: &str,
) -> Result<Option<RunRecord>, StoreError> {
    let stmt = client
        .prepare_cached(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE thread = $1"
        ))
        .await?;
    let Some(row) = client.query_opt(&stmt, &[&thread]).await? else {
        return Ok(None);
    };
    let run = PgRun::from_pg(&row)?;
    let pending = pending_writes(client, thread, run.raw.step + 1).await?;
    let state = state_at(client, thread, run.raw.step).await?;
    let plugins = run_plugins(client, thread).await?;
    let tags = run_tags(client, thread).await?;
    run.decode(state, pending, plugins, tags).map(Some)
}

/// The tags a run was created with.
pub(super) async fn run_tags(
    client: &impl GenericClient,
    thread: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT key, value FROM run_tags WHERE thread = $1")
        .await?;
    let rows = client.query(&stmt, &[&thread]).await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// [`load_run`] of a run that must exist.
pub(super) async fn existing_run(
    client: &impl GenericClient,
    thread: &str,
) -> Result<RunRecord, StoreError> {
    load_run(client, thread)
        .await?
        .ok_or_else(|| not_found(thread))
}

/// The plugin versions a run is pinned to.
pub(super) async fn run_plugins(
    client: &impl GenericClient,
    thread: &str,
) -> Result<BTreeMap<String, String>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT plugin, digest FROM run_plugins WHERE thread = $1")
        .await?;
    let rows = client.query(&stmt, &[&thread]).await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The pending writes of `step`, by node.
pub(super) async fn pending_writes(
    client: &impl GenericClient,
    thread: &str,
    step: u64,
) -> Result<Vec<PendingWrite>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT node, update_json, goto, component_digest FROM pending_writes
             WHERE thread = $1 AND step = $2 ORDER BY node COLLATE \"C\"",
        )
        .await?;
    let rows = client.query(&stmt, &[&thread, &signed(step)]).await?;
    rows.iter()
        .map(|row| {
            let update_json: String = row.get(1);
            Ok(PendingWrite {
                update: from_json(thread, step, "pending update", &update_json)?,
                node: row.get(0),
                goto: row.get(2),
                component_digest: row.get(3),
            })
        })
        .collect()
}
