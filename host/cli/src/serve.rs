use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::Global;
use savepoint_base::units::{format_duration, format_size, parse_duration, parse_size};
use savepoint_server::ServeConfig;
use savepoint_server::api::{AllowedHost, ApiConfig, Token};
use savepoint_store::{AnyStore, StoreError};

/// Run the background worker and the HTTP API.
///
/// The daemon executes many runs at once, wakes sleeping and retrying runs on
/// time, picks up runs created by `savepoint start` or `POST /runs`, and on
/// start recovers every run that was running when the last process died. It
/// takes a lease on each run it executes, so several daemons (and the CLI) can
/// share one database. SIGINT/SIGTERM stop it cleanly: runs in flight are
/// abandoned and continue later from their last checkpoint.
///
/// It first checks that the database can be written (a write, rolled back),
/// and exits with 7 if not (a read-only file, folder or volume; a Postgres
/// password, database or permission that is wrong). A Postgres server that does
/// not answer yet is tried again, with a line per attempt and a wait that doubles
/// from 500 ms to 10 s, until it does. When the disk is full, or the database
/// stops answering, it says so once, tries again with a wait that doubles from
/// 200 ms to 5 s, and its runs continue from their last checkpoints once it works
/// again. It says at start when its
/// --workflows folder is missing or holds no workflow (POST /runs then starts
/// nothing by name). While it runs it renews a record of itself in the
/// database, by which `savepoint start` knows that a new run will be picked up.
///
/// API (JSON): POST /runs {workflow, thread?, input?, tags?};
/// GET /runs?status=&workflow=&tag=&since=&thread=&limit=&cursor= ({runs, next_cursor});
/// GET /runs/{id}; DELETE /runs/{id}?force=; GET /runs/{id}/state?step=;
/// GET /runs/{id}/history?limit=&cursor=&states=&diff=&all=;
/// GET /runs/{id}/logs?limit=&cursor=; GET /runs/{id}/events?limit=&cursor=
/// (pages: {entries, next_cursor}); POST /runs/{id}/resume {input?, upgrade?,
/// from_step?}; POST /runs/{id}/cancel; POST /runs/{id}/fork {step, thread, update?,
/// as_node?}; POST /runs/{id}/update {values, as_node?}; GET /workflows;
/// GET /plugins; GET /health; GET /openapi.json (this API as OpenAPI 3.1). A parameter
/// or field a route does not take is refused (400), never ignored.
///
/// Event streams (Server-Sent Events): GET /runs/{id}/events without limit or
/// cursor (and unless Accept asks for application/json only) sends the run's
/// events and log lines as they are committed, and ends once the run has
/// finished; GET /events?workflow= sends every run's events from now on, without
/// end. A client that reconnects with the Last-Event-ID header gets exactly what
/// it missed. A comment every 15 s keeps a quiet stream alive.
///
/// Every request must name this server in its Host header (its address,
/// localhost, or an --allowed-host); every POST and DELETE must be sent with
/// Content-Type: application/json (also with an empty body) and no foreign
/// Origin, so that a web page cannot drive the API. A --listen address that is
/// not loopback needs --token (then every request but GET /health and
/// GET /metrics needs Authorization: Bearer TOKEN, or the dashboard's login
/// cookie) or --insecure.
///
/// The dashboard is at / (its URL is printed at start); with --token it asks
/// for the token once at /login and keeps a session cookie. GET /metrics is
/// the Prometheus text format.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address of the HTTP API, IP:PORT or NAME:PORT (loopback by default; port
    /// 0 picks a free port). A name is resolved and the first of its addresses that
    /// can be bound is served (localhost:7878 works); a name is also accepted in the
    /// Host header. An address that is not loopback needs --token or --insecure.
    #[arg(
        long,
        env = "SAVEPOINT_LISTEN",
        default_value = "127.0.0.1:7878",
        value_name = "ADDR",
        value_parser = listen_address
    )]
    listen: String,
    /// Require `Authorization: Bearer TOKEN` on every request but GET /health and
    /// GET /metrics (also on loopback); the dashboard asks for it at /login and
    /// then sends a session cookie instead. At least 16 printable ASCII
    /// characters, e.g. from `openssl rand -hex 16`. Prefer the environment
    /// variable: arguments are visible to other users in `ps`.
    #[arg(
        long,
        env = "SAVEPOINT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    // Checked in `main`, not by clap: clap's message for a value it refuses quotes
    // the value, and a token must never be printed.
    token: Option<String>,
    /// Serve a --listen address that is not loopback without a token: anyone who
    /// can reach it can start, resume and cancel runs.
    #[arg(long)]
    insecure: bool,
    /// Another name that the Host and Origin headers may carry, as NAME (any port)
    /// or NAME:PORT, e.g. the name of a reverse proxy; repeatable (the variable
    /// takes a comma-separated list).
    #[arg(
        long = "allowed-host",
        env = "SAVEPOINT_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST[:PORT]"
    )]
    allowed_hosts: Vec<AllowedHost>,
    /// A connection whose request head (request line and headers) has not arrived
    /// within this is closed; it also ends idle keep-alive connections.
    #[arg(long, env = "SAVEPOINT_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION", value_parser = positive_duration)]
    header_timeout: Duration,
    /// A request body that has not arrived within this after its head gets 408.
    #[arg(long, env = "SAVEPOINT_BODY_TIMEOUT", default_value = "30s", value_name = "DURATION", value_parser = positive_duration)]
    body_timeout: Duration,
    /// At most this many API connections open at once. At the limit, a new
    /// connection closes the oldest idle one (between requests, or still sending
    /// its headers); only when all are busy with requests does it wait.
    #[arg(long, env = "SAVEPOINT_MAX_CONNECTIONS", default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// At most this many node calls in flight at once. A worker that frees goes to the
    /// waiting call whose workflow has the fewest calls in flight.
    #[arg(
        long,
        env = "SAVEPOINT_WORKERS",
        default_value_t = 64,
        value_name = "N"
    )]
    workers: usize,
    /// At most this many runs executed at once, shared fairly among workflows
    /// (a free slot goes to the workflow with the fewest runs executing).
    #[arg(
        long,
        env = "SAVEPOINT_MAX_RUNS",
        default_value_t = 1000,
        value_name = "N"
    )]
    max_runs: usize,
    /// The memory budget of all node instances together: each call reserves its
    /// node's whole `memory` limit before it starts and waits for room; a node
    /// whose limit is larger than the budget fails [default: half of this
    /// machine's memory, or of the cgroup's limit].
    #[arg(long, env = "SAVEPOINT_MAX_MEMORY", value_name = "SIZE", value_parser = memory_budget)]
    max_memory: Option<u64>,
    /// The folder of workflow files that `POST /runs` starts by name.
    #[arg(
        long,
        env = "SAVEPOINT_WORKFLOWS",
        default_value = "workflows",
        value_name = "DIR"
    )]
    workflows: PathBuf,
    /// Delete finished runs (completed, failed, cancelled) last updated longer ago
    /// than this, e.g. `30d`, with everything only they refer to: once at start, then
    /// every 5 minutes. Parked runs (sleeping, retrying, interrupted) are never
    /// deleted. Without it every run is kept.
    #[arg(long, env = "SAVEPOINT_RETAIN", value_name = "DURATION", value_parser = positive_duration)]
    retain: Option<Duration>,
}

