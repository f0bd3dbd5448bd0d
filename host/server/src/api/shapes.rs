//! What the API's answers and bodies look like, as types: the server builds its answers
//! from them (`crate::view`), and `GET /openapi.json` describes them (`openapi`), so the
//! document and the answers cannot drift apart. The shapes the backend streams (a page
//! of history, logs or events) are written piece by piece, not from one value: their
//! types here only describe them, and `scripts/test`'s schemathesis run checks the
//! answers against them.
//!
//! An object of the API has every field, `null` when empty: a field of type
//! `Option<_>` is still required. Objects are closed (no other fields), but for an
//! event, whose fields are its kind's, and the open values a run holds (state, input,
//! the question it waits on, a plugin's `describe()`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use super::RunStatus;
use super::error::ErrorCode;

/// A run status as JSON spells it: `pending`, `running`, `sleeping`, `interrupted`,
/// `retrying`, `completed`, `failed` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusWord(pub RunStatus);

impl Serialize for StatusWord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl PartialSchema for StatusWord {
    fn schema() -> RefOr<Schema> {
        words(RunStatus::ALL.iter().map(|status| status.as_str()))
    }
}

impl ToSchema for StatusWord {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RunStatus")
    }
}

/// An error code as JSON spells it (`usage`, `not_found`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorCodeName(pub ErrorCode);

impl PartialSchema for ErrorCodeName {
    fn schema() -> RefOr<Schema> {
        words(ErrorCode::ALL.iter().map(|code| code.as_str()))
    }
}

impl ToSchema for ErrorCodeName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// A string that is one of `words`.
fn words<'a>(words: impl Iterator<Item = &'a str>) -> RefOr<Schema> {
    Object::builder()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(words))
        .into()
}

/// A run's position and outcome: `GET /runs/{id}`, and what a change of a run
/// answers (`status --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Run)]
pub struct RunJson {
    pub thread: String,
    /// The workflow's name (`name` in its file).
    pub workflow: String,
    pub workflow_path: String,
    pub workflow_digest: String,
    pub status: StatusWord,
    /// Committed steps.
    pub step: u64,
    /// The node(s) to run next.
    pub next: Vec<String>,
    pub attempt: u32,
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(required = true)]
    pub error_node: Option<String>,
    /// What an interrupted run asks (any JSON; `null`: nothing).
    #[schema(required = true)]
    pub waiting_for: Option<Value>,
    /// What a `waiting` run waits for: `{"for": "signal", "name", "node"}` or
    /// `{"for": "children", "threads"}`; `null` for every other status.
    #[schema(required = true)]
    pub waiting: Option<Value>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(required = true)]
    pub wake_at: Option<String>,
    pub wakes: u32,
    /// The nodes whose writes of this step are kept while others retry.
    pub pending_writes: Vec<String>,
    #[schema(required = true)]
    pub lease_owner: Option<String>,
    pub lease_epoch: u64,
    pub tags: BTreeMap<String, String>,
    /// The id of the run's latest checkpoint (`null` before its first step).
    #[schema(required = true)]
    pub checkpoint: Option<String>,
    pub branch: u64,
    pub created_at: String,
    pub updated_at: String,
    /// The parent run, for a child run a sub-workflow node created (`null` for others).
    #[schema(required = true)]
    pub parent: Option<String>,
    /// The run's child runs (of its sub-workflow nodes), oldest first: only in `GET
    /// /runs/{id}` and `status --json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ChildRunJson>>,
}

/// A child run of a run, as its parent's status lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChildRun)]
pub struct ChildRunJson {
    pub thread: String,
    pub workflow: String,
    pub status: StatusWord,
    pub step: u64,
}

/// A run in a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RunSummary)]
pub struct RunSummaryJson {
    pub thread: String,
    pub workflow: String,
    pub status: StatusWord,
    pub step: u64,
    pub tags: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
    /// The parent run, for a child run (`null` for others).
    #[schema(required = true)]
    pub parent: Option<String>,
}

