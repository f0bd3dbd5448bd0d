//! Creating many runs in one transaction (`savepoint start --batch`, `POST /runs/batch`):
//! each table gets one statement for all the runs, its rows given as arrays (`unnest`),
//! and the statements are sent together: a few round trips per batch, not per run.

use std::collections::BTreeSet;

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use tokio_postgres::types::ToSql;

/// A statement's parameters, bound before statements are sent together.
type Params<'a, const N: usize> = [&'a (dyn ToSql + Sync); N];

use super::events::{EventRows, data};
use super::many::StateRows;
use super::rows::*;
use crate::{EventKind, NewRun, RunStatus, StoreError};

/// New runs and their encoded inputs.
pub(super) struct Creations {
    pub runs: Vec<NewRun>,
    pub inputs: Vec<Vec<StoredValue>>,
}

/// The `runs` rows, as columns.
#[derive(Default)]
struct RunRows<'a> {
    threads: Vec<&'a str>,
    names: Vec<&'a str>,
    digests: Vec<&'a str>,
    paths: Vec<&'a str>,
    statuses: Vec<&'static str>,
    nexts: Vec<String>,
    lease_owners: Vec<Option<&'a str>>,
    lease_expires: Vec<Option<i64>>,
    lease_epochs: Vec<i64>,
    parents: Vec<Option<&'a str>>,
}

/// Rows of (thread, a, b): pins (plugin, digest) and tags (key, value).
#[derive(Default)]
struct PairRows<'a> {
    threads: Vec<&'a str>,
    first: Vec<&'a str>,
    second: Vec<&'a str>,
}

impl<'a> PairRows<'a> {
    fn add(&mut self, thread: &'a str, pairs: &'a std::collections::BTreeMap<String, String>) {
        for (a, b) in pairs {
            self.threads.push(thread);
            self.first.push(a);
            self.second.push(b);
        }
    }
}

