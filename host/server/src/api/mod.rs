//! The HTTP API of `savepoint serve`: routing, request parsing and validation, and JSON
//! errors. This module owns what a request may look like and what every answer looks
//! like (the types of `shapes`, or `{"error": {"code", "message", "details"}}` with a
//! status that says whose fault it is), and says both in `GET /openapi.json`.
//!
//! What it knows: HTTP (axum, hyper), JSON, the words for what a request asks
//! ([`RunStatus`], [`Cursor`], [`HistoryDetail`], page sizes: `savepoint_base::vocab`,
//! shared with the store and the CLI; [`PageQuery`]), and the error codes of
//! `savepoint-base`. What it does not know: how runs are executed
//! or stored. It imports neither the runtime nor the store; a checked request goes to a
//! [`Backend`], which the server implements over the runtime's daemon (`crate::backend`,
//! the one adapter, turns the runtime's errors into [`ApiError`]s). So the API is tested with an in-memory backend and the daemon
//! without HTTP.
//!
//! # Layout
//!
//! - [`router`] (this file): the routes, behind the guard.
//! - `guard`: who may talk to the API, checked in two middlewares before any route:
//!   the `Host` header, the bearer token or session cookie, and for the routes that
//!   change something the JSON content type and the `Origin` (cross-site requests, DNS
//!   rebinding).
//! - `auth`: what counts as logged in (the session cookie), which routes are open and
//!   which are the dashboard's pages.
//! - `login`: the dashboard's login and logout (HTML forms), which set and clear the
//!   session cookie.
//! - `server`: [`serve`], the accept loop: header and body read timeouts and a
//!   connection limit that closes the oldest idle connection to let a new one in
//!   (slow, idle and slot-holding clients).
//! - `extract`: JSON object bodies, thread ids, query parameters (`status`, `limit`,
//!   `cursor`, `tag`, flags, ...), each turned into a checked value or an error naming
//!   what is wrong; no body on reads.
//! - `routes`: one handler per route, calling the [`Backend`]; `travel`: those of the
//!   routes that act on a run's past (fork, update, delete); `events`: the event
//!   streams (Server-Sent Events, `Last-Event-ID`, keep-alive) and the events page;
//!   `signals`: a run's mailbox; `schedules`: the schedules.
//! - `vocab`: the shared words for statuses, cursors, pages and history detail, and the
//!   checked page request.
//! - `error`: [`ApiError`] and the JSON error response.
//! - `shapes`: the types of the answers and bodies (`crate::view` builds answers from
//!   them); `openapi`: `GET /openapi.json`, derived from those types and the handlers.
//!
//! | Route | Body | Answer |
//! | --- | --- | --- |
//! | `GET /health` | | `{"status": "ok"}` and [`Backend::health`] |
//! | `GET /metrics` | | the Prometheus text format, [`Backend::metrics`] |
//! | `POST /runs` | `{"workflow", "thread"?, "input"?, "tags"?}` | 201, [`Backend::create_run`] |
//! | `POST /runs/batch` | `{"workflow", "runs": [{"thread"?, "input"?, "tags"?}, ...]}` | 201, [`Backend::create_runs`] |
//! | `GET /runs?status=&workflow=&tag=k=v&since=2d&thread=&limit=&cursor=` | | [`Backend::list_runs`]: `{"runs", "next_cursor"}` |
//! | `GET /runs/{id}` | | [`Backend::run_status`] |
//! | `DELETE /runs/{id}?force=true` | empty, or `{}` | [`Backend::delete`] |
//! | `GET /runs/{id}/state?step=` | | [`Backend::run_state`] |
//! | `GET /runs/{id}/history?limit=&cursor=&states=&diff=&all=` | | [`Backend::run_history`], streamed |
//! | `GET /runs/{id}/logs?limit=&cursor=` | | [`Backend::run_logs`], streamed |
//! | `GET /runs/{id}/events?limit=&cursor=` | | [`Backend::subscribe`]: Server-Sent Events, the run's events and log lines until it has finished; with `limit` or `cursor`, or `Accept: application/json` without `text/event-stream`: [`Backend::run_events`], streamed |
//! | `GET /events?workflow=` | | [`Backend::subscribe`]: Server-Sent Events, every run's events from now, endless |
//! | `POST /runs/{id}/resume` | empty, or `{"input"?, "upgrade"?, "from_step"?}` | [`Backend::resume`] |
//! | `POST /runs/{id}/cancel` | empty, or `{}` | [`Backend::cancel`] |
//! | `POST /runs/{id}/signals/{name}` | `{"data"}`, or empty | [`Backend::send_signal`] |
//! | `GET /runs/{id}/signals` | `?limit=` | [`Backend::run_signals`] |
//! | `POST /runs/{id}/fork` | `{"step", "thread", "update"?, "as_node"?}` | 201, [`Backend::fork`] |
//! | `POST /runs/{id}/update` | `{"values", "as_node"?}` | [`Backend::update`] |
//! | `GET /schedules` | | [`Backend::schedules`] |
//! | `POST /schedules` | `{"name", "workflow", "cron"?, "every"?, "tz"?, "input"?, "catch_up"?, "replace"?}` | 201, [`Backend::add_schedule`] |
//! | `GET /schedules/{name}` | | [`Backend::schedule`] |
//! | `DELETE /schedules/{name}` | empty, or `{}` | [`Backend::remove_schedule`] |
//! | `POST /schedules/{name}/pause` | empty, or `{}` | [`Backend::pause_schedule`] |
//! | `POST /schedules/{name}/resume` | empty, or `{}` | [`Backend::pause_schedule`] |
//! | `GET /workflows` | | [`Backend::workflows`] |
//! | `GET /plugins` | | [`Backend::plugins`] |
//! | `GET /openapi.json` | | this API's OpenAPI 3.1 document (`openapi`) |
//!
//! The dashboard's HTML pages (`GET /`, `GET /ui/runs/{id}`, `GET /ui/plugins`,
//! `GET /ui/schedules`, `GET /assets/{file}`) are `crate::dashboard`'s; this router
//! serves them behind the same guard, and they read through the same [`Backend`]
//! ([`Backend::run_graph`], [`Backend::plugin_versions`], [`Backend::run_signals`] and
//! [`Backend::schedules`] are theirs).
//!
//! Besides the JSON routes, the dashboard's login (`login`, HTML forms):
//! `GET /login?next=PATH` (the form), `POST /login` (form-encoded `token` and `next`:
//! 303 to `next` with the session cookie, or 401 and the form again) and `POST /logout`
//! (303 to `/login`, the cookie cleared).
//!
//! A flag parameter (`states`, `diff`, `all`, `force`) is `true`/`1` or `false`/`0`.
//! Every route refuses, with 400, a query parameter or body field it does not take
//! (naming it and listing those it takes), a parameter given twice (`tag` excepted), and
//! a body on a `GET`: nothing a client sends is silently ignored.
//!
//! Every request must name this server in `Host` (else 421), and carry
//! `Authorization: Bearer <token>` or the dashboard's session cookie (`login`) when
//! the server has a token (else 401, or for a dashboard page a 303 to `/login`;
//! `/health`, `/metrics`, `/login`, `/logout` and `/assets/...` are open). A POST must be `Content-Type: application/json`, also when its body
//! is empty (else 415), and an `Origin` it carries must be this server (else 403).
//! A refusal for who sent the request (400, 401, 403, 421) closes the connection.
//! A body that does not arrive within the body timeout gets 408.

