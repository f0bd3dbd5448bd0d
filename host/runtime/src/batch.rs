//! Many runs of one workflow created together (`savepoint start --batch`,
//! `POST /runs/batch`): the workflow is checked and its plugins pinned once for the
//! whole batch, and each chunk of runs is one [`CheckpointStore::create_runs`] call
//! (one transaction), so that a million runs cost a few hundred commits, not a million.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use savepoint_store::{CheckpointStore, NewRun, RunFilter, RunStatus, StoreError};
use savepoint_workflow::Workflow;

use super::pins::PinTo;
use super::{Runtime, RuntimeError};

/// One run of a batch: what differs from run to run.
#[derive(Debug, Clone)]
pub struct BatchRun {
    pub thread: String,
    /// The initial state: a JSON object.
    pub input: Map<String, Value>,
    /// Labels for listings to filter on.
    pub tags: BTreeMap<String, String>,
}

/// What every run of a batch shares: the workflow, checked, and the plugin versions
/// the runs are pinned to (see [`Runtime::batch`]).
#[derive(Debug)]
pub struct Batch {
    workflow: Arc<Workflow>,
    workflow_path: String,
    workflow_text: String,
    workflow_digest: String,
    plugins: BTreeMap<String, String>,
}

impl Batch {
    /// The workflow's `max_state`: the cap on each run's input.
    pub fn max_state(&self) -> u64 {
        self.workflow.max_state
    }

    fn new_run(&self, run: BatchRun, plugins: BTreeMap<String, String>) -> NewRun {
        NewRun {
            parent: None,
            thread: run.thread,
            workflow_name: self.workflow.name.clone(),
            workflow_digest: self.workflow_digest.clone(),
            workflow_text: self.workflow_text.clone(),
            workflow_path: self.workflow_path.clone(),
            input: run.input,
            next: vec![self.workflow.start.clone()],
            // Left to a daemon, as `savepoint start` leaves its run.
            lease: None,
            plugins,
            tags: run.tags,
        }
    }
}

impl<S: CheckpointStore> Runtime<S> {
    /// Checks the workflow text `workflow_text` (the file `workflow_path`) as a new run
    /// of it is checked, and pins its plugins: once for every run of a batch.
    pub async fn batch(
        &self,
        workflow_path: String,
        workflow_text: String,
    ) -> Result<Batch, RuntimeError> {
        let (workflow, plugins) = self.check_new_run(&workflow_path, &workflow_text).await?;
        Ok(Batch {
            workflow_digest: savepoint_base::digest::sha256(workflow_text.as_bytes()),
            workflow,
            workflow_path,
            workflow_text,
            plugins,
        })
    }

    /// Creates `runs` of `batch`, pending for a daemon, in one transaction: all or
    /// none ([`RuntimeError::ThreadExists`] names a thread that is taken). Returns how
    /// many were created.
    pub async fn create_batch(
        &self,
        batch: &Batch,
        runs: Vec<BatchRun>,
    ) -> Result<usize, RuntimeError> {
        // Kept for a second try (below): a clone of each run's few fields is cheap next
        // to its creation.
        let pinned = |runs: &[BatchRun], plugins: &BTreeMap<String, String>| -> Vec<NewRun> {
            runs.iter()
                .map(|run| batch.new_run(run.clone(), plugins.clone()))
                .collect()
        };
        match self.store.create_runs(pinned(&runs, &batch.plugins)).await {
            Err(StoreError::ComponentMissing { .. }) => {
                // A `gc` or a delete removed a version this process had stored: store
                // the files again (as `create_leased` does for one run). The next chunk
                // finds them stored (same files, same digests).
                self.plugins.forget_files();
                let plugins = self.pin_plugins(&batch.workflow, PinTo::File).await?;
                Ok(self.store.create_runs(pinned(&runs, &plugins)).await?)
            }
            created => Ok(created?),
        }
    }
}

/// The thread of the `n`th run (from 1) of a batch whose threads start with `prefix`.
pub fn batch_thread(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n}")
}

impl<S: CheckpointStore> Runtime<S> {
    /// A run (its thread and status) that has one of the threads `prefix-1` to
    /// `prefix-count` ([`batch_thread`]), if any: found by reading the threads that start
    /// with `prefix-` (a range of the primary key; one page when, as usual, there are
    /// none), so that a batch that would hit a taken thread is refused before any run of
    /// it is created.
    pub async fn taken_in_batch(
        &self,
        prefix: &str,
        count: usize,
    ) -> Result<Option<(String, RunStatus)>, RuntimeError> {
        let start = format!("{prefix}-");
        let filter = RunFilter {
            thread_prefix: Some(start.clone()),
            ..RunFilter::default()
        };
        let mut cursor = None;
        loop {
            let page = self.store.list_runs(&filter, cursor, usize::MAX).await?;
            let taken = page.runs.into_iter().find(|run| {
                let number = &run.thread[start.len()..];
                number.parse::<usize>().is_ok_and(|n| {
                    (1..=count).contains(&n) && batch_thread(prefix, n) == run.thread
                })
            });
            if let Some(run) = taken {
                return Ok(Some((run.thread, run.status)));
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
    }
}
