//! The HTTP API of `savepoint serve`: routing, request parsing and validation, and JSON
//! errors. This module owns what a request may look like and what every answer looks
//! like (a JSON value, or `{"error": "..."}` with a status that says whose fault it is).
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
//!   the `Host` header, the bearer token, and for the routes that change something
//!   the JSON content type and the `Origin` (cross-site requests, DNS rebinding).
//! - `server`: [`serve`], the accept loop: header and body read timeouts and a
//!   connection limit that closes the oldest idle connection to let a new one in
//!   (slow, idle and slot-holding clients).
//! - `extract`: JSON object bodies, thread ids, query parameters (`status`, `limit`,
//!   `cursor`, `states`), each turned into a checked value or an error naming what is
//!   wrong.
//! - `routes`: one handler per route, calling the [`Backend`].
//! - `vocab`: the shared words for statuses, cursors, pages and history detail, and the
//!   checked page request.
//! - `error`: [`ApiError`] and the JSON error response.
//!
//! | Route | Body | Answer |
//! | --- | --- | --- |
//! | `GET /health` | | `{"status": "ok"}` and [`Backend::health`] |
//! | `POST /runs` | `{"workflow", "thread"?, "input"?}` | 201, [`Backend::create_run`] |
//! | `GET /runs?status=running&limit=100` | | [`Backend::list_runs`] |
//! | `GET /runs/{id}` | | [`Backend::run_status`] |
//! | `GET /runs/{id}/state` | | [`Backend::run_state`] |
//! | `GET /runs/{id}/history?limit=&cursor=&states=` | | [`Backend::run_history`], streamed |
//! | `GET /runs/{id}/logs?limit=&cursor=` | | [`Backend::run_logs`], streamed |
//! | `POST /runs/{id}/resume` | empty, or `{"input"?, "upgrade"?}` | [`Backend::resume`] |
//! | `POST /runs/{id}/cancel` | empty, or `{}` | [`Backend::cancel`] |
//! | `GET /workflows` | | [`Backend::workflows`] |
//! | `GET /plugins` | | [`Backend::plugins`] |
//!
//! Every request must name this server in `Host` (else 421), and carry
//! `Authorization: Bearer <token>` when the server has a token (else 401; `/health`
//! excepted). A POST must be `Content-Type: application/json`, also when its body
//! is empty (else 415), and an `Origin` it carries must be this server (else 403).
//! A refusal for who sent the request (400, 401, 403, 421) closes the connection.
//! A body that does not arrive within the body timeout gets 408.

mod error;
mod extract;
mod guard;
mod routes;
mod server;
mod vocab;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use futures_util::Stream;
use serde_json::{Map, Value};

pub use error::{ApiError, status};
pub use guard::{AllowedHost, Token};
pub use server::serve;
pub use vocab::{
    Cursor, HISTORY_PAGE, HistoryDetail, LOG_PAGE, PageQuery, PageSize, ParseStatusError,
    RUNS_PAGE, RunStatus,
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
}

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
    /// The status objects of the `limit` most recently updated runs, or of those in
    /// `status`: an array.
    fn list_runs(&self, status: Option<RunStatus>, limit: usize) -> BackendFuture<'_, Value>;
    fn run_status(&self, thread: String) -> BackendFuture<'_, Value>;
    /// The run's latest state, or its state after `step` (0: its input).
    fn run_state(&self, thread: String, step: Option<u64>) -> BackendFuture<'_, Value>;
    /// A page of the run's checkpoints, newest first:
    /// `{"entries": [...], "next_cursor": ...}` (the shape of `savepoint history --json`).
    fn run_history(
        &self,
        thread: String,
        page: PageQuery,
        detail: HistoryDetail,
    ) -> BackendFuture<'_, JsonStream>;
    /// A page of the run's log lines, oldest first, shaped as [`Backend::run_history`]'s.
    fn run_logs(&self, thread: String, page: PageQuery) -> BackendFuture<'_, JsonStream>;
    /// Resumes a parked or failed run, with the user's input if any (`null` is none);
    /// with `upgrade`, first moves it to the current workflow and plugin files.
    fn resume(
        &self,
        thread: String,
        input: Option<Value>,
        upgrade: bool,
    ) -> BackendFuture<'_, Value>;
    fn cancel(&self, thread: String) -> BackendFuture<'_, Value>;
    /// The workflows that `POST /runs` can start.
    fn workflows(&self) -> BackendFuture<'_, Value>;
    fn plugins(&self) -> BackendFuture<'_, Value>;
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
        .route("/runs", get(routes::list_runs).post(routes::create_run))
        .route("/runs/{id}", get(routes::run_status))
        .route("/runs/{id}/state", get(routes::run_state))
        .route("/runs/{id}/history", get(routes::run_history))
        .route("/runs/{id}/logs", get(routes::run_logs))
        .route("/runs/{id}/resume", post(routes::resume))
        .route("/runs/{id}/cancel", post(routes::cancel))
        .route("/workflows", get(routes::workflows))
        .route("/plugins", get(routes::plugins))
        // Only on the routes above (a 404 or 405 changes nothing), so it comes after them.
        .route_layer(from_fn_with_state(guard.clone(), guard::writes))
        // Applies to the routes above, so it comes after them.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        // Outermost: every request, answered or not, passes the guard first.
        .layer(from_fn_with_state(guard, guard::admit))
        .with_state(backend)
}