mod auth;
mod batch;
mod error;
mod events;
mod extract;
mod guard;
mod login;
mod openapi;
mod routes;
mod schedules;
mod server;
pub mod shapes;
pub mod signals;
mod travel;
mod vocab;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use futures_util::Stream;
use serde_json::{Map, Value};

/// The login session's cookie: the dashboard offers to log out when a request has one.
pub(crate) use auth::SESSION_COOKIE;
pub use error::{ApiError, status};
pub use guard::{AllowedHost, Token};
pub use openapi::document as openapi_document;
pub use server::serve;
pub use vocab::{
    Branches, Cursor, EVENTS_PAGE, HISTORY_PAGE, HistoryDetail, LOG_PAGE, PageQuery, PageSize,
    ParseStatusError, RUNS_PAGE, RunStatus,
};

/// A checked `POST /runs` request.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRun {
    /// The name of a workflow in the workflows folder, e.g. `chain`: never blank, never a
    /// path (no separators, no leading dot).
    pub workflow: String,
    /// The thread id to create; `None` lets the backend choose one.
    pub thread: Option<String>,
    /// The state at step 0; `{}` when the request gave none.
    pub input: Map<String, Value>,
    /// The run's tags (`savepoint_base::tags`: checked, one value per key).
    pub tags: BTreeMap<String, String>,
}

