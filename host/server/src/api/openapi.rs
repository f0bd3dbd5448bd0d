//! `GET /openapi.json`: the OpenAPI 3.1 document of the API, derived from its code. Each
//! handler carries its operation (`#[utoipa::path]`: path, parameters, body, success
//! answer and the refusals of its own); the answers' and bodies' shapes are the types of
//! `shapes`; the query parameters are the types below, built from the words and page
//! sizes the handlers check them with; and the refusals every route shares (the guard's,
//! a malformed request, a missing run, a store in the way) are added to every operation
//! they apply to by [`Refusals`], from the same rules the guard and the router follow.
//! `tests/openapi.rs` checks the document against the routes: every route is in it, and
//! each operation lists exactly the parameters and body fields its handler takes.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{ArrayBuilder, Object, Schema, SchemaType, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

use super::auth::SESSION_COOKIE;
use super::error::HttpError;
use super::extract::{BODY_LIMIT, Params};
use super::routes::{self, QueryPairs};
use super::shapes::{self, ErrorJson, StatusWord};
use super::{
    EVENTS_PAGE, HISTORY_PAGE, LOG_PAGE, PageSize, RUNS_PAGE, batch, events, schedules, signals,
    travel,
};

/// The security schemes' names in the document: the token, and the dashboard's session
/// cookie (either will do).
const BEARER: &str = "bearer";
const SESSION: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "savepoint",
        description = "The HTTP API of `savepoint serve`: create, watch and steer durable \
                       workflow runs. Every error is `{\"error\": {\"code\", \"message\", \
                       \"details\"}}`. With `serve --token`, every route but `/health` and \
                       `/metrics` needs `Authorization: Bearer <token>` (or the dashboard's \
                       session cookie). A query parameter or body field a \
                       route does not take is refused (400), as is a body on a read."
    ),
    paths(
        routes::health,
        routes::metrics,
        routes::create_run,
        batch::create_runs,
        routes::list_runs,
        routes::run_status,
        travel::delete_run,
        routes::run_state,
        routes::run_history,
        routes::run_logs,
        events::run_events,
        events::all_events,
        routes::resume,
        routes::cancel,
        signals::send,
        signals::mailbox,
        schedules::list_schedules,
        schedules::add_schedule,
        schedules::schedule,
        schedules::remove_schedule,
        schedules::pause_schedule,
        schedules::resume_schedule,
        travel::fork,
        travel::update,
        routes::workflows,
        routes::plugins,
        openapi_json,
    ),
    components(schemas(
        shapes::RunJson,
        shapes::ChildRunJson,
        shapes::RunSummaryJson,
        shapes::RunsPageJson,
        shapes::HistoryEntry,
        shapes::HistoryPage,
        shapes::PatchOperation,
        shapes::LogLineJson,
        shapes::LogsPage,
        shapes::Event,
        shapes::EventsPage,
        shapes::StreamMessage,
        shapes::DeletedJson,
        shapes::PluginJson,
        shapes::WorkflowJson,
        shapes::Problem,
        shapes::Health,
        shapes::ErrorJson,
        shapes::CreateRunBody,
        shapes::CreateRunsBody,
        shapes::BatchRunBody,
        shapes::CreatedRunsJson,
        shapes::ResumeBody,
        shapes::ForkBody,
        shapes::UpdateBody,
        shapes::EmptyBody,
        shapes::SignalBody,
        shapes::SignalJson,
        shapes::MailboxJson,
        shapes::AddScheduleBody,
        shapes::ScheduleJson,
        shapes::ScheduleSpecJson,
        shapes::SchedulesJson,
        shapes::RemovedScheduleJson,
    )),
    modifiers(&Refusals),
    security(("bearer" = []), ("session" = [])),
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "api",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub(super) async fn openapi_json(query: QueryPairs) -> Result<Response, HttpError> {
    Params::new(query)?.finish()?;
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT
        .get_or_init(|| serde_json::to_string(document()).expect("an OpenAPI document is JSON"));
    Ok(([(CONTENT_TYPE, "application/json")], text.as_str()).into_response())
}

/// The refusals that every route, or every route of a kind, can answer, added to each
/// operation that does not list its own; the rules are the guard's and the router's
/// (see `api/mod.rs`).
struct Refusals;

impl Modify for Refusals {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token `savepoint serve` was started with (`--token` or \
                         `SAVEPOINT_TOKEN`); without one, no route needs it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The dashboard's session cookie, which `POST /login` sets from the token: \
                 the dashboard's scripts call the API with it",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, operation) in [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Delete, &mut item.delete),
            ] {
                if let Some(operation) = operation {
                    refusals(path, method, operation);
                    optional_body(operation);
                }
            }
        }
        links(doc);
    }
}

