//! The daemon's side of the HTTP API, the one adapter between the API and the layers
//! below: each request becomes a store read or a runtime call, the API's words
//! (statuses, cursors, pages) become the store's, and each runtime error the HTTP
//! status that fits it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

use crate::api::shapes::WorkflowJson;
use crate::api::{
    self, ApiError, Backend, BackendFuture, CreateRun, CreateRuns, JsonStream, PageQuery,
};
use crate::view::{JsonPage, PageEntry};
use savepoint_runtime::daemon::Daemon;
use savepoint_runtime::schedule::{NewSchedule, SpecError, check_spec};
use savepoint_runtime::{BatchRun, DeleteScope, Edit, Fork, RuntimeError, StartRun};
use savepoint_store::{CheckpointStore, Clock, Page, ScheduleSpec, StoreError, SystemClock};
use savepoint_workflow::{MAX_WORKFLOW_FILE, Unfinished, Workflow, WorkflowError};

mod hub;
mod pages;
mod stream;

pub(crate) struct DaemonBackend<S> {
    pub(crate) daemon: Arc<Daemon<S>>,
    /// The folder of workflow files that `POST /runs` names.
    pub(crate) workflows_dir: PathBuf,
    /// `GET /workflows`: each file's parse, by path, kept while the file's digest
    /// stays the same, so that listing does not parse every file on every call.
    pub(crate) parsed: WorkflowCache,
    /// The followers every run's event streams share.
    pub(crate) hub: hub::Hub,
}

/// Parsed workflow files by path, with the digest of the text they were parsed from.
#[derive(Debug, Default)]
pub(crate) struct WorkflowCache(Mutex<HashMap<PathBuf, (String, Parsed)>>);

type Parsed = Result<Arc<Workflow>, Arc<Unfinished>>;

/// A store page as the JSON text of [`JsonPage`], piece by piece.
fn page_stream<T: PageEntry + Send + 'static>(page: Page<T>) -> JsonStream {
    let pieces = futures_util::stream::unfold(Some(JsonPage::new(page)), |json| async move {
        let mut json = json?;
        match json.next_chunk().await {
            Ok(Some(piece)) => Some((Ok(piece), Some(json))),
            Ok(None) => None,
            Err(error) => Some((Err(ApiError::internal(error.to_string())), None)),
        }
    });
    Box::pin(pieces)
}

impl<S: CheckpointStore> DaemonBackend<S> {
    /// Where the `GET` routes read: straight from the store (host/README.md, "Reads");
    /// whatever creates or changes a run goes through the runtime.
    fn store(&self) -> &S {
        self.daemon.runtime().store()
    }

    async fn create(&self, request: CreateRun) -> Result<Value, ApiError> {
        let (path, text) = self.workflow_file(&request.workflow)?;
        check_input_size(max_state(&path, &text), &request.input, "field \"input\"")?;
        let thread = match request.thread {
            Some(thread) => {
                savepoint_runtime::check_thread_id(&thread).map_err(ApiError::usage)?;
                thread
            }
            None => savepoint_runtime::new_thread_id(),
        };
        let run = self
            .daemon
            .runtime()
            .create(StartRun {
                workflow_path: path.display().to_string(),
                workflow_text: text,
                thread,
                input: request.input,
                tags: request.tags,
            })
            .await?;
        self.daemon.poke();
        Ok(crate::view::status(&run))
    }

    /// `POST /runs/batch`: the workflow checked and pinned once, the runs created in one
    /// transaction.
    async fn create_many(&self, request: CreateRuns) -> Result<Value, ApiError> {
        let (path, text) = self.workflow_file(&request.workflow)?;
        // Runs without a thread get this prefix and their place in the request.
        let prefix = savepoint_runtime::new_thread_id();
        let max_state = max_state(&path, &text);
        let mut runs = Vec::with_capacity(request.runs.len());
        for (index, entry) in request.runs.into_iter().enumerate() {
            let field = format!("runs[{index}]: field \"input\"");
            check_input_size(max_state, &entry.input, &field)?;
            let thread = match entry.thread {
                Some(thread) => {
                    savepoint_runtime::check_thread_id(&thread)
                        .map_err(|e| ApiError::usage(format!("runs[{index}]: {e}")))?;
                    thread
                }
                None => savepoint_runtime::batch_thread(&prefix, index + 1),
            };
            runs.push(BatchRun {
                thread,
                input: entry.input,
                tags: entry.tags,
            });
        }
        let threads: Vec<String> = runs.iter().map(|run| run.thread.clone()).collect();
        let runtime = self.daemon.runtime();
        let batch = runtime.batch(path.display().to_string(), text).await?;
        let created = runtime.create_batch(&batch, runs).await?;
        self.daemon.poke();
        let answer = api::shapes::CreatedRunsJson {
            created: created as u64,
            threads,
        };
        serde_json::to_value(answer).map_err(|error| ApiError::internal(error.to_string()))
    }

