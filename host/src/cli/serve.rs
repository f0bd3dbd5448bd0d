use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use super::Global;
use crate::runtime::daemon::{ServeConfig, serve};

/// Run the background worker and the HTTP API.
///
/// The daemon executes many runs at once, wakes sleeping and retrying runs on
/// time, picks up runs created by `savepoint start` or `POST /runs`, and on
/// start recovers every run that was running when the last process died. It
/// takes a lease on each run it executes, so several daemons (and the CLI) can
/// share one database. SIGINT/SIGTERM stop it cleanly: runs in flight are
/// abandoned and continue later from their last checkpoint.
///
/// API (JSON): POST /runs {workflow, thread?, input?}; GET /runs?status=;
/// GET /runs/{id}; GET /runs/{id}/state; GET /runs/{id}/history;
/// POST /runs/{id}/resume {input?}; POST /runs/{id}/cancel; GET /workflows;
/// GET /plugins; GET /health.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address of the HTTP API (loopback by default; port 0 picks a free port).
    #[arg(long, env = "SAVEPOINT_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// At most this many node calls in flight at once.
    #[arg(long, env = "SAVEPOINT_WORKERS", default_value_t = 64)]
    workers: usize,
    /// At most this many runs executed at once.
    #[arg(long, default_value_t = 1000)]
    max_runs: usize,
    /// The folder of workflow files that `POST /runs` starts by name.
    #[arg(long, env = "SAVEPOINT_WORKFLOWS", default_value = "workflows")]
    workflows: PathBuf,
}

pub async fn main(global: &Global, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let store = global.open_store()?;
    let runtime = Arc::new(global.runtime(store)?.with_node_limit(args.workers));
    let config = ServeConfig {
        listen: args.listen,
        workflows_dir: args.workflows,
        max_runs: args.max_runs,
    };
    serve(runtime, config, shutdown_signal())
        .await
        .with_context(|| format!("savepoint serve on {}", args.listen))?;
    Ok(ExitCode::SUCCESS)
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
