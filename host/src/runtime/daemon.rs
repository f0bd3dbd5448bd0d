//! `savepoint serve`: many runs at once. A scheduler claims runnable runs
//! (new, due after a sleep or retry wait, answered, or abandoned by a dead
//! process) with a lease, a task drives each one, and a renewal loop keeps
//! the leases alive and stops runs that were cancelled or taken over. A run
//! whose lease could not be renewed in time stops its calls on its own (see
//! [`crate::plugin::Lease`]). On
//! shutdown every run in flight is abandoned (its step runs again later) and
//! its lease released, so nothing is lost.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Notify, watch};

use super::drive::Stopped;
use super::outage::{Outage, Work};
use super::{RENEW_EVERY, Runtime, RuntimeError};
use crate::plugin::Lease;
use crate::store::{CheckpointStore, RunRecord, StoreError};

/// How often the scheduler looks for due runs when nothing wakes it earlier.
pub(super) const POLL: Duration = Duration::from_millis(200);

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

/// The state the scheduler, the drive tasks and the API share.
pub struct Daemon<S> {
    pub(super) runtime: Arc<Runtime<S>>,
    pub(super) workflows_dir: PathBuf,
    running: Mutex<HashMap<String, Held>>,
    wake: Notify,
    max_runs: usize,
    outage: std::sync::Mutex<Outage>,
}

/// A run this daemon drives: how to stop it, and its lease.
struct Held {
    stop: watch::Sender<bool>,
    lease: Lease,
}

impl<S> std::fmt::Debug for Daemon<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("workflows_dir", &self.workflows_dir)
            .finish_non_exhaustive()
    }
}

impl<S: CheckpointStore> Daemon<S> {
    /// Look for work now (a run was created or answered).
    pub(super) fn poke(&self) {
        self.wake.notify_one();
    }

    /// Stop driving `thread` in this process (it was cancelled).
    pub(super) async fn stop(&self, thread: &str) {
        if let Some(held) = self.running.lock().await.get(thread) {
            let _ = held.stop.send(true);
        }
    }