/// A page of a run listing (`GET /runs`, `runs --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RunsPage)]
pub struct RunsPageJson {
    /// Newest created first.
    pub runs: Vec<RunSummaryJson>,
    /// Where the next page starts (`cursor=`); `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One log line a node wrote (`GET /runs/{id}/logs`, `logs --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LogLine)]
pub struct LogLineJson {
    pub step: u64,
    pub node: String,
    pub attempt: u32,
    pub level: String,
    pub message: String,
    pub at: String,
}

/// What a delete removed (`DELETE /runs/{id}`, `delete --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Deleted)]
pub struct DeletedJson {
    pub thread: String,
    pub deleted: DeletedRows,
}

/// The rows a delete removed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletedRows {
    pub checkpoints: u64,
    pub logs: u64,
    pub events: u64,
    pub freed: Freed,
}

/// What only the deleted run referred to, freed with it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Freed {
    pub components: u64,
    pub component_bytes: u64,
    pub values: u64,
    pub value_bytes: u64,
    pub workflows: u64,
}

/// One file of the plugins folder (`GET /plugins`, `plugins --json`): what
/// `describe()` said and what is odd about it, or why it cannot be used.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Plugin)]
pub struct PluginJson {
    pub name: String,
    pub path: String,
    /// `sha256:...` of the file; `null` when it could not be read.
    #[schema(required = true)]
    pub digest: Option<String>,
    pub ok: bool,
    /// What the component's `describe()` answered; `null` when it could not be used.
    #[schema(required = true, value_type = Option<Object>)]
    pub info: Option<Value>,
    /// The version of the `savepoint:node` world it implements (`0.2.0`, `0.1.0`);
    /// `null` when it could not be used.
    #[schema(required = true)]
    pub wit: Option<String>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// A problem of a workflow file (or of a plugin or config it names).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    pub message: String,
    pub file: String,
    pub line: u64,
    pub column: u64,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `error` or `warning`.
    pub severity: String,
}

/// A workflow file of the daemon's folder, and whether `POST /runs` would create a
/// run of it now (`GET /workflows`): `ok: false` with the error and every problem
/// when it would refuse it; `workflow`, `start` and `nodes` only when it would not.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Workflow)]
pub struct WorkflowJson {
    /// What `POST /runs` names: the file's name without `.toml`.
    pub name: String,
    pub path: String,
    pub ok: bool,
    #[schema(required = true)]
    pub error: Option<String>,
    #[schema(value_type = Vec<Problem>)]
    pub problems: Vec<Value>,
    /// `name` in the file.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// The daemon's memory budget for node instances.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
}

/// The budget of all node instances' linear memories.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Bytes; `null`: no budget.
    #[schema(required = true)]
    pub budget: Option<u64>,
    /// What live instances reserve of it (each its node's whole `memory` limit).
    pub reserved: u64,
    /// How many calls wait for room.
    pub waiting: u64,
}

/// Every error: `{"error": {"code", "message", "details"}}`, with the status its code
/// gives (or the guard's: 401, 403, 405, 408, 413, 415, 421).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorJson {
    pub error: ErrorFields,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorFields {
    /// What the client does next: fix the request (`usage`, `invalid`), look elsewhere
    /// (`not_found`), wait for the run to change (`conflict`), retry later
    /// (`environment`), or report a bug (`internal`).
    pub code: ErrorCodeName,
    /// What is wrong, naming the thing (the thread, the workflow, the field).
    pub message: String,
    /// For programs: the thread, the step, a file's problems... (`null`: none).
    #[schema(required = true, value_type = Option<Object>)]
    pub details: Option<Value>,
}

// What the backend streams, described only.

/// A checkpoint of a run (`GET /runs/{id}/history`, `history --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The checkpoint's id.
    pub checkpoint: String,
    /// The checkpoint it follows (`null`: the run's first).
    #[schema(required = true)]
    pub parent: Option<String>,
    pub branch: u64,
    /// Whether a replay in place superseded it.
    pub superseded: bool,
    pub step: u64,
    pub node: String,
    pub next: Vec<String>,
    /// Each key the step wrote, with the size of its new value's JSON in bytes.
    pub changed: BTreeMap<String, u64>,
    /// The whole state after the step (`states=true` only).
    #[schema(nullable = false)]
    pub state: Option<Map<String, Value>>,
    /// What the step changed, as an RFC 6902 JSON Patch (`diff=true` only).
    #[schema(nullable = false)]
    pub diff: Option<Vec<PatchOperation>>,
    pub component_digest: String,
    pub workflow_digest: String,
    pub created_at: String,
}

/// One operation of an RFC 6902 JSON Patch.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    pub op: String,
    /// An RFC 6901 JSON Pointer.
    pub path: String,
    /// The new value (any JSON; not with `remove`).
    #[schema(nullable = false)]
    pub value: Option<Value>,
}