pub async fn main(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let token = match args.token.as_deref().map(str::parse::<Token>).transpose() {
        Ok(token) => token,
        Err(why) => anyhow::bail!(crate::error::Failure::usage(format!(
            "invalid --token (or SAVEPOINT_TOKEN): {why}"
        ))),
    };
    let listen = resolve(&args.listen).await?;
    check_exposure(&args.listen, &listen, token.is_some(), args.insecure)?;
    let mut allowed_hosts = args.allowed_hosts;
    allowed_hosts.extend(listen_name(&args.listen));
    // A daemon that cannot write would only log the same failure forever; one whose
    // database does not answer yet waits for it.
    let Some(store) = store_when_reachable(global).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let budget = args
        .max_memory
        .unwrap_or_else(savepoint_plugin::default_budget);
    let plugins = global
        .plugin_host_for_runs()?
        .with_memory_budget(budget)
        .with_compile_notice(Some(global.compile_notice("savepoint serve: ")));
    let runtime = Arc::new(
        global
            .runtime_with(store, plugins)
            .with_node_limit(args.workers),
    );
    if let Some(warning) = workflows_warning(&args.workflows) {
        eprintln!("savepoint serve: {}", super::output::safe_lines(&warning));
    }
    let config = ServeConfig {
        listen,
        workflows_dir: args.workflows,
        max_runs: args.max_runs,
        api: ApiConfig {
            allowed_hosts,
            token,
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections as usize,
        },
        retain: args.retain,
    };
    let context = || format!("savepoint serve on {}", args.listen);
    let serving = savepoint_server::start(runtime, config)
        .await
        .with_context(context)?;
    eprintln!(
        "savepoint serve: listening on http://{} (owner {})",
        serving.address(),
        serving.owner()
    );
    eprintln!(
        "savepoint serve: dashboard: {}",
        dashboard_url(serving.address())
    );
    let shutdown = async {
        shutdown_signal().await;
        eprintln!(
            "savepoint serve: shutting down; abandoning runs in flight (they continue later)"
        );
    };
    serving.run(shutdown).await.with_context(context)?;
    Ok(ExitCode::SUCCESS)
}

