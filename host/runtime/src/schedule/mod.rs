//! Schedules (issue 18): a schedule starts one run of its workflow per due time, while a
//! `savepoint serve` runs.
//!
//! `spec` reads cron expressions and periods and says when a schedule is due; `plan`
//! (pure) says which due times to fire at a given time, under the catch-up policy;
//! `fire` starts the runs from `serve`'s scheduler loop ([`Runtime::fire_schedules`]).
//!
//! Exactly once across hosts: a scheduled run's thread is derived from the schedule and
//! the due time ([`thread`]: `NAME@2026-11-28T09:00:00Z`), so the second host's create
//! finds the run there and does nothing; then the schedule is moved on by a compare and
//! set of its next due time ([`CheckpointStore::advance_schedule`]). A host that dies
//! between the two leaves the due time to fire again: its run exists already, and the next
//! look only moves the schedule on.

mod fire;
mod plan;
mod spec;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use serde_json::{Map, Value};

use savepoint_store::{CatchUp, CheckpointStore, Schedule, ScheduleSpec};
use savepoint_workflow::schedule::When;

use super::{Runtime, RuntimeError};
pub use fire::Fired;
pub(crate) use fire::run as run_scheduler;
pub use plan::{CATCH_UP_MAX, ON_TIME_MS};
pub use spec::{MIN_EVERY_MS, SpecError, check_name, check_spec, parse_cron, parse_zone};

/// The tag every scheduled run carries: `schedule=NAME`.
pub const TAG: &str = "schedule";

/// How often `serve` reads the schedules again when none is due sooner: a schedule added,
/// changed or resumed by another process (the CLI, another host's API) is seen within
/// this time. The scheduler otherwise sleeps until the next due time.
pub const RESCAN: Duration = Duration::from_secs(1);

/// The thread of the run a schedule starts for a due time: `NAME@` and the due time in
/// UTC, RFC 3339, to the second (milliseconds when the due time has them).
pub fn thread(name: &str, due_ms: i64) -> String {
    let when = DateTime::from_timestamp_millis(due_ms)
        .map(|t| {
            let format = match due_ms.rem_euclid(1000) {
                0 => SecondsFormat::Secs,
                _ => SecondsFormat::Millis,
            };
            t.to_rfc3339_opts(format, true)
        })
        .unwrap_or_else(|| due_ms.to_string());
    format!("{name}@{when}")
}

/// A time (unix ms) as `schedule list` shows it: RFC 3339 in UTC, to the second.
pub fn show_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A spec as `schedule list` shows it: `cron "*/5 * * * *" Europe/Paris`, `every 1h`.
pub fn show_spec(spec: &ScheduleSpec) -> String {
    match spec {
        ScheduleSpec::Cron { expr, tz } => match tz {
            Some(tz) => format!("cron {expr:?} {tz}"),
            None => format!("cron {expr:?}"),
        },
        ScheduleSpec::Every { every_ms } => format!(
            "every {}",
            savepoint_base::units::format_duration(Duration::from_millis(
                u64::try_from(*every_ms).unwrap_or(0)
            ))
        ),
    }
}

/// What `schedule add` and `POST /schedules` ask for. What it leaves out (`None`) is
/// taken from the workflow file's `[schedule]` table, if it has one; else a schedule
/// needs a `spec`, and catches up `none` with an empty input.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub name: String,
    pub spec: Option<ScheduleSpec>,
    /// The workflow file as the user named it, and its text (every run is pinned to it).
    pub workflow_path: String,
    pub workflow_text: String,
    pub input: Option<Map<String, Value>>,
    pub catch_up: Option<CatchUp>,
    /// Replace a schedule of that name (otherwise its name being taken is an error).
    pub replace: bool,
}

/// A file's `[schedule]` spec as the store keeps specs.
fn file_spec(when: &When) -> ScheduleSpec {
    match when {
        When::Cron { expr, tz } => ScheduleSpec::Cron {
            expr: expr.clone(),
            tz: tz.clone(),
        },
        When::Every(period) => ScheduleSpec::Every {
            every_ms: i64::try_from(period.as_millis()).unwrap_or(i64::MAX),
        },
    }
}

impl<S: CheckpointStore> Runtime<S> {
    /// Checks and stores a schedule: its name and spec, and its workflow file as a new
    /// run of it is checked (the file, its `[schedule]` table, its plugins, their config
    /// schemas). Its first due time is the first after now. Errors:
    /// [`RuntimeError::BadRequest`] for the name or spec (or no spec anywhere),
    /// [`RuntimeError::Workflow`] for the file, the store's `ScheduleExists`.
    pub async fn add_schedule(&self, new: NewSchedule) -> Result<Schedule, RuntimeError> {
        check_name(&new.name).map_err(RuntimeError::BadRequest)?;
        if let Some(spec) = &new.spec {
            check_spec(spec).map_err(|e| RuntimeError::BadRequest(e.to_string()))?;
        }
        let (workflow, _) = self
            .check_new_run(&new.workflow_path, &new.workflow_text)
            .await?;
        let from_file = workflow.schedule.as_ref();
        let spec = match (new.spec, from_file) {
            (Some(spec), _) => spec,
            (None, Some(table)) => file_spec(&table.when),
            (None, None) => {
                return Err(RuntimeError::BadRequest(format!(
                    "no cron expression or period was given, and {} has no [schedule] \
                     table to take one from",
                    new.workflow_path
                )));
            }
        };
        let input = new
            .input
            .or_else(|| from_file.and_then(|table| table.input.clone()))
            .unwrap_or_default();
        let catch_up = new
            .catch_up
            .or_else(|| from_file.and_then(|table| table.catch_up))
            .unwrap_or_default();
        let size = serde_json::to_vec(&input).map_or(0, |bytes| bytes.len() as u64);
        if size > workflow.max_state {
            return Err(RuntimeError::BadRequest(format!(
                "the schedule's input is {size} bytes, larger than the workflow's max_state \
                 ({} bytes)",
                workflow.max_state
            )));
        }
        let now = self.clock.now_ms();
        let due =
            spec::Due::new(&spec, now).map_err(|e| RuntimeError::BadRequest(e.to_string()))?;
        let next_due_ms = due.after(now).ok_or_else(|| {
            RuntimeError::BadRequest(format!(
                "{} is never due (no time matches it after now)",
                show_spec(&spec)
            ))
        })?;
        let schedule = Schedule {
            name: new.name,
            spec,
            workflow_name: workflow.name.clone(),
            workflow_digest: savepoint_base::digest::sha256(new.workflow_text.as_bytes()),
            workflow_path: new.workflow_path,
            input,
            catch_up,
            paused: false,
            next_due_ms,
            last_fired_ms: None,
            created_at_ms: now,
        };
        self.store
            .put_schedule(schedule.clone(), new.workflow_text, new.replace)
            .await?;
        Ok(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_threads_name_the_schedule_and_the_due_time() {
        assert_eq!(
            thread("nightly", 1_795_856_400_000),
            "nightly@2026-11-28T09:00:00Z"
        );
        assert_eq!(
            thread("tick", 1_795_856_400_250),
            "tick@2026-11-28T09:00:00.250Z"
        );
        assert_eq!(show_time(1_795_856_400_999), "2026-11-28T09:00:00Z");
        assert_eq!(
            show_spec(&ScheduleSpec::Every { every_ms: 90_000 }),
            "every 1m30s"
        );
        assert_eq!(
            show_spec(&ScheduleSpec::Cron {
                expr: "0 9 * * *".into(),
                tz: Some("Europe/Paris".into())
            }),
            "cron \"0 9 * * *\" Europe/Paris"
        );
    }
}