/// Creates every run of `create` as [`create_run`](super::runs::create_run) creates one,
/// all or none. Returns how many were created.
pub(super) async fn create_runs(
    create: &Creations,
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let runs = &create.runs;
    let threads: Vec<&str> = runs.iter().map(|run| run.thread.as_str()).collect();
    let taken = tx
        .prepare_cached("SELECT thread, status FROM runs WHERE thread = ANY($1::text[]) LIMIT 1")
        .await?;
    if let Some(row) = tx.query_opt(&taken, &[&threads]).await? {
        let (thread, status): (String, String) = (row.get(0), row.get(1));
        return Err(StoreError::ThreadExists {
            status: parse_status(&thread, &status)?,
            thread,
        });
    }
    if let Some(run) = repeated(runs) {
        // Taken by an earlier run of this batch: the unique index would refuse it.
        return Err(StoreError::ThreadExists {
            thread: run.thread.clone(),
            status: created_status(run),
        });
    }
    check_components(tx, runs).await?;
    let workflow = tx
        .prepare_cached(
            "INSERT INTO workflows (digest, name, text, created_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
             ON CONFLICT (digest) DO NOTHING",
        )
        .await?;
    // The creation order (`seq`, from its sequence) follows the order of the runs.
    let insert = tx
        .prepare_cached(
            "INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, attempt, created_at, updated_at,
                               lease_owner, lease_expires, lease_epoch, parent)
             SELECT thread, name, digest, path, status, 0, next_json, 0, $1, $1,
                    lease_owner, lease_expires, lease_epoch, parent
             FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::int8[], $10::int8[], $11::text[])
                  WITH ORDINALITY
                  AS r (thread, name, digest, path, status, next_json, lease_owner,
                        lease_expires, lease_epoch, parent, n)
             ORDER BY n",
        )
        .await?;
    let pin = tx
        .prepare_cached(
            "INSERT INTO run_plugins (thread, plugin, digest)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        )
        .await?;
    let tag = tx
        .prepare_cached(
            "INSERT INTO run_tags (thread, key, value)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        )
        .await?;
    let state = StateRows::prepare(tx).await?;
    let events = EventRows::prepare(tx).await?;

    let mut workflows: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
    let mut rows = RunRows::default();
    let mut state_rows = StateRows::default();
    let mut pins = PairRows::default();
    let mut tags = PairRows::default();
    let mut event_rows = EventRows::default();
    for (run, input) in runs.iter().zip(&create.inputs) {
        if !workflows.0.contains(&run.workflow_digest.as_str()) {
            workflows.0.push(&run.workflow_digest);
            workflows.1.push(&run.workflow_name);
            workflows.2.push(&run.workflow_text);
            workflows.3.push(now_ms);
        }
        let status = created_status(run);
        rows.threads.push(&run.thread);
        rows.names.push(&run.workflow_name);
        rows.digests.push(&run.workflow_digest);
        rows.paths.push(&run.workflow_path);
        rows.statuses.push(status.as_str());
        rows.nexts.push(to_json(&run.next)?);
        rows.lease_owners
            .push(run.lease.as_ref().map(|(owner, _)| owner.as_str()));
        rows.lease_expires
            .push(run.lease.as_ref().map(|(_, ms)| now_ms + ms));
        rows.lease_epochs.push(i64::from(run.lease.is_some()));
        rows.parents.push(run.parent.as_deref());
        state_rows.add(&run.thread, 0, 0, input);
        pins.add(&run.thread, &run.plugins);
        tags.add(&run.thread, &run.tags);
        event_rows.add(
            &run.thread,
            0,
            EventKind::Created,
            data([
                ("workflow", Value::from(run.workflow_name.as_str())),
                ("workflow_digest", Value::from(run.workflow_digest.as_str())),
                ("tags", serde_json::to_value(&run.tags).unwrap_or_default()),
            ]),
        )?;
    }
    let workflow_params: Params<4> = [&workflows.0, &workflows.1, &workflows.2, &workflows.3];
    let insert_params: Params<11> = [
        &now_ms,
        &rows.threads,
        &rows.names,
        &rows.digests,
        &rows.paths,
        &rows.statuses,
        &rows.nexts,
        &rows.lease_owners,
        &rows.lease_expires,
        &rows.lease_epochs,
        &rows.parents,
    ];
    let pin_params: Params<3> = [&pins.threads, &pins.first, &pins.second];
    let tag_params: Params<3> = [&tags.threads, &tags.first, &tags.second];
    // In the order they must run (a run refers to its workflow text): sent at once.
    tokio::try_join!(
        tx.execute(&workflow, &workflow_params),
        tx.execute(&insert, &insert_params),
        state_rows.execute(tx, &state, now_ms),
        tx.execute(&pin, &pin_params),
        tx.execute(&tag, &tag_params),
        event_rows.execute(tx, &events, now_ms),
    )?;
    Ok(runs.len())
}

/// The first run of `runs` whose thread an earlier one has, if any.
fn repeated(runs: &[NewRun]) -> Option<&NewRun> {
    let mut seen = BTreeSet::new();
    runs.iter().find(|run| !seen.insert(run.thread.as_str()))
}

/// A new run's status: a run created leased is driven at once by its creator.
fn created_status(run: &NewRun) -> RunStatus {
    match run.lease {
        Some(_) => RunStatus::Running,
        None => RunStatus::Pending,
    }
}

/// Fails with [`StoreError::ComponentMissing`] unless every version the runs pin is
/// stored; locks them (`FOR KEY SHARE`) so that a gc cannot delete one before this
/// transaction commits.
async fn check_components(tx: &Transaction<'_>, runs: &[NewRun]) -> Result<(), StoreError> {
    let digests: BTreeSet<&str> = runs
        .iter()
        .flat_map(|run| run.plugins.values().map(String::as_str))
        .collect();
    if digests.is_empty() {
        return Ok(());
    }
    let digests: Vec<&str> = digests.into_iter().collect();
    let stored = tx
        .prepare_cached(
            "SELECT digest FROM components WHERE digest = ANY($1::text[]) FOR KEY SHARE",
        )
        .await?;
    let stored: BTreeSet<String> = tx
        .query(&stored, &[&digests])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    match digests.iter().find(|digest| !stored.contains(**digest)) {
        Some(missing) => Err(StoreError::ComponentMissing {
            digest: (*missing).to_owned(),
        }),
        None => Ok(()),
    }
}