/// Adds to `operation` the error answers it can give that it does not list.
fn refusals(path: &str, method: HttpMethod, operation: &mut Operation) {
    let open = operation.security.as_ref().is_some_and(|security| {
        security
            .iter()
            .all(|requirement| *requirement == SecurityRequirement::default())
    });
    let writes = !matches!(method, HttpMethod::Get);
    // Routes that answer from the server itself never reach the store (`/metrics`, open
    // too, does: it counts runs).
    let stored = !matches!(path, "/health" | "/openapi.json");
    let mut add = |status: &str, description: String| {
        if !operation.responses.responses.contains_key(status) {
            operation
                .responses
                .responses
                .insert(status.to_string(), RefOr::T(error_response(description)));
        }
    };
    add(
        "400",
        "The request is malformed: a query parameter or body field the route does not \
         take or that is not valid, a parameter given twice, a body on a read, or a \
         `Host` header that is not exactly one (`usage`); a workflow file with problems \
         (`invalid`, the problems in `details`)"
            .to_string(),
    );
    add(
        "421",
        "`Host` names another server than this one (see `serve --allowed-host`)".to_string(),
    );
    add("500", "A bug (`internal`)".to_string());
    if !open {
        add(
            "401",
            "The server has a token, and the request carried neither it \
             (`Authorization: Bearer <token>`) nor the session cookie of a login with it"
                .to_string(),
        );
    }
    if writes {
        add(
            "403",
            "`Origin` names another site (a cross-site request)".to_string(),
        );
        add(
            "408",
            "The body did not arrive within the body timeout (`serve --body-timeout`)".to_string(),
        );
        add("413", format!("The body is larger than {BODY_LIMIT} bytes"));
        add(
            "415",
            "The request is not `Content-Type: application/json` (also needed with an \
             empty body)"
                .to_string(),
        );
    }
    if path.contains("{id}") {
        add(
            "404",
            "No run with this thread id (`not_found`, `details.thread`)".to_string(),
        );
    }
    if stored {
        add(
            "503",
            "The machine is in the way, and it may pass: the database cannot be read or \
             written (disk full, read-only, unreachable), the plugins folder cannot be \
             read (`environment`)"
                .to_string(),
        );
    }
}

/// A run that an answer creates (`POST /runs`, a fork: 201 and the run) is the run of
/// every `/runs/{id}...` operation: each is a link of that answer, with `id` its
/// `thread`. So a client (schemathesis's stateful phase) can follow a new run through
/// every route.
fn links(doc: &mut utoipa::openapi::OpenApi) {
    let mut targets = Vec::new();
    for (path, item) in &doc.paths.paths {
        if !path.starts_with("/runs/{id}") {
            continue;
        }
        for operation in [&item.get, &item.post, &item.delete].into_iter().flatten() {
            if let Some(id) = &operation.operation_id {
                targets.push(id.clone());
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(operation) = &mut item.post else {
            continue;
        };
        let Some(RefOr::T(created)) = operation.responses.responses.get_mut("201") else {
            continue;
        };
        // A batch answers the threads it created; the first stands for them all.
        let thread = match path.as_str() {
            "/runs/batch" => "$response.body#/threads/0",
            _ => "$response.body#/thread",
        };
        for target in &targets {
            let link = utoipa::openapi::link::Link::builder()
                .operation_id(target.clone())
                .parameter("id", thread)
                .build();
            created.links.insert(target.clone(), RefOr::T(link));
        }
    }
}

/// A handler's `request_body(content = Option<T>)` says that the body may be left out
/// (a POST with an empty body); the macro also makes `T` nullable, but a `null` body
/// is refused (a body is an object, or nothing): the schema is `T` alone.
fn optional_body(operation: &mut Operation) {
    let Some(RefOr::T(body)) = &mut operation.request_body else {
        return;
    };
    if body.required == Some(Required::True) {
        return;
    }
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let not_null: Vec<_> = one_of
                .items
                .iter()
                .filter(|item| !matches!(item, RefOr::T(Schema::Object(object)) if object.schema_type == SchemaType::new(Type::Null)))
                .cloned()
                .collect();
            if let [only] = &not_null[..] {
                content.schema = Some(only.clone());
            }
        }
    }
}

/// An answer whose body is the error shape.
fn error_response(description: String) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    ErrorJson::name(),
                ))))
                .build(),
        )
        .build()
}

// The query parameters of each route, as its handler takes them (`extract::Params`).

/// A query parameter that may be left out.
fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    Parameter::builder()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn string(pattern: Option<&str>) -> Object {
    Object::builder()
        .schema_type(SchemaType::new(Type::String))
        .pattern(pattern)
        .build()
}

