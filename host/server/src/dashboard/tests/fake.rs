//! A [`Backend`] with one run of each kind a page shows, and values that try to break
//! out of HTML (`<script>` in a thread id, a tag, a log line, a state value).

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::api::{
    ApiError, Backend, BackendFuture, Branches, Caller, CreateRun, CreateRuns, Deletion, EditState,
    ForkRequest, HistoryDetail, JsonStream, PageQuery, ResumeRequest, RunSearch,
};

/// A thread id that is also markup.
pub(super) const HOSTILE: &str = "<script>alert(1)</script>";

#[derive(Default)]
pub(super) struct Pages {
    /// What each read was asked, one line per call.
    pub(super) calls: Mutex<Vec<String>>,
    pub(super) searches: Mutex<Vec<RunSearch>>,
    /// `run_counts` answers with these; `None`: it fails (not built).
    pub(super) counts: Option<Value>,
}

fn json_stream(value: Value) -> JsonStream {
    let text = value.to_string().into_bytes();
    Box::pin(futures_util::stream::iter([Ok(text)]))
}

fn unused<T: Send + 'static>() -> BackendFuture<'static, T> {
    Box::pin(async { Err(ApiError::internal("the dashboard does not call this")) })
}

impl Pages {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn run(thread: &str) -> Result<Value, ApiError> {
        if thread == "gone" {
            return Err(ApiError::not_found(format!(
                "no run with thread id {thread:?}"
            )));
        }
        if thread == WAITING {
            return Ok(Pages::waiting_run());
        }
        Ok(json!({
            "thread": thread,
            "workflow": "approval",
            "status": "interrupted",
            "step": 1,
            "next": ["review"],
            "attempt": 0,
            "error": null,
            "error_node": null,
            "waiting_for": {"question": "Approve <b>it</b>?"},
            "wake_at": null,
            "tags": {"team": "<i>ops</i>"},
            "created_at": "2026-11-28T01:00:00.000Z",
            "updated_at": "2026-11-28T01:00:01.000Z",
        }))
    }
}

/// A child run waiting for a signal, with child runs of its own.
pub(super) const WAITING: &str = "parent/3/review";

impl Pages {
    fn waiting_run() -> Value {
        json!({
            "thread": WAITING,
            "workflow": "approval",
            "status": "waiting",
            "step": 3,
            "next": ["review"],
            "attempt": 0,
            "error": null,
            "error_node": null,
            "waiting_for": null,
            "waiting": {"for": "signal", "name": "go<b>", "node": "review"},
            "wake_at": null,
            "tags": {},
            "parent": HOSTILE,
            "children": [
                {"thread": "parent/3/review/2/sub", "workflow": "chain<i>",
                 "status": "completed", "step": 4},
            ],
            "created_at": "2026-11-28T01:00:00.000Z",
            "updated_at": "2026-11-28T01:00:01.000Z",
        })
    }
}

