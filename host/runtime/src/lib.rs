//! Executing runs: the step loop, parking and waking, leases.
//!
//! A step loads the run's position (its latest checkpoint: state, next nodes,
//! step), calls the step's nodes in fresh sandboxes (several at once for
//! parallel branches), merges their updates with the workflow's reducers,
//! routes, and commits the new checkpoint and the run's new position in one
//! store transaction. A step that cannot commit records a setback instead: a
//! failure, a retry wait, or an interrupt.
//!
//! In the files: `drive` loops over steps; `step` performs one (its nodes'
//! calls, with the plugins from `catalogue`, which loads each version once),
//! and `decide` says what those calls make of it, a pure function of plain
//! values (failures first, then interrupts, then writes; sleepers park the
//! run); `pins` pins new runs to the plugins' current versions; `child` is
//! the branch of a sub-workflow node (it creates and waits for a child run),
//! and `child_files` checks the child workflow files before a run exists.
//!
//! The CLI drives one run in the foreground ([`Runtime::start`],
//! [`Runtime::resume`]); `savepoint serve` drives many (the `savepoint-server` crate's daemon).
//! Either way the process first takes a lease on the run, so that two
//! processes do not execute the same run at once: a process that cannot renew
//! a lease in time (the database did not answer) stops its calls for that run
//! before the lease can pass to another, and one that was stalled past that
//! point (stopped, frozen) stops them as soon as it wakes, discarding their
//! results (see [`savepoint_plugin::Lease`]). The lease epoch, which grows on
//! every takeover, is the fencing token nodes give outside systems. The runtime reads the workflow's rules
//! from [`savepoint_workflow`], calls nodes through [`savepoint_plugin`], and writes
//! only through the [`CheckpointStore`] trait: it never sees SQL or wasmtime
//! types.

mod batch;
mod catalogue;
mod check;
mod child;
mod child_files;
pub mod daemon;
mod decide;
mod drive;
mod error;
mod events;
mod metrics;
mod outage;
mod owner;
mod pins;
mod retain;
pub mod schedule;
mod secrets;
mod sends;
mod slots;
mod step;
mod travel;
mod wake;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::Mutex;

use savepoint_plugin::{Lease, PluginHost};
use savepoint_store::{CheckpointStore, Clock, RunRecord, RunStatus, Setback, StoreError};
use savepoint_workflow::Workflow;

pub use batch::{Batch, BatchRun, batch_thread};
pub use check::{MissingSecrets, Report, check_workflow};
pub use drive::Wait;
pub use error::RuntimeError;
pub use metrics::{Metrics, MetricsSnapshot, NodeSnapshot};
pub use pins::{Upgrade, UpgradeProblem, UpgradeReport};
pub use retain::{RETAIN_EVERY, Retained};
pub use step::is_fatal_failure;
pub use travel::{DeleteScope, Edit, Fork, UPDATE_NODE};

/// How long a lease lasts without renewal, unless [`Runtime::with_lease`]
/// says otherwise. A process that dies holding leases blocks its runs this
/// long, unless it ran on this machine (then its runs are taken over at once).
pub const LEASE: Duration = Duration::from_secs(10);
/// The shortest lease [`Runtime::with_lease`] accepts: four renewals and a
/// margin fit in it.
pub const SHORTEST_LEASE: Duration = Duration::from_secs(2);
/// How often leases are renewed (and cancellations noticed).
pub const RENEW_EVERY: Duration = Duration::from_millis(500);

/// Something that happened to a run, for progress output.
#[derive(Debug, Clone)]
pub enum Event {
    /// A checkpoint was committed.
    Committed {
        thread: String,
        step: u64,
        nodes: Vec<String>,
        digests: Vec<String>,
        /// Time spent calling the step's nodes.
        elapsed: Duration,
        /// Time spent waiting for the checkpoint to be durable.
        commit: Duration,
        next: Vec<String>,
        status: RunStatus,
        /// When a sleeping run wakes.
        wake_at_ms: Option<i64>,
    },
    /// A step did not commit: it failed, waits for a retry, or waits for input.
    Setback {
        thread: String,
        step: u64,
        node: String,
        kind: Setback,
        error: Option<String>,
    },
    /// The run is parked until a time, and this process waits for it.
    Waiting { thread: String, until_ms: i64 },
    /// `run` created the run (everything checked before its first node
    /// passed), and goes on with its first step.
    Started {
        thread: String,
        workflow_path: String,
    },
    /// `resume` took the run over and goes on with step `step` (it had
    /// `step - 1` committed, and status `was`): sent once the resume is
    /// accepted, never before a refusal.
    Resuming {
        thread: String,
        step: u64,
        was: RunStatus,
    },
}