/// `limit` and `cursor` of a page of `size`.
fn page(size: PageSize, what: &str) -> [Parameter; 2] {
    let limit = Object::builder()
        .schema_type(SchemaType::new(Type::Integer))
        .minimum(Some(1))
        .maximum(Some(size.max as u64))
        .default(Some(size.default.into()));
    [
        query(
            "limit",
            &format!(
                "How many {what} (default {}, at most {})",
                size.default, size.max
            ),
            limit,
        ),
        query(
            "cursor",
            "Where the page starts: the `next_cursor` of the previous page",
            string(Some("^[0-9]+$")),
        ),
    ]
}

/// A flag: `true` or `1`, `false` or `0` (absent: false).
fn flag(name: &str, description: &str) -> Parameter {
    let words = Object::builder()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(["true", "false", "1", "0"]));
    query(name, description, words)
}

/// `GET /runs`
pub(super) struct RunsQuery;

impl IntoParams for RunsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut tag = query(
            "tag",
            "Only runs tagged `key=value` when created; repeat for several (all must hold)",
            ArrayBuilder::new().items(string(Some("^[A-Za-z0-9_.:/-]{1,64}=.+$"))),
        );
        tag.style = Some(ParameterStyle::Form);
        tag.explode = Some(true);
        let mut params = vec![
            query("status", "Only runs with this status", StatusWord::schema()),
            query(
                "workflow",
                "Only runs of this workflow (`name` in its file)",
                Object::builder()
                    .schema_type(SchemaType::new(Type::String))
                    .min_length(Some(1)),
            ),
            tag,
            query(
                "since",
                "Only runs created within this long before now: a number and a unit \
                 (`ms`, `s`, `m`, `h`, `d`), largest first, e.g. `2d` or `1m30s`",
                string(Some("^([0-9]+(d|h|m|s|ms))+$")),
            ),
            query(
                "thread",
                "Only runs whose thread id starts with this (case matters, no wildcards)",
                string(None),
            ),
            query(
                "parent",
                "Only the child runs of this run (its direct children)",
                Object::builder()
                    .schema_type(SchemaType::new(Type::String))
                    .min_length(Some(1)),
            ),
        ];
        params.extend(page(RUNS_PAGE, "runs"));
        params
    }
}

/// `GET /runs/{id}/state`
pub(super) struct StateQuery;

impl IntoParams for StateQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query(
            "step",
            "The state after this step (0: the run's input); the latest when absent",
            Object::builder()
                .schema_type(SchemaType::new(Type::Integer))
                .minimum(Some(0)),
        )]
    }
}

/// `GET /runs/{id}/history`
pub(super) struct HistoryQuery;

impl IntoParams for HistoryQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = page(HISTORY_PAGE, "checkpoints").to_vec();
        params.extend([
            flag(
                "states",
                "Each checkpoint's whole state too (a page also ends at 64 MiB of them)",
            ),
            flag(
                "diff",
                "Each step's changes as a JSON Patch (not with `states`)",
            ),
            flag("all", "The checkpoints a replay superseded too"),
        ]);
        params
    }
}

/// `GET /runs/{id}/logs`
pub(super) struct LogsQuery;

impl IntoParams for LogsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        page(LOG_PAGE, "log lines").to_vec()
    }
}

/// `GET /runs/{id}/events` (as a JSON page)
pub(super) struct EventsQuery;

impl IntoParams for EventsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        page(EVENTS_PAGE, "events").to_vec()
    }
}

/// `GET /events`
pub(super) struct AllEventsQuery;

impl IntoParams for AllEventsQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query(
            "workflow",
            "Only the events of runs of this workflow (`name` in its file)",
            Object::builder()
                .schema_type(SchemaType::new(Type::String))
                .min_length(Some(1)),
        )]
    }
}

/// The `Last-Event-ID` header of `GET /runs/{id}/events`: `E-L` (or `E`).
pub(super) struct RunLastEventId;

impl IntoParams for RunLastEventId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![last_event_id(
            "Go on after this id of the stream (`E-L`: the last event and log line ids \
             sent); a client that reconnects sends the last it got",
            "^[0-9]+(-[0-9]+)?$",
        )]
    }
}

/// The `Last-Event-ID` header of `GET /events`: an event id.
pub(super) struct LastEventId;

impl IntoParams for LastEventId {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![last_event_id(
            "Go on after this event id (a client that reconnects sends the last it got)",
            "^[0-9]+$",
        )]
    }
}

fn last_event_id(description: &str, pattern: &str) -> Parameter {
    let mut parameter = query("Last-Event-ID", description, string(Some(pattern)));
    parameter.parameter_in = ParameterIn::Header;
    parameter
}

/// `DELETE /runs/{id}`
pub(super) struct DeleteQuery;

impl IntoParams for DeleteQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![flag(
            "force",
            "Delete a run that has not finished too (one being executed is cancelled first)",
        )]
    }
}