/// The first wait after the database did not answer at start; it doubles after every
/// failed attempt in a row, up to [`LONGEST_START_WAIT`].
const FIRST_START_WAIT: Duration = Duration::from_millis(500);
/// The longest wait between two attempts to reach the database at start: a host that
/// boots before its database server starts within this of it, and says so in a line
/// per attempt (one every 10 s while it waits long).
const LONGEST_START_WAIT: Duration = Duration::from_secs(10);

/// The store, once the database can be written. A database server that does not answer
/// (a Postgres server that is down, still starting, or not reachable over the network:
/// [`StoreError::Unreachable`]) is tried again with a growing wait, one line per failed
/// attempt; any other failure stops `serve` at once. `None` if SIGINT or SIGTERM came
/// while it waited.
async fn store_when_reachable(global: &Global) -> anyhow::Result<Option<Arc<AnyStore>>> {
    let mut wait = FIRST_START_WAIT;
    loop {
        let error = match global.writable_store().await {
            Ok(store) => return Ok(Some(store)),
            Err(error) => error,
        };
        // Only a server that does not answer: a full disk at start stops serve as before
        // (a person frees space, then starts it).
        let unreachable = error
            .chain()
            .filter_map(|cause| cause.downcast_ref::<StoreError>())
            .any(|cause| matches!(cause, StoreError::Unreachable { .. }));
        if !unreachable {
            return Err(error);
        }
        eprintln!(
            "savepoint serve: {}; trying again in {}",
            super::output::safe_lines(&format!("{error:#}")),
            format_duration(wait)
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown_signal() => {
                eprintln!("savepoint serve: stopped before the database answered");
                return Ok(None);
            }
        }
        wait = (wait * 2).min(LONGEST_START_WAIT);
    }
}

/// What is wrong with the `--workflows` folder, if anything: `POST /runs` starts
/// only the workflows in it (read when a run is created, so the folder may come
/// later), while runs created otherwise are served all the same.
fn workflows_warning(dir: &std::path::Path) -> Option<String> {
    let shown = dir.display();
    let problem = match std::fs::read_dir(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            format!("there is no workflows folder {shown}")
        }
        Err(error) => format!("cannot read the workflows folder {shown}: {error}"),
        Ok(entries) => {
            let workflows = entries
                .flatten()
                .any(|entry| entry.path().extension().is_some_and(|e| e == "toml"));
            if workflows {
                return None;
            }
            format!("the workflows folder {shown} holds no workflow (NAME.toml)")
        }
    };
    Some(format!(
        "{problem} (--workflows, SAVEPOINT_WORKFLOWS): POST /runs can start no workflow by \
         name until one is there; runs from `savepoint start` and every earlier run are \
         served all the same"
    ))
}

