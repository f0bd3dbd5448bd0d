//! Driving a run this process holds the lease on, step after step, until it
//! completes, parks, fails, or is told to stop; and the foreground entry
//! points of the CLI (`run`, `resume`, `start`).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::events;
use super::pins::PinTo;
use super::step::StepEnd;
use super::{Event, RENEW_EVERY, Runtime, RuntimeError, StartRun, owner};
use savepoint_plugin::Lease;
use savepoint_store::{CheckpointStore, NewRun, RunRecord, RunStatus, StoreError};

/// Why driving stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The run completed, failed, or parked: see its status.
    Settled,
    /// The stop signal fired (cancelled, lease lost, shutdown): the step in
    /// flight was abandoned and will run again later, if the run goes on.
    Interrupted,
    /// The lease expired before this process could renew it (it stalled, or
    /// the database did not answer): the step in flight was stopped, and its
    /// result discarded, before another process could take the run over.
    LeaseExpired,
}

/// How far `run` and `resume` drive a run in the foreground: the CLI's `--wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Until it completes, fails or parks (sleeps, waits to retry, waits for
    /// input). A resumed run that is parked until a time is waited for first.
    UntilParked,
    /// (`--wait`) Through every sleep and retry wait too: until it completes,
    /// fails, or waits for input (an interrupt needs an answer).
    UntilDone,
}

/// Whether a new run starts with this process holding its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// This process drives it now, in the foreground.
    Hold,
    /// A daemon picks it up.
    LeaveToDaemon,
}

impl<S: CheckpointStore> Runtime<S> {
    /// Drive `thread`, whose lease this process holds, until it settles,
    /// `stop` turns true, or `lease` expires. `position` is the run as just
    /// read or written, if the caller has it.
    pub(super) async fn drive(
        &self,
        thread: &str,
        stop: &mut watch::Receiver<bool>,
        position: Option<RunRecord>,
        lease: &Lease,
    ) -> Result<Stopped, RuntimeError> {
        let mut settled = None;
        self.drive_keeping(thread, stop, position, lease, &mut settled)
            .await
    }

