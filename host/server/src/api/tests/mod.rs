//! The API over an in-memory [`Backend`](super::Backend): every route's happy path
//! (`routes`), every malformed request and every backend error (`errors`), every
//! refusal and acceptance of the guard (`guard`), a real server on a loopback
//! port (`serve`), that the API knows nothing of the layers below (`words`), the routes
//! of search and time travel (`travel`), that every route refuses what it does not
//! take (`unknown`), and that `GET /openapi.json` says what the routes take and answer
//! (`openapi`).

mod batch;
mod errors;
mod events;
mod fake;
mod guard;
mod login;
mod openapi;
mod routes;
mod schedules;
mod serve;
mod travel;
mod unknown;
mod words;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use super::{ApiConfig, router};
use fake::FakeBackend;

/// The address the test router believes it listens on; requests name it in `Host`.
const LISTEN: &str = "127.0.0.1:7878";

fn app(backend: FakeBackend) -> (Router, Arc<FakeBackend>) {
    app_with(backend, LISTEN, &ApiConfig::default())
}

fn app_with(backend: FakeBackend, listen: &str, config: &ApiConfig) -> (Router, Arc<FakeBackend>) {
    let backend = Arc::new(backend);
    (
        router(backend.clone(), listen.parse().unwrap(), config),
        backend,
    )
}

fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri, None, Body::empty())
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    request(
        Method::POST,
        uri,
        Some("application/json"),
        Body::from(body.to_string()),
    )
}

/// A request with `Host: 127.0.0.1:7878`, as curl sends it.
fn request(method: Method, uri: &str, content_type: Option<&str>, body: Body) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(HOST, LISTEN);
    if let Some(content_type) = content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    builder.body(body).unwrap()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    /// The error message, after checking that the reply is a JSON error with `status`:
    /// `{"error": {"code", "message", "details"}}`, with a code that fits the status.
    fn error(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.headers.get(CONTENT_TYPE).unwrap(),
            "application/json",
            "an error is JSON"
        );
        let object = self.body.as_object().expect("error body is an object");
        assert_eq!(
            object.len(),
            1,
            "error body has only \"error\": {}",
            self.body
        );
        let error = object["error"].as_object().expect("\"error\" is an object");
        let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "details", "message"], "{}", self.body);
        assert!(
            error["details"].is_null() || error["details"].is_object(),
            "details is an object or null: {}",
            self.body
        );
        let fits: &[&str] = match status.as_u16() {
            404 => &["not_found"],
            409 => &["conflict"],
            503 => &["environment"],
            500 => &["internal"],
            400 => &["usage", "invalid"],
            _ => &["usage"],
        };
        assert!(
            fits.contains(&self.code()),
            "status {status} has code {}",
            self.code()
        );
        error["message"]
            .as_str()
            .expect("error message is a string")
    }

    /// The error's code (`usage`, `not_found`, ...).
    fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .expect("error code is a string")
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let stream = headers
        .get(CONTENT_TYPE)
        .is_some_and(|t| t == "text/event-stream");
    let text = headers
        .get(CONTENT_TYPE)
        .is_some_and(|content_type| content_type.as_bytes().starts_with(b"text/plain"));
    let body = if bytes.is_empty() {
        Value::Null
    } else if stream || text {
        // An event stream (which the fake backend ends), or `GET /metrics` (the
        // Prometheus text format): its text.
        Value::from(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!(
                "response is not JSON ({error}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}

#[track_caller]
fn assert_contains(message: &str, part: &str) {
    assert!(
        message.contains(part),
        "{message:?} should contain {part:?}"
    );
}