    /// The path and text of the workflow `name` in the workflows folder; not found (with
    /// the names there are) when there is no such file.
    fn workflow_file(&self, name: &str) -> Result<(PathBuf, String), ApiError> {
        let dir = &self.workflows_dir;
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|_| {
            let names = workflow_names(dir);
            let known = if names.is_empty() {
                format!("no workflow files in {}", dir.display())
            } else {
                format!("workflows: {}", names.join(", "))
            };
            ApiError::not_found(format!(
                "no workflow \"{name}\": {} does not exist ({known})",
                path.display(),
            ))
        })?;
        Ok((path, text))
    }

    /// Each workflow file of the daemon's folder, and whether `POST /runs`
    /// would create a run of it now: `ok: false` with the error and every
    /// problem (`problems`, as in an `invalid` error's details) when it would
    /// refuse it, for the file, its plugins or its configs.
    async fn workflows_json(&self) -> Result<Value, ApiError> {
        let dir = &self.workflows_dir;
        let parsed: Vec<(String, String, Result<Parsed, RuntimeError>)> = {
            let mut cache = (self.parsed.0.lock()).unwrap_or_else(PoisonError::into_inner);
            let mut kept = HashMap::new();
            let mut parsed = Vec::new();
            for name in workflow_names(dir) {
                let path = dir.join(format!("{name}.toml"));
                let shown = path.display().to_string();
                let workflow = read_capped(&path)
                    .map_err(|source| RuntimeError::WorkflowFile {
                        path: path.clone(),
                        source,
                    })
                    .map(|text| {
                        let digest = savepoint_base::digest::sha256(text.as_bytes());
                        let workflow = match cache.remove(&path) {
                            Some((seen, workflow)) if seen == digest => workflow,
                            _ => Workflow::parse_unfinished(&shown, &text)
                                .map(Arc::new)
                                .map_err(Arc::new),
                        };
                        kept.insert(path.clone(), (digest, workflow.clone()));
                        workflow
                    });
                parsed.push((name, shown, workflow));
            }
            // Files that are gone are forgotten.
            *cache = kept;
            parsed
        };
        let mut items = Vec::new();
        for (name, shown, workflow) in parsed {
            // What `POST /runs` checks before it creates a run.
            let runtime = self.daemon.runtime();
            let checked = match workflow {
                Ok(Ok(workflow)) => runtime
                    .check_plugins_of(&workflow, &shown)
                    .await
                    .map(|_| workflow),
                Ok(Err(unfinished)) => Err(runtime.unfinished_problems(&unfinished, &shown).await),
                Err(error) => Err(error),
            };
            items.push(match checked {
                Ok(workflow) => WorkflowJson {
                    name,
                    path: shown,
                    ok: true,
                    error: None,
                    problems: Vec::new(),
                    workflow: Some(workflow.name.clone()),
                    start: Some(workflow.start.clone()),
                    nodes: Some(workflow.nodes.keys().cloned().collect()),
                },
                Err(error) => {
                    let problems = match &error {
                        RuntimeError::Workflow(problems) => {
                            problems.iter().map(WorkflowError::problem).collect()
                        }
                        _ => Vec::new(),
                    };
                    WorkflowJson {
                        name,
                        path: shown,
                        ok: false,
                        error: Some(error.to_string()),
                        problems,
                        workflow: None,
                        start: None,
                        nodes: None,
                    }
                }
            });
        }
        serde_json::to_value(items).map_err(|error| ApiError::internal(error.to_string()))
    }
}

/// The max_state of the workflow file at `path` with `text`; `None` when the file does
/// not parse (it is refused when the run is created).
fn max_state(path: &Path, text: &str) -> Option<u64> {
    Workflow::parse(&path.display().to_string(), text)
        .ok()
        .map(|workflow| workflow.max_state)
}