/// A checked `POST /runs/batch` request: runs of one workflow, created together.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRuns {
    /// As [`CreateRun::workflow`].
    pub workflow: String,
    /// At most [`MAX_BATCH_RUNS`], at least one.
    pub runs: Vec<BatchEntry>,
}

/// One run of a [`CreateRuns`]: its fields as [`CreateRun`]'s.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchEntry {
    pub thread: Option<String>,
    pub input: Map<String, Value>,
    pub tags: BTreeMap<String, String>,
}

/// The most runs one `POST /runs/batch` creates: one store transaction each, and a
/// body within the 1 MiB limit for small inputs. More runs take more requests.
pub const MAX_BATCH_RUNS: usize = 10_000;

/// A checked `GET /runs` request: the runs that match every filter given, newest
/// created first.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSearch {
    pub status: Option<RunStatus>,
    /// The workflow's name (`name` in its file); never blank.
    pub workflow: Option<String>,
    /// Tags the run must carry, each checked.
    pub tags: Vec<(String, String)>,
    /// Created no longer than this before now.
    pub since: Option<Duration>,
    /// Only threads that start with this (compared as bytes; no wildcards).
    pub thread_prefix: Option<String>,
    /// Only the child runs of this run.
    pub parent: Option<String>,
    pub page: PageQuery,
}

/// Who asked for a change to a run's past (a fork, an edit, a replay), for the run's
/// events: `api <client address>`.
pub type Caller = String;

/// A checked edit of a run's state (`POST /runs/{id}/update`, or `update` with a fork).
#[derive(Debug, Clone, PartialEq)]
pub struct EditState {
    /// Merged with the workflow's reducers, as if `as_node` had returned them.
    pub values: Map<String, Value>,
    /// The node the values come from: the run then goes where its routes say.
    /// `None`: the run's next node(s) stay.
    pub as_node: Option<String>,
}

/// A checked `POST /runs/{id}/fork` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkRequest {
    /// The run forked from (the path's thread).
    pub source: String,
    /// Its step the fork starts after (0: its input).
    pub step: u64,
    /// The new run's thread.
    pub thread: String,
    /// Values to merge into the fork's state, as [`EditState::values`].
    pub update: Option<Map<String, Value>>,
    /// As [`EditState::as_node`].
    pub as_node: Option<String>,
    pub by: Caller,
}

/// A checked `POST /runs/{id}/resume` request.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeRequest {
    /// The answer to an interrupt (`None`: none).
    pub input: Option<Value>,
    /// First move the run to the current workflow and plugin files.
    pub upgrade: bool,
    /// Replay in place from this step first: later checkpoints are kept, superseded.
    pub from_step: Option<u64>,
    pub by: Caller,
}

/// A checked `POST /schedules` request (the fields of `savepoint schedule add`). What it
/// leaves out comes from the workflow file's `[schedule]` table (the backend's to read).
#[derive(Debug, Clone, PartialEq)]
pub struct AddSchedule {
    /// Checked by `savepoint_base::vocab::check_schedule_name`.
    pub name: String,
    /// As [`CreateRun::workflow`].
    pub workflow: String,
    /// A cron expression (the backend checks it); never with `every`.
    pub cron: Option<String>,
    pub every: Option<Duration>,
    /// An IANA time zone for `cron` (the backend checks it); only with `cron`.
    pub tz: Option<String>,
    pub input: Option<Map<String, Value>>,
    pub catch_up: Option<savepoint_base::vocab::CatchUp>,
    /// Replace a schedule of that name (else its name being taken is a conflict).
    pub replace: bool,
}

/// Which runs `DELETE /runs/{id}` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Only a completed, failed or cancelled run (a conflict otherwise).
    Finished,
    /// Any run (`?force=true`): one being executed is cancelled first.
    Forced,
}

/// A checked request for a stream of events (`GET /runs/{id}/events` as Server-Sent
/// Events, `GET /events?workflow=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// One run's events and log lines; `None`: every run's events.
    pub thread: Option<String>,
    /// Only the runs of this workflow (every run's stream only).
    pub workflow: Option<String>,
    /// The `Last-Event-ID` the client sent: the stream goes on after it.
    pub last_event_id: Option<String>,
}

