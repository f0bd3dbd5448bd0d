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
use super::extract::{
    By, Fields, JsonObject, Params, check_thread, check_workflow_name, no_parameters, path_thread,
};
use super::{
    Backend, Branches, CreateRun, HISTORY_PAGE, HistoryDetail, JsonStream, LOG_PAGE, RUNS_PAGE,
    ResumeRequest, RunSearch,
};
use super::{openapi, shapes};

pub(super) type Backed = State<Arc<dyn Backend>>;
pub(super) type Reply = Result<Json<Value>, HttpError>;
/// A request's query string, parsed into pairs (checked by [`Params`]).
pub(super) type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;
pub(super) type PathId = Result<Path<String>, PathRejection>;

/// `GET /health`: `{"status": "ok"}` and what the backend adds.
#[utoipa::path(
    get,
    path = "/health",
    tag = "api",
    security(()),
    responses((status = 200, description = "The server answers", body = shapes::Health)),
)]
pub(super) async fn health(State(backend): Backed, query: QueryPairs) -> Reply {
    Params::new(query)?.finish()?;
    let mut health = serde_json::Map::new();
    health.insert("status".to_string(), json!("ok"));
    health.extend(backend.health());
    Ok(Json(Value::Object(health)))
}

/// `GET /metrics`: the daemon's metrics in the Prometheus text format (0.0.4). Open, as
/// `/health` is: a scraper carries no token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "api",
    security(()),
    responses((
        status = 200,
        description = "Counters, gauges and histograms in the Prometheus text format (see the README's Metrics section)",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8",
    )),
)]
pub(super) async fn metrics(
    State(backend): Backed,
    query: QueryPairs,
) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    let text = backend.metrics().await?;
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    Ok(([(CONTENT_TYPE, content_type)], text).into_response())
}

/// `POST /runs` with `{"workflow": "chain", "thread"?: "job-1", "input"?: {...},
/// "tags"?: {"customer": "acme"}}`
#[utoipa::path(
    post,
    path = "/runs",
    tag = "runs",
    request_body = shapes::CreateRunBody,
    responses(
        (status = 201, description = "The run, created and started", body = shapes::RunJson),
        (status = 404, description = "No such workflow in the workflows folder (`not_found`)", body = shapes::ErrorJson),
        (status = 409, description = "The thread id is taken (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn create_run(
    State(backend): Backed,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    Params::new(query)?.finish()?;
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
    let input = fields.optional_state("input")?;
    let tags = fields.tags()?;
    fields.finish()?;
    check_workflow_name(&workflow)?;
    if let Some(thread) = &thread {
        check_thread(thread, "field \"thread\"")?;
    }
    let request = CreateRun {
        workflow,
        thread,
        input: input.unwrap_or_default(),
        tags,
    };
    let run = backend.create_run(request).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// `GET /runs?status=failed&workflow=approval&tag=customer=acme&since=2d&thread=job-&parent=P&limit=50&cursor=C`
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(openapi::RunsQuery),
    responses((status = 200, description = "A page of the runs that match every filter given, newest created first", body = shapes::RunsPageJson)),
)]
pub(super) async fn list_runs(State(backend): Backed, query: QueryPairs) -> Reply {
    let mut params = Params::new(query)?;
    let search = RunSearch {
        status: params.status()?,
        workflow: params.workflow()?,
        tags: params.tags()?,
        since: params.since()?,
        thread_prefix: params.thread_prefix()?,
        parent: params.parent()?,
        page: params.page(RUNS_PAGE)?,
    };
    params.finish()?;
    Ok(Json(backend.list_runs(search).await?))
}

/// `GET /runs/{id}`
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run's thread id")),
    responses((status = 200, description = "The run's position and outcome", body = shapes::RunJson)),
)]
pub(super) async fn run_status(State(backend): Backed, path: PathId, query: QueryPairs) -> Reply {
    let thread = path_thread(path)?;
    Params::new(query)?.finish()?;
    Ok(Json(backend.run_status(thread).await?))
}

