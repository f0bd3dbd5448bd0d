//! W1 in-process: the 10-node chain driven through the `savepoint` library the
//! way the CLI drives it (a store, a `PluginHost`, `Runtime::start`), many
//! workflows one after another or many at once, each a new thread id, on a
//! fresh database per configuration (a file, or a Postgres schema: the
//! [`Backend`]).
//!
//! Every committed step is timestamped by an observer on the runtime
//! ([`Event::Committed`], which also says how long the step waited for its
//! durable commit and how long its node calls took); the samples are computed
//! from those stamps once the configuration has finished.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use savepoint_plugin::PluginHost;
use savepoint_runtime::{Event, Observer, Runtime, StartRun, Wait};
use savepoint_store::{RunRecord, RunStatus, SystemClock};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use crate::backend::Backend;
use crate::chain::NODES;
use crate::cost;
use crate::wal::{self, WalCount};

/// What every configuration shares: the plugins folder and the compile cache
/// (warm after the first load of a component).
#[derive(Debug, Clone)]
pub struct Bed {
    pub plugins: PathBuf,
    pub cache: PathBuf,
}

/// One configuration of the workload.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database's name (file stem, schema), and the prefix of the thread ids.
    pub name: String,
    /// As the user named the workflow file.
    pub workflow_path: String,
    pub workflow_text: String,
    /// Bytes of the state's `payload` string.
    pub payload: usize,
    /// Whether a round starts its workflows at once (else one after another).
    pub concurrent: bool,
}

/// What one configuration measured.
#[derive(Debug, Default)]
pub struct Measured {
    /// Steps of the timed workflows.
    pub steps: u64,
    /// The rounds' time: from a round's first start to its last return, summed.
    pub wall: Duration,
    /// Between two consecutive commits of one run (steps 2 to 10 of each).
    pub latency: Vec<Duration>,
    /// `latency` less the later step's wait for its durable commit.
    pub overhead: Vec<Duration>,
    /// Every step's wait for its durable commit.
    pub commit: Vec<Duration>,
    /// Every step's node call: a fresh instance (or a reused one) + `run`.
    pub call: Vec<Duration>,
    /// The database after close (SQLite: main file + WAL, if any; Postgres:
    /// the schema's tables with their indexes).
    pub db_bytes: u64,
    /// Steps committed in the database file, the warm-up workflow included.
    pub db_steps: u64,
    /// Runs that did not complete with `count = 10`, or did not start.
    pub errors: Vec<String>,
    /// This process's CPU time (user + system, every thread) during the rounds.
    pub cpu: Duration,
    /// WAL frames and commits per step (SQLite, sequential workflows only:
    /// read around each workflow, when nothing else writes).
    pub wal: WalCount,
}

impl Measured {
    pub fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.wall.as_secs_f64()
    }

    /// The host's CPU per step, in microseconds.
    pub fn cpu_us_per_step(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.steps as f64
    }

    pub fn bytes_per_step(&self) -> f64 {
        self.db_bytes as f64 / self.db_steps.max(1) as f64
    }
}

/// One configuration in progress: a runtime over a fresh database, warmed up,
/// that runs rounds of workflows when asked (so that other measurements can be
/// interleaved with them) until it is closed.
pub struct Session<'b, B: Backend> {
    backend: &'b B,
    config: Config,
    runtime: Arc<Runtime<B::Store>>,
    store: Weak<B::Store>,
    recorder: Arc<Recorder>,
    input: Map<String, Value>,
    rounds: usize,
    timed: u64,
    wall: Duration,
    cpu: Duration,
    errors: Vec<String>,
    /// The wal-index to read around sequential workflows, and what it counted.
    wal_index: Option<PathBuf>,
    wal: WalCount,
}

impl<'b, B: Backend> Session<'b, B> {
    /// Open the database and the runtime, and run the warm-up workflow (which
    /// loads the component: compiled, or from the cache).
    pub async fn open(bed: &Bed, backend: &'b B, config: Config) -> anyhow::Result<Self> {
        let recorder = Arc::new(Recorder::default());
        let store = Arc::new(backend.open(&config.name).await?);
        let weak = Arc::downgrade(&store);
        let host = PluginHost::new(Some(bed.cache.clone()))
            .map_err(|e| anyhow!("cannot start the WebAssembly engine: {e:#}"))?;
        let runtime = Runtime::new(store, host, bed.plugins.clone(), Arc::new(SystemClock))
            .with_observer(recorder.observer());
        let wal_index = backend.wal_index(&config.name);
        let session = Session {
            backend,
            input: input(config.payload),
            config,
            runtime: Arc::new(runtime),
            store: weak,
            recorder,
            rounds: 0,
            timed: 0,
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            errors: Vec::new(),
            wal_index,
            wal: WalCount::default(),
        };
        let name = &session.config.name;
        let warmup = format!("{name}-warmup");
        let run = session
            .runtime
            .start(session.start(&warmup), Wait::UntilParked)
            .await
            .with_context(|| format!("{name}: the warm-up run failed"))?;
        if let Some(error) = check(&run) {
            anyhow::bail!("{name}: the warm-up run: {error}");
        }
        session.recorder.take_stamps();
        Ok(session)
    }