/// One message of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// Sent as `id:`; a client that reconnects sends the last one it got as
    /// `Last-Event-ID` and gets exactly what came after it.
    pub id: String,
    /// Sent as `event:`: `step`, `attempt_failed`, `parked`, `woke`, `interrupted`,
    /// `answered`, `completed`, `failed`, `cancelled`, `log`, or another event kind
    /// (`created`, `forked`, `edited`, ...).
    pub name: String,
    /// Sent as `data:`, one JSON object on one line: an event as
    /// `GET /runs/{id}/events` gives it (with `thread`), or a log line. Text, encoded
    /// once however many streams send it.
    pub data: Arc<str>,
}

/// The messages of an event stream, endless unless the backend ends it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ApiError>> + Send>>;

/// What a [`Backend`] method returns: boxed so that the trait stays object safe.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A JSON text sent piece by piece as it is read (a page of history or logs), so that the
/// daemon holds about one entry of it at a time. An error after the first piece can only
/// cut the response short (the client sees a truncated body).
pub type JsonStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, ApiError>> + Send>>;

/// Where checked requests go. The server implements it over the runtime's daemon;
/// each value returned is sent as the response body as is (the shapes of
/// `savepoint status --json` and friends), each error as its status and message.
///
/// Thread ids handed over are never blank and hold no control characters.
pub trait Backend: Send + Sync + 'static {
    /// Creates and starts a run; returns the new run's status object.
    fn create_run(&self, req: CreateRun) -> BackendFuture<'_, Value>;
    /// Creates the runs of one workflow, all or none (one taken thread: a conflict, and
    /// no run created); returns `{"created": N, "threads": [...]}`, threads in the
    /// order of the runs.
    fn create_runs(&self, req: CreateRuns) -> BackendFuture<'_, Value>;
    /// One page of the runs that match: `{"runs": [...], "next_cursor": ...}` (the shape
    /// of `savepoint runs --json`).
    fn list_runs(&self, search: RunSearch) -> BackendFuture<'_, Value>;
    fn run_status(&self, thread: String) -> BackendFuture<'_, Value>;
    /// The run's latest state, or its state after `step` (0: its input).
    fn run_state(&self, thread: String, step: Option<u64>) -> BackendFuture<'_, Value>;
    /// A page of the run's checkpoints, newest first (of `branches`):
    /// `{"entries": [...], "next_cursor": ...}` (the shape of `savepoint history --json`).
    fn run_history(
        &self,
        thread: String,
        page: PageQuery,
        detail: HistoryDetail,
        branches: Branches,
    ) -> BackendFuture<'_, JsonStream>;
    /// A page of the run's log lines, oldest first, shaped as [`Backend::run_history`]'s.
    fn run_logs(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream>;
    /// A page of the run's events, oldest first, shaped as [`Backend::run_history`]'s.
    fn run_events(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream>;
    /// Resumes a parked or failed run, with the user's input if any; with `upgrade`,
    /// first moves it to the current workflow and plugin files; with `from_step`, first
    /// replays it in place from that step.
    fn resume(&self, thread: String, resume: ResumeRequest) -> BackendFuture<'_, Value>;
    fn cancel(&self, thread: String) -> BackendFuture<'_, Value>;
    /// Creates a run from another run's checkpoint; returns the new run's status object.
    fn fork(&self, fork: ForkRequest) -> BackendFuture<'_, Value>;
    /// Edits a run's state (a checkpoint of its own); returns its status object.
    fn update(&self, thread: String, edit: EditState, by: Caller) -> BackendFuture<'_, Value>;
    /// Deletes a run and what only it refers to; returns what was removed.
    fn delete(&self, thread: String, deletion: Deletion) -> BackendFuture<'_, Value>;
    /// The workflows that `POST /runs` can start.
    fn workflows(&self) -> BackendFuture<'_, Value>;
    fn plugins(&self) -> BackendFuture<'_, Value>;
    /// What the dashboard draws of a run: its workflow's graph and the component
    /// versions it is pinned to: `{"workflow", "start", "nodes": [{"name", "plugin"}],
    /// "edges": [{"from", "to", "route"}], "plugins": {"<plugin>": "<digest>"}}`. An
    /// edge's `to` is a node or `"end"`; `route` is true for a `routes` choice (the node
    /// picks one), false for `next` (always taken).
    fn run_graph(&self, thread: String) -> BackendFuture<'_, Value>;
    /// Every component version stored in the database (`plugins --versions --json`,
    /// with what `describe()` says of it): `[{"name", "digest", "bytes", "stored_at",
    /// "current", "runs", "unfinished", "info"}]`; `info` is null when the version is
    /// neither the plugins folder's file nor compiled in the cache.
    fn plugin_versions(&self) -> BackendFuture<'_, Value>;
    /// The events of one run (`subscribe.thread`) or of every run that matches, as they
    /// are committed: first those after `subscribe.last_event_id` (a run's stream: from its
    /// first event when `None`; every run's: from now), then each new one. See
    /// [`StreamEvent`] for the ids and names. A run's stream ends once the run has
    /// finished (completed, failed, cancelled) and everything is sent; [`ApiError`]
    /// not found (before the stream starts) when there is no such run, usage when
    /// `last_event_id` is not an id of the stream.
    fn subscribe(&self, subscribe: Subscribe) -> BackendFuture<'_, EventStream>;
    /// How many runs there are in each status, and the due-and-waiting backlog:
    /// `{"by_status": {"pending": 0, ..., "completed": 3, ...}, "total": N,
    /// "due_waiting": N}` (every status, in life-cycle order).
    fn run_counts(&self) -> BackendFuture<'_, Value>;
    /// `GET /metrics`: the Prometheus text exposition of the daemon's metrics.
    fn metrics(&self) -> BackendFuture<'_, String>;
    /// The run's mailbox, oldest first, at most `limit` signals (the newest dropped),
    /// delivered and undelivered: `{"signals": [{"id", "name", "data", "sent_at",
    /// "delivered_step"}]}` (`delivered_step` null while undelivered). The dashboard
    /// shows it; a backend without one says so (the page then leaves it out).
    fn run_signals(&self, thread: String, limit: usize) -> BackendFuture<'_, Value> {
        let _ = (thread, limit);
        Box::pin(async { Err(ApiError::internal("this backend keeps no mailbox")) })
    }
    /// Every schedule, by name: `{"schedules": [{"name", "workflow", "workflow_path",
    /// "spec", "input", "catch_up", "paused", "next_due", "last_fired", "created_at"}]}`
    /// (`spec`: `{"kind": "cron", "expr", "tz"}` or `{"kind": "every", "every_ms"}`).
    fn schedules(&self) -> BackendFuture<'_, Value> {
        Box::pin(async { Err(ApiError::internal("this backend keeps no schedules")) })
    }
    /// One schedule, shaped as an entry of [`Backend::schedules`]; not found when no
    /// schedule has this name.
    fn schedule(&self, name: String) -> BackendFuture<'_, Value> {
        let _ = name;
        Box::pin(async { Err(ApiError::internal("this backend keeps no schedules")) })
    }
    /// Checks and stores a schedule (its workflow file as a new run's, its cron
    /// expression and time zone); returns it as [`Backend::schedule`] does. Not found
    /// for a workflow not in the folder; a conflict when the name is taken and not
    /// `replace`.
    fn add_schedule(&self, add: AddSchedule) -> BackendFuture<'_, Value> {
        let _ = add;
        Box::pin(async { Err(ApiError::internal("this backend keeps no schedules")) })
    }
    /// Pauses (`paused`) or resumes a schedule; returns it as [`Backend::schedule`].
    fn pause_schedule(&self, name: String, paused: bool) -> BackendFuture<'_, Value> {
        let _ = (name, paused);
        Box::pin(async { Err(ApiError::internal("this backend keeps no schedules")) })
    }
    /// Removes a schedule (the runs it started stay): `{"name", "removed": true}`.
    fn remove_schedule(&self, name: String) -> BackendFuture<'_, Value> {
        let _ = name;
        Box::pin(async { Err(ApiError::internal("this backend keeps no schedules")) })
    }
    /// Sends a named signal to the run: appends it to the run's mailbox, waking the run if
    /// it waits for it; the signal as kept (`{"id", "name", "data", "sent_at",
    /// "delivered_step": null}`). Not found when there is no such run; a conflict when
    /// it completed or was cancelled.
    fn send_signal(&self, thread: String, name: String, data: Value) -> BackendFuture<'_, Value> {
        let _ = (thread, name, data);
        Box::pin(async { Err(ApiError::internal("this backend keeps no mailbox")) })
    }
    /// What `GET /health` reports besides `"status": "ok"` (the daemon: its
    /// memory budget); answers at once, without the store.
    fn health(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// Who may reach the API and how long a client may take: the API flags of
/// `savepoint serve`.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Names besides the server's own addresses that `Host` and `Origin` may carry.
    pub allowed_hosts: Vec<AllowedHost>,
    /// When set, every request but `GET /health` needs `Authorization: Bearer <token>`.
    pub token: Option<Token>,
    /// A request head (also the first, also after a keep-alive response) must arrive
    /// within this; else the connection is closed.
    pub header_timeout: Duration,
    /// A request body must arrive within this after its head; else 408.
    pub body_timeout: Duration,
    /// At most this many connections open at once; at the limit a new one closes the
    /// oldest idle one, and waits only when all are busy with requests.
    pub max_connections: usize,
}

