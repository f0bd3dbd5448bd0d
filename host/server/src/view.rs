//! The JSON shapes of runs, checkpoints, log lines and plugins: what
//! `--json` prints and what the HTTP API answers. Other tools parse these, so
//! they change only by adding fields.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::api::shapes;
use savepoint_plugin::PluginLoad;
use savepoint_store::{
    CheckpointStore, Deleted, HistoryEntry, LogLine, Page, RUNS_PAGE, RunEvent, RunFilter,
    RunRecord, RunSummary, RunsPage, StoreError, format_time,
};

/// A run's mailbox (`Backend::run_signals`): `{"signals": [...]}`, oldest first.
pub fn signals(signals: &[savepoint_store::Signal]) -> Value {
    let signals: Vec<Value> = signals.iter().map(signal).collect();
    json!({ "signals": signals })
}

/// Every schedule (`Backend::schedules`, `schedule list --json`): `{"schedules": [...]}`,
/// by name.
pub fn schedules(schedules: &[savepoint_store::Schedule]) -> Value {
    let schedules: Vec<Value> = schedules.iter().map(schedule).collect();
    json!({ "schedules": schedules })
}

/// One schedule (`GET /schedules/{name}`, `schedule add --json`): `{"name", "workflow",
/// "workflow_path", "spec", "input", "catch_up", "paused", "next_due", "last_fired",
/// "created_at"}` (`spec`: `{"kind": "cron", "expr", "tz"}` or `{"kind": "every",
/// "every_ms"}`).
pub fn schedule(schedule: &savepoint_store::Schedule) -> Value {
    json!({
        "name": schedule.name,
        "workflow": schedule.workflow_name,
        "workflow_path": schedule.workflow_path,
        "spec": schedule.spec,
        "input": schedule.input,
        "catch_up": schedule.catch_up,
        "paused": schedule.paused,
        "next_due": format_time(schedule.next_due_ms),
        "last_fired": schedule.last_fired_ms.map(format_time),
        "created_at": format_time(schedule.created_at_ms),
    })
}

/// One signal of a mailbox (`savepoint signal --json`, `POST /runs/{id}/signals/{name}`).
pub fn signal(signal: &savepoint_store::Signal) -> Value {
    json!({
        "id": signal.id,
        "name": signal.name,
        "data": signal.data,
        "sent_at": format_time(signal.sent_at_ms),
        "delivered_step": signal.delivered_step,
    })
}

/// A run's position and outcome (`status --json`, `GET /runs/{id}`).
pub fn status(run: &RunRecord) -> Value {
    to_json(&run_json(run))
}

/// [`status`] as its type, which `GET /openapi.json` describes.
pub fn run_json(run: &RunRecord) -> shapes::RunJson {
    shapes::RunJson {
        thread: run.thread.clone(),
        workflow: run.workflow_name.clone(),
        workflow_path: run.workflow_path.clone(),
        workflow_digest: run.workflow_digest.clone(),
        status: shapes::StatusWord(run.status),
        step: run.step,
        next: run.next.clone(),
        attempt: run.attempt,
        error: run.error.clone(),
        error_node: run.error_node.clone(),
        waiting_for: run.interrupt.clone(),
        waiting: run
            .waiting
            .as_ref()
            .and_then(|wait| serde_json::to_value(wait).ok()),
        wake_at: run.wake_at_ms.map(format_time),
        wakes: run.wakes,
        pending_writes: run.pending.iter().map(|w| w.node.clone()).collect(),
        lease_owner: run.lease_owner.clone(),
        lease_epoch: run.lease_epoch,
        tags: run.tags.clone(),
        checkpoint: run.checkpoint.clone(),
        branch: run.branch,
        created_at: format_time(run.created_at_ms),
        updated_at: format_time(run.updated_at_ms),
        parent: run.parent.clone(),
        children: None,
    }
}

/// [`status`] with the run's child runs (`children`, oldest first): what `GET
/// /runs/{id}` and `status --json` answer.
pub fn status_with_children(run: &RunRecord, children: &[RunSummary]) -> Value {
    let mut json = run_json(run);
    json.children = Some(
        children
            .iter()
            .rev()
            .map(|child| shapes::ChildRunJson {
                thread: child.thread.clone(),
                workflow: child.workflow_name.clone(),
                status: shapes::StatusWord(child.status),
                step: child.step,
            })
            .collect(),
    );
    to_json(&json)
}

