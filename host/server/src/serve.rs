//! `savepoint serve`: the runtime's daemon, and the HTTP API in front of it.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use savepoint_runtime::Runtime;
use savepoint_runtime::daemon;
use savepoint_store::CheckpointStore;
use tokio::sync::watch;

use crate::backend::DaemonBackend;

/// How `serve` is set up.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The addresses of the HTTP API (those of `--listen`, resolved): the first that
    /// can be bound is served.
    pub listen: Vec<SocketAddr>,
    /// The folder of workflow files that `POST /runs` names.
    pub workflows_dir: PathBuf,
    /// At most this many runs driven at once.
    pub max_runs: usize,
    /// Who may reach the HTTP API, and its timeouts and connection limit.
    pub api: crate::api::ApiConfig,
}

/// Run the daemon (the scheduler, the lease renewal) and the HTTP API, until
/// `shutdown` resolves.
pub async fn serve<S: CheckpointStore>(
    runtime: Arc<Runtime<S>>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(config.listen.as_slice()).await?;
    let address = listener.local_addr()?;
    let running = daemon::start(runtime, config.max_runs).await;
    eprintln!(
        "savepoint serve: listening on http://{address} (owner {})",
        running.daemon().runtime().owner()
    );
    let backend = Arc::new(DaemonBackend {
        daemon: running.daemon().clone(),
        workflows_dir: config.workflows_dir,
        parsed: Default::default(),
    });
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let api = tokio::spawn(crate::api::serve(
        listener,
        backend,
        config.api,
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
    ));

    shutdown.await;
    eprintln!("savepoint serve: shutting down; abandoning runs in flight (they continue later)");
    let _ = stop_tx.send(true);
    running.shutdown().await;
    match api.await {
        Ok(result) => result,
        Err(join) => Err(std::io::Error::other(join)),
    }
}