    /// [`Runtime::drive`], keeping in `settled` the run as the commit that
    /// settled it left it (if a commit did): the foreground commands return it
    /// without reading it back, a read that was 4% of the host's CPU in W1.
    async fn drive_keeping(
        &self,
        thread: &str,
        stop: &mut watch::Receiver<bool>,
        mut position: Option<RunRecord>,
        lease: &Lease,
        settled: &mut Option<RunRecord>,
    ) -> Result<Stopped, RuntimeError> {
        *settled = None;
        // After a committed step the next position is known without a read.
        loop {
            if *stop.borrow() {
                return Ok(Stopped::Interrupted);
            }
            if lease.expired() {
                return Ok(Stopped::LeaseExpired);
            }
            let mut run = match position.take() {
                Some(run) => run,
                None => self.load(thread).await?,
            };
            match run.status {
                RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => {
                    return Ok(Stopped::Settled);
                }
                RunStatus::Interrupted if !run.timed_out && run.resume.is_none() => {
                    return Ok(Stopped::Settled);
                }
                RunStatus::Sleeping | RunStatus::Retrying
                    if run.wake_at_ms.is_some_and(|t| t > self.clock.now_ms()) =>
                {
                    return Ok(Stopped::Settled);
                }
                // Woken (wake time now) once what it waits for came, or its deadline.
                RunStatus::Waiting if run.wake_at_ms.is_none_or(|t| t > self.clock.now_ms()) => {
                    return Ok(Stopped::Settled);
                }
                RunStatus::Running => {}
                _ => match self.store.set_status(thread, RunStatus::Running).await {
                    Ok(()) => run.status = RunStatus::Running,
                    Err(StoreError::Cancelled { .. }) => return Ok(Stopped::Settled),
                    Err(other) => return Err(other.into()),
                },
            }
            if run.next.is_empty() {
                self.store.set_status(thread, RunStatus::Completed).await?;
                return Ok(Stopped::Settled);
            }
            let workflow = self.workflow_for(&run).await?;
            let step = self.step(&run, &workflow, Some(&self.owner), lease);
            let end = tokio::select! {
                // The lease first: past it, nothing of the step may go on.
                biased;
                () = lease.expiry() => return Ok(Stopped::LeaseExpired),
                end = step => end,
                _ = stop.wait_for(|stop| *stop) => return Ok(Stopped::Interrupted),
            };
            match end {
                Ok(StepEnd::Continue(after)) => position = Some(*after),
                Ok(StepEnd::Stop(after)) => {
                    *settled = after.map(|after| *after);
                    return Ok(Stopped::Settled);
                }
                Err(RuntimeError::LeaseExpired { .. }) => return Ok(Stopped::LeaseExpired),
                // Someone else owns the run now, or it was cancelled: stop
                // without writing anything.
                Err(RuntimeError::Store(StoreError::LeaseLost { .. })) => {
                    events::commit_refused(thread);
                    return Ok(Stopped::Interrupted);
                }
                Err(RuntimeError::Store(StoreError::Cancelled { .. })) => {
                    return Ok(Stopped::Interrupted);
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Drive one run whose lease this process holds in the foreground,
    /// renewing the lease while it works, as far as `wait` says. A run that
    /// is parked until a time is waited for first (a new run never is).
    pub(super) async fn drive_foreground(
        &self,
        thread: &str,
        wait: Wait,
        mut position: Option<RunRecord>,
        lease: Lease,
    ) -> Result<RunRecord, RuntimeError> {
        let (stop_tx, mut stop) = watch::channel(false);
        let renewal = self.spawn_renewal(thread, lease.clone(), stop_tx);
        let mut settled = None;
        let result = async {
            loop {
                let run = match position.take() {
                    Some(run) => run,
                    None => self.load(thread).await?,
                };
                let due = run.wake_at_ms.filter(|t| *t > self.clock.now_ms());
                let mut run = Some(run);
                if let (Some(RunStatus::Sleeping | RunStatus::Retrying), Some(until)) =
                    (run.as_ref().map(|r| r.status), due)
                {
                    // Read again after waiting: the run may have changed meanwhile.
                    run = None;
                    self.emit(Event::Waiting {
                        thread: thread.to_string(),
                        until_ms: until,
                    });
                    let delay = Duration::from_millis(
                        until.saturating_sub(self.clock.now_ms()).max(0) as u64,
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.wait_for(|stop| *stop) => return Ok(Stopped::Interrupted),
                    }
                }
                let stopped = self
                    .drive_keeping(thread, &mut stop, run, &lease, &mut settled)
                    .await?;
                // A node that waits for a signal already in the mailbox: the store woke
                // the run as it parked, so it goes on here at once.
                if stopped == Stopped::Settled && settled.is_none() {
                    let run = self.load(thread).await?;
                    let now = self.clock.now_ms();
                    if run.status == RunStatus::Waiting && run.wake_at_ms.is_some_and(|t| t <= now)
                    {
                        position = Some(run);
                        continue;
                    }
                }
                // A parent waiting for its children: drive them here, then go on
                // with it (`run parent.toml` works without a daemon).
                if stopped == Stopped::Settled && self.drive_children(thread, wait).await? {
                    settled = None;
                    continue;
                }
                match stopped {
                    // Waited for below, then read again: nothing kept is current.
                    Stopped::Settled if wait == Wait::UntilDone => settled = None,
                    Stopped::LeaseExpired => {
                        return Err(RuntimeError::LeaseExpired {
                            thread: thread.to_string(),
                        });
                    }
                    stopped => return Ok::<_, RuntimeError>(stopped),
                }
                let status = self.load(thread).await?.status;
                if status == RunStatus::Waiting {
                    // `--wait` waits through a signal wait too: until the store wakes the
                    // run (a signal came, a child finished, the deadline passed).
                    match self.until_woken(thread, &mut stop).await? {
                        Some(woken) => position = Some(woken),
                        None => return Ok(Stopped::Interrupted),
                    }
                    continue;
                }
                if !matches!(status, RunStatus::Sleeping | RunStatus::Retrying) {
                    return Ok(Stopped::Settled);
                }
            }
        }
        .await;
        renewal.abort();
        let run = match (result, settled) {
            (Ok(Stopped::Settled), Some(run)) => Ok(run),
            (Ok(_), _) => self.load(thread).await,
            (Err(error), _) => Err(error),
        };
        // A completed run's last commit released the lease already.
        let held = run.as_ref().map_or(true, |run| {
            run.lease_owner.as_deref() == Some(self.owner.as_str())
        });
        if !held {
            return run;
        }
        self.store.release(&self.owner, thread).await?;
        run?;
        self.load(thread).await
    }

    /// Renew the lease on `thread` until aborted, extending `lease` after
    /// each renewal; fire `stop` when it is lost or the run cancelled.
    fn spawn_renewal(
        &self,
        thread: &str,
        lease: Lease,
        stop: watch::Sender<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let owner = self.owner.clone();
        let threads = vec![thread.to_string()];
        let (lease_ms, valid_for) = (self.lease_ms(), self.lease_surely_valid());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let asked = Instant::now();
                match store.renew(&owner, &threads, lease_ms).await {
                    // An expired lease is not revived: the drive sees its expiry.
                    Ok(lost) if lost.is_empty() => {
                        lease.extend(asked + valid_for);
                    }
                    _ => {
                        let _ = stop.send(true);
                        return;
                    }
                }
            }
        })
    }

    /// Take the lease on `thread`, or say who holds it.
    pub(super) async fn claim(&self, thread: &str) -> Result<(RunRecord, Lease), RuntimeError> {
        let dead = self.dead_owners().await?;
        let asked = Instant::now();
        let run = self
            .store
            .claim(thread, &self.owner, self.lease_ms(), &dead)
            .await?;
        if run.taken_over_from.is_some() {
            self.metrics.lease_taken_over();
        }
        let lease = self.held_lease(run.lease_epoch, asked);
        Ok((run, lease))
    }

    /// Lease owners on this machine whose process is gone.
    pub(super) async fn dead_owners(&self) -> Result<Vec<String>, RuntimeError> {
        let owners: Vec<String> = self
            .store
            .leases()
            .await?
            .into_iter()
            .map(|(owner, _)| owner)
            .collect();
        Ok(owner::dead_owners(&owners, &self.owner))
    }

    /// The `serve` daemons that serve this database now: their record has not
    /// expired, and their process is not known to be gone (one on this
    /// machine whose pid no longer exists died without retiring its record).
    pub async fn serving_daemons(&self) -> Result<Vec<String>, RuntimeError> {
        Ok(self.alive(self.store.daemons().await?))
    }

    /// The processes that hold a lease on some run now (an unexpired lease,
    /// of a process not known to be gone): they are executing runs.
    pub async fn lease_holders(&self) -> Result<Vec<String>, RuntimeError> {
        Ok(self.alive(self.store.leases().await?))
    }

    /// The owners of `records` (owner, expiry) whose record has not expired and
    /// whose process is not known to be gone.
    fn alive(&self, records: Vec<(String, i64)>) -> Vec<String> {
        let now = self.clock.now_ms();
        let live: Vec<String> = records
            .into_iter()
            .filter(|(_, expires)| *expires > now)
            .map(|(owner, _)| owner)
            .collect();
        let dead = owner::dead_owners(&live, &self.owner);
        live.into_iter().filter(|o| !dead.contains(o)).collect()
    }

    /// Create a run from a workflow text, without executing it: a daemon
    /// picks it up.
    pub async fn create(&self, start: StartRun) -> Result<RunRecord, RuntimeError> {
        Ok(self.create_leased(start, Claim::LeaveToDaemon).await?.0)
    }

    /// Create a run (with [`Claim::Hold`], holding its lease), and say when the
    /// request that created it was sent: the lease counts from then. Loading
    /// the run's plugins for the schema check (compiling one that is not
    /// cached: tens of seconds for an interpreter component) comes before,
    /// and costs the lease nothing.
    async fn create_leased(
        &self,
        start: StartRun,
        claim: Claim,
    ) -> Result<(RunRecord, Instant), RuntimeError> {
        // Before the run exists: a plugin that does not load, or a config its
        // plugin's schema refuses, is the workflow file's error, not a failure
        // of the run at that node.
        let (workflow, plugins) = self
            .check_new_run(&start.workflow_path, &start.workflow_text)
            .await?;
        let new_run = |plugins| NewRun {
            parent: None,
            thread: start.thread.clone(),
            workflow_name: workflow.name.clone(),
            workflow_digest: savepoint_base::digest::sha256(start.workflow_text.as_bytes()),
            workflow_text: start.workflow_text.clone(),
            workflow_path: start.workflow_path.clone(),
            input: start.input.clone(),
            next: vec![workflow.start.clone()],
            lease: (claim == Claim::Hold).then(|| (self.owner.clone(), self.lease_ms())),
            plugins,
            tags: start.tags.clone(),
        };
        let mut asked = Instant::now();
        let mut created = self.store.create_run(new_run(plugins)).await;
        if let Err(StoreError::ComponentMissing { .. }) = created {
            // A `gc` or a delete removed a version this process had stored: store the
            // files again. Not the versions `serve` serves: those were stored when its
            // watcher loaded them, and are the files' versions unless a newer file was
            // refused since (then this run gets the newer file, the one left to store).
            self.plugins.forget_files();
            let plugins = self.pin_plugins(&workflow, PinTo::File).await?;
            asked = Instant::now();
            created = self.store.create_run(new_run(plugins)).await;
        }
        let created = created?;
        super::events::created(&created);
        Ok((created, asked))
    }

    /// Create a run and drive it in the foreground as far as `wait` says.
    pub async fn start(&self, start: StartRun, wait: Wait) -> Result<RunRecord, RuntimeError> {
        let thread = start.thread.clone();
        let (run, asked) = self.create_leased(start, Claim::Hold).await?;
        self.emit(Event::Started {
            thread: thread.clone(),
            workflow_path: run.workflow_path.clone(),
        });
        let lease = self.held_lease(run.lease_epoch, asked);
        self.drive_foreground(&thread, wait, Some(run), lease).await
    }

    /// Continue a run in the foreground: after a crash from its last
    /// checkpoint, a failed run from its failed node (with a fresh retry
    /// budget), an interrupted run with `input` as the answer, a sleeping or
    /// retrying run once it is due (this waits); then as far as `wait` says.
    pub async fn resume(
        &self,
        thread: &str,
        input: Option<Value>,
        wait: Wait,
    ) -> Result<RunRecord, RuntimeError> {
        let run = self.resumable(thread, input.as_ref()).await?;
        let status = run.status;
        let (_, lease) = self.claim(thread).await?;
        if status == RunStatus::Completed {
            // Edited since it completed: it goes on where the edit routed it.
            if let Err(e) = self.store.set_status(thread, RunStatus::Running).await {
                self.store.release(&self.owner, thread).await?;
                return Err(e.into());
            }
        } else if input.is_some() || status == RunStatus::Failed {
            let result = self
                .store
                .resume_input(thread, input, RunStatus::Running, Some(&self.owner))
                .await;
            if let Err(e) = result {
                self.store.release(&self.owner, thread).await?;
                return Err(e.into());
            }
        }
        self.emit(Event::Resuming {
            thread: thread.to_string(),
            step: run.step + 1,
            was: status,
        });
        self.drive_foreground(thread, wait, None, lease).await
    }

    /// The run, if [`Runtime::resume`] (with `input`) would accept it now;
    /// else the error that says why not and what to do instead.
    pub async fn resumable(
        &self,
        thread: &str,
        input: Option<&Value>,
    ) -> Result<RunRecord, RuntimeError> {
        let run = self.load(thread).await?;
        self.check_resume(&run, input)?;
        Ok(run)
    }

    /// Mark a run for a daemon to continue (the API's resume): nothing runs
    /// in this process.
    pub async fn request_resume(
        &self,
        thread: &str,
        input: Option<Value>,
    ) -> Result<RunRecord, RuntimeError> {
        let run = self.load(thread).await?;
        self.check_resume(&run, input.as_ref())?;
        if run.status == RunStatus::Completed {
            // Edited since it completed: a daemon takes it up where the edit routed it.
            self.store.set_status(thread, RunStatus::Pending).await?;
            return self.load(thread).await;
        }
        if input.is_some() || run.status == RunStatus::Failed {
            return Ok(self
                .store
                .resume_input(thread, input, RunStatus::Pending, None)
                .await?);
        }
        Ok(run)
    }

    /// Waits until the `waiting` run `thread` is due (the store set its wake time to
    /// now, or its deadline passed); the run then. `None` if `stop` fired first.
    /// Polled: the run's row is read every 100 ms (a signal comes from another process).
    async fn until_woken(
        &self,
        thread: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<RunRecord>, RuntimeError> {
        loop {
            let run = self.load(thread).await?;
            let now = self.clock.now_ms();
            if run.status != RunStatus::Waiting || run.wake_at_ms.is_some_and(|t| t <= now) {
                return Ok(Some(run));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.wait_for(|stop| *stop) => return Ok(None),
            }
        }
    }

    /// The rules of resuming, with errors that say what to do instead.
    fn check_resume(&self, run: &RunRecord, input: Option<&Value>) -> Result<(), RuntimeError> {
        let thread = &run.thread;
        match (run.status, input) {
            // An edit (`update`) gave a completed run next nodes: it goes on.
            (RunStatus::Completed, None) if !run.next.is_empty() => Ok(()),
            (RunStatus::Completed | RunStatus::Cancelled, _) => Err(RuntimeError::NotResumable {
                thread: thread.clone(),
                status: run.status,
            }),
            // Past its deadline, an interrupt runs again without an answer
            // (the node sees `interrupt_timed_out`).
            (RunStatus::Interrupted, None)
                if run.wake_at_ms.is_some_and(|t| t <= self.clock.now_ms()) =>
            {
                Ok(())
            }
            (RunStatus::Interrupted, None) => Err(RuntimeError::NeedsInput {
                thread: thread.clone(),
                question: run.interrupt.clone().unwrap_or(Value::Null),
            }),
            (RunStatus::Interrupted, Some(_)) => Ok(()),
            (status, Some(_)) => Err(RuntimeError::UnexpectedInput {
                thread: thread.clone(),
                status,
            }),
            (_, None) => Ok(()),
        }
    }
}
