//! A [`Backend`] over a map of runs, which records what the API handed over.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::api::{
    ApiError, Backend, BackendFuture, CreateRun, HistoryDetail, JsonStream, PageQuery, RunStatus,
};

/// A JSON text sent in these pieces.
fn pieces(pieces: &[&str]) -> JsonStream {
    let pieces: Vec<Result<Vec<u8>, ApiError>> = pieces
        .iter()
        .map(|piece| Ok(piece.as_bytes().to_vec()))
        .collect();
    Box::pin(futures_util::stream::iter(pieces))
}

/// Runs kept in a map. Workflow `missing` does not exist, workflow `broken` and thread
/// `boom` make the backend fail, a run named `done` is completed.
#[derive(Default)]
pub(super) struct FakeBackend {
    pub(super) runs: Mutex<BTreeMap<String, Value>>,
    /// What the API handed over, one line per call.
    pub(super) calls: Mutex<Vec<String>>,
    pub(super) created: Mutex<Vec<CreateRun>>,
    pub(super) resumed: Mutex<Vec<(String, Option<Value>)>>,
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

    fn list_runs(&self, status: Option<RunStatus>, limit: usize) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("list_runs {status:?} {limit}"));
            let runs = self.runs.lock().unwrap();
            let runs: Vec<Value> = runs
                .values()
                .filter(|run| status.is_none_or(|status| run["status"] == status.as_str()))
                .cloned()
                .collect();
            Ok(Value::Array(runs))
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
    ) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!("run_history {thread} {page:?} {detail:?}"));
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

    fn resume(
        &self,
        thread: String,
        input: Option<Value>,
        upgrade: bool,
    ) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let upgrade = if upgrade { " upgrade" } else { "" };
            self.record(format!("resume {thread}{upgrade}"));
            self.resumed
                .lock()
                .unwrap()
                .push((thread.clone(), input.clone()));
            if self.get(&thread)?["status"] == "completed" {
                return Err(ApiError::conflict(format!(
                    "run {thread:?} is completed: there is nothing to resume"
                )));
            }
            self.set_status(&thread, "running")
        })
    }

    fn cancel(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("cancel {thread}"));
            self.set_status(&thread, "cancelled")
        })
    }

    fn workflows(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record("workflows".into());
            Ok(json!([{ "name": "chain", "path": "workflows/chain.toml" }]))
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
