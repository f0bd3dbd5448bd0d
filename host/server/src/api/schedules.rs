//! Schedules over HTTP: `GET /schedules`, `POST /schedules` (the fields of `savepoint
//! schedule add`), `GET /schedules/{name}`, `POST /schedules/{name}/pause` and
//! `/resume`, `DELETE /schedules/{name}`. The requests are checked here (each field's
//! type, the name, the duration, the catch-up word); what the cron expression, the time
//! zone and the workflow file hold is the backend's to check (the runtime's
//! `schedule` module: the same messages as the CLI's).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::error::HttpError;
use super::extract::{Fields, JsonObject, Params, check_workflow_name, no_parameters};
use super::routes::{Backed, PathId, QueryPairs, Reply};
use super::{AddSchedule, ApiError, shapes};
use savepoint_base::units::parse_duration;
use savepoint_base::vocab::{CatchUp, check_schedule_name};

/// The schedule name of a `/schedules/{name}...` path.
fn path_name(path: PathId) -> Result<String, ApiError> {
    let Path(name) = path.map_err(|rejection| {
        ApiError::usage(format!(
            "the schedule name in the path is not valid: {}",
            rejection.body_text()
        ))
    })?;
    check_schedule_name(&name).map_err(ApiError::usage)?;
    Ok(name)
}

/// `GET /schedules`: every schedule, by name.
#[utoipa::path(
    get,
    path = "/schedules",
    tag = "schedules",
    responses(
        (status = 200, description = "Every schedule, by name", body = shapes::SchedulesJson),
    ),
)]
pub(super) async fn list_schedules(State(backend): Backed, query: QueryPairs) -> Reply {
    Params::new(query)?.finish()?;
    Ok(Json(backend.schedules().await?))
}

/// `POST /schedules` with `{"name", "workflow", "cron"? | "every"?, "tz"?, "input"?,
/// "catch_up"?, "replace"?}`.
#[utoipa::path(
    post,
    path = "/schedules",
    tag = "schedules",
    request_body = shapes::AddScheduleBody,
    responses(
        (status = 201, description = "The schedule, stored: a `serve` on the database starts its runs", body = shapes::ScheduleJson),
        (status = 404, description = "No such workflow in the workflows folder (`not_found`)", body = shapes::ErrorJson),
        (status = 409, description = "A schedule has this name, and `replace` is not true (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn add_schedule(
    State(backend): Backed,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    Params::new(query)?.finish()?;
    let Some(body) = body else {
        return Err(ApiError::usage(
            "request body is empty: expected a JSON object such as {\"name\": \"nightly\", \
             \"workflow\": \"chain\", \"cron\": \"0 2 * * *\"}"
                .to_string(),
        )
        .into());
    };
    let mut fields = Fields::new(body);
    let name = fields.required_string("name")?;
    let workflow = fields.required_string("workflow")?;
    let cron = fields.optional_string("cron")?;
    let every = fields.optional_string("every")?;
    let tz = fields.optional_string("tz")?;
    let input = fields.optional_state("input")?;
    let catch_up = fields.optional_string("catch_up")?;
    let replace = fields.optional_bool("replace")?;
    fields.finish()?;
    check_schedule_name(&name).map_err(|e| ApiError::usage(format!("field \"name\": {e}")))?;
    check_workflow_name(&workflow)?;
    if cron.is_some() && every.is_some() {
        return Err(ApiError::usage(
            "fields \"cron\" and \"every\" both given: a schedule has one".to_string(),
        )
        .into());
    }
    if tz.is_some() && cron.is_none() {
        return Err(ApiError::usage(
            "field \"tz\" goes with \"cron\" (an \"every\" period is the same in every time \
             zone)"
                .to_string(),
        )
        .into());
    }
    let every = every
        .map(|text| {
            parse_duration(&text).map_err(|e| ApiError::usage(format!("field \"every\": {e}")))
        })
        .transpose()?;
    let catch_up = catch_up
        .map(|word| {
            word.parse::<CatchUp>()
                .map_err(|e| ApiError::usage(format!("field \"catch_up\": {e}")))
        })
        .transpose()?;
    let request = AddSchedule {
        name,
        workflow,
        cron,
        every,
        tz,
        input,
        catch_up,
        replace,
    };
    let schedule = backend.add_schedule(request).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// `GET /schedules/{name}`
#[utoipa::path(
    get,
    path = "/schedules/{name}",
    tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule", body = shapes::ScheduleJson),
        (status = 404, description = "No schedule has this name (`not_found`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn schedule(State(backend): Backed, path: PathId, query: QueryPairs) -> Reply {
    let name = path_name(path)?;
    Params::new(query)?.finish()?;
    Ok(Json(backend.schedule(name).await?))
}

/// `POST /schedules/{name}/pause` with an empty body (or `{}`).
#[utoipa::path(
    post,
    path = "/schedules/{name}/pause",
    tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    request_body(content = Option<shapes::EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "The schedule, paused: it starts no run until resumed", body = shapes::ScheduleJson),
        (status = 404, description = "No schedule has this name (`not_found`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn pause_schedule(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let name = path_name(path)?;
    no_parameters(query, body)?;
    Ok(Json(backend.pause_schedule(name, true).await?))
}

/// `POST /schedules/{name}/resume` with an empty body (or `{}`).
#[utoipa::path(
    post,
    path = "/schedules/{name}/resume",
    tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    request_body(content = Option<shapes::EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "The schedule, active again (its catch-up policy applies to the due times it missed while paused)", body = shapes::ScheduleJson),
        (status = 404, description = "No schedule has this name (`not_found`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn resume_schedule(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let name = path_name(path)?;
    no_parameters(query, body)?;
    Ok(Json(backend.pause_schedule(name, false).await?))
}

/// `DELETE /schedules/{name}` with an empty body (or `{}`).
#[utoipa::path(
    delete,
    path = "/schedules/{name}",
    tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    request_body(content = Option<shapes::EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "The schedule, removed (the runs it started stay)", body = shapes::RemovedScheduleJson),
        (status = 404, description = "No schedule has this name (`not_found`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn remove_schedule(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let name = path_name(path)?;
    no_parameters(query, body)?;
    Ok(Json(backend.remove_schedule(name).await?))
}
