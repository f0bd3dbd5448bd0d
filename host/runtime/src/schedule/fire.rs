//! Firing schedules: `serve`'s scheduler loop, and one look at every schedule.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use savepoint_store::{CheckpointStore, Schedule, StoreErrorKind};

use super::plan::plan;
use super::spec::Due;
use super::{RESCAN, TAG, thread};
use crate::daemon::Daemon;
use crate::{Runtime, RuntimeError, StartRun};

/// What one look at the schedules did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Runs this host created (a run another host created first is not counted).
    pub created: usize,
    /// The earliest next due time of the schedules that are not paused, if any.
    pub next_due_ms: Option<i64>,
}

impl<S: CheckpointStore> Runtime<S> {
    /// Starts a run for every due time that came, of every schedule that is not paused,
    /// under its catch-up policy, and moves each schedule on. Safe on several hosts at
    /// once (see the module's docs). A store that fails stops the look (nothing is moved
    /// on: the next look fires the same due times); a run that cannot be created for
    /// another reason (its workflow's plugin is gone) is logged and its due time skipped.
    pub async fn fire_schedules(&self) -> Result<Fired, RuntimeError> {
        let mut fired = Fired::default();
        for schedule in self.store.schedules().await? {
            if schedule.paused {
                continue;
            }
            let due = match Due::new(&schedule.spec, schedule.created_at_ms) {
                Ok(due) => due,
                Err(error) => {
                    tracing::error!(schedule = %schedule.name, "schedule {}: {error}", schedule.name);
                    continue;
                }
            };
            let now = self.clock.now_ms();
            let next = match plan(&due, schedule.catch_up, schedule.next_due_ms, now) {
                Some(plan) => {
                    if plan.skipped != Some(0) {
                        let count = plan.skipped.map_or("many".to_owned(), |n| n.to_string());
                        tracing::info!(
                            schedule = %schedule.name,
                            "schedule {}: skipped {count} missed due times (catch-up {})",
                            schedule.name,
                            schedule.catch_up.as_str()
                        );
                    }
                    fired.created += self.fire(&schedule, &plan.fire).await?;
                    self.store
                        .advance_schedule(
                            &schedule.name,
                            schedule.next_due_ms,
                            plan.next_due_ms,
                            plan.fire.last().copied(),
                        )
                        .await?;
                    plan.next_due_ms
                }
                None if schedule.next_due_ms > now => schedule.next_due_ms,
                // Due, but never again after now (a cron date that does not come back).
                None => continue,
            };
            fired.next_due_ms = Some(fired.next_due_ms.map_or(next, |n| n.min(next)));
        }
        Ok(fired)
    }

    /// Creates the runs of `schedule` for due times `times`; returns how many this host
    /// created.
    async fn fire(&self, schedule: &Schedule, times: &[i64]) -> Result<usize, RuntimeError> {
        if times.is_empty() {
            return Ok(0);
        }
        let Some(text) = self.store.workflow_text(&schedule.workflow_digest).await? else {
            tracing::error!(
                schedule = %schedule.name,
                "schedule {}: its workflow text ({}) is not in the database; due times skipped",
                schedule.name,
                schedule.workflow_digest
            );
            return Ok(0);
        };
        let mut created = 0;
        for &due_ms in times {
            let start = StartRun {
                workflow_path: schedule.workflow_path.clone(),
                workflow_text: text.clone(),
                thread: thread(&schedule.name, due_ms),
                input: schedule.input.clone(),
                tags: BTreeMap::from([(TAG.to_owned(), schedule.name.clone())]),
            };
            match self.create(start).await {
                Ok(_) => created += 1,
                // Another host (or this one, before it died) fired this due time.
                Err(RuntimeError::ThreadExists { .. }) => {}
                Err(RuntimeError::Store(error)) if error.kind() == StoreErrorKind::RetryLater => {
                    return Err(RuntimeError::Store(error));
                }
                Err(error) => tracing::error!(
                    schedule = %schedule.name,
                    "schedule {}: the run for {} could not start: {error}",
                    schedule.name,
                    super::show_time(due_ms)
                ),
            }
        }
        Ok(created)
    }
}

/// `serve`'s scheduler of schedules: looks at the schedules, fires what is due, pokes the
/// daemon to claim the new runs at once, and sleeps until the next due time (or
/// [`RESCAN`], to see schedules changed by other processes), until shutdown.
pub(crate) async fn run<S: CheckpointStore>(
    daemon: Arc<Daemon<S>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let runtime = daemon.runtime().clone();
    let mut failing = false;
    loop {
        let next = match runtime.fire_schedules().await {
            Ok(fired) => {
                if failing {
                    tracing::info!("schedules fire again");
                    failing = false;
                }
                if fired.created > 0 {
                    daemon.poke();
                }
                fired.next_due_ms
            }
            Err(error) => {
                // Said once while it lasts; the next look tries again.
                if !failing {
                    tracing::warn!("firing schedules failed: {error}");
                    failing = true;
                }
                None
            }
        };
        let now = runtime.clock.now_ms();
        let nap = next.map_or(RESCAN, |due| {
            Duration::from_millis(u64::try_from(due.saturating_sub(now)).unwrap_or(0)).min(RESCAN)
        });
        // At least a millisecond: a due time the clock has not quite reached yet is not
        // worth a spin.
        tokio::select! {
            _ = tokio::time::sleep(nap.max(Duration::from_millis(1))) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