/// `--listen`: `IP:PORT`, `[IPv6]:PORT` or `NAME:PORT`, checked (not resolved).
fn listen_address(text: &str) -> Result<String, String> {
    let valid = text.parse::<SocketAddr>().is_ok()
        || text.rsplit_once(':').is_some_and(|(name, port)| {
            port.parse::<u16>().is_ok()
                && !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        });
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not an address: expected IP:PORT or NAME:PORT, e.g. 127.0.0.1:7878, \
             [::1]:7878 or localhost:7878"
        ))
    }
}

/// The addresses of `--listen` (a name resolved), in the resolver's order.
async fn resolve(listen: &str) -> anyhow::Result<Vec<SocketAddr>> {
    if let Ok(address) = listen.parse::<SocketAddr>() {
        return Ok(vec![address]);
    }
    let mut addresses: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("--listen {listen}: cannot resolve the host name"))?
        .collect();
    let mut seen = std::collections::HashSet::new();
    addresses.retain(|address| seen.insert(*address));
    if addresses.is_empty() {
        bail!(super::Failure::usage(format!(
            "--listen {listen}: the host name resolves to no address"
        )));
    }
    Ok(addresses)
}

/// A `--listen` name (not an IP address), which requests may then carry in `Host`:
/// with its port, or any port when it is 0 (picked at start).
fn listen_name(listen: &str) -> Option<AllowedHost> {
    if listen.parse::<SocketAddr>().is_ok() {
        return None;
    }
    let (name, port) = listen.rsplit_once(':')?;
    let text = if port == "0" { name } else { listen };
    text.parse().ok()
}

/// The API of a daemon on a loopback address is reachable from this machine only;
/// on any other address (any of those a name resolves to) it needs a token, or
/// `--insecure` to say that it is meant.
fn check_exposure(
    text: &str,
    addresses: &[SocketAddr],
    token: bool,
    insecure: bool,
) -> anyhow::Result<()> {
    let exposed = addresses
        .iter()
        .find(|address| !address.ip().to_canonical().is_loopback());
    let Some(exposed) = exposed else {
        return Ok(());
    };
    if token {
        return Ok(());
    }
    let listen = if exposed.to_string() == text {
        text.to_string()
    } else {
        format!("{text} ({exposed})")
    };
    if !insecure {
        bail!(super::Failure::usage(format!(
            "--listen {listen} is not a loopback address: anyone who can reach it could \
             start, resume and cancel runs. Give --token TOKEN (or SAVEPOINT_TOKEN) to \
             require the header Authorization: Bearer TOKEN, or --insecure to serve it \
             without authentication"
        )));
    }
    eprintln!(
        "savepoint serve: warning: --insecure: the API on {listen} has no token; anyone who \
         can reach it can start, resume and cancel runs"
    );
    Ok(())
}

/// Where a browser on this machine finds the dashboard: the listen address, or the
/// loopback address when listening on every interface (`0.0.0.0` is no address to open).
fn dashboard_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!("http://{}/", SocketAddr::new(ip, address.port()))
}

/// A duration flag (`500ms`, `10s`, `1m`) that is more than zero.
fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("{text:?} is zero: give a duration such as \"10s\"")),
        duration => Ok(duration),
    }
}

/// A `--max-memory` size: at least the smallest `memory` a node may have.
fn memory_budget(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    let least = savepoint_base::limits::MIN_MEMORY;
    if bytes < least {
        return Err(format!(
            "{text:?} is less than {}, the smallest memory a node may have",
            format_size(least)
        ));
    }
    Ok(bytes)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm => {}
    }
}
