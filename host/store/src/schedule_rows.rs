//! A schedule's row, as both backends store it: the spec and the input as JSON text, the
//! catch-up policy as its name, `paused` as 0/1.

use serde_json::{Map, Value};

use crate::rows::to_json;
use crate::{CatchUp, Schedule, ScheduleSpec, StoreError};

/// The columns of `schedules` in the order every query here selects them.
pub(crate) const COLUMNS: &str = "name, spec_json, workflow_name, workflow_digest, \
     workflow_path, input_json, catch_up, paused, next_due_at, last_fired_at, created_at";

/// A schedule's row as read, before decoding.
#[derive(Debug)]
pub(crate) struct ScheduleRow {
    pub name: String,
    pub spec_json: String,
    pub workflow_name: String,
    pub workflow_digest: String,
    pub workflow_path: String,
    pub input_json: String,
    pub catch_up: String,
    pub paused: i64,
    pub next_due_ms: i64,
    pub last_fired_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// The text columns of a schedule to write: (spec, input).
pub(crate) fn encode(schedule: &Schedule) -> Result<(String, String), StoreError> {
    Ok((to_json(&schedule.spec)?, to_json(&schedule.input)?))
}

impl ScheduleRow {
    pub(crate) fn decode(self) -> Result<Schedule, StoreError> {
        let corrupt = |what: &str, error: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!(
                "schedule {:?}: stored {what} is not valid: {error}",
                self.name
            ))
        };
        let spec: ScheduleSpec =
            serde_json::from_str(&self.spec_json).map_err(|e| corrupt("spec", &e))?;
        let input: Map<String, Value> =
            serde_json::from_str(&self.input_json).map_err(|e| corrupt("input", &e))?;
        let catch_up = match self.catch_up.as_str() {
            "none" => CatchUp::None,
            "last" => CatchUp::Last,
            "all" => CatchUp::All,
            other => return Err(corrupt("catch-up policy", &other)),
        };
        Ok(Schedule {
            name: self.name,
            spec,
            workflow_name: self.workflow_name,
            workflow_digest: self.workflow_digest,
            workflow_path: self.workflow_path,
            input,
            catch_up,
            paused: self.paused != 0,
            next_due_ms: self.next_due_ms,
            last_fired_ms: self.last_fired_ms,
            created_at_ms: self.created_at_ms,
        })
    }
}
