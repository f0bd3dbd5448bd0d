//! `--streams`: what event streams cost the step loop. One `savepoint serve` (the real
//! binary) on a SQLite file executes `--conc` W1 runs at once, created here (as in
//! `hosts`); every other round, `--streams` clients follow `GET /events` (every run's
//! events: each gets every event of every run, the heaviest stream there is) for the
//! whole round. The rounds alternate (none, streams, none, ...) so that drift of the
//! machine falls on both alike. The figure is the step throughput of each, and the drop.
//!
//! The clients are raw sockets on this process's runtime: they read and count bytes,
//! and parse nothing but the response head.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use savepoint_plugin::PluginHost;
use savepoint_runtime::Runtime;
use savepoint_store::SystemClock;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::backend::{Backend, Sqlite};
use crate::chain::{Chain, NODES};
use crate::hosts::{self, Host};
use crate::options::Plan;
use crate::w1::Bed;

/// The W1 state: 100 B, as the hosts scenario.
const PAYLOAD: usize = 100;

/// The throughput with and without streams.
#[derive(Debug, Default)]
pub struct Measured {
    pub steps_without: u64,
    pub wall_without: Duration,
    pub steps_with: u64,
    pub wall_with: Duration,
    /// Bytes the clients received in the rounds with streams, all clients together.
    pub bytes_received: u64,
    pub errors: Vec<String>,
}

impl Measured {
    pub fn steps_per_s_without(&self) -> f64 {
        self.steps_without as f64 / self.wall_without.as_secs_f64()
    }

    pub fn steps_per_s_with(&self) -> f64 {
        self.steps_with as f64 / self.wall_with.as_secs_f64()
    }

    /// How much slower with streams, as a fraction (0.05: 5% fewer steps per second).
    pub fn drop(&self) -> f64 {
        1.0 - self.steps_per_s_with() / self.steps_per_s_without()
    }

    pub fn json(&self, plan: &Plan) -> Value {
        json!({
            "streams": plan.streams,
            "conc": plan.conc,
            "rounds": plan.rounds,
            "steps_per_s_without_streams": self.steps_per_s_without(),
            "steps_per_s_with_streams": self.steps_per_s_with(),
            "throughput_drop": self.drop(),
            "bytes_received": self.bytes_received,
            "errors": self.errors,
        })
    }
}

pub async fn measure(
    plan: &Plan,
    scratch: &std::path::Path,
    bed: &Bed,
) -> anyhow::Result<Measured> {
    let chain = Chain::read(&plan.workflow)?;
    let sqlite = Sqlite {
        scratch: scratch.to_path_buf(),
    };
    let name = "streams";
    let store = Arc::new(sqlite.open(name).await?);
    let db = sqlite.location(name);
    let plugins = PluginHost::new(Some(bed.cache.clone()))
        .map_err(|e| anyhow!("cannot start the WebAssembly engine: {e:#}"))?;
    let runtime = Arc::new(Runtime::new(
        Arc::clone(&store),
        plugins,
        bed.plugins.clone(),
        Arc::new(SystemClock),
    ));
    let hosts_plan = hosts::Plan {
        bed,
        savepoint: &plan.savepoint,
        scratch,
        workflow_path: chain.path.clone(),
        workflow_text: chain.with_plugin("counter", false),
        payload: PAYLOAD,
        conc: plan.conc,
        rounds: plan.rounds,
        meter: None,
    };
    let host = Host::start(&hosts_plan, &db, "streams-host")?;
    let result = async {
        let mut measured = Measured::default();
        // Untimed: the host loads the component.
        hosts::round(&runtime, &*store, &hosts_plan, "warmup").await?;
        for r in 0..plan.rounds * 2 {
            let with_streams = r % 2 == 1;
            let clients = match with_streams {
                true => Some(Clients::open(&host.addr, plan.streams).await?),
                false => None,
            };
            let prefix = format!("round-{r}");
            let (wall, errors) = hosts::round(&runtime, &*store, &hosts_plan, &prefix).await?;
            measured.errors.extend(errors);
            let steps = plan.conc as u64 * NODES;
            match clients {
                Some(clients) => {
                    measured.bytes_received += clients.close().await;
                    measured.steps_with += steps;
                    measured.wall_with += wall;
                }
                None => {
                    measured.steps_without += steps;
                    measured.wall_without += wall;
                }
            }
            eprintln!(
                "  round {r} ({} streams): {:.0} steps/s",
                if with_streams { plan.streams } else { 0 },
                steps as f64 / wall.as_secs_f64()
            );
        }
        anyhow::Ok(measured)
    }
    .await;
    host.stop();
    result
}

/// `n` clients following `GET /events` on `addr`, counting the bytes they receive.
struct Clients {
    tasks: JoinSet<()>,
    events: Arc<AtomicU64>,
}

impl Clients {
    /// Connects them all; returns once every one has its response head (its stream is
    /// subscribed: what is committed from then on reaches it).
    async fn open(addr: &str, n: usize) -> anyhow::Result<Clients> {
        let events = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        let (ready_tx, mut ready) = tokio::sync::mpsc::channel(n.max(1));
        for _ in 0..n {
            let mut stream = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connect to {addr}"))?;
            let request = format!(
                "GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await?;
            let (events, ready_tx) = (Arc::clone(&events), ready_tx.clone());
            tasks.spawn(async move {
                let _ = follow(stream, &events, ready_tx).await;
            });
        }
        drop(ready_tx);
        for _ in 0..n {
            match tokio::time::timeout(Duration::from_secs(30), ready.recv()).await {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(head))) => bail!("GET /events was answered {head:?}"),
                _ => bail!("a client of GET /events got no answer"),
            }
        }
        Ok(Clients { tasks, events })
    }

    /// Disconnects them; the bytes they received.
    async fn close(mut self) -> u64 {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.events.load(Ordering::Relaxed)
    }
}

/// Reads the response head (says on `ready` whether it is a 200 stream), then counts
/// the bytes of the stream until the connection ends.
async fn follow(
    mut stream: TcpStream,
    events: &AtomicU64,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    let carry = loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            let said = String::from_utf8_lossy(&head).into_owned();
            let _ = ready.send(Err(said)).await;
            return Ok(());
        }
        head.extend_from_slice(&buffer[..n]);
        if let Some(at) = find(&head, b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 200") {
                let said = String::from_utf8_lossy(&head[..at]).into_owned();
                let _ = ready.send(Err(said)).await;
                return Ok(());
            }
            let _ = ready.send(Ok(())).await;
            break head.split_off(at + 4);
        }
    };
    // Bytes, not parsed events: the clients share the machine with the host, and
    // should cost it as little as a browser tab in another machine would.
    events.fetch_add(carry.len() as u64, Ordering::Relaxed);

    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        events.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The table of `--streams`.
pub fn table(json: &serde_json::Map<String, Value>) -> String {
    let get = |key: &str| json.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
    format!(
        "event streams: {} clients of GET /events, {} W1 runs at once, {} rounds each way\n\
         steps/s without streams   {:>10.0}\n\
         steps/s with streams      {:>10.0}\n\
         throughput drop           {:>9.1}%   (target < 10%)\n\
         MB received by the clients{:>10.1}\n",
        get("streams"),
        get("conc"),
        get("rounds"),
        get("steps_per_s_without_streams"),
        get("steps_per_s_with_streams"),
        get("throughput_drop") * 100.0,
        get("bytes_received") / 1e6,
    )
}
