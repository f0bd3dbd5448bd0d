//! The records of composition (issue 18): what a `waiting` run waits for, the signals
//! of a run's mailbox, and schedules.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a `waiting` run waits for ([`RunRecord::waiting`](crate::RunRecord::waiting)).
/// Stored as JSON text on the run's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Wait {
    /// A signal named `name` in the run's mailbox; node `node` of the step (a branch
    /// name: a node, or `node#index` for a send) receives it when the run wakes.
    Signal { name: String, node: String },
    /// The child runs of the current step: the run wakes when one of these threads
    /// completes, fails or is cancelled (the step then looks at all of them again).
    Children { threads: Vec<String> },
}

impl Wait {
    /// The data of the `waiting` event of a run that parks for this (see
    /// [`EventKind::Waiting`](crate::EventKind::Waiting)).
    pub fn event_data(&self, node: &str, deadline_ms: Option<i64>) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert("node".into(), Value::from(node));
        if let Ok(Value::Object(wait)) = serde_json::to_value(self) {
            data.extend(wait);
        }
        data.insert("deadline".into(), Value::from(deadline_ms));
        data
    }
}

/// One signal of a run's mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Grows with every signal of the database: the mailbox's order.
    pub id: u64,
    pub thread: String,
    pub name: String,
    /// What it carries (`null` when sent without data).
    pub data: Value,
    pub sent_at_ms: i64,
    /// The step whose commit (or wait) received it; `None` while undelivered.
    pub delivered_step: Option<u64>,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleSpec {
    /// A cron expression (5 fields, or 6 with seconds first), in time zone `tz` (an IANA
    /// name; `None`: UTC).
    Cron { expr: String, tz: Option<String> },
    /// Every `every_ms` milliseconds, counted from the schedule's creation.
    Every { every_ms: i64 },
}

pub use savepoint_base::vocab::CatchUp;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    pub spec: ScheduleSpec,
    /// The workflow's name (`name` in its file), and the text and digest it was added
    /// with: every run it starts is pinned to this text (stored with the workflows).
    pub workflow_name: String,
    pub workflow_digest: String,
    /// Where the workflow file was read from, for messages.
    pub workflow_path: String,
    /// The input of every run it starts.
    pub input: Map<String, Value>,
    pub catch_up: CatchUp,
    pub paused: bool,
    /// The next due time (unix ms) not fired yet.
    pub next_due_ms: i64,
    /// The latest due time a run was started for, if any.
    pub last_fired_ms: Option<i64>,
    pub created_at_ms: i64,
}