impl Backend for Pages {
    fn schedules(&self) -> BackendFuture<'_, Value> {
        Box::pin(async {
            Ok(json!({"schedules": [
                {"name": HOSTILE, "workflow": "chain", "workflow_path": "/w/chain.toml",
                 "spec": {"kind": "cron", "expr": "*/5 * * * *", "tz": "Europe/Paris"},
                 "input": {}, "catch_up": "last", "paused": false,
                 "next_due": "2026-11-28T01:05:00.000Z", "last_fired": null,
                 "created_at": "2026-11-28T00:00:00.000Z"},
                {"name": "nightly job", "workflow": "chain", "workflow_path": "/w/chain.toml",
                 "spec": {"kind": "every", "every_ms": 3_600_000},
                 "input": {}, "catch_up": "none", "paused": true,
                 "next_due": "2026-11-28T02:00:00.000Z",
                 "last_fired": "2026-11-28T01:00:00.000Z",
                 "created_at": "2026-11-28T00:00:00.000Z"},
            ]}))
        })
    }

    fn run_signals(&self, thread: String, limit: usize) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_signals {thread} {limit}"));
            Pages::run(&thread)?;
            Ok(json!({"signals": [
                {"id": 4, "name": "go", "data": {"note": "<script>alert(1)</script>"},
                 "sent_at": "2026-11-28T01:00:00.600Z", "delivered_step": 2},
                {"id": 6, "name": "go<b>", "data": null,
                 "sent_at": "2026-11-28T01:00:00.700Z", "delivered_step": null},
            ]}))
        })
    }

    fn create_run(&self, _: CreateRun) -> BackendFuture<'_, Value> {
        unused()
    }

    fn create_runs(&self, _: CreateRuns) -> BackendFuture<'_, Value> {
        unused()
    }

    fn list_runs(&self, search: RunSearch) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.searches.lock().unwrap().push(search);
            Ok(json!({
                "runs": [
                    {"thread": HOSTILE, "workflow": "approval", "status": "interrupted",
                     "step": 1, "tags": {"team": "<i>ops</i>"},
                     "created_at": "2026-11-28T01:00:00.000Z",
                     "updated_at": "2026-11-28T01:00:01.000Z"},
                    {"thread": "job 2", "workflow": "chain", "status": "completed",
                     "step": 10, "tags": {}, "created_at": "2026-11-28T00:00:00.000Z",
                     "updated_at": "2026-11-28T00:00:01.000Z"},
                    {"thread": "job 2/1/sub", "workflow": "chain", "status": "waiting",
                     "step": 1, "tags": {}, "parent": "job 2",
                     "created_at": "2026-11-28T00:00:00.500Z",
                     "updated_at": "2026-11-28T00:00:01.000Z"},
                ],
                "next_cursor": "41",
            }))
        })
    }

    fn run_status(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_status {thread}"));
            Pages::run(&thread)
        })
    }

    fn run_state(&self, _: String, _: Option<u64>) -> BackendFuture<'_, Value> {
        unused()
    }

    fn run_history(
        &self,
        thread: String,
        page: PageQuery,
        detail: HistoryDetail,
        branches: Branches,
    ) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!(
                "run_history {thread} {page:?} {detail:?} {branches:?}"
            ));
            Pages::run(&thread)?;
            Ok(json_stream(json!({
                "entries": [{
                    "step": 1, "node": "draft", "checkpoint": "c1",
                    "created_at": "2026-11-28T01:00:00.500Z",
                    "diff": [
                        {"op": "add", "path": "/title", "value": "</pre><script>x()</script>"},
                        {"op": "remove", "path": "/old"},
                    ],
                }],
                "next_cursor": "1",
            })))
        })
    }

    fn run_logs(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!("run_logs {thread} {page:?}"));
            Ok(json_stream(json!({
                "entries": [{"step": 1, "node": "draft", "attempt": 1, "level": "info",
                             "message": "<img src=x onerror=alert(1)>",
                             "at": "2026-11-28T01:00:00.400Z"}],
                "next_cursor": null,
            })))
        })
    }

    fn run_events(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            self.record(format!("run_events {thread} {page:?}"));
            Ok(json_stream(json!({
                "entries": [
                    {"id": 7, "at": "2026-11-28T01:00:00.000Z", "step": 0, "event": "created",
                     "workflow": "approval"},
                    {"id": 9, "at": "2026-11-28T01:00:01.000Z", "step": 1,
                     "event": "interrupted", "node": "review"},
                ],
                "next_cursor": null,
            })))
        })
    }

    fn resume(&self, _: String, _: ResumeRequest) -> BackendFuture<'_, Value> {
        unused()
    }

    fn cancel(&self, _: String) -> BackendFuture<'_, Value> {
        unused()
    }

    fn fork(&self, _: ForkRequest) -> BackendFuture<'_, Value> {
        unused()
    }

    fn update(&self, _: String, _: EditState, _: Caller) -> BackendFuture<'_, Value> {
        unused()
    }

    fn delete(&self, _: String, _: Deletion) -> BackendFuture<'_, Value> {
        unused()
    }

    fn workflows(&self) -> BackendFuture<'_, Value> {
        unused()
    }

    fn plugins(&self) -> BackendFuture<'_, Value> {
        Box::pin(async {
            Ok(json!([
                {"name": "approval", "digest": "sha256:aa", "ok": true,
                 "info": {"name": "approval", "version": "1.0", "description": "asks <you>"},
                 "error": null, "warnings": []},
                {"name": "broken", "digest": "sha256:bb", "ok": false, "info": null,
                 "error": "not a component", "warnings": []},
            ]))
        })
    }

    fn run_graph(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.record(format!("run_graph {thread}"));
            Ok(json!({
                "workflow": "approval",
                "start": "draft",
                "nodes": [
                    {"name": "draft", "plugin": "counter"},
                    {"name": "publish", "plugin": "counter"},
                    {"name": "review", "plugin": "approval"},
                ],
                "edges": [
                    {"from": "draft", "to": "review", "route": false},
                    {"from": "review", "to": "publish", "route": true},
                    {"from": "review", "to": "end", "route": true},
                    {"from": "publish", "to": "end", "route": false},
                ],
                "plugins": {"approval": "sha256:aa", "counter": "sha256:cc"},
            }))
        })
    }

    fn plugin_versions(&self) -> BackendFuture<'_, Value> {
        Box::pin(async {
            Ok(json!([
                {"name": "approval", "digest": "sha256:aa", "bytes": 2048,
                 "stored_at": "2026-11-28T00:00:00.000Z", "current": true, "runs": 3,
                 "unfinished": [HOSTILE],
                 "info": {"name": "approval", "version": "1.0", "description": "asks <you>"}},
                {"name": "approval", "digest": "sha256:a0", "bytes": 1024,
                 "stored_at": "2026-11-27T00:00:00.000Z", "current": false, "runs": 1,
                 "unfinished": [], "info": null},
            ]))
        })
    }

    fn subscribe(&self, _: crate::api::Subscribe) -> BackendFuture<'_, crate::api::EventStream> {
        Box::pin(async { Err(ApiError::internal("no event streams here")) })
    }

    fn metrics(&self) -> BackendFuture<'_, String> {
        Box::pin(async { Ok(String::new()) })
    }

    fn run_counts(&self) -> BackendFuture<'_, Value> {
        Box::pin(async {
            self.counts
                .clone()
                .ok_or_else(|| ApiError::internal("run counts are not built yet"))
        })
    }
}
