//! A run's mailbox over HTTP: `POST /runs/{id}/signals/{name}` sends a named signal (its
//! data in the body), `GET /runs/{id}/signals` lists the mailbox.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};

use super::extract::{Fields, JsonObject, Params, check_thread};
use super::routes::{Backed, QueryPairs, Reply};
use super::{ApiError, shapes};
use savepoint_base::vocab::PageSize;

/// Signals per page of a mailbox listing.
const MAILBOX: PageSize = PageSize {
    default: 100,
    max: 10_000,
};

/// A signal's name: not blank, no control characters, at most 256 bytes.
pub fn check_signal_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!(
            "the signal name is empty or only whitespace ({name:?})"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the signal name contains a control character ({name:?})"
        ));
    }
    if name.len() > 256 {
        return Err(format!(
            "the signal name is {} bytes long, over the limit of 256",
            name.len()
        ));
    }
    Ok(())
}

/// `POST /runs/{id}/signals/{name}` with `{"data": JSON}` (or an empty body: `null`).
#[utoipa::path(
    post,
    path = "/runs/{id}/signals/{name}",
    tag = "steer",
    params(
        ("id" = String, Path, description = "The run's thread id"),
        ("name" = String, Path, description = "The signal's name, e.g. `go`"),
    ),
    request_body(content = Option<shapes::SignalBody>, description = "`{\"data\": JSON}`, or empty (the data is then `null`)"),
    responses(
        (status = 200, description = "The signal, as kept in the run's mailbox", body = shapes::SignalJson),
        (status = 404, description = "No such run (`not_found`)", body = shapes::ErrorJson),
        (status = 409, description = "The run completed or was cancelled (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn send(
    State(backend): Backed,
    path: Result<Path<(String, String)>, PathRejection>,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let Path((thread, name)) = path.map_err(|rejection| {
        ApiError::usage(format!("the path is not valid: {}", rejection.body_text()))
    })?;
    check_thread(&thread, "the thread id in the path")?;
    check_signal_name(&name).map_err(ApiError::usage)?;
    Params::new(query)?.finish()?;
    let mut fields = Fields::new(body.unwrap_or_default());
    let data = fields.optional("data").unwrap_or_default();
    fields.finish()?;
    Ok(Json(backend.send_signal(thread, name, data).await?))
}

/// `GET /runs/{id}/signals?limit=`: the mailbox, oldest first.
#[utoipa::path(
    get,
    path = "/runs/{id}/signals",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The run's thread id"),
        ("limit" = Option<usize>, Query, description = "At most this many signals (default 100, at most 10000); the newest are left out"),
    ),
    responses(
        (status = 200, description = "The run's mailbox, delivered and undelivered signals, oldest first", body = shapes::MailboxJson),
        (status = 404, description = "No such run (`not_found`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn mailbox(
    State(backend): Backed,
    path: super::routes::PathId,
    query: QueryPairs,
) -> Reply {
    let thread = super::extract::path_thread(path)?;
    let mut params = Params::new(query)?;
    let limit = params.limit(MAILBOX)?;
    params.finish()?;
    Ok(Json(backend.run_signals(thread, limit).await?))
}