/// `GET /runs/{id}/state?step=N`
#[utoipa::path(
    get,
    path = "/runs/{id}/state",
    tag = "runs",
    params(("id" = String, Path, description = "The run's thread id"), openapi::StateQuery),
    responses(
        (status = 200, description = "The run's state (any JSON object)", body = Object),
        (status = 404, description = "No such run, or no such step on its current branch (`not_found`, `details`: `thread`, `step`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn run_state(State(backend): Backed, path: PathId, query: QueryPairs) -> Reply {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let step = params.step()?;
    params.finish()?;
    Ok(Json(backend.run_state(thread, step).await?))
}

/// `GET /runs/{id}/history?limit=50&cursor=C&states=true` (or `diff=true`, each step's
/// changes as a JSON Patch; `all=true`: superseded branches too)
#[utoipa::path(
    get,
    path = "/runs/{id}/history",
    tag = "runs",
    params(("id" = String, Path, description = "The run's thread id"), openapi::HistoryQuery),
    responses((status = 200, description = "A page of the run's checkpoints, newest first", body = shapes::HistoryPage)),
)]
pub(super) async fn run_history(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
) -> Result<Response, HttpError> {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let page = params.page(HISTORY_PAGE)?;
    let detail = match (params.flag("states")?, params.flag("diff")?) {
        (true, true) => {
            return Err(ApiError::usage(
                "query parameters \"states\" and \"diff\" cannot be combined: ask for whole \
                 states or for each step's changes"
                    .to_string(),
            )
            .into());
        }
        (true, false) => HistoryDetail::WholeStates,
        (false, true) => HistoryDetail::Changes,
        (false, false) => HistoryDetail::ChangedKeys,
    };
    let branches = match params.flag("all")? {
        true => Branches::All,
        false => Branches::Current,
    };
    params.finish()?;
    let pieces = backend.run_history(thread, page, detail, branches).await?;
    Ok(streamed(pieces))
}

/// `GET /runs/{id}/logs?limit=1000&cursor=C`
#[utoipa::path(
    get,
    path = "/runs/{id}/logs",
    tag = "runs",
    params(("id" = String, Path, description = "The run's thread id"), openapi::LogsQuery),
    responses((status = 200, description = "A page of the run's log lines, oldest first", body = shapes::LogsPage)),
)]
pub(super) async fn run_logs(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
) -> Result<Response, HttpError> {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let page = params.page(LOG_PAGE)?;
    params.finish()?;
    let pieces = backend.run_logs(thread, page).await?;
    Ok(streamed(pieces))
}

/// A 200 whose JSON body is written as its pieces come.
pub(super) fn streamed(pieces: JsonStream) -> Response {
    (
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(pieces),
    )
        .into_response()
}

/// `POST /runs/{id}/resume` with `{"input"?: <any JSON>, "upgrade"?: bool,
/// "from_step"?: N}` or an empty body.
#[utoipa::path(
    post,
    path = "/runs/{id}/resume",
    tag = "steer",
    params(("id" = String, Path, description = "The run's thread id")),
    request_body(content = Option<shapes::ResumeBody>, description = "Empty, or the answer and what to do first"),
    responses(
        (status = 200, description = "The run, resumed", body = shapes::RunJson),
        (status = 409, description = "The run is in no state for it: finished, busy, waiting for an answer (without one) or for none (with one), or its upgrade is refused (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn resume(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    By(by): By,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    Params::new(query)?.finish()?;
    let mut fields = Fields::new(body.unwrap_or_default());
    let input = fields.optional("input");
    let upgrade = fields.optional_bool("upgrade")?;
    let from_step = fields.optional_u64("from_step")?;
    fields.finish()?;
    if from_step.is_some() && input.is_some() {
        return Err(ApiError::usage(
            "fields \"from_step\" and \"input\" cannot be combined: a replay starts again \
             from a checkpoint, with no question pending"
                .to_string(),
        )
        .into());
    }
    let resume = ResumeRequest {
        input,
        upgrade,
        from_step,
        by,
    };
    Ok(Json(backend.resume(thread, resume).await?))
}

/// `POST /runs/{id}/cancel` with an empty body (or `{}`).
#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "steer",
    params(("id" = String, Path, description = "The run's thread id")),
    request_body(content = Option<shapes::EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "The run, cancelled", body = shapes::RunJson),
        (status = 409, description = "The run has finished already (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn cancel(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    no_parameters(query, body)?;
    Ok(Json(backend.cancel(thread).await?))
}

/// `GET /workflows`
#[utoipa::path(
    get,
    path = "/workflows",
    tag = "api",
    responses((status = 200, description = "Each workflow file of the workflows folder, and whether `POST /runs` would start it now", body = Vec<shapes::WorkflowJson>)),
)]
pub(super) async fn workflows(State(backend): Backed, query: QueryPairs) -> Reply {
    Params::new(query)?.finish()?;
    Ok(Json(backend.workflows().await?))
}

/// `GET /plugins`
#[utoipa::path(
    get,
    path = "/plugins",
    tag = "api",
    responses((status = 200, description = "Each file of the plugins folder", body = Vec<shapes::PluginJson>)),
)]
pub(super) async fn plugins(State(backend): Backed, query: QueryPairs) -> Reply {
    Params::new(query)?.finish()?;
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