/// Receives [`Event`]s as they happen.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// What `savepoint run` and `savepoint start` ask for.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The workflow file as the user named it (used in messages and recorded).
    pub workflow_path: String,
    /// Its text, which the run is pinned to.
    pub workflow_text: String,
    pub thread: String,
    /// The initial state: a JSON object.
    pub input: Map<String, Value>,
    /// Labels for listings to filter on (`--tag key=value`).
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Executes runs against a store and a plugins folder.
pub struct Runtime<S> {
    store: Arc<S>,
    /// The plugins folder's plugins, as loaded and read.
    plugins: catalogue::Catalogue,
    workflows: Mutex<HashMap<String, Arc<Workflow>>>,
    clock: Arc<dyn Clock>,
    observer: Option<Observer>,
    owner: String,
    node_slots: Arc<slots::Slots>,
    /// How long a lease lasts without renewal ([`LEASE`] by default).
    lease: Duration,
    /// What the step path counts and times, for `GET /metrics`.
    metrics: Metrics,
}

impl<S> std::fmt::Debug for Runtime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("plugins_dir", &self.plugins.dir())
            .field("owner", &self.owner)
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
            plugins: catalogue::Catalogue::new(plugins, plugins_dir),
            workflows: Mutex::new(HashMap::new()),
            clock,
            observer: None,
            owner: owner::new_owner(),
            node_slots: slots::Slots::new(usize::MAX),
            lease: LEASE,
            metrics: Metrics::default(),
        }
    }

    /// Take leases that last `lease` without renewal (at least
    /// [`SHORTEST_LEASE`]) instead of [`LEASE`]. Every process on one
    /// database should use the same.
    pub fn with_lease(mut self, lease: Duration) -> Runtime<S> {
        self.lease = lease.max(SHORTEST_LEASE);
        self
    }

    /// The lease length, in the store's milliseconds.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// A lease this process got by a request sent at `asked`, in lease
    /// epoch `epoch`.
    fn held_lease(&self, epoch: u64, asked: Instant) -> Lease {
        Lease::new(epoch, asked + self.lease_surely_valid())
    }

    /// How long after the request that took or renewed it a lease is surely
    /// still this process's: the lease less a fifth, a margin for clock rates
    /// and for the time the request took to apply (the database counts the
    /// lease from then; this process from before it asked).
    fn lease_surely_valid(&self) -> Duration {
        self.lease - self.lease / 5
    }

    /// Report progress to `observer`.
    pub fn with_observer(mut self, observer: Observer) -> Runtime<S> {
        self.observer = Some(observer);
        self
    }

    /// Allow at most `n` node calls in flight at once, shared fairly among workflows.
    pub fn with_node_limit(mut self, n: usize) -> Runtime<S> {
        self.node_slots = slots::Slots::new(n.max(1));
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn plugins_dir(&self) -> &Path {
        self.plugins.dir()
    }

    pub fn plugin_host(&self) -> &PluginHost {
        self.plugins.host()
    }

    /// What this process counted and timed of the runs it executed.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// This process's lease owner id (`host:pid:start`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Validate a workflow text against the plugins folder.
    pub fn validate(&self, workflow_path: &str, text: &str) -> Result<Workflow, RuntimeError> {
        validate(self.plugins.dir(), workflow_path, text)
    }

    /// The run's record, or a not-found error naming the thread.
    pub async fn load(&self, thread: &str) -> Result<RunRecord, RuntimeError> {
        Ok(self.store.existing_run(thread).await?)
    }

    /// Cancel a run: it stops at once if this process executes it, within a
    /// lease renewal if another process does, and keeps its history.
    pub async fn cancel(&self, thread: &str) -> Result<RunRecord, RuntimeError> {
        self.load(thread).await?;
        match self.store.cancel(thread).await {
            Ok(run) => {
                events::cancelled(thread);
                Ok(run)
            }
            Err(StoreError::Finished { thread, status }) => {
                Err(RuntimeError::AlreadyFinished { thread, status })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The workflow a run is pinned to: the text stored at its start.
    pub async fn workflow_for(&self, run: &RunRecord) -> Result<Arc<Workflow>, RuntimeError> {
        let mut cache = self.workflows.lock().await;
        if let Some(workflow) = cache.get(&run.workflow_digest) {
            return Ok(workflow.clone());
        }
        let text = self
            .store
            .workflow_text(&run.workflow_digest)
            .await?
            .ok_or_else(|| {
                RuntimeError::Store(StoreError::Corrupt(format!(
                    "thread \"{}\": workflow text {} is missing",
                    run.thread, run.workflow_digest
                )))
            })?;
        let workflow = Arc::new(Workflow::parse(&run.workflow_path, &text)?);
        cache.insert(run.workflow_digest.clone(), workflow.clone());
        Ok(workflow)
    }

    /// The workflow file `file` with the text `text`, parsed for a new run: from the
    /// cache of [`Runtime::workflow_for`] when a run of the same text was created or
    /// executed before (the parse does not depend on the file's name: its errors are
    /// located when reported). Parsing the TOML again for every run was 4% of the
    /// host's CPU in W1 with 100 runs at once.
    pub(crate) async fn parse_new(
        &self,
        file: &str,
        text: &str,
    ) -> Result<Arc<Workflow>, savepoint_workflow::Unfinished> {
        let digest = savepoint_base::digest::sha256(text.as_bytes());
        if let Some(workflow) = self.workflows.lock().await.get(&digest) {
            return Ok(workflow.clone());
        }
        let workflow = Arc::new(Workflow::parse_unfinished(file, text)?);
        self.workflows.lock().await.insert(digest, workflow.clone());
        Ok(workflow)
    }

    fn emit(&self, event: Event) {
        events::observed(&event);
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}

/// Parse a workflow text and check that every node's plugin is in
/// `plugins_dir`; errors name the file and line.
pub fn validate(
    plugins_dir: &Path,
    workflow_path: &str,
    text: &str,
) -> Result<Workflow, RuntimeError> {
    let workflow = Workflow::parse(workflow_path, text)?;
    let available = plugin_names(plugins_dir)?;
    workflow.check_plugins(
        workflow_path,
        &plugins_dir.display().to_string(),
        &available,
    )?;
    let problems = child_files::child_problems(&workflow, workflow_path, plugins_dir, &available);
    if !problems.is_empty() {
        return Err(RuntimeError::Workflow(problems));
    }
    Ok(workflow)
}

/// The plugin names in `plugins_dir`, or an error that says how to choose
/// another folder.
pub fn plugin_names(plugins_dir: &Path) -> Result<Vec<String>, RuntimeError> {
    savepoint_plugin::plugin_names(plugins_dir).map_err(|source| RuntimeError::PluginsDir {
        dir: plugins_dir.to_path_buf(),
        source,
    })
}

/// A new thread id: `run-<unix seconds, base 36>-<6 random hex digits>`.
pub fn new_thread_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let random = RandomState::new().hash_one(now.as_nanos()) & 0xff_ffff;
    format!("run-{}-{random:06x}", base36(now.as_secs()))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A thread id is 1 to 200 characters without whitespace, control characters, or
/// characters that change how text around them looks on a terminal (bidirectional
/// controls, zero-width characters: [`savepoint_base::text::hazard`]), so that the id a
/// person reads is the id they type.
pub fn check_thread_id(thread: &str) -> Result<(), String> {
    const RULE: &str = "a thread id is 1 to 200 characters without spaces, control \
                        characters, or bidirectional and zero-width characters";
    if thread.is_empty() || thread.len() > 200 {
        return Err(format!("invalid thread id {thread:?}: {RULE}"));
    }
    let bad = |c: char| {
        savepoint_base::text::hazard(c).or_else(|| c.is_whitespace().then_some("whitespace"))
    };
    if let Some((c, kind)) = thread.chars().find_map(|c| Some((c, bad(c)?))) {
        return Err(format!(
            "invalid thread id {thread:?}: it contains U+{:04X} ({kind}); {RULE}",
            c as u32
        ));
    }
    Ok(())
}