impl Default for ApiConfig {
    /// The defaults of `savepoint serve`: no token, no other names, 10 s for a
    /// head, 30 s for a body, 256 connections.
    fn default() -> ApiConfig {
        ApiConfig {
            allowed_hosts: Vec::new(),
            token: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// The API's routes over `backend`, for a server listening on `listen`. Every error,
/// including unknown paths (404), wrong methods (405, with `Allow`), bodies over 1 MiB
/// (413) and the guard's refusals (401, 403, 408, 415, 421), is a JSON error.
pub fn router(backend: Arc<dyn Backend>, listen: SocketAddr, config: &ApiConfig) -> Router {
    let guard = guard::Guard::new(listen, config);
    Router::new()
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .route("/runs", get(routes::list_runs).post(routes::create_run))
        // A static path wins over `/runs/{id}`: the run whose thread is `batch` is still
        // read and deleted here, by a fallback (its methods stay out of `Allow`, which
        // names what the document says `/runs/batch` takes: POST).
        .route(
            "/runs/batch",
            post(batch::create_runs).fallback(batch::the_run_named_batch),
        )
        .route(
            "/runs/{id}",
            get(routes::run_status).delete(travel::delete_run),
        )
        .route("/runs/{id}/state", get(routes::run_state))
        .route("/runs/{id}/history", get(routes::run_history))
        .route("/runs/{id}/logs", get(routes::run_logs))
        .route("/runs/{id}/events", get(events::run_events))
        .route("/events", get(events::all_events))
        .route("/runs/{id}/resume", post(routes::resume))
        .route("/runs/{id}/cancel", post(routes::cancel))
        .route("/runs/{id}/signals", get(signals::mailbox))
        .route("/runs/{id}/signals/{name}", post(signals::send))
        .route("/runs/{id}/fork", post(travel::fork))
        .route("/runs/{id}/update", post(travel::update))
        .route(
            "/schedules",
            get(schedules::list_schedules).post(schedules::add_schedule),
        )
        .route(
            "/schedules/{name}",
            get(schedules::schedule).delete(schedules::remove_schedule),
        )
        .route("/schedules/{name}/pause", post(schedules::pause_schedule))
        .route("/schedules/{name}/resume", post(schedules::resume_schedule))
        .route("/workflows", get(routes::workflows))
        .route("/plugins", get(routes::plugins))
        .route("/openapi.json", get(openapi::openapi_json))
        .merge(crate::dashboard::routes())
        // Only on the routes above (a 404 or 405 changes nothing), so it comes after them.
        .route_layer(from_fn_with_state(guard.clone(), guard::writes))
        .route_layer(from_fn(extract::no_body_on_reads))
        // HTML forms, not JSON: after the layers above (they check the Origin themselves).
        .route(
            "/login",
            get(login::page)
                .post(login::log_in)
                .with_state(guard.clone()),
        )
        .route("/logout", post(login::log_out).with_state(guard.clone()))
        // Applies to the routes above, so it comes after them.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        // Outermost: every request, answered or not, passes the guard first.
        .layer(from_fn_with_state(guard, guard::admit))
        .with_state(backend)
}