/// An event of a run (`GET /runs/{id}/events`, `events --json`): these four fields, and
/// what its kind carries (the node, the error, the answer, who forked it...).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    /// Increasing across every run's events.
    pub id: u64,
    pub at: String,
    pub step: u64,
    /// Its kind: `created`, `step`, `attempt_failed`, `parked`, `woke`, `interrupted`,
    /// `answered`, `completed`, `failed`, `cancelled`, `forked`, `edited`, ...
    pub event: String,
    /// What the kind carries.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

/// A page of a run's checkpoints, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    /// Where the next page starts (`cursor=`); `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a run's log lines, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsPage {
    pub entries: Vec<LogLineJson>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a run's events, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsPage {
    pub entries: Vec<Event>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One message of an event stream (`text/event-stream`), as a client reads it: `data`
/// is one line of JSON, an [`Event`] with `thread` (a `log` message: a [`LogLineJson`]
/// with `thread` and `id`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StreamMessage {
    /// A run's stream: `E-L`, the last event and log line ids sent; every run's: the
    /// event's id. `Last-Event-ID` resumes after it.
    pub id: String,
    /// `created`, `step`, `attempt_failed`, `interrupted`, `woke`, `answered`,
    /// `completed`, `parked`, `failed`, `cancelled`, `log`, ...
    pub event: String,
    pub data: String,
}

// Request bodies.

/// `POST /runs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"workflow": "chain", "thread": "job-7", "input": {"name": "ada"}}))]
pub struct CreateRunBody {
    /// The name of a workflow in the workflows folder (its file without `.toml`).
    pub workflow: String,
    /// The new run's thread id; one is made up when absent.
    pub thread: Option<String>,
    /// The state at step 0 (`{}` when absent).
    pub input: Option<Map<String, Value>>,
    /// Labels: a key of 1 to 64 letters, digits and `_-.:/`, a value of 1 to 256 bytes.
    pub tags: Option<BTreeMap<String, String>>,
}

/// `POST /runs/batch`: runs of one workflow, created together (all or none).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"workflow": "chain", "runs": [
    {"thread": "job-8", "input": {"name": "ada"}},
    {"input": {"name": "grace"}, "tags": {"customer": "acme"}}
]}))]
pub struct CreateRunsBody {
    /// The name of a workflow in the workflows folder (its file without `.toml`).
    pub workflow: String,
    /// The runs, created in this order: at least one, at most 10,000 (more: 400). (The
    /// cap is not a `maxItems`: a body that long passes the 1 MiB limit first, 413.)
    #[schema(min_items = 1)]
    pub runs: Vec<BatchRunBody>,
}

/// One run of `POST /runs/batch`: the fields of `POST /runs` but `workflow`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRunBody {
    /// The new run's thread id; when absent, one is made up (one prefix per request,
    /// numbered by the run's place in `runs` from 1).
    pub thread: Option<String>,
    /// The state at step 0 (`{}` when absent).
    pub input: Option<Map<String, Value>>,
    /// Labels: a key of 1 to 64 letters, digits and `_-.:/`, a value of 1 to 256 bytes.
    pub tags: Option<BTreeMap<String, String>>,
}

/// What `POST /runs/batch` created (and `start --batch --json` prints).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatedRunsJson {
    /// How many runs were created: all of the request's.
    pub created: u64,
    /// Their thread ids, in the order of the request's runs.
    pub threads: Vec<String>,
}

/// `POST /runs/{id}/resume`, or an empty body.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct ResumeBody {
    /// The answer to the run's interrupt (any JSON; `null` counts as absent).
    pub input: Option<Value>,
    /// First move the run to the current workflow and plugin files.
    pub upgrade: Option<bool>,
    /// First replay the run in place from this step (not with `input`).
    pub from_step: Option<u64>,
}

/// `POST /runs/{id}/fork`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"step": 1, "thread": "job-2"}))]
pub struct ForkBody {
    /// The step of the run the fork starts after (0: its input).
    pub step: u64,
    /// The new run's thread id.
    pub thread: String,
    /// Values merged into the fork's state, as `update`'s.
    pub update: Option<Map<String, Value>>,
    /// The node the values come from.
    pub as_node: Option<String>,
}