    /// Run one round of `workflows` workflows, at once or one after another;
    /// only rounds are timed.
    pub async fn round(&mut self, workflows: usize) {
        let round = self.rounds;
        self.rounds += 1;
        self.timed += workflows as u64;
        let name = self.config.name.clone();
        // Only the rounds run in this process meanwhile (the floor's blocks come
        // between them): its CPU is the host's.
        let cpu = cost::process_cpu();
        let started = Instant::now();
        if self.config.concurrent {
            let mut tasks = JoinSet::new();
            for i in 0..workflows {
                let runtime = Arc::clone(&self.runtime);
                let thread = format!("{name}-{round}-{i}");
                let start = self.start(&thread);
                tasks.spawn(async move { (thread, runtime.start(start, Wait::UntilParked).await) });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok((thread, result)) => self.errors.extend(outcome(&thread, result)),
                    Err(e) => self.errors.push(format!("a workflow task died: {e}")),
                }
            }
        } else {
            let wal_index = self.wal_index.clone();
            let read_wal = || wal_index.as_deref().and_then(wal::header);
            for i in 0..workflows {
                let thread = format!("{name}-{round}-{i}");
                let before = read_wal();
                let result = self
                    .runtime
                    .start(self.start(&thread), Wait::UntilParked)
                    .await;
                self.wal.add(before, read_wal(), NODES);
                self.errors.extend(outcome(&thread, result));
            }
        }
        self.wall += started.elapsed();
        self.cpu += cost::process_cpu().saturating_sub(cpu);
    }

    /// Close the runtime and the database, and measure it.
    pub async fn close(self) -> Measured {
        let timed = self.timed;
        drop(self.runtime);
        let db_bytes = self.backend.close(&self.config.name, self.store).await;
        let mut measured = self.recorder.samples();
        measured.steps = timed * NODES;
        measured.wall = self.wall;
        measured.cpu = self.cpu;
        measured.db_bytes = db_bytes;
        measured.db_steps = (timed + 1) * NODES;
        measured.errors = self.errors;
        measured.wal = self.wal;
        measured
    }

    fn start(&self, thread: &str) -> StartRun {
        StartRun {
            workflow_path: self.config.workflow_path.clone(),
            workflow_text: self.config.workflow_text.clone(),
            thread: thread.to_owned(),
            input: self.input.clone(),
            tags: Default::default(),
        }
    }
}

/// Run one configuration: one round of `workflows` workflows.
pub async fn run<B: Backend>(
    bed: &Bed,
    backend: &B,
    config: Config,
    workflows: usize,
) -> anyhow::Result<Measured> {
    let mut session = Session::open(bed, backend, config).await?;
    session.round(workflows).await;
    Ok(session.close().await)
}

/// The initial state: `{count: 0, payload: "x" * size}`.
pub fn input(size: usize) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert("count".into(), json!(0));
    input.insert("payload".into(), json!("x".repeat(size)));
    input
}

fn outcome(
    thread: &str,
    result: Result<RunRecord, savepoint_runtime::RuntimeError>,
) -> Option<String> {
    match result {
        Ok(run) => check(&run).map(|e| format!("thread {thread}: {e}")),
        Err(e) => Some(format!("thread {thread}: {e}")),
    }
}

/// Why a finished run is not a completed 10-step chain, if it is not.
pub fn check(run: &RunRecord) -> Option<String> {
    let count = run.state.get("count").and_then(Value::as_u64);
    if run.status != RunStatus::Completed || run.step != NODES || count != Some(NODES) {
        return Some(format!(
            "{} after {} steps with count {count:?}{}",
            run.status,
            run.step,
            run.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    None
}

/// One committed step as the observer saw it.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    step: u64,
    at: Instant,
    commit: Duration,
    call: Duration,
}

/// Collects the stamps of every run, by thread.
#[derive(Debug, Default)]
struct Recorder {
    stamps: Mutex<HashMap<String, Vec<Stamp>>>,
}

impl Recorder {
    fn observer(self: &Arc<Self>) -> Observer {
        let recorder = Arc::clone(self);
        Arc::new(move |event: &Event| {
            let at = Instant::now();
            if let Event::Committed {
                thread,
                step,
                elapsed,
                commit,
                ..
            } = event
            {
                let stamp = Stamp {
                    step: *step,
                    at,
                    commit: *commit,
                    call: *elapsed,
                };
                let mut stamps = recorder
                    .stamps
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                stamps.entry(thread.clone()).or_default().push(stamp);
            }
        })
    }

    fn take_stamps(&self) -> HashMap<String, Vec<Stamp>> {
        std::mem::take(&mut *self.stamps.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The latency, overhead, commit and call samples of every run so far.
    fn samples(&self) -> Measured {
        let mut measured = Measured::default();
        for (_, mut stamps) in self.take_stamps() {
            stamps.sort_by_key(|s| s.step);
            for pair in stamps.windows(2) {
                let (before, after) = (pair[0], pair[1]);
                let latency = after.at - before.at;
                measured.latency.push(latency);
                measured.overhead.push(latency.saturating_sub(after.commit));
            }
            measured.commit.extend(stamps.iter().map(|s| s.commit));
            measured.call.extend(stamps.iter().map(|s| s.call));
        }
        measured
    }
}