/// The child runs of `thread` (the latest [`RUNS_PAGE`]`.max` of them, newest first).
pub async fn children<S: CheckpointStore>(
    store: &S,
    thread: &str,
) -> Result<Vec<RunSummary>, StoreError> {
    let filter = RunFilter {
        parent: Some(thread.to_owned()),
        ..RunFilter::default()
    };
    Ok(store.list_runs(&filter, None, RUNS_PAGE.max).await?.runs)
}

/// A shape of `shapes` as a JSON value: its fields in its order.
fn to_json(shape: &impl Serialize) -> Value {
    serde_json::to_value(shape).expect("the API's shapes are JSON")
}

/// One history entry (an item of `history --json`'s `entries`): the checkpoint's own
/// fields (its id, its parent's, the branch it was written on and whether a replay
/// superseded it), `changed` (each key the step wrote, with the size of its new value's
/// JSON in bytes), `state` only when the whole states were asked for, and `diff` (what
/// the step changed, as an RFC 6902 JSON Patch: [`json_patch`]) only when the changes
/// were.
pub fn history_entry(entry: &HistoryEntry) -> HistoryEntryJson<'_> {
    HistoryEntryJson {
        checkpoint: &entry.checkpoint,
        parent: entry.parent.as_deref(),
        branch: entry.branch,
        superseded: entry.superseded,
        step: entry.step,
        node: &entry.node,
        next: &entry.next,
        changed: entry
            .changed
            .iter()
            .map(|(key, bytes)| (key.clone(), Value::from(*bytes)))
            .collect(),
        state: entry.state.as_ref(),
        diff: entry.changes.as_deref().map(json_patch),
        component_digest: &entry.component_digest,
        workflow_digest: &entry.workflow_digest,
        created_at: format_time(entry.created_at_ms),
    }
}

/// See [`history_entry`]; serialized from references, so that a whole state is never
/// copied on its way out.
#[derive(Debug, Serialize)]
pub struct HistoryEntryJson<'a> {
    checkpoint: &'a str,
    parent: Option<&'a str>,
    branch: u64,
    superseded: bool,
    step: u64,
    node: &'a str,
    next: &'a [String],
    changed: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<Vec<PatchOp>>,
    component_digest: &'a str,
    workflow_digest: &'a str,
    created_at: String,
}

pub use crate::patch::{Op, PatchOp, json_patch};

/// A page (`history --json`, `logs --json`, `GET /runs/{id}/history` and `/logs`) as JSON
/// text, written piece by piece as its entries are read:
/// `{"entries": [` one entry per line `], "next_cursor": "<cursor>"}`, where
/// `next_cursor` is `null` when the page reached the end. The CLI prints the pieces, the
/// API sends them; neither holds more than one entry.
#[derive(Debug)]
pub struct JsonPage<T> {
    page: Page<T>,
    written: usize,
    closed: bool,
}

/// An entry of a [`JsonPage`].
pub trait PageEntry {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

impl PageEntry for HistoryEntry {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &history_entry(self))
    }
}

impl PageEntry for LogLine {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &log_line(self))
    }
}

impl PageEntry for RunEvent {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, &event(self))
    }
}

impl<T: PageEntry> JsonPage<T> {
    pub fn new(page: Page<T>) -> JsonPage<T> {
        JsonPage {
            page,
            written: 0,
            closed: false,
        }
    }

    /// The next piece of the text, or `None` after the last.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        if self.closed {
            return Ok(None);
        }
        let opening: &[u8] = if self.written == 0 {
            b"{\"entries\": [\n"
        } else {
            b",\n"
        };
        let Some(entry) = self.page.next().await? else {
            self.closed = true;
            let cursor = Value::from(self.page.next_cursor().map(|c| c.to_string()));
            let opening = if self.written == 0 {
                "{\"entries\": ["
            } else {
                "\n"
            };
            return Ok(Some(
                format!("{opening}], \"next_cursor\": {cursor}}}\n").into_bytes(),
            ));
        };
        self.written += 1;
        let mut out = opening.to_vec();
        entry
            .write_json(&mut out)
            .map_err(|error| StoreError::Corrupt(format!("cannot encode as JSON: {error}")))?;
        Ok(Some(out))
    }
}

