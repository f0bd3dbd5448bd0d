//! `savepoint serve`: the runtime's daemon, and the HTTP API in front of it.
//!
//! [`start`] binds and starts the daemon, [`Serving::run`] answers until told to stop;
//! what `savepoint serve` says in between (its address, that it shuts down) is the
//! CLI's to print.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use savepoint_runtime::Runtime;
use savepoint_runtime::daemon;
use savepoint_store::CheckpointStore;
use tokio::sync::watch;
use tracing::Instrument;

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
    /// `--retain`: finished runs last updated longer ago than this are deleted in the
    /// background; `None` keeps every run.
    pub retain: Option<std::time::Duration>,
}

/// `savepoint serve` started: its API's address bound and its daemon driving runs.
/// Nothing is answered until [`Serving::run`]; the caller says first that it listens.
#[derive(Debug)]
pub struct Serving<S> {
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    running: daemon::Running<S>,
    workflows_dir: PathBuf,
    api: crate::api::ApiConfig,
    /// The span everything the daemon and the API log happens in.
    span: tracing::Span,
}

/// Bind the HTTP API's address and start the daemon (the scheduler, the lease
/// renewal).
pub async fn start<S: CheckpointStore>(
    runtime: Arc<Runtime<S>>,
    config: ServeConfig,
) -> Result<Serving<S>, std::io::Error> {
    let listener = tokio::net::TcpListener::bind(config.listen.as_slice()).await?;
    let address = listener.local_addr()?;
    // Lines logged inside it are the daemon's (`savepoint serve: ...` by default).
    let span = tracing::info_span!("serve");
    let mut running = daemon::start(runtime, config.max_runs)
        .instrument(span.clone())
        .await;
    if let Some(keep) = config.retain {
        let _entered = span.enter();
        running.retain(keep);
    }
    Ok(Serving {
        listener,
        address,
        running,
        workflows_dir: config.workflows_dir,
        api: config.api,
        span,
    })
}

impl<S: CheckpointStore + Clone> Serving<S> {
    /// The address the API listens on (its port picked, for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The daemon's lease owner id.
    pub fn owner(&self) -> &str {
        self.running.daemon().runtime().owner()
    }

    /// Answer HTTP until `shutdown` resolves, then stop: runs in flight are abandoned
    /// (they continue later) and their leases released.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), std::io::Error> {
        let running = self.running;
        let backend = Arc::new(DaemonBackend {
            daemon: running.daemon().clone(),
            workflows_dir: self.workflows_dir,
            parsed: Default::default(),
            hub: Default::default(),
        });
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let api = tokio::spawn(
            crate::api::serve(self.listener, backend, self.api, async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .instrument(self.span.clone()),
        );

        shutdown.await;
        let _ = stop_tx.send(true);
        running.shutdown().instrument(self.span).await;
        match api.await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}
