//! A [`Backend`] over a map of runs, which records what the API handed over.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::api::{
    ApiError, Backend, BackendFuture, Branches, Caller, CreateRun, CreateRuns, Deletion, EditState,
    EventStream, ForkRequest, HistoryDetail, JsonStream, PageQuery, ResumeRequest, RunSearch,
    StreamEvent, Subscribe,
};

/// A JSON text sent in these pieces.
fn pieces(pieces: &[&str]) -> JsonStream {
    let pieces: Vec<Result<Vec<u8>, ApiError>> = pieces
        .iter()
        .map(|piece| Ok(piece.as_bytes().to_vec()))
        .collect();
    Box::pin(futures_util::stream::iter(pieces))
}

/// A schedule as `Backend::schedule` answers it.
fn fake_schedule(name: &str, paused: bool) -> Value {
    json!({"name": name, "workflow": "chain", "workflow_path": "workflows/chain.toml",
           "spec": {"kind": "cron", "expr": "0 2 * * *", "tz": null}, "input": {},
           "catch_up": "none", "paused": paused, "next_due": "2026-11-29T02:00:00.000Z",
           "last_fired": null, "created_at": "2026-11-28T10:00:00.000Z"})
}

/// Runs kept in a map. Workflow `missing` does not exist, workflow `broken` and thread
/// `boom` make the backend fail, a run named `done` is completed.
#[derive(Default)]
pub(super) struct FakeBackend {
    pub(super) runs: Mutex<BTreeMap<String, Value>>,
    /// What the API handed over, one line per call.
    pub(super) calls: Mutex<Vec<String>>,
    pub(super) created: Mutex<Vec<CreateRun>>,
    pub(super) batches: Mutex<Vec<CreateRuns>>,
    pub(super) resumed: Mutex<Vec<(String, ResumeRequest)>>,
    pub(super) searches: Mutex<Vec<RunSearch>>,
    pub(super) forks: Mutex<Vec<ForkRequest>>,
    pub(super) edits: Mutex<Vec<(String, EditState, Caller)>>,
    /// When set, `plugins` waits for it: a request that stays in flight.
    pub(super) plugins_gate: Option<Arc<Notify>>,
}

