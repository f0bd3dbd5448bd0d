//! One handler per route: check the request (see [`super::extract`]), hand it to the
//! [`Backend`], send back its value or its error.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, HttpError};
use super::extract::{Fields, JsonObject, Params, check_thread, check_workflow_name, path_thread};
use super::{Backend, CreateRun, HISTORY_PAGE, HistoryDetail, JsonStream, LOG_PAGE, RUNS_PAGE};

type Backed = State<Arc<dyn Backend>>;
type Reply = Result<Json<Value>, HttpError>;

/// `GET /health`: `{"status": "ok"}` and what the backend adds.
pub(super) async fn health(State(backend): Backed) -> Json<Value> {
    let mut health = serde_json::Map::new();
    health.insert("status".to_string(), json!("ok"));
    health.extend(backend.health());
    Json(Value::Object(health))
}

/// `POST /runs` with `{"workflow": "chain", "thread"?: "job-1", "input"?: {...}}`
pub(super) async fn create_run(
    State(backend): Backed,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let Some(body) = body else {
        return Err(ApiError::usage(
            "request body is empty: expected a JSON object such as {\"workflow\": \"chain\"}"
                .to_string(),
        )
        .into());
    };
    let mut fields = Fields::new(body);
    let workflow = fields.required_string("workflow")?;
    let thread = fields.optional_string("thread")?;
    let input = fields.optional_object("input")?;
    fields.finish()?;
    check_workflow_name(&workflow)?;
    if let Some(thread) = &thread {
        check_thread(thread, "field \"thread\"")?;
    }
    let request = CreateRun {
        workflow,
        thread,
        input: input.unwrap_or_default(),
    };
    let run = backend.create_run(request).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// `GET /runs?status=running&limit=100`
pub(super) async fn list_runs(
    State(backend): Backed,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    let mut params = Params::new(query)?;
    let status = params.status()?;
    let limit = params.limit(RUNS_PAGE)?;
    params.finish()?;
    Ok(Json(backend.list_runs(status, limit).await?))
}

/// `GET /runs/{id}`
pub(super) async fn run_status(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
) -> Reply {
    let thread = path_thread(path)?;
    Ok(Json(backend.run_status(thread).await?))
}

/// `GET /runs/{id}/state?step=N`
pub(super) async fn run_state(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Reply {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let step = params.step()?;
    params.finish()?;
    Ok(Json(backend.run_state(thread, step).await?))
}

/// `GET /runs/{id}/history?limit=50&cursor=C&states=true`
pub(super) async fn run_history(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, HttpError> {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let page = params.page(HISTORY_PAGE)?;
    let detail = match params.flag("states")? {
        true => HistoryDetail::WholeStates,
        false => HistoryDetail::ChangedKeys,
    };
    params.finish()?;
    let pieces = backend.run_history(thread, page, detail).await?;
    Ok(streamed(pieces))
}

/// `GET /runs/{id}/logs?limit=1000&cursor=C`
pub(super) async fn run_logs(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, HttpError> {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let page = params.page(LOG_PAGE)?;
    params.finish()?;
    let pieces = backend.run_logs(thread, page).await?;
    Ok(streamed(pieces))
}

/// A 200 whose JSON body is written as its pieces come.
fn streamed(pieces: JsonStream) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(pieces),
    )
        .into_response()
}

/// `POST /runs/{id}/resume` with `{"input"?: <any JSON>, "upgrade"?: bool}` or an
/// empty body.
pub(super) async fn resume(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    let mut fields = Fields::new(body.unwrap_or_default());
    let input = fields.optional("input");
    let upgrade = fields.optional_bool("upgrade")?;
    fields.finish()?;
    Ok(Json(backend.resume(thread, input, upgrade).await?))
}

/// `POST /runs/{id}/cancel` with an empty body (or `{}`).
pub(super) async fn cancel(
    State(backend): Backed,
    path: Result<Path<String>, PathRejection>,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    Fields::new(body.unwrap_or_default()).finish()?;
    Ok(Json(backend.cancel(thread).await?))
}

/// `GET /workflows`
pub(super) async fn workflows(State(backend): Backed) -> Reply {
    Ok(Json(backend.workflows().await?))
}

/// `GET /plugins`
pub(super) async fn plugins(State(backend): Backed) -> Reply {
    Ok(Json(backend.plugins().await?))
}

/// Any path no route matches.
pub(super) async fn not_found(method: Method, uri: Uri) -> HttpError {
    ApiError::not_found(format!("no route for {method} {}", uri.path())).into()
}

/// A known path with a method it does not take; axum adds the `Allow` header.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {} (the Allow header lists those that are)",
            uri.path()
        ),
    )
}
