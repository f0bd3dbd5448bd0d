//! The web dashboard of `savepoint serve`: HTML pages rendered on the server from the
//! same [`Backend`] the JSON API calls (so they are tested with an in-memory backend),
//! readable without JavaScript; one small script adds live updates (Server-Sent Events
//! of `GET /runs/{id}/events` and `GET /events`) and sends the actions to the JSON API
//! with `fetch`, so the API's guard (content type, `Origin`) covers them too.
//!
//! # Layout
//!
//! - `html`: escaping ([`html::esc`]: every value that comes from a run), the page
//!   shell and the headers of every page (no caching, a content security policy that
//!   runs only our own script).
//! - `runs`: `GET /`, the runs list: filters, counts per status, one page of runs.
//! - `run`: `GET /ui/runs/{id}`, a run: its status, graph, history, events, logs,
//!   pinned versions; `actions`: its forms; `compose`: what it waits for, its child
//!   runs and its mailbox.
//! - `graph`: the run's workflow as an inline SVG laid out by `layout-rs`.
//! - `plugins`: `GET /ui/plugins`, every stored component version.
//! - `schedules`: `GET /ui/schedules`, every schedule, with pause/resume buttons.
//! - `assets`: `GET /assets/{file}`, the embedded style sheet and script under
//!   versioned names, cached for a year.
//!
//! Every page reads one page of runs (or of a run's history, events and logs), never
//! all of them: a database of 100,000 runs costs a page what one of ten does.

mod actions;
mod assets;
mod compose;
mod graph;
mod html;
mod plugins;
mod run;
mod runs;
mod schedules;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use serde_json::Value;

use crate::api::{ApiError, Backend, JsonStream};

/// The dashboard's routes; the API's router serves them behind the same guard.
pub(crate) fn routes() -> Router<Arc<dyn Backend>> {
    Router::new()
        .route("/", get(runs::page))
        .route("/ui/runs/{id}", get(run::page))
        .route("/ui/plugins", get(plugins::page))
        .route("/ui/schedules", get(schedules::page))
        .route("/assets/{file}", get(assets::serve))
}

/// Where the dashboard's style sheet is served (a versioned name): the login page
/// wears it too.
pub(crate) fn stylesheet() -> &'static str {
    assets::CSS.path()
}

/// A page of JSON text that a [`Backend`] streams (history, logs, events), read whole:
/// the dashboard asks for small pages.
async fn collect(mut pieces: JsonStream) -> Result<Value, ApiError> {
    let mut bytes = Vec::new();
    while let Some(piece) = pieces.next().await {
        bytes.extend_from_slice(&piece?);
    }
    serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::internal(format!("a page the backend sent is not JSON: {error}"))
    })
}