impl FakeBackend {
    pub(super) fn with_runs(runs: &[(&str, &str)]) -> FakeBackend {
        let backend = FakeBackend::default();
        for (thread, status) in runs {
            backend.runs.lock().unwrap().insert(
                thread.to_string(),
                json!({ "thread": thread, "workflow": "chain", "status": status }),
            );
        }
        backend
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn get(&self, thread: &str) -> Result<Value, ApiError> {
        if thread == "boom" {
            return Err(ApiError::internal("the store is unreachable"));
        }
        self.runs
            .lock()
            .unwrap()
            .get(thread)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no run with thread id {thread:?}")))
    }

    fn set_status(&self, thread: &str, status: &str) -> Result<Value, ApiError> {
        let mut run = self.get(thread)?;
        run["status"] = json!(status);
        self.runs
            .lock()
            .unwrap()
            .insert(thread.to_string(), run.clone());
        Ok(run)
    }
}

impl Backend for FakeBackend {
    fn create_run(&self, req: CreateRun) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("create_run {}", req.workflow));
            self.created.lock().unwrap().push(req.clone());
            match req.workflow.as_str() {
                "missing" => {
                    return Err(ApiError::not_found(
                        "no workflow named \"missing\" in the workflows folder",
                    ));
                }
                "broken" => {
                    return Err(ApiError::invalid(
                        "workflow \"broken\" is invalid: line 3: unknown node",
                    ));
                }
                _ => {}
            }
            let thread = req.thread.unwrap_or_else(|| format!("{}-1", req.workflow));
            let mut runs = self.runs.lock().unwrap();
            if runs.contains_key(&thread) {
                return Err(ApiError::conflict(format!(
                    "thread id {thread:?} is already taken"
                )));
            }
            let run = json!({
                "thread": thread,
                "workflow": req.workflow,
                "status": "running",
                "input": req.input,
            });
            runs.insert(thread, run.clone());
            Ok(run)
        })
    }

    fn create_runs(&self, req: CreateRuns) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("create_runs {} {}", req.workflow, req.runs.len()));
            self.batches.lock().unwrap().push(req.clone());
            if req.workflow == "missing" {
                return Err(ApiError::not_found(
                    "no workflow named \"missing\" in the workflows folder",
                ));
            }
            let threads: Vec<String> = (1..=req.runs.len())
                .zip(&req.runs)
                .map(|(n, run)| run.thread.clone().unwrap_or_else(|| format!("batch-{n}")))
                .collect();
            let mut runs = self.runs.lock().unwrap();
            if let Some(taken) = threads.iter().find(|t| runs.contains_key(*t)) {
                return Err(ApiError::conflict(format!(
                    "thread id {taken:?} is already taken"
                )));
            }
            for thread in &threads {
                let run = json!({"thread": thread, "workflow": req.workflow, "status": "pending"});
                runs.insert(thread.clone(), run);
            }
            Ok(json!({"created": threads.len(), "threads": threads}))
        })
    }

    fn list_runs(&self, search: RunSearch) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!(
                "list_runs {:?} {}",
                search.status, search.page.limit
            ));
            let status = search.status;
            self.searches.lock().unwrap().push(search);
            let runs = self.runs.lock().unwrap();
            let runs: Vec<Value> = runs
                .values()
                .filter(|run| status.is_none_or(|status| run["status"] == status.as_str()))
                .cloned()
                .collect();
            Ok(json!({ "runs": runs, "next_cursor": null }))
        })
    }

    fn run_status(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_status {thread}"));
            self.get(&thread)
        })
    }

    fn run_state(&self, thread: String, step: Option<u64>) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            match step {
                None => self.record(format!("run_state {thread}")),
                Some(step) => self.record(format!("run_state {thread} step {step}")),
            }
            self.get(&thread)?;
            Ok(json!({ "thread": thread, "step": 2, "state": { "text": "HELLO" } }))
        })
    }

    fn run_history(
        &self,
        thread: String,
        page: PageQuery,
        detail: HistoryDetail,
        branches: Branches,
    ) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            let all = match branches {
                Branches::All => " all",
                Branches::Current => "",
            };
            self.record(format!("run_history {thread} {page:?} {detail:?}{all}"));
            self.get(&thread)?;
            Ok(pieces(&[
                r#"{"entries": [{"step": 2, "node": "exclaim"}"#,
                r#", {"step": 1, "node": "upper"}"#,
                r#"], "next_cursor": null}"#,
            ]))
        })
    }

    fn run_logs(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!("run_logs {thread} {page:?}"));
            self.get(&thread)?;
            Ok(pieces(&[
                r#"{"entries": [{"step": 1, "message": "hi"}"#,
                r#"], "next_cursor": "7"}"#,
            ]))
        })
    }

    fn run_events(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!("run_events {thread} {page:?}"));
            self.get(&thread)?;
            Ok(pieces(&[
                r#"{"entries": [{"id": 1, "event": "created"}"#,
                r#"], "next_cursor": null}"#,
            ]))
        })
    }

    fn resume(&self, thread: String, resume: ResumeRequest) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let upgrade = if resume.upgrade { " upgrade" } else { "" };
            self.record(format!("resume {thread}{upgrade}"));
            self.resumed.lock().unwrap().push((thread.clone(), resume));
            if self.get(&thread)?["status"] == "completed" {
                return Err(ApiError::conflict(format!(
                    "run {thread:?} is completed: there is nothing to resume"
                )));
            }
            self.set_status(&thread, "running")
        })
    }

    fn send_signal(&self, thread: String, name: String, data: Value) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("send_signal {thread} {name}"));
            Ok(json!({"id": 1, "name": name, "data": data,
                      "sent_at": "2026-11-28T10:00:00.000Z", "delivered_step": null}))
        })
    }

    fn schedules(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("schedules".to_string());
            Ok(json!({"schedules": [fake_schedule("go", false)]}))
        })
    }

    fn schedule(&self, name: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("schedule {name}"));
            Ok(fake_schedule(&name, false))
        })
    }

    fn add_schedule(&self, add: crate::api::AddSchedule) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("add_schedule {} {}", add.name, add.workflow));
            Ok(fake_schedule(&add.name, false))
        })
    }

    fn pause_schedule(&self, name: String, paused: bool) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("pause_schedule {name} {paused}"));
            Ok(fake_schedule(&name, paused))
        })
    }

    fn remove_schedule(&self, name: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("remove_schedule {name}"));
            Ok(json!({"name": name, "removed": true}))
        })
    }

    fn run_signals(&self, thread: String, limit: usize) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_signals {thread} {limit}"));
            Ok(json!({"signals": []}))
        })
    }

    fn cancel(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("cancel {thread}"));
            self.set_status(&thread, "cancelled")
        })
    }

    fn fork(&self, fork: ForkRequest) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!(
                "fork {} {} {}",
                fork.source, fork.step, fork.thread
            ));
            self.forks.lock().unwrap().push(fork.clone());
            self.get(&fork.source)?;
            let run = json!({ "thread": fork.thread, "workflow": "chain", "status": "pending" });
            self.runs
                .lock()
                .unwrap()
                .insert(fork.thread.clone(), run.clone());
            Ok(run)
        })
    }

    fn update(&self, thread: String, edit: EditState, by: Caller) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("update {thread}"));
            self.edits.lock().unwrap().push((thread.clone(), edit, by));
            self.get(&thread)
        })
    }

    fn delete(&self, thread: String, deletion: Deletion) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("delete {thread} {deletion:?}"));
            self.get(&thread)?;
            self.runs.lock().unwrap().remove(&thread);
            Ok(json!({ "thread": thread, "deleted": { "checkpoints": 2 } }))
        })
    }

    fn workflows(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("workflows".into());
            Ok(json!([{ "name": "chain", "path": "workflows/chain.toml" }]))
        })
    }

    /// A run's stream: its `created` and `completed` events (ids `1-0`, `2-0`), then the
    /// end; every run's: one `step` event (id `7`), then the end.
    fn subscribe(&self, subscribe: Subscribe) -> BackendFuture<'_, EventStream> {
        Box::pin(async move {
            self.record(format!(
                "subscribe {:?} {:?} {:?}",
                subscribe.thread, subscribe.workflow, subscribe.last_event_id
            ));
            let event = |id: &str, name: &str, thread: &str| StreamEvent {
                id: id.to_owned(),
                name: name.to_owned(),
                data: json!({"event": name, "thread": thread}).to_string().into(),
            };
            let events = match &subscribe.thread {
                Some(thread) => {
                    self.get(thread)?;
                    vec![
                        event("1-0", "created", thread),
                        event("2-0", "completed", thread),
                    ]
                }
                None => vec![event("7", "step", "job-1")],
            };
            let stream: EventStream = Box::pin(futures_util::stream::iter(
                events.into_iter().map(Ok::<_, ApiError>),
            ));
            Ok(stream)
        })
    }

    fn metrics(&self) -> BackendFuture<'_, String> {
        Box::pin(async move {
            self.record("metrics".into());
            Ok("# TYPE savepoint_fake counter\nsavepoint_fake_total 1\n".to_owned())
        })
    }

    fn run_counts(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("run_counts".into());
            let mut by_status = serde_json::Map::new();
            for run in self.runs.lock().unwrap().values() {
                let status = run["status"].as_str().unwrap_or_default().to_owned();
                let n = by_status.get(&status).and_then(Value::as_u64).unwrap_or(0);
                by_status.insert(status, json!(n + 1));
            }
            let total = self.runs.lock().unwrap().len();
            Ok(json!({ "by_status": by_status, "total": total, "due_waiting": 0 }))
        })
    }

    fn run_graph(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_graph {thread}"));
            self.get(&thread)?;
            Ok(json!({ "workflow": "chain", "nodes": [], "edges": [], "plugins": {} }))
        })
    }

    fn plugin_versions(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("plugin_versions".into());
            Ok(json!([]))
        })
    }

    fn plugins(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("plugins".into());
            if let Some(gate) = &self.plugins_gate {
                gate.notified().await;
            }
            Ok(json!([{ "name": "upper", "digest": "sha256:0123" }]))
        })
    }
}
