//! Turning a request into checked values: JSON object bodies, thread ids from the path,
//! query parameters. Every failure is a JSON error response whose message says what
//! is wrong, so handlers see only valid input.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

use savepoint_base::tags::{parse_tag, tag_set};
use savepoint_base::units::{format_size, parse_duration};

use super::error::{ApiError, HttpError};
use super::guard::{BodyDeadline, PeerAddr};
use super::{Cursor, PageQuery, PageSize, RunStatus};

/// The largest request body accepted; larger ones get 413.
pub(super) const BODY_LIMIT: usize = 1024 * 1024;

/// A request body that is a JSON object, or nothing: `None` when the body is empty.
///
/// The guard has checked the content type (`application/json`). A body that does
/// not arrive by its [`BodyDeadline`] gets 408, an oversized body 413, malformed
/// JSON or a non-object 400.
#[derive(Debug)]
pub(super) struct JsonObject(pub Option<Map<String, Value>>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<JsonObject, HttpError> {
        // A body that says it is too large (Content-Length) is refused before waiting
        // for any of it.
        if req.body().size_hint().lower() > BODY_LIMIT as u64 {
            return Err(too_large());
        }
        let deadline = req.extensions().get::<BodyDeadline>().copied();
        let read = Bytes::from_request(req, state);
        let bytes = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.at, read)
                .await
                .map_err(|_| deadline.expired())?,
            None => read.await,
        }
        .map_err(unreadable_body)?;
        if bytes.is_empty() {
            return Ok(JsonObject(None));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|error| -> HttpError {
            ApiError::usage(format!("request body is not valid JSON: {error}")).into()
        })?;
        match value {
            Value::Object(object) => Ok(JsonObject(Some(object))),
            other => Err(ApiError::usage(format!(
                "request body must be a JSON object, not {}",
                kind(&other)
            ))
            .into()),
        }
    }
}

fn too_large() -> HttpError {
    HttpError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "request body is larger than the limit of {} ({BODY_LIMIT} bytes)",
            format_size(BODY_LIMIT as u64)
        ),
    )
}

fn unreadable_body(rejection: BytesRejection) -> HttpError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::usage(format!(
            "could not read the request body: {}",
            rejection.body_text()
        ))
        .into()
    }
}

/// The fields of a JSON object body, taken one by one and checked, so that each error
/// names its field. [`Fields::finish`] rejects whatever was not taken, like
/// `#[serde(deny_unknown_fields)]`.
#[derive(Debug)]
pub(super) struct Fields {
    object: Map<String, Value>,
    expected: Vec<&'static str>,
}

impl Fields {
    pub(super) fn new(object: Map<String, Value>) -> Fields {
        Fields {
            object,
            expected: Vec::new(),
        }
    }

    /// A field that may be absent; `null` counts as absent.
    pub(super) fn optional(&mut self, name: &'static str) -> Option<Value> {
        self.expected.push(name);
        self.object.remove(name).filter(|value| !value.is_null())
    }

    pub(super) fn required_string(&mut self, name: &'static str) -> Result<String, ApiError> {
        self.expected.push(name);
        match self.object.remove(name) {
            None => Err(ApiError::usage(format!(
                "missing field \"{name}\" in the request body"
            ))),
            Some(value) => string(name, value),
        }
    }

    pub(super) fn optional_string(
        &mut self,
        name: &'static str,
    ) -> Result<Option<String>, ApiError> {
        self.optional(name)
            .map(|value| string(name, value))
            .transpose()
    }

    pub(super) fn optional_bool(&mut self, name: &'static str) -> Result<bool, ApiError> {
        match self.optional(name) {
            None => Ok(false),
            Some(Value::Bool(flag)) => Ok(flag),
            Some(other) => Err(ApiError::usage(format!(
                "field \"{name}\" must be true or false, not {}",
                kind(&other)
            ))),
        }
    }

    /// A field that must be there and be a whole number of 0 or more.
    pub(super) fn required_u64(&mut self, name: &'static str) -> Result<u64, ApiError> {
        self.expected.push(name);
        match self.object.remove(name) {
            None => Err(ApiError::usage(format!(
                "missing field \"{name}\" in the request body"
            ))),
            Some(value) => whole_number(name, value),
        }
    }

    pub(super) fn optional_u64(&mut self, name: &'static str) -> Result<Option<u64>, ApiError> {
        self.optional(name)
            .map(|value| whole_number(name, value))
            .transpose()
    }