/// Refuses an input (named `field`) larger than the workflow's `max_state`: the run's
/// first state, capped as the CLI caps --input.
fn check_input_size(
    max_state: Option<u64>,
    input: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<(), ApiError> {
    let Some(max_state) = max_state else {
        return Ok(());
    };
    let bytes = serde_json::to_vec(input).map_or(0, |json| json.len() as u64);
    if bytes > max_state {
        return Err(ApiError::usage(format!(
            "{field} is larger than {} ({} bytes), the workflow's max_state; raise \
             max_state in the workflow file for a larger state",
            savepoint_base::units::format_size(max_state),
            max_state
        )));
    }
    Ok(())
}

/// A workflow file's text, refused past [`MAX_WORKFLOW_FILE`] bytes.
fn read_capped(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_WORKFLOW_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_WORKFLOW_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_WORKFLOW_FILE} bytes, the largest workflow file read"
        )));
    }
    Ok(text)
}

impl<S: CheckpointStore + Clone> Backend for DaemonBackend<S> {
    fn create_run(&self, request: CreateRun) -> BackendFuture<'_, Value> {
        Box::pin(self.create(request))
    }

    fn create_runs(&self, request: CreateRuns) -> BackendFuture<'_, Value> {
        Box::pin(self.create_many(request))
    }

    fn list_runs(&self, search: api::RunSearch) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let filter = savepoint_store::RunFilter {
                parent: search.parent,
                status: search.status,
                workflow: search.workflow,
                tags: search.tags,
                created_since_ms: search.since.map(|since| {
                    let since = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
                    SystemClock.now_ms().saturating_sub(since)
                }),
                thread_prefix: search.thread_prefix,
            };
            let page = search.page;
            let runs = self
                .store()
                .list_runs(&filter, page.cursor, page.limit)
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::runs_page(&runs))
        })
    }

    fn run_status(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let run = self
                .store()
                .existing_run(&thread)
                .await
                .map_err(RuntimeError::from)?;
            let children = crate::view::children(self.store(), &thread)
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::status_with_children(&run, &children))
        })
    }

    fn schedules(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let schedules = self.store().schedules().await.map_err(RuntimeError::from)?;
            Ok(crate::view::schedules(&schedules))
        })
    }

    fn schedule(&self, name: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let schedules = self.store().schedules().await.map_err(RuntimeError::from)?;
            match schedules.iter().find(|schedule| schedule.name == name) {
                Some(schedule) => Ok(crate::view::schedule(schedule)),
                None => Err(RuntimeError::from(StoreError::NoSchedule { name }).into()),
            }
        })
    }

    fn add_schedule(&self, add: api::AddSchedule) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let (path, text) = self.workflow_file(&add.workflow)?;
            let spec = match (add.cron, add.every) {
                (Some(expr), _) => Some(ScheduleSpec::Cron { expr, tz: add.tz }),
                (None, Some(every)) => Some(ScheduleSpec::Every {
                    every_ms: i64::try_from(every.as_millis()).unwrap_or(i64::MAX),
                }),
                (None, None) => None,
            };
            // Checked here too, to name the body's field (the runtime names none).
            if let Some(spec) = &spec {
                check_spec(spec).map_err(|error| {
                    ApiError::usage(match error {
                        SpecError::Cron { expr, reason } => {
                            format!("field \"cron\" {expr:?}: {reason}")
                        }
                        SpecError::Zone(reason) => format!("field \"tz\": {reason}"),
                        SpecError::Every(reason) => format!("field \"every\": {reason}"),
                    })
                })?;
            }
            let schedule = self
                .daemon
                .runtime()
                .add_schedule(NewSchedule {
                    name: add.name,
                    spec,
                    workflow_path: path.display().to_string(),
                    workflow_text: text,
                    input: add.input,
                    catch_up: add.catch_up,
                    replace: add.replace,
                })
                .await?;
            Ok(crate::view::schedule(&schedule))
        })
    }

    fn pause_schedule(&self, name: String, paused: bool) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let schedule = self
                .store()
                .pause_schedule(&name, paused)
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::schedule(&schedule))
        })
    }

    fn remove_schedule(&self, name: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            self.store()
                .remove_schedule(&name)
                .await
                .map_err(RuntimeError::from)?;
            Ok(json!({ "name": name, "removed": true }))
        })
    }

    fn send_signal(&self, thread: String, name: String, data: Value) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let signal = self
                .store()
                .send_signal(&thread, &name, data)
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::signal(&signal))
        })
    }

    fn run_signals(&self, thread: String, limit: usize) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let signals = self
                .store()
                .signals(&thread, limit)
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::signals(&signals))
        })
    }

    fn run_state(&self, thread: String, step: Option<u64>) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let run = self
                .store()
                .existing_run(&thread)
                .await
                .map_err(RuntimeError::from)?;
            let Some(step) = step else {
                return Ok(Value::Object(run.state));
            };
            let state = self
                .store()
                .state_at(&thread, step)
                .await
                .map_err(RuntimeError::from)?;
            let state = state.ok_or(RuntimeError::NoStep {
                thread,
                step,
                committed: run.step,
            })?;
            Ok(Value::Object(state))
        })
    }

    fn run_history(
        &self,
        thread: String,
        page: PageQuery,
        detail: api::HistoryDetail,
        branches: api::Branches,
    ) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            let cursor = page.cursor;
            let page = self
                .store()
                .history_page(&thread, cursor, page.limit, detail, branches)
                .await
                .map_err(RuntimeError::from)?;
            Ok(page_stream(page))
        })
    }

    fn run_logs(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            let cursor = page.cursor;
            let page = self
                .store()
                .logs_page(&thread, cursor, page.limit)
                .await
                .map_err(RuntimeError::from)?;
            Ok(page_stream(page))
        })
    }

    fn run_events(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream> {
        Box::pin(async move {
            let page = self
                .store()
                .events_page(&thread, page.cursor, page.limit)
                .await
                .map_err(RuntimeError::from)?;
            Ok(page_stream(page))
        })
    }

    fn subscribe(&self, subscribe: api::Subscribe) -> BackendFuture<'_, api::EventStream> {
        Box::pin(stream::subscribe(
            self.store().clone(),
            &self.hub,
            subscribe,
        ))
    }

    fn resume(&self, thread: String, resume: api::ResumeRequest) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let runtime = self.daemon.runtime();
            if let Some(step) = resume.from_step {
                runtime.replay(&thread, step, &resume.by).await?;
            }
            if resume.upgrade {
                runtime.upgrade(&thread).await?;
            }
            let run = runtime.request_resume(&thread, resume.input).await?;
            self.daemon.poke();
            Ok(crate::view::status(&run))
        })
    }

    fn cancel(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let run = self.daemon.runtime().cancel(&thread).await?;
            self.daemon.stop(&thread).await;
            Ok(crate::view::status(&run))
        })
    }

    fn fork(&self, fork: api::ForkRequest) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let edit = match (fork.update, fork.as_node) {
                (None, None) => None,
                (values, as_node) => Some(Edit {
                    values: values.unwrap_or_default(),
                    as_node,
                }),
            };
            let request = Fork {
                source: fork.source,
                step: fork.step,
                thread: fork.thread,
                edit,
            };
            let run = self.daemon.runtime().fork(request, &fork.by).await?;
            self.daemon.poke();
            Ok(crate::view::status(&run))
        })
    }

    fn update(
        &self,
        thread: String,
        edit: api::EditState,
        by: api::Caller,
    ) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let edit = Edit {
                values: edit.values,
                as_node: edit.as_node,
            };
            let run = self.daemon.runtime().update(&thread, edit, &by).await?;
            Ok(crate::view::status(&run))
        })
    }

    fn delete(&self, thread: String, deletion: api::Deletion) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let scope = match deletion {
                api::Deletion::Finished => DeleteScope::Finished,
                api::Deletion::Forced => DeleteScope::Any,
            };
            let deleted = self.daemon.runtime().delete(&thread, scope).await?;
            // Whoever executes it here stops now, not at its next write.
            self.daemon.stop(&thread).await;
            Ok(crate::view::deleted(&thread, &deleted))
        })
    }

    fn workflows(&self) -> BackendFuture<'_, Value> {
        Box::pin(self.workflows_json())
    }

    fn metrics(&self) -> BackendFuture<'_, String> {
        Box::pin(async move {
            let runtime = self.daemon.runtime();
            let counts = self
                .store()
                .count_runs(SystemClock.now_ms())
                .await
                .map_err(RuntimeError::from)?;
            let scrape = crate::metrics::Scrape {
                runtime: runtime.metrics().snapshot(),
                compiles: runtime.plugin_host().compile_times(),
                counts,
            };
            Ok(scrape.exposition())
        })
    }

    fn run_counts(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let counts = self
                .store()
                .count_runs(SystemClock.now_ms())
                .await
                .map_err(RuntimeError::from)?;
            Ok(crate::view::run_counts(&counts))
        })
    }

    fn plugins(&self) -> BackendFuture<'_, Value> {
        Box::pin(async move {
            let runtime = self.daemon.runtime();
            let loads = runtime
                .plugin_host()
                .load_dir(runtime.plugins_dir())
                .await
                .map_err(|source| RuntimeError::PluginsDir {
                    dir: runtime.plugins_dir().to_path_buf(),
                    source,
                })?;
            Ok(crate::view::plugins(&loads))
        })
    }

    fn run_graph(&self, thread: String) -> BackendFuture<'_, Value> {
        Box::pin(async move { self.graph_json(&thread).await })
    }

    fn plugin_versions(&self) -> BackendFuture<'_, Value> {
        Box::pin(self.versions_json())
    }

    /// `"memory": {"budget", "reserved", "waiting"}`: the budget of all node
    /// instances' linear memories (bytes; `null`: none), what live instances
    /// reserve of it (each its node's whole `memory` limit), and how many
    /// calls wait for room.
    fn health(&self) -> serde_json::Map<String, Value> {
        let memory = self.daemon.runtime().plugin_host().memory();
        let mut health = serde_json::Map::new();
        health.insert(
            "memory".to_string(),
            json!({
                "budget": memory.budget,
                "reserved": memory.reserved,
                "waiting": memory.waiting,
            }),
        );
        health
    }
}

