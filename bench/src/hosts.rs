//! Several hosts on one database (the Postgres section runs it; any
//! [`Backend`] can): N `savepoint serve` processes (the real binary) share W1
//! runs that this benchmark creates, `conc` at once, the
//! way `savepoint start` creates them (`Runtime::create`: pending, for a
//! daemon; the NOTIFY of the creation wakes the hosts).
//!
//! A round is timed from just before its first creation to the last of its
//! runs' completions as the store stamped them (`updated_at_ms` of the
//! completed run, written by the host that completed it; every process here
//! reads the same clock). Completion is found by reading the round's runs one
//! after another until each has finished (a few ms between reads of a run
//! still going), so the polling neither loads the database nor sets the
//! figure. Which host ran a run is read from the hosts' own `run completed`
//! events (`RUST_LOG=savepoint_runtime::events=info`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use savepoint_plugin::PluginHost;
use savepoint_runtime::{Runtime, StartRun};
use savepoint_store::{CheckpointStore, Clock, RunRecord, RunStatus, SystemClock};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::backend::Backend;
use crate::chain::NODES;
use crate::cost::{Cost, Meter};
use crate::w1::{self, Bed};

/// The hosts' log filter: the CLI's default plus the run events.
const LOG_FILTER: &str = "savepoint=warn,savepoint_runtime::daemon=info,\
                          savepoint_server::serve=info,savepoint_runtime::events=info";
/// How long a host may take to say it listens, and the hosts to announce
/// themselves in the database.
const READY: Duration = Duration::from_secs(60);
/// How long a round may take before its runs count as failed.
const ROUND_LIMIT: Duration = Duration::from_secs(300);
/// Between two reads of a run that has not finished.
const POLL: Duration = Duration::from_millis(5);

/// What the hosts did together.
#[derive(Debug, Default)]
pub struct Shared {
    /// Steps of the timed runs.
    pub steps: u64,
    /// The rounds' time, summed.
    pub wall: Duration,
    /// Runs (timed or not) each host completed, by host.
    pub completed_by: Vec<usize>,
    /// Runs that did not complete with `count = 10`.
    pub errors: Vec<String>,
    /// The timed rounds' CPU (this process and the hosts) and WAL flushes.
    pub cost: Cost,
}

impl Shared {
    pub fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.wall.as_secs_f64()
    }

    /// The share of the runs the busiest host completed (1 / hosts when
    /// evenly shared).
    pub fn busiest_share(&self) -> Option<f64> {
        let total: usize = self.completed_by.iter().sum();
        let most = self.completed_by.iter().copied().max()?;
        (total > 0).then(|| most as f64 / total as f64)
    }
}

/// What a configuration of hosts runs.
pub struct Plan<'a> {
    pub bed: &'a Bed,
    pub savepoint: &'a Path,
    /// Where the hosts run (their working folder).
    pub scratch: &'a Path,
    pub workflow_path: String,
    pub workflow_text: String,
    pub payload: usize,
    pub conc: usize,
    pub rounds: usize,
    /// Counts CPU and WAL flushes around the timed rounds, if given.
    pub meter: Option<&'a Meter<'a>>,
}