pub fn log_line(line: &LogLine) -> Value {
    to_json(&log_line_json(line))
}

fn log_line_json(line: &LogLine) -> shapes::LogLineJson {
    shapes::LogLineJson {
        step: line.step,
        node: line.node.clone(),
        attempt: line.attempt,
        level: line.level.clone(),
        message: line.message.clone(),
        at: format_time(line.at_ms),
    }
}

/// One event of a run (`events --json`, `GET /runs/{id}/events`): `{"id", "at",
/// "step", "event", ...}`, where `event` is its kind and the rest is what that kind
/// carries (`EventKind` says what). A field of the data never hides one of the four.
pub fn event(event: &RunEvent) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), Value::from(event.id));
    object.insert("at".into(), Value::from(format_time(event.at_ms)));
    object.insert("step".into(), Value::from(event.step));
    object.insert("event".into(), Value::from(event.kind.as_str()));
    for (key, value) in &event.data {
        object.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(object)
}

pub fn summary(run: &RunSummary) -> Value {
    to_json(&summary_json(run))
}

fn summary_json(run: &RunSummary) -> shapes::RunSummaryJson {
    shapes::RunSummaryJson {
        thread: run.thread.clone(),
        workflow: run.workflow_name.clone(),
        status: shapes::StatusWord(run.status),
        step: run.step,
        tags: run.tags.clone(),
        created_at: format_time(run.created_at_ms),
        updated_at: format_time(run.updated_at_ms),
        parent: run.parent.clone(),
    }
}

/// What a delete removed (`delete --json`, `DELETE /runs/{id}`): `{"thread",
/// "deleted": {"checkpoints", "logs", "events", "freed": {...}}}`.
pub fn deleted(thread: &str, deleted: &Deleted) -> Value {
    let freed = &deleted.freed;
    to_json(&shapes::DeletedJson {
        thread: thread.to_owned(),
        deleted: shapes::DeletedRows {
            checkpoints: deleted.checkpoints,
            logs: deleted.logs,
            events: deleted.events,
            freed: shapes::Freed {
                components: freed.components,
                component_bytes: freed.component_bytes,
                values: freed.values,
                value_bytes: freed.value_bytes,
                workflows: freed.workflows,
            },
        },
    })
}

/// A page of a run listing (`runs --json`, `GET /runs`): `{"runs": [...],
/// "next_cursor": "<cursor>"}`, `next_cursor` null on the last page.
pub fn runs_page(page: &RunsPage) -> Value {
    to_json(&shapes::RunsPageJson {
        runs: page.runs.iter().map(summary_json).collect(),
        next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
    })
}

/// One file of the plugins folder: what `describe()` said and what is odd
/// about it, or why it cannot be used.
pub fn plugin(load: &PluginLoad) -> Value {
    to_json(&plugin_json(load))
}

fn plugin_json(load: &PluginLoad) -> shapes::PluginJson {
    let (info, error, warnings) = match &load.result {
        Ok(plugin) => (
            serde_json::to_value(&plugin.info).ok(),
            None,
            plugin.warnings(),
        ),
        Err(e) => (None, Some(e.to_string()), Vec::new()),
    };
    shapes::PluginJson {
        name: load.name.clone(),
        path: load.path.display().to_string(),
        digest: load.digest.clone(),
        ok: error.is_none(),
        info,
        wit: load.result.as_ref().ok().map(|p| p.wit.to_string()),
        error,
        warnings,
    }
}

pub fn plugins(loads: &[PluginLoad]) -> Value {
    Value::Array(loads.iter().map(plugin).collect())
}

/// How many runs there are in each status (every status, 0 included, in life-cycle
/// order), their total, and the due-and-waiting backlog (`RunCounts::due_waiting`): the
/// dashboard's counts.
pub fn run_counts(counts: &savepoint_store::RunCounts) -> Value {
    let by_status: Map<String, Value> = savepoint_store::RunStatus::ALL
        .iter()
        .map(|status| {
            let n = counts.by_status.get(status).copied().unwrap_or(0);
            (status.as_str().to_owned(), Value::from(n))
        })
        .collect();
    json!({
        "by_status": by_status,
        "total": counts.by_status.values().sum::<u64>(),
        "due_waiting": counts.due_waiting,
    })
}
