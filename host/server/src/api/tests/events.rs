//! The event streams: `GET /runs/{id}/events` as Server-Sent Events unless a page is
//! asked for, `GET /events?workflow=`, and the `Last-Event-ID` they resume from.

use axum::body::Body;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use super::{FakeBackend, app, get, send};

/// The status, content type and whole body of a response (the fake's streams end).
async fn text(app: &axum::Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

fn with(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

#[tokio::test]
async fn a_runs_events_are_a_stream_unless_a_page_is_asked_for() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let (status, content_type, body) = text(&app, get("/runs/job-1/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/event-stream");
    assert_eq!(
        body,
        "id: 1-0\nevent: created\ndata: {\"event\":\"created\",\"thread\":\"job-1\"}\n\n\
         id: 2-0\nevent: completed\ndata: {\"event\":\"completed\",\"thread\":\"job-1\"}\n\n"
    );
    // A browser's EventSource asks for the stream; a client that asks for JSON (and
    // not for the stream), or for a page, gets the page.
    for request in [
        with(get("/runs/job-1/events"), "accept", "text/event-stream"),
        with(
            get("/runs/job-1/events"),
            "accept",
            "application/json, text/event-stream",
        ),
    ] {
        let (_, content_type, _) = text(&app, request).await;
        assert_eq!(content_type, "text/event-stream");
    }
    for request in [
        with(get("/runs/job-1/events"), "accept", "application/json"),
        get("/runs/job-1/events?limit=5"),
        with(
            get("/runs/job-1/events?cursor=2"),
            "accept",
            "text/event-stream",
        ),
    ] {
        let (_, content_type, _) = text(&app, request).await;
        assert_eq!(content_type, "application/json");
    }
    let calls = backend.calls.lock().unwrap().clone();
    assert_eq!(calls[0], "subscribe Some(\"job-1\") None None");
    assert_eq!(calls.len(), 6, "{calls:?}");
}

#[tokio::test]
async fn last_event_id_resumes_and_a_malformed_one_is_refused() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let resumed = with(get("/runs/job-1/events"), "last-event-id", "12-4");
    assert_eq!(text(&app, resumed).await.0, StatusCode::OK);
    let every = with(get("/events?workflow=approval"), "last-event-id", "12");
    let (status, content_type, body) = text(&app, every).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/event-stream")
    );
    assert!(body.starts_with("id: 7\nevent: step\n"), "{body}");
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "subscribe Some(\"job-1\") None Some(\"12-4\")",
            "subscribe None Some(\"approval\") Some(\"12\")",
        ]
    );
    for (uri, id) in [
        ("/runs/job-1/events", "x"),
        ("/runs/job-1/events", "12-"),
        ("/runs/job-1/events", "-4"),
        ("/runs/job-1/events", "1-2-3"),
        ("/events", "12-4"),
        ("/events", ""),
        ("/events", "99999999999999999999999"),
        ("/runs/job-1/events?limit=5", "x"),
    ] {
        let reply = send(&app, with(get(uri), "last-event-id", id)).await;
        let message = reply.error(StatusCode::BAD_REQUEST);
        assert!(
            message.starts_with("header Last-Event-ID must be"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn a_page_refuses_last_event_id() {
    let (app, _) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let reply = send(
        &app,
        with(get("/runs/job-1/events?cursor=3"), "last-event-id", "3-0"),
    )
    .await;
    let message = reply.error(StatusCode::BAD_REQUEST);
    assert!(message.contains("not a page"), "{message}");
}

#[tokio::test]
async fn an_unknown_run_is_404_before_any_stream() {
    let (app, _) = app(FakeBackend::default());
    let reply = send(&app, get("/runs/ghost/events")).await;
    reply.error(StatusCode::NOT_FOUND);
    let reply = send(&app, get("/events?workflow=")).await;
    reply.error(StatusCode::BAD_REQUEST);
    let reply = send(&app, get("/events?thread=job-1")).await;
    reply.error(StatusCode::BAD_REQUEST);
    let every = with(get("/events"), ACCEPT.as_str(), "text/event-stream");
    assert_eq!(text(&app, every).await.0, StatusCode::OK);
}
