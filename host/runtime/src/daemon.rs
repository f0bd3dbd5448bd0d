//! The daemon of `savepoint serve`: many runs at once. A scheduler claims runnable runs
//! (new, due after a sleep or retry wait, answered, or abandoned by a dead
//! process) with a lease, a task drives each one, and a renewal loop keeps
//! the leases alive and stops runs that were cancelled or taken over. A run
//! whose lease could not be renewed in time stops its calls on its own (see
//! [`savepoint_plugin::Lease`]). On
//! shutdown every run in flight is abandoned (its step runs again later) and
//! its lease released, so nothing is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Notify, watch};
use tracing::Instrument;

use super::drive::Stopped;
use super::events;
use super::outage::{Outage, Work};
use super::wake::{self, Woke};
use super::{RENEW_EVERY, Runtime, RuntimeError};
use savepoint_plugin::Lease;
use savepoint_store::{CheckpointStore, RunRecord, RunStatus, StoreErrorKind};

/// How often the scheduler looks for due runs when nothing wakes it earlier.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// The state the scheduler, the drive tasks and the API share.
pub struct Daemon<S> {
    runtime: Arc<Runtime<S>>,
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
            .field("max_runs", &self.max_runs)
            .finish_non_exhaustive()
    }
}

impl<S: CheckpointStore> Daemon<S> {
    /// The runtime whose runs this daemon drives.
    pub fn runtime(&self) -> &Arc<Runtime<S>> {
        &self.runtime
    }

    /// Look for work now (a run was created or answered).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Stop driving `thread` in this process (it was cancelled).
    pub async fn stop(&self, thread: &str) {
        if let Some(held) = self.running.lock().await.get(thread) {
            let _ = held.stop.send(true);
        }
    }

    /// The database failed at `work`: note it (logged once while it lasts), and make the
    /// scheduler wait longer before its next claim.
    fn store_failed(&self, work: Work, context: &str, error: &dyn std::fmt::Display) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = outage.failed(work, context, &error.to_string(), Instant::now()) {
            tracing::warn!("{line}");
        }
    }

    /// `work` succeeded: if the database was failing at it, it works again.
    fn store_works(&self, work: Work) {
        let mut outage = self.outage.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = outage.works(work) {
            tracing::info!("{line}");
        }
    }

    async fn schedule(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        // Other processes' new, answered and freed runs reach an idle daemon without
        // waiting for the poll, on a backend that says so.
        let mut notices = self.runtime.store.work_notices();
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
            if wake::nap(&self.wake, &mut notices, nap, &mut shutdown).await == Woke::Shutdown {
                return;
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
            if run.taken_over_from.is_some() {
                self.runtime.metrics.lease_taken_over();
            }
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
            events::claimed(&run);
            // Whatever is logged while driving it names the run and its workflow.
            let span =
                tracing::info_span!("run", thread = %run.thread, workflow = %run.workflow_name);
            let daemon = self.clone();
            tokio::spawn(
                async move { daemon.drive_one(run, stop_rx, lease).await }.instrument(span),
            );
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
            Ok(Stopped::LeaseExpired) => {
                events::lease_expired(&thread);
                let error = RuntimeError::LeaseExpired {
                    thread: thread.clone(),
                };
                tracing::warn!(%thread, "{error}");
            }
            // Every run fails alike until there is room, or until the database answers
            // again: one report for all of them. The step did not commit; the run goes on
            // from its last checkpoint when the scheduler claims it again.
            Err(RuntimeError::Store(error)) if error.kind() == StoreErrorKind::RetryLater => {
                self.store_failed(Work::Step, "runs cannot commit", &error)
            }
            Err(error) => tracing::error!(%thread, "thread {thread}: {error}"),
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
                    self.lost(&lost).await;
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

    /// Say which of `threads`, whose leases could not be renewed, another process took
    /// over. The others ended on their own: cancelled (said by whoever cancelled it), or
    /// finished, their lease released by their last commit before the drive noticed.
    async fn lost(&self, threads: &[String]) {
        for thread in threads {
            let Ok(Some(run)) = self.runtime.store.load_run(thread).await else {
                continue;
            };
            if run.status == RunStatus::Cancelled {
                continue;
            }
            if let Some(holder) = run.lease_owner.filter(|h| *h != self.runtime.owner) {
                events::lease_lost(thread, &holder);
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

/// A started daemon: its scheduler, lease renewal and plugin watcher run until
/// [`Running::shutdown`].
#[derive(Debug)]
pub struct Running<S> {
    daemon: Arc<Daemon<S>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Start driving every run of `runtime`'s database, at most `max_runs` at once:
/// record that a daemon serves the database, then claim runs as they become due.
/// Its tasks log in the caller's span.
pub async fn start<S: CheckpointStore>(runtime: Arc<Runtime<S>>, max_runs: usize) -> Running<S> {
    let daemon = Arc::new(Daemon {
        runtime,
        running: Mutex::new(HashMap::new()),
        wake: Notify::new(),
        max_runs: max_runs.max(1),
        outage: std::sync::Mutex::new(Outage::default()),
    });
    let (stop, stop_rx) = watch::channel(false);
    let scheduler = tokio::spawn({
        let daemon = daemon.clone();
        let stop = stop_rx.clone();
        async move { daemon.schedule(stop).await }.in_current_span()
    });
    let renewal = tokio::spawn({
        let daemon = daemon.clone();
        let stop = stop_rx.clone();
        async move { daemon.renew(stop).await }.in_current_span()
    });
    let watcher = tokio::spawn({
        let runtime = daemon.runtime.clone();
        async move { runtime.watch_plugins(stop_rx).await }.in_current_span()
    });
    // Schedules (issue 18): their own loop, which pokes this daemon when it starts runs.
    let schedules = tokio::spawn(
        super::schedule::run_scheduler(daemon.clone(), stop.subscribe()).in_current_span(),
    );
    daemon.announce().await;
    Running {
        daemon,
        stop,
        tasks: vec![scheduler, renewal, watcher, schedules],
    }
}

impl<S: CheckpointStore> Running<S> {
    /// The daemon, for whoever takes requests for it (the HTTP API).
    pub fn daemon(&self) -> &Arc<Daemon<S>> {
        &self.daemon
    }

    /// Also delete finished runs last updated longer ago than `keep`, now and every
    /// [`RETAIN_EVERY`](crate::RETAIN_EVERY), until shutdown (`serve --retain`).
    pub fn retain(&mut self, keep: Duration) {
        let runtime = self.daemon.runtime.clone();
        let stop = self.stop.subscribe();
        self.tasks
            .push(tokio::spawn(runtime.retain(keep, stop).in_current_span()));
    }

    /// Stop claiming, abandon every run in flight (its step runs again later) and
    /// release its lease, and retire this daemon's record.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.daemon.abandon_all().await;
        let runtime = &self.daemon.runtime;
        let _ = runtime.store.retire_daemon(&runtime.owner).await;
    }
}
