//! `POST /runs/batch`: many runs of one workflow in one request and one store
//! transaction. And, since the static path `/runs/batch` takes precedence over
//! `/runs/{id}`, the reads and deletes of the run whose thread is `batch`.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::{ApiError, HttpError};
use super::extract::{Fields, JsonObject, Params, check_thread, check_workflow_name};
use super::routes::{self, Backed, QueryPairs};
use super::{BatchEntry, CreateRuns, MAX_BATCH_RUNS, shapes, travel};

/// `POST /runs/batch` with `{"workflow": "chain", "runs": [{"thread"?: "job-1",
/// "input"?: {...}, "tags"?: {...}}, ...]}`
#[utoipa::path(
    post,
    path = "/runs/batch",
    tag = "runs",
    request_body = shapes::CreateRunsBody,
    responses(
        (status = 201, description = "Every run, created (pending, for the daemon to start)", body = shapes::CreatedRunsJson),
        (status = 404, description = "No such workflow in the workflows folder (`not_found`)", body = shapes::ErrorJson),
        (status = 409, description = "A thread id is taken, or given twice (`conflict`): no run was created", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn create_runs(
    State(backend): Backed,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    Params::new(query)?.finish()?;
    let Some(body) = body else {
        return Err(ApiError::usage(
            "request body is empty: expected a JSON object such as {\"workflow\": \"chain\", \
             \"runs\": [{\"input\": {}}]}"
                .to_string(),
        )
        .into());
    };
    let mut fields = Fields::new(body);
    let workflow = fields.required_string("workflow")?;
    let runs = fields.required_array("runs")?;
    fields.finish()?;
    check_workflow_name(&workflow)?;
    if runs.is_empty() {
        return Err(ApiError::usage("field \"runs\" is empty: give at least one run").into());
    }
    if runs.len() > MAX_BATCH_RUNS {
        return Err(ApiError::usage(format!(
            "field \"runs\" has {} runs, more than the {MAX_BATCH_RUNS} one request may \
             create; send them in several requests",
            runs.len()
        ))
        .into());
    }
    let runs = runs
        .into_iter()
        .enumerate()
        .map(|(index, run)| entry(run).map_err(|error| within(index, error)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let created = backend.create_runs(CreateRuns { workflow, runs }).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One element of `runs`, checked as the body of `POST /runs` is (without `workflow`).
fn entry(run: Value) -> Result<BatchEntry, ApiError> {
    let Value::Object(run) = run else {
        return Err(ApiError::usage(format!(
            "must be an object such as {{\"input\": {{}}}}, not {}",
            super::extract::kind(&run)
        )));
    };
    let mut fields = Fields::new(run);
    let thread = fields.optional_string("thread")?;
    let input = fields.optional_state("input")?;
    let tags = fields.tags()?;
    fields.finish()?;
    if let Some(thread) = &thread {
        check_thread(thread, "field \"thread\"")?;
    }
    Ok(BatchEntry {
        thread,
        input: input.unwrap_or_default(),
        tags,
    })
}

/// `error`, about the run at `index` of `runs`: its message says which.
fn within(index: usize, error: ApiError) -> ApiError {
    ApiError {
        message: format!("runs[{index}]: {}", error.message),
        ..error
    }
}

/// Any other method on `/runs/batch`: `GET` and `DELETE` of the run whose thread is
/// `batch` (as `/runs/{id}`), else 405.
pub(super) async fn the_run_named_batch(
    backend: Backed,
    method: Method,
    uri: Uri,
    query: QueryPairs,
    request: Request,
) -> Response {
    let batch = || Ok(Path("batch".to_owned()));
    match method {
        Method::GET | Method::HEAD => routes::run_status(backend, batch(), query)
            .await
            .into_response(),
        Method::DELETE => match JsonObject::from_request(request, &()).await {
            Ok(body) => travel::delete_run(backend, batch(), query, body)
                .await
                .into_response(),
            Err(rejection) => rejection.into_response(),
        },
        _ => routes::method_not_allowed(method, uri)
            .await
            .into_response(),
    }
}