/// `POST /runs/{id}/update`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"values": {"a": 1}}))]
pub struct UpdateBody {
    /// Merged with the workflow's reducers, as if `as_node` had returned them.
    pub values: Map<String, Value>,
    /// The node the values come from: the run then goes where its routes say.
    pub as_node: Option<String>,
}

/// An empty body, or `{}` (`POST /runs/{id}/cancel`, `DELETE /runs/{id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct EmptyBody {}

/// `POST /runs/{id}/signals/{name}`, or an empty body.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"data": {"approved": true}}))]
pub struct SignalBody {
    /// What the signal carries (any JSON; absent: `null`).
    pub data: Option<Value>,
}

/// A signal of a run's mailbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalJson {
    /// Grows with every signal of the database: the mailbox's order.
    pub id: u64,
    pub name: String,
    /// Any JSON (`null` when sent without data).
    #[schema(required = true)]
    pub data: Option<Value>,
    /// RFC 3339, UTC, milliseconds.
    pub sent_at: String,
    /// The step that received it; `null` while undelivered.
    #[schema(required = true)]
    pub delivered_step: Option<u64>,
}

/// `GET /runs/{id}/signals`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxJson {
    /// Oldest first.
    pub signals: Vec<SignalJson>,
}

/// A schedule's catch-up policy as JSON spells it: `none`, `last` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CatchUpWord(pub savepoint_base::vocab::CatchUp);

impl PartialSchema for CatchUpWord {
    fn schema() -> RefOr<Schema> {
        words(
            savepoint_base::vocab::CatchUp::ALL
                .iter()
                .map(|catch_up| catch_up.as_str()),
        )
    }
}

impl ToSchema for CatchUpWord {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CatchUp")
    }
}

/// `POST /schedules`: the fields of `savepoint schedule add`. Without `cron` and
/// `every`, the workflow file's `[schedule]` table says when (and gives `tz`,
/// `catch_up` and `input` where the body does not).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "nightly", "workflow": "chain", "cron": "0 2 * * *", "tz": "Europe/Paris", "catch_up": "last"}))]
pub struct AddScheduleBody {
    /// 1 to 100 letters, digits, `_`, `.` or `-`: its runs' threads are `NAME@TIME`.
    pub name: String,
    /// The name of a workflow in the workflows folder (its file without `.toml`).
    pub workflow: String,
    /// A cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6
    /// with seconds first; never with `every`.
    pub cron: Option<String>,
    /// A period such as `30s`, `5m`, `1h` (at least `1s`), counted from now.
    pub every: Option<String>,
    /// The IANA time zone `cron` is read in (default `UTC`); only with `cron`.
    pub tz: Option<String>,
    /// The input (initial state) of every run (default `{}`).
    pub input: Option<Map<String, Value>>,
    /// What to do with the due times missed while no host ran the schedule (default
    /// `none`).
    pub catch_up: Option<CatchUpWord>,
    /// Replace a schedule of that name (default false: a taken name is a conflict).
    pub replace: Option<bool>,
}

/// When a schedule is due: `{"kind": "cron", "expr", "tz"}` (`tz` null: UTC) or
/// `{"kind": "every", "every_ms"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpecJson {
    /// `cron` or `every`.
    pub kind: String,
    /// The cron expression (`cron` only).
    pub expr: Option<String>,
    /// Its IANA time zone, null for UTC (`cron` only).
    pub tz: Option<String>,
    /// The period in milliseconds (`every` only).
    pub every_ms: Option<i64>,
}

/// A schedule: `GET /schedules/{name}`, `schedule list --json`'s entries.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleJson {
    pub name: String,
    /// The workflow's name (`name` in its file).
    pub workflow: String,
    /// The file it was added from; every run is pinned to its text as it was then.
    pub workflow_path: String,
    pub spec: ScheduleSpecJson,
    /// The input of every run.
    pub input: Map<String, Value>,
    pub catch_up: CatchUpWord,
    pub paused: bool,
    /// The next due time not fired yet (RFC 3339, UTC, milliseconds); in the past while
    /// paused or while no host runs the schedule.
    pub next_due: String,
    /// The latest due time a run was started for; null before the first.
    #[schema(required = true)]
    pub last_fired: Option<String>,
    pub created_at: String,
}

/// `GET /schedules`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulesJson {
    /// By name.
    pub schedules: Vec<ScheduleJson>,
}

/// `DELETE /schedules/{name}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemovedScheduleJson {
    pub name: String,
    /// Always true.
    pub removed: bool,
}
