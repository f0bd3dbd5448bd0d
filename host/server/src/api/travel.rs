//! The routes that act on a run's past and its record: a fork from one of its
//! checkpoints, an edit of its state, and its deletion (its events are `events`'s). (A replay in place is
//! `POST /runs/{id}/resume` with `from_step`, in `routes`.)

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::error::{ApiError, HttpError};
use super::extract::{By, Fields, JsonObject, Params, check_thread, path_thread};
use super::routes::{Backed, PathId, QueryPairs, Reply};
use super::{Deletion, EditState, ForkRequest};
use super::{openapi, shapes};

/// `POST /runs/{id}/fork` with `{"step": 4, "thread": "job-1-fix", "update"?: {...},
/// "as_node"?: "n4"}`: 201 and the new run's status.
#[utoipa::path(
    post,
    path = "/runs/{id}/fork",
    tag = "steer",
    params(("id" = String, Path, description = "The run's thread id")),
    request_body = shapes::ForkBody,
    responses(
        (status = 201, description = "The new run, created from the run's checkpoint", body = shapes::RunJson),
        (status = 404, description = "No such run, or no such step (`not_found`)", body = shapes::ErrorJson),
        (status = 409, description = "The new thread id is taken, or the run is in no state to fork (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn fork(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    By(by): By,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<serde_json::Value>), HttpError> {
    let source = path_thread(path)?;
    Params::new(query)?.finish()?;
    let mut fields = Fields::new(body.unwrap_or_default());
    let step = fields.required_u64("step")?;
    let thread = fields.required_string("thread")?;
    let update = fields.optional_state("update")?;
    let as_node = as_node(&mut fields)?;
    fields.finish()?;
    check_thread(&thread, "field \"thread\"")?;
    let fork = ForkRequest {
        source,
        step,
        thread,
        update,
        as_node,
        by,
    };
    Ok((StatusCode::CREATED, Json(backend.fork(fork).await?)))
}

/// `POST /runs/{id}/update` with `{"values": {...}, "as_node"?: "review"}`: the run's
/// status after the edit.
#[utoipa::path(
    post,
    path = "/runs/{id}/update",
    tag = "steer",
    params(("id" = String, Path, description = "The run's thread id")),
    request_body = shapes::UpdateBody,
    responses(
        (status = 200, description = "The run, after the edit (a checkpoint of its own)", body = shapes::RunJson),
        (status = 409, description = "The run is in no state for an edit: cancelled, or busy (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn update(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    By(by): By,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    Params::new(query)?.finish()?;
    let mut fields = Fields::new(body.unwrap_or_default());
    let values = fields.required_state("values")?;
    let as_node = as_node(&mut fields)?;
    fields.finish()?;
    let edit = EditState { values, as_node };
    Ok(Json(backend.update(thread, edit, by).await?))
}

/// `DELETE /runs/{id}?force=true` with an empty body (or `{}`): what was removed.
#[utoipa::path(
    delete,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run's thread id"), openapi::DeleteQuery),
    request_body(content = Option<shapes::EmptyBody>, description = "Empty, or `{}`"),
    responses(
        (status = 200, description = "What was removed", body = shapes::DeletedJson),
        (status = 409, description = "The run has not finished (without `force`), or is busy (`conflict`)", body = shapes::ErrorJson),
    ),
)]
pub(super) async fn delete_run(
    State(backend): Backed,
    path: PathId,
    query: QueryPairs,
    JsonObject(body): JsonObject,
) -> Reply {
    let thread = path_thread(path)?;
    let mut params = Params::new(query)?;
    let deletion = match params.flag("force")? {
        true => Deletion::Forced,
        false => Deletion::Finished,
    };
    params.finish()?;
    Fields::new(body.unwrap_or_default()).finish()?;
    Ok(Json(backend.delete(thread, deletion).await?))
}

/// `"as_node"`: a node's name, not blank (the backend knows the workflow's nodes).
fn as_node(fields: &mut Fields) -> Result<Option<String>, ApiError> {
    let as_node = fields.optional_string("as_node")?;
    if let Some(node) = &as_node
        && (node.trim().is_empty() || node.chars().any(char::is_control))
    {
        return Err(ApiError::usage(format!(
            "field \"as_node\" must be the name of a node of the run's workflow, not {node:?}"
        )));
    }
    Ok(as_node)
}