    /// The database failed at `work`: note it (logged once while it lasts), and make the
    /// scheduler wait longer before its next claim.
    fn store_failed(&self, work: Work, context: &str, error: &dyn std::fmt::Display) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = outage.failed(work, context, &error.to_string(), Instant::now()) {
            let line = crate::text::escape(&line, crate::text::Style::Lines);
            eprintln!("savepoint serve: {line}");
        }
    }

    /// `work` succeeded: if the database was failing at it, it works again.
    fn store_works(&self, work: Work) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = outage.works(work) {
            eprintln!("savepoint serve: {line}");
        }
    }

    async fn schedule(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let backoff = self
                .outage
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .backoff(Instant::now());
            if let Some(wait) = backoff {
                // Only time helps a failing database (a poke would only hammer it).
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
            match self.claim_and_spawn().await {
                Ok(()) => self.store_works(Work::Claim),
                Err(error) => self.store_failed(Work::Claim, "claiming runs failed", &error),
            }
            let store = self.runtime.store.clone();
            let next_wake = store.next_wake().await.ok().flatten();
            let now = self.runtime.clock.now_ms();
            let nap = next_wake
                .map(|t| {
                    Duration::from_millis(
                        t.saturating_sub(now).clamp(0, POLL.as_millis() as i64) as u64
                    )
                })
                .unwrap_or(POLL);
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(nap) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn claim_and_spawn(self: &Arc<Self>) -> Result<(), RuntimeError> {
        let free = self
            .max_runs
            .saturating_sub(self.running.lock().await.len());
        if free == 0 {
            return Ok(());
        }
        let dead = self.runtime.dead_owners().await?;
        let asked = Instant::now();
        let claimed = self
            .runtime
            .store
            .claim_due(&self.runtime.owner, free, self.runtime.lease_ms(), &dead)
            .await?;
        let mut running = self.running.lock().await;
        for run in claimed {
            if running.contains_key(&run.thread) {
                continue;
            }
            let (stop, stop_rx) = watch::channel(false);
            let lease = self.runtime.held_lease(run.lease_epoch, asked);
            let held = Held {
                stop,
                lease: lease.clone(),
            };
            running.insert(run.thread.clone(), held);
            let daemon = self.clone();
            tokio::spawn(async move { daemon.drive_one(run, stop_rx, lease).await });
        }
        Ok(())
    }

    async fn drive_one(
        self: Arc<Self>,
        run: RunRecord,
        mut stop: watch::Receiver<bool>,
        lease: Lease,
    ) {
        let thread = run.thread.clone();
        match self
            .runtime
            .drive(&thread, &mut stop, Some(run), &lease)
            .await
        {
            Ok(Stopped::Settled) => self.store_works(Work::Step),
            Ok(Stopped::Interrupted) => {}
            Ok(Stopped::LeaseExpired) => eprintln!(
                "savepoint serve: {}",
                crate::text::escape(
                    &RuntimeError::LeaseExpired {
                        thread: thread.clone()
                    }
                    .to_string(),
                    crate::text::Style::Lines
                )
            ),
            // Every run fails alike until there is room: one report for all of them.
            Err(RuntimeError::Store(error @ StoreError::DiskFull { .. })) => {
                self.store_failed(Work::Step, "runs cannot commit", &error)
            }
            Err(error) => eprintln!(
                "savepoint serve: {}",
                crate::text::escape(
                    &format!("thread {thread}: {error}"),
                    crate::text::Style::Lines
                )
            ),
        }
        let _ = self
            .runtime
            .store
            .release(&self.runtime.owner, &thread)
            .await;
        self.running.lock().await.remove(&thread);
        // A slot is free, and the run may be due again at once.
        self.poke();
    }

    /// Record (again) that this daemon serves the database, for a lease's length.
    async fn announce(&self) {
        let runtime = &self.runtime;
        match runtime
            .store
            .announce_daemon(&runtime.owner, runtime.lease_ms())
            .await
        {
            Ok(()) => {}
            Err(error) => self.store_failed(Work::Step, "announcing the daemon failed", &error),
        }
    }

    async fn renew(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // The daemon's own record is renewed every half lease: an idle daemon then writes
        // once in five seconds (by default), which leaves the writer time to empty the WAL.
        let mut announced = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RENEW_EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            if announced.elapsed() >= self.runtime.lease / 2 {
                announced = Instant::now();
                self.announce().await;
            }
            let threads: Vec<String> = self.running.lock().await.keys().cloned().collect();
            if threads.is_empty() {
                continue;
            }
            let store = self.runtime.store.clone();
            let asked = Instant::now();
            match store
                .renew(&self.runtime.owner, &threads, self.runtime.lease_ms())
                .await
            {
                Ok(lost) => {
                    let running = self.running.lock().await;
                    let valid_until = asked + self.runtime.lease_surely_valid();
                    for thread in &threads {
                        if let Some(held) = running.get(thread) {
                            if lost.contains(thread) {
                                let _ = held.stop.send(true);
                            } else {
                                held.lease.extend(valid_until);
                            }
                        }
                    }
                }
                Err(error) => self.store_failed(Work::Step, "renewing leases failed", &error),
            }
        }
    }

    /// Abandon every run in flight and wait until each has released its lease.
    async fn abandon_all(&self) {
        for held in self.running.lock().await.values() {
            let _ = held.stop.send(true);
        }
        while !self.running.lock().await.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Run the daemon: the scheduler, the lease renewal and the HTTP API, until
/// `shutdown` resolves.
pub async fn serve<S: CheckpointStore>(
    runtime: Arc<Runtime<S>>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(config.listen.as_slice()).await?;
    let address = listener.local_addr()?;
    let daemon = Arc::new(Daemon {
        runtime,
        workflows_dir: config.workflows_dir,
        running: Mutex::new(HashMap::new()),
        wake: Notify::new(),
        max_runs: config.max_runs.max(1),
        outage: std::sync::Mutex::new(Outage::default()),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn({
        let daemon = daemon.clone();
        let stop = stop_rx.clone();
        async move { daemon.schedule(stop).await }
    });
    let renewal = tokio::spawn({
        let daemon = daemon.clone();
        let stop = stop_rx.clone();
        async move { daemon.renew(stop).await }
    });
    let watcher = tokio::spawn({
        let runtime = daemon.runtime.clone();
        let stop = stop_rx.clone();
        async move { runtime.watch_plugins(stop).await }
    });
    daemon.announce().await;
    eprintln!(
        "savepoint serve: listening on http://{address} (owner {})",
        daemon.runtime.owner
    );
    let backend = Arc::new(super::backend::DaemonBackend {
        daemon: daemon.clone(),
        parsed: Default::default(),
    });
    let mut api_stop = stop_rx.clone();
    let api = tokio::spawn(crate::api::serve(
        listener,
        backend,
        config.api,
        async move {
            let _ = api_stop.wait_for(|stop| *stop).await;
        },
    ));

    shutdown.await;
    eprintln!("savepoint serve: shutting down; abandoning runs in flight (they continue later)");
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    let _ = renewal.await;
    let _ = watcher.await;
    daemon.abandon_all().await;
    let _ = daemon
        .runtime
        .store
        .retire_daemon(&daemon.runtime.owner)
        .await;
    match api.await {
        Ok(result) => result,
        Err(join) => Err(std::io::Error::other(join)),
    }
}