    /// A field that must be there and be a JSON array.
    pub(super) fn required_array(&mut self, name: &'static str) -> Result<Vec<Value>, ApiError> {
        self.expected.push(name);
        match self.object.remove(name) {
            None => Err(ApiError::usage(format!(
                "missing field \"{name}\" in the request body"
            ))),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(ApiError::usage(format!(
                "field \"{name}\" must be an array, not {}",
                kind(&other)
            ))),
        }
    }

    /// A field that must be there and be a JSON object.
    pub(super) fn required_object(
        &mut self,
        name: &'static str,
    ) -> Result<Map<String, Value>, ApiError> {
        self.optional_object(name)?
            .ok_or_else(|| ApiError::usage(format!("missing field \"{name}\" in the request body")))
    }

    /// A field that may be absent and holds a state (`input`, `update`): a JSON object
    /// whose keys are state keys (see [`check_state_keys`]).
    pub(super) fn optional_state(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Map<String, Value>>, ApiError> {
        let state = self.optional_object(name)?;
        if let Some(state) = &state {
            check_state_keys(name, state)?;
        }
        Ok(state)
    }

    /// A field that must be there and hold a state (`values`).
    pub(super) fn required_state(
        &mut self,
        name: &'static str,
    ) -> Result<Map<String, Value>, ApiError> {
        let state = self.required_object(name)?;
        check_state_keys(name, &state)?;
        Ok(state)
    }

    /// `"tags": {"key": "value", ...}`, each checked as `--tag` is.
    pub(super) fn tags(&mut self) -> Result<BTreeMap<String, String>, ApiError> {
        let tags = self.optional_object("tags")?.unwrap_or_default();
        let mut pairs = Vec::new();
        for (key, value) in tags {
            match value {
                Value::String(value) => pairs.push((key, value)),
                other => {
                    return Err(ApiError::usage(format!(
                        "field \"tags\": the value of {key:?} must be a string, not {}",
                        kind(&other)
                    )));
                }
            }
        }
        tag_set(pairs).map_err(|error| ApiError::usage(format!("field \"tags\": {error}")))
    }

    pub(super) fn optional_object(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.optional(name) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(object)),
            Some(other) => Err(ApiError::usage(format!(
                "field \"{name}\" must be a JSON object, not {}",
                kind(&other)
            ))),
        }
    }

    /// Fails on the first field that was not asked for.
    pub(super) fn finish(self) -> Result<(), ApiError> {
        let Some(unknown) = self.object.keys().next() else {
            return Ok(());
        };
        let expected = match self.expected.as_slice() {
            [] => "the body must be empty or {}".to_string(),
            names => format!("expected {}", quoted_list(names)),
        };
        Err(ApiError::usage(format!(
            "unknown field {unknown:?} in the request body ({expected})"
        )))
    }
}

/// A state's top-level keys are stored as text, which cannot hold U+0000 on Postgres
/// (the database refuses the write): such a key is refused here, on either backend, so
/// that a run's state is the same wherever it is kept. (Within values, U+0000 is only
/// JSON's `\u0000`, which any text holds.)
fn check_state_keys(name: &str, state: &Map<String, Value>) -> Result<(), ApiError> {
    match state.keys().find(|key| key.contains('\0')) {
        None => Ok(()),
        Some(key) => Err(ApiError::usage(format!(
            "field \"{name}\": state key {key:?} contains U+0000, which no state key may hold"
        ))),
    }
}

fn string(name: &str, value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(ApiError::usage(format!(
            "field \"{name}\" must be a string, not {}",
            kind(&other)
        ))),
    }
}

