//! The step loop: load the latest checkpoint, call the next node in a fresh
//! sandbox, merge its update with the workflow's reducers, route, and commit
//! the new checkpoint and the run's position in one store transaction.
//!
//! The CLI (and later the daemon) calls [`Runtime::start`] and
//! [`Runtime::resume`]; the runtime reads the workflow's rules from
//! [`crate::workflow`], calls nodes through [`crate::plugin`], and writes only
//! through the [`CheckpointStore`] trait, so it never sees SQL or wasmtime types.

mod error;
mod step;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::plugin::{Plugin, PluginHost, PluginLoad};
use crate::store::{CheckpointStore, Clock, NewRun, RunRecord, RunStatus, StoreError};
use crate::workflow::Workflow;

pub use error::RuntimeError;

/// Something that happened to a run, for progress output.
#[derive(Debug, Clone)]
pub enum Event {
    /// A checkpoint was committed.
    Committed {
        thread: String,
        step: u64,
        node: String,
        plugin: String,
        digest: String,
        elapsed: Duration,
        next: Vec<String>,
    },
    /// A node's attempt failed and the failure was recorded.
    Failed {
        thread: String,
        step: u64,
        node: String,
        error: String,
    },
}

/// Receives [`Event`]s as they happen.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// What `savepoint run` asks for.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The workflow file as the user named it (used in messages and recorded).
    pub workflow_path: String,
    /// Its text, which the run is pinned to.
    pub workflow_text: String,
    pub thread: String,
    /// The initial state: a JSON object.
    pub input: Map<String, Value>,
}

/// Executes runs against a store and a plugins folder.
pub struct Runtime<S> {
    store: Arc<S>,
    plugins: PluginHost,
    plugins_dir: PathBuf,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    clock: Arc<dyn Clock>,
    observer: Option<Observer>,
}

impl<S> std::fmt::Debug for Runtime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("plugins_dir", &self.plugins_dir)
            .finish_non_exhaustive()
    }
}

impl<S: CheckpointStore> Runtime<S> {
    pub fn new(
        store: Arc<S>,
        plugins: PluginHost,
        plugins_dir: PathBuf,
        clock: Arc<dyn Clock>,
    ) -> Runtime<S> {
        Runtime {
            store,
            plugins,
            plugins_dir,
            loaded: Mutex::new(HashMap::new()),
            clock,
            observer: None,
        }
    }

    /// Report progress to `observer`.
    pub fn with_observer(mut self, observer: Observer) -> Runtime<S> {
        self.observer = Some(observer);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Validate a workflow text against the plugins folder.
    pub fn validate(&self, workflow_path: &str, text: &str) -> Result<Workflow, RuntimeError> {
        let workflow = Workflow::parse(workflow_path, text)?;
        let available = self.available_plugins()?;
        workflow.check_plugins(
            workflow_path,
            &self.plugins_dir.display().to_string(),
            &available,
        )?;
        Ok(workflow)
    }

    /// Create a new run and drive it until it finishes or fails.
    pub async fn start(&self, start: StartRun) -> Result<RunRecord, RuntimeError> {
        let workflow = self.validate(&start.workflow_path, &start.workflow_text)?;
        let run = NewRun {
            thread: start.thread.clone(),
            workflow_name: workflow.name.clone(),
            workflow_digest: crate::plugin::digest(start.workflow_text.as_bytes()),
            workflow_text: start.workflow_text,
            workflow_path: start.workflow_path,
            input: start.input,
            next: vec![workflow.start.clone()],
        };
        let run = self.store.create_run(run).await.map_err(|e| match e {
            StoreError::ThreadExists { thread, status } => {
                RuntimeError::ThreadExists { thread, status }
            }
            other => RuntimeError::Store(other),
        })?;
        self.drive(run, &workflow).await
    }

    /// Continue an unfinished run from its last checkpoint; a failed run
    /// replays the node it failed at.
    pub async fn resume(&self, thread: &str) -> Result<RunRecord, RuntimeError> {
        let run = self.load(thread).await?;
        if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
            return Err(RuntimeError::NotResumable {
                thread: thread.to_string(),
                status: run.status,
            });
        }
        let text = self
            .store
            .workflow_text(&run.workflow_digest)
            .await?
            .ok_or_else(|| {
                RuntimeError::Store(StoreError::Corrupt(format!(
                    "thread \"{thread}\": workflow text {} is missing",
                    run.workflow_digest
                )))
            })?;
        // The run is pinned to the text it started with, not today's file.
        let workflow = Workflow::parse(&run.workflow_path, &text)?;
        self.drive(run, &workflow).await
    }

    /// The run's record, or a not-found error naming the thread.
    pub async fn load(&self, thread: &str) -> Result<RunRecord, RuntimeError> {
        self.store
            .load_run(thread)
            .await?
            .ok_or_else(|| RuntimeError::NotFound {
                thread: thread.to_string(),
            })
    }

    fn available_plugins(&self) -> Result<Vec<String>, RuntimeError> {
        let paths = crate::plugin::scan_dir(&self.plugins_dir).map_err(|source| {
            RuntimeError::PluginsDir {
                dir: self.plugins_dir.clone(),
                source,
            }
        })?;
        Ok(paths
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect())
    }

    /// The loaded plugin `name`, loading it on first use. Only the plugins a
    /// run actually reaches are compiled or read from the cache.
    async fn plugin(&self, name: &str) -> Result<Arc<Plugin>, String> {
        let mut loaded = self.loaded.lock().await;
        if let Some(plugin) = loaded.get(name) {
            return Ok(plugin.clone());
        }
        let path = self.plugins_dir.join(format!("{name}.wasm"));
        if !path.is_file() {
            return Err(format!("plugin file {} does not exist", path.display()));
        }
        let PluginLoad { result, .. } = self.plugins.load(&path).await;
        let plugin = Arc::new(result.map_err(|e| e.to_string())?);
        loaded.insert(name.to_string(), plugin.clone());
        Ok(plugin)
    }

    fn emit(&self, event: Event) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}
