//! The HTTP API of `savepoint serve`: routing, request parsing and validation, and JSON
//! errors. This module owns what a request may look like and what every answer looks
//! like (a JSON value, or `{"error": "..."}` with a status that says whose fault it is);
//! it knows nothing of how runs are executed or stored. A checked request goes to a
//! [`Backend`], which the daemon implements over the runtime and the store, so the
//! API is tested with an in-memory backend and the daemon without HTTP.
//!
//! # Layout
//!
//! - [`router`] and [`serve`] (this file): the routes and the server loop.
//! - `extract`: JSON object bodies, thread ids, the `status` filter, each turned
//!   into a checked value or an error naming what is wrong.
//! - `routes`: one handler per route, calling the [`Backend`].
//! - `error`: [`ApiError`] and the JSON error response.
//!
//! | Route | Body | Answer |
//! | --- | --- | --- |
//! | `GET /health` | | `{"status": "ok"}` |
//! | `POST /runs` | `{"workflow", "thread"?, "input"?}` | 201, [`Backend::create_run`] |
//! | `GET /runs?status=running` | | [`Backend::list_runs`] |
//! | `GET /runs/{id}` | | [`Backend::run_status`] |
//! | `GET /runs/{id}/state` | | [`Backend::run_state`] |
//! | `GET /runs/{id}/history` | | [`Backend::run_history`] |
//! | `POST /runs/{id}/resume` | empty, or `{"input"?, "upgrade"?}` | [`Backend::resume`] |
//! | `POST /runs/{id}/cancel` | empty, or `{}` | [`Backend::cancel`] |
//! | `GET /workflows` | | [`Backend::workflows`] |
//! | `GET /plugins` | | [`Backend::plugins`] |

mod error;
mod extract;
mod routes;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use serde_json::{Map, Value};

pub use error::ApiError;

use crate::store::RunStatus;

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

/// Where checked requests go. The daemon implements it over the runtime and the store;
/// each value returned is sent as the response body as is (the shapes of
/// `savepoint status --json` and friends), each error as its status and message.
///
/// Thread ids handed over are never blank and hold no control characters.
pub trait Backend: Send + Sync + 'static {
    /// Creates and starts a run; returns the new run's status object.
    fn create_run(&self, req: CreateRun) -> BackendFuture<'_, Value>;
    /// The status objects of all runs, or of those in `status`: an array.
    fn list_runs(&self, status: Option<RunStatus>) -> BackendFuture<'_, Value>;
    fn run_status(&self, thread: String) -> BackendFuture<'_, Value>;
    /// The run's latest state.
    fn run_state(&self, thread: String) -> BackendFuture<'_, Value>;
    /// The run's checkpoints.
    fn run_history(&self, thread: String) -> BackendFuture<'_, Value>;
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
}

/// The API's routes over `backend`. Every error, including unknown paths (404), wrong
/// methods (405, with `Allow`) and bodies over 1 MiB (413), is a JSON error.
pub fn router(backend: Arc<dyn Backend>) -> Router {
    Router::new()
        .route("/health", get(routes::health))
        .route("/runs", get(routes::list_runs).post(routes::create_run))
        .route("/runs/{id}", get(routes::run_status))
        .route("/runs/{id}/state", get(routes::run_state))
        .route("/runs/{id}/history", get(routes::run_history))
        .route("/runs/{id}/resume", post(routes::resume))
        .route("/runs/{id}/cancel", post(routes::cancel))
        .route("/workflows", get(routes::workflows))
        .route("/plugins", get(routes::plugins))
        // Applies to the routes above, so it comes after them.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .with_state(backend)
}

/// Serve until `shutdown` resolves (graceful: in-flight requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(backend))
        .with_graceful_shutdown(shutdown)
        .await
}