/// The workflow names (file stems of `*.toml`) in `dir`, sorted.
fn workflow_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use savepoint_base::error_code::ErrorCode;
    use savepoint_store::{RunStatus, StoreError};

    #[test]
    fn a_full_disk_is_503_and_other_store_failures_500() {
        let full = ApiError::from(RuntimeError::Store(StoreError::DiskFull {
            path: "/data/savepoint.db".into(),
        }));
        assert_eq!(
            crate::api::status(full.code),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(full.code, ErrorCode::Environment);
        let corrupt = ApiError::from(RuntimeError::Store(StoreError::Corrupt("x".into())));
        assert_eq!(
            crate::api::status(corrupt.code),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// Every runtime error a request can meet: its status, code and details, and a
    /// message that names no command-line flag and no command (the CLI adds those).
    #[test]
    fn runtime_errors_have_a_code_details_and_no_cli_words() {
        let thread = || "job-1".to_string();
        let workflow = Workflow::parse("w.toml", "name = \"w\"\nstart = \"a\"\n").unwrap_err();
        let cases = [
            (
                RuntimeError::NotFound { thread: thread() },
                StatusCode::NOT_FOUND,
                json!({"thread": "job-1"}),
            ),
            (
                RuntimeError::NoStep {
                    thread: thread(),
                    step: 99,
                    committed: 1,
                },
                StatusCode::NOT_FOUND,
                json!({"thread": "job-1", "step": 99}),
            ),
            (
                RuntimeError::ThreadExists {
                    thread: thread(),
                    status: RunStatus::Completed,
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1", "status": "completed"}),
            ),
            (
                RuntimeError::ThreadExists {
                    thread: thread(),
                    status: RunStatus::Sleeping,
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1", "status": "sleeping"}),
            ),
            (
                RuntimeError::AlreadyFinished {
                    thread: thread(),
                    status: RunStatus::Cancelled,
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1", "status": "cancelled"}),
            ),
            (
                RuntimeError::NeedsInput {
                    thread: thread(),
                    question: json!("ok?"),
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1"}),
            ),
            (
                RuntimeError::UnexpectedInput {
                    thread: thread(),
                    status: RunStatus::Failed,
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1", "status": "failed"}),
            ),
            (
                RuntimeError::UpgradeRefused {
                    thread: thread(),
                    problems: vec![savepoint_runtime::UpgradeProblem::NodeGone {
                        node: "a".into(),
                        workflow: "w.toml".into(),
                    }],
                },
                StatusCode::CONFLICT,
                json!({"thread": "job-1"}),
            ),
            (
                RuntimeError::PluginsDir {
                    dir: "plugins".into(),
                    source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                },
                StatusCode::SERVICE_UNAVAILABLE,
                Value::Null,
            ),
            (
                RuntimeError::Workflow(vec![workflow.clone()]),
                StatusCode::BAD_REQUEST,
                json!({"problems": [workflow.problem()]}),
            ),
        ];
        for (error, status, details) in cases {
            let api = ApiError::from(error);
            assert_eq!(crate::api::status(api.code), status, "{api:?}");
            assert_eq!(
                api.details.clone().unwrap_or(Value::Null),
                details,
                "{api:?}"
            );
            for word in ["--", "`savepoint", "savepoint "] {
                assert!(!api.message.contains(word), "{word:?} in {:?}", api.message);
            }
        }
        assert_eq!(
            ApiError::from(RuntimeError::AlreadyFinished {
                thread: thread(),
                status: RunStatus::Cancelled,
            })
            .message,
            "thread \"job-1\" is already cancelled; nothing to cancel"
        );
    }
}