/// `hosts` serve processes on a fresh schema called `name`; one untimed
/// round first (every host loads the component), then `plan.rounds` rounds.
pub async fn measure<B: Backend>(
    backend: &B,
    name: &str,
    hosts: usize,
    plan: &Plan<'_>,
) -> anyhow::Result<Shared> {
    // The database is made before the hosts start (they would wait for each
    // other's migration).
    let store = Arc::new(backend.open(name).await?);
    let db = backend.location(name);
    let plugins = PluginHost::new(Some(plan.bed.cache.clone()))
        .map_err(|e| anyhow!("cannot start the WebAssembly engine: {e:#}"))?;
    let runtime = Arc::new(Runtime::new(
        Arc::clone(&store),
        plugins,
        plan.bed.plugins.clone(),
        Arc::new(SystemClock),
    ));

    let mut running = Vec::with_capacity(hosts);
    for host in 0..hosts {
        running.push(Host::start(plan, &db, &format!("{name}-host{host}"))?);
    }
    let result = async {
        let deadline = Instant::now() + READY;
        loop {
            let daemons = store.daemons().await?.len();
            if daemons >= hosts {
                break;
            }
            if Instant::now() > deadline {
                bail!("{hosts} hosts started, {daemons} announced themselves in the database");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut shared = Shared::default();
        round(&runtime, &store, plan, &format!("{name}-warmup")).await?;
        let pids: Vec<u32> = running.iter().map(|host| host.child.id()).collect();
        for r in 0..plan.rounds {
            let before = match plan.meter {
                Some(meter) => Some(meter.sample(&pids).await),
                None => None,
            };
            let (wall, errors) = round(&runtime, &store, plan, &format!("{name}-{r}")).await?;
            if let (Some(meter), Some(before)) = (plan.meter, before) {
                meter.add(&mut shared.cost, &before, &pids).await;
            }
            shared.wall += wall;
            shared.steps += plan.conc as u64 * NODES;
            shared.errors.extend(errors);
        }
        anyhow::Ok(shared)
    }
    .await;
    let mut completed_by = Vec::new();
    for host in running {
        completed_by.push(host.stop());
    }
    let mut shared = result?;
    shared.completed_by = completed_by;
    Ok(shared)
}

/// Create `plan.conc` runs at once and wait for each to finish: the time from
/// the first creation to the last completion, and what did not complete.
pub(crate) async fn round<S: CheckpointStore>(
    runtime: &Arc<Runtime<S>>,
    store: &S,
    plan: &Plan<'_>,
    prefix: &str,
) -> anyhow::Result<(Duration, Vec<String>)> {
    let input: Map<String, Value> = w1::input(plan.payload);
    let started_ms = SystemClock.now_ms();
    let mut tasks = JoinSet::new();
    for i in 0..plan.conc {
        let runtime = Arc::clone(runtime);
        let start = StartRun {
            workflow_path: plan.workflow_path.clone(),
            workflow_text: plan.workflow_text.clone(),
            thread: format!("{prefix}-{i}"),
            input: input.clone(),
            tags: Default::default(),
        };
        tasks.spawn(async move { runtime.create(start).await });
    }
    let mut threads = Vec::with_capacity(plan.conc);
    while let Some(joined) = tasks.join_next().await {
        let run = joined.context("a creating task died")??;
        threads.push(run.thread);
    }
    let deadline = Instant::now() + ROUND_LIMIT;
    let mut last_ms = started_ms;
    let mut errors = Vec::new();
    for thread in threads {
        let run = finished(store, &thread, deadline).await?;
        last_ms = last_ms.max(run.updated_at_ms);
        if let Some(error) = w1::check(&run) {
            errors.push(format!("thread {thread}: {error}"));
        }
    }
    let wall = Duration::from_millis(u64::try_from(last_ms - started_ms).unwrap_or(0));
    Ok((wall, errors))
}

/// The run once it has completed, failed or been cancelled (or as it is at
/// `deadline`).
async fn finished<S: CheckpointStore>(
    store: &S,
    thread: &str,
    deadline: Instant,
) -> anyhow::Result<RunRecord> {
    loop {
        let run = store.existing_run(thread).await?;
        let done = matches!(
            run.status,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        );
        if done || Instant::now() > deadline {
            return Ok(run);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One `savepoint serve` process, and a thread that reads its stderr.
pub(crate) struct Host {
    child: Child,
    /// Where its API listens.
    pub(crate) addr: String,
    name: String,
    log: Arc<Mutex<Log>>,
    reader: std::thread::JoinHandle<()>,
}

/// What a host wrote on stderr: its `run completed` events and its last lines.
#[derive(Debug, Default)]
struct Log {
    completed: usize,
    tail: Vec<String>,
}

impl Host {
    /// Start it and wait until it listens.
    pub(crate) fn start(plan: &Plan<'_>, db: &std::ffi::OsStr, name: &str) -> anyhow::Result<Host> {
        let folder = plan.scratch.join(name);
        std::fs::create_dir_all(&folder)?;
        let mut child = Command::new(plan.savepoint)
            .arg("--db")
            .arg(db)
            .arg("--plugins")
            .arg(&plan.bed.plugins)
            .arg("--cache")
            .arg(&plan.bed.cache)
            .args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
            .arg(workflows_dir(&folder)?)
            .current_dir(&folder)
            .env("RUST_LOG", LOG_FILTER)
            .env_remove("SAVEPOINT_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", plan.savepoint.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Log::default()));
        let (ready_tx, ready) = mpsc::channel();
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some((_, url)) = line.split_once("listening on http://") {
                        let addr = url.split_whitespace().next().unwrap_or("").to_owned();
                        let _ = ready_tx.send(addr);
                    }
                    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                    if line.contains("run completed") {
                        log.completed += 1;
                    }
                    log.tail.push(line);
                    if log.tail.len() > 20 {
                        log.tail.remove(0);
                    }
                }
            })
        };
        let mut host = Host {
            child,
            addr: String::new(),
            name: name.to_owned(),
            log,
            reader,
        };
        match ready.recv_timeout(READY) {
            Ok(addr) => host.addr = addr,
            Err(_) => {
                let tail = host.tail();
                let _ = host.child.kill();
                let _ = host.child.wait();
                bail!("host {} did not start listening: {tail}", host.name);
            }
        }
        Ok(host)
    }

    fn tail(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tail
            .join("\n")
    }

    /// SIGTERM (a clean shutdown), then the runs it completed.
    pub(crate) fn stop(mut self) -> usize {
        let pid = self.child.id().to_string();
        let terminated = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !terminated {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = self.reader.join();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .completed
    }
}

/// An empty workflows folder (runs here are created by the benchmark, not by
/// `POST /runs`), so the host does not read the repository's.
fn workflows_dir(folder: &Path) -> anyhow::Result<PathBuf> {
    let dir = folder.join("workflows");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