fn whole_number(name: &str, value: Value) -> Result<u64, ApiError> {
    value.as_u64().ok_or_else(|| {
        let what = match &value {
            Value::Number(number) => format!("{number}"),
            other => kind(other).to_string(),
        };
        ApiError::usage(format!(
            "field \"{name}\" must be a whole number (0 and up), not {what}"
        ))
    })
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// What a JSON value is, for messages: "a string", "an array", "null".
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The thread id of a `/runs/{id}/...` path.
pub(super) fn path_thread(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(thread) = path.map_err(|rejection| {
        let problem = match &rejection {
            PathRejection::FailedToDeserializePathParams(error)
                if matches!(error.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
            {
                "is not UTF-8 once percent-decoded".to_string()
            }
            other => format!("is not valid: {}", other.body_text()),
        };
        ApiError::usage(format!("the thread id in the path {problem}"))
    })?;
    check_thread(&thread, "the thread id in the path")?;
    Ok(thread)
}

/// A thread id is any text that is not blank and has no control characters.
pub(super) fn check_thread(thread: &str, what: &str) -> Result<(), ApiError> {
    if thread.trim().is_empty() {
        return Err(ApiError::usage(format!(
            "{what} is empty or only whitespace ({thread:?})"
        )));
    }
    if thread.chars().any(char::is_control) {
        return Err(ApiError::usage(format!(
            "{what} contains a control character ({thread:?})"
        )));
    }
    Ok(())
}

/// A workflow is named by its file in the workflows folder, without a path: blank
/// names, separators and names starting with a dot (such as `..`) are refused here, so
/// that no request reaches a file outside that folder.
pub(super) fn check_workflow_name(name: &str) -> Result<(), ApiError> {
    let problem = if name.trim().is_empty() {
        Some("is empty or only whitespace")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.starts_with('.') {
        Some("starts with a dot")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(ApiError::usage(format!(
            "field \"workflow\" {problem} ({name:?}): expected the name of a workflow in the \
             workflows folder, such as \"chain\""
        ))),
    }
}

/// The query parameters of a request, taken one by one and checked, so that each error
/// names its parameter; each may be given at most once. [`Params::finish`] rejects
/// whatever was not taken.
/// Checks a request that takes no query parameter and an empty body (or `{}`): each
/// parameter or field given is refused, named.
pub(super) fn no_parameters(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    body: Option<Map<String, Value>>,
) -> Result<(), ApiError> {
    Params::new(query)?.finish()?;
    Fields::new(body.unwrap_or_default()).finish()
}

#[derive(Debug)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
    expected: Vec<&'static str>,
}

impl Params {
    pub(super) fn new(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    ) -> Result<Params, ApiError> {
        let Query(pairs) = query.map_err(|rejection| {
            ApiError::usage(format!(
                "the query string is not valid: {}",
                rejection.body_text()
            ))
        })?;
        Ok(Params {
            pairs,
            expected: Vec::new(),
        })
    }

    /// Whether the query has `name`, without taking it.
    pub(super) fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    fn take(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        self.expected.push(name);
        let mut values = Vec::new();
        self.pairs.retain(|(key, value)| {
            let found = key == name;
            if found {
                values.push(value.clone());
            }
            !found
        });
        if values.len() > 1 {
            return Err(ApiError::usage(format!(
                "query parameter \"{name}\" is given more than once"
            )));
        }
        Ok(values.pop())
    }

    /// `status`: a run status.
    pub(super) fn status(&mut self) -> Result<Option<RunStatus>, ApiError> {
        self.take("status")?
            .map(|value| {
                value.parse::<RunStatus>().map_err(|error| {
                    ApiError::usage(format!("query parameter \"status\": {error}"))
                })
            })
            .transpose()
    }

    /// `limit` (1 to `size.max`, `size.default` when absent) and `cursor` (as a previous
    /// page handed it out).
    pub(super) fn page(&mut self, size: PageSize) -> Result<PageQuery, ApiError> {
        let limit = self.limit(size)?;
        let cursor = self
            .take("cursor")?
            .map(|value| {
                value.parse::<Cursor>().map_err(|error| {
                    ApiError::usage(format!("query parameter \"cursor\": {error}"))
                })
            })
            .transpose()?;
        Ok(PageQuery { cursor, limit })
    }

    /// `step`: a step number (0 and up).
    pub(super) fn step(&mut self) -> Result<Option<u64>, ApiError> {
        self.take("step")?
            .map(|value| {
                value.parse::<u64>().map_err(|_| {
                    ApiError::usage(format!(
                        "query parameter \"step\" must be a step number (0 and up), not \
                         {value:?}"
                    ))
                })
            })
            .transpose()
    }

    /// `limit`: 1 to `size.max`, `size.default` when absent.
    pub(super) fn limit(&mut self, size: PageSize) -> Result<usize, ApiError> {
        let asked = self
            .take("limit")?
            .map(|value| {
                value.parse::<usize>().map_err(|_| {
                    ApiError::usage(format!(
                        "query parameter \"limit\" must be a whole number, not {value:?}"
                    ))
                })
            })
            .transpose()?;
        size.check(asked)
            .map_err(|error| ApiError::usage(format!("query parameter \"limit\": {error}")))
    }

    /// A parameter that is `true` or `1`, or `false` or `0`; absent is false.
    pub(super) fn flag(&mut self, name: &'static str) -> Result<bool, ApiError> {
        match self.take(name)?.as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(ApiError::usage(format!(
                "query parameter \"{name}\" must be true or false (or 1 or 0), not {other:?}"
            ))),
        }
    }

    /// `workflow`: a workflow's name, not blank.
    pub(super) fn workflow(&mut self) -> Result<Option<String>, ApiError> {
        let workflow = self.take("workflow")?;
        if let Some(name) = &workflow
            && (name.trim().is_empty() || name.chars().any(char::is_control))
        {
            return Err(ApiError::usage(format!(
                "query parameter \"workflow\" must be a workflow's name, not {name:?}"
            )));
        }
        Ok(workflow)
    }

    /// `tag=key=value`, as often as given (every one must hold).
    pub(super) fn tags(&mut self) -> Result<Vec<(String, String)>, ApiError> {
        self.expected.push("tag");
        let mut tags = Vec::new();
        let mut error = None;
        self.pairs.retain(|(key, value)| {
            if key != "tag" {
                return true;
            }
            match parse_tag(value) {
                Ok(tag) => tags.push(tag),
                Err(problem) => {
                    error.get_or_insert(problem);
                }
            }
            false
        });
        match error {
            Some(problem) => Err(ApiError::usage(format!(
                "query parameter \"tag\": {problem}"
            ))),
            None => Ok(tags),
        }
    }

    /// `thread`: the start of a thread id. The empty text is every thread's start (a
    /// form's empty field lists every run); a control character is in no thread id.
    pub(super) fn thread_prefix(&mut self) -> Result<Option<String>, ApiError> {
        let prefix = self.take("thread")?;
        if let Some(prefix) = &prefix
            && prefix.chars().any(char::is_control)
        {
            return Err(ApiError::usage(format!(
                "query parameter \"thread\" contains a control character ({prefix:?}): \
                 expected the start of a thread id"
            )));
        }
        Ok(prefix.filter(|prefix| !prefix.is_empty()))
    }

    /// `parent`: a run's thread, whose child runs are listed.
    pub(super) fn parent(&mut self) -> Result<Option<String>, ApiError> {
        match self.take("parent")? {
            Some(parent) if parent.is_empty() => Err(ApiError::usage(
                "query parameter \"parent\" is empty: expected a run's thread id".to_owned(),
            )),
            parent => Ok(parent),
        }
    }

    /// `since`: a duration such as `2d` or `90m`.
    pub(super) fn since(&mut self) -> Result<Option<Duration>, ApiError> {
        self.take("since")?
            .map(|value| {
                parse_duration(&value)
                    .map_err(|error| ApiError::usage(format!("query parameter \"since\": {error}")))
            })
            .transpose()
    }

    /// Fails on the first parameter that was not asked for.
    pub(super) fn finish(self) -> Result<(), ApiError> {
        let Some((unknown, _)) = self.pairs.first() else {
            return Ok(());
        };
        let expected = match self.expected.as_slice() {
            [] => "this route takes none".to_string(),
            names => format!("expected {}", quoted_list(names)),
        };
        Err(ApiError::usage(format!(
            "unknown query parameter {unknown:?} ({expected})"
        )))
    }
}

/// A middleware on every route: a `GET` (or `HEAD`) that carries a body is refused. Its
/// parameters go in the query string; a body would otherwise be ignored without a word
/// (say, a filter sent as JSON, and every run listed).
pub(super) async fn no_body_on_reads(req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let headers = req.headers();
    let has_body = headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
        || req.body().size_hint().lower() > 0;
    if read && has_body {
        let message = format!(
            "{} {} takes no request body: its parameters go in the query string",
            req.method(),
            req.uri().path()
        );
        return axum::response::IntoResponse::into_response(HttpError::from(ApiError::usage(
            message,
        )));
    }
    next.run(req).await
}

/// Who sent the request, as a run's events record a change made through the API:
/// `api 10.0.0.7` (the client's address), or `api` when the server does not know it.
#[derive(Debug, Clone)]
pub(super) struct By(pub super::Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for By {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<By, std::convert::Infallible> {
        Ok(By(match parts.extensions.get::<PeerAddr>() {
            Some(PeerAddr(peer)) => format!("api {}", peer.ip()),
            None => "api".to_string(),
        }))
    }
}
