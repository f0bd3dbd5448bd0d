//! Bad requests (the status, the message, and that the backend was not called) and
//! backend errors (their status and message, kept).

use axum::body::Body;
use axum::http::header::ALLOW;
use axum::http::{Method, StatusCode};

use super::{FakeBackend, app, assert_contains, get, post_json, request, send};

#[tokio::test]
async fn malformed_json_is_400_naming_the_problem() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(&app, post_json("/runs", r#"{"workflow" "chain"}"#)).await;
    let message = reply.error(StatusCode::BAD_REQUEST);
    assert_contains(message, "request body is not valid JSON: expected `:`");
    assert_contains(message, "at line 1 column 13");
    let reply = send(&app, post_json("/runs/job-1/resume", "{")).await;
    assert_contains(
        reply.error(StatusCode::BAD_REQUEST),
        "request body is not valid JSON: EOF while parsing an object",
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(
        &app,
        request(
            Method::POST,
            "/runs",
            Some("text/plain"),
            Body::from(r#"{"workflow": "chain"}"#),
        ),
    )
    .await;
    assert_eq!(
        reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        "the request has Content-Type \"text/plain\": send Content-Type: application/json \
         (also with an empty body)"
    );
    let reply = send(
        &app,
        request(
            Method::POST,
            "/runs/job-1/resume",
            None,
            Body::from(r#"{"input": 1}"#),
        ),
    )
    .await;
    assert_eq!(
        reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        "the request has no Content-Type: send Content-Type: application/json (also with \
         an empty body)"
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_run_without_workflow_is_400() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(&app, post_json("/runs", r#"{"thread": "job-1"}"#)).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "missing field \"workflow\" in the request body"
    );
    let reply = send(&app, post_json("/runs", "")).await;
    assert_contains(
        reply.error(StatusCode::BAD_REQUEST),
        "request body is empty: expected a JSON object such as {\"workflow\": \"chain\"}",
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_fields_are_400() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let reply = send(
        &app,
        post_json("/runs", r#"{"workflow": "chain", "inputs": {}}"#),
    )
    .await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown field \"inputs\" in the request body (expected \"workflow\", \"thread\", \
         \"input\" or \"tags\")"
    );
    let reply = send(&app, post_json("/runs/job-1/resume", r#"{"value": 1}"#)).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown field \"value\" in the request body (expected \"input\", \"upgrade\" or \
         \"from_step\")"
    );
    let reply = send(
        &app,
        post_json("/runs/job-1/resume", r#"{"upgrade": "yes"}"#),
    )
    .await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "field \"upgrade\" must be true or false, not a string"
    );
    let reply = send(&app, post_json("/runs/job-1/cancel", r#"{"force": true}"#)).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown field \"force\" in the request body (the body must be empty or {})"
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn fields_of_the_wrong_type_are_400() {
    let (app, backend) = app(FakeBackend::default());
    let cases = [
        (
            r#"{"workflow": "chain", "input": "hello"}"#,
            "field \"input\" must be a JSON object, not a string",
        ),
        (
            r#"{"workflow": "chain", "input": [1, 2]}"#,
            "field \"input\" must be a JSON object, not an array",
        ),
        (
            r#"{"workflow": 5}"#,
            "field \"workflow\" must be a string, not a number",
        ),
        (
            r#"{"workflow": null}"#,
            "field \"workflow\" must be a string, not null",
        ),
        (
            r#"{"workflow": "chain", "thread": true}"#,
            "field \"thread\" must be a string, not a boolean",
        ),
        (
            r#"["chain"]"#,
            "request body must be a JSON object, not an array",
        ),
    ];
    for (body, expected) in cases {
        let reply = send(&app, post_json("/runs", body)).await;
        assert_eq!(reply.error(StatusCode::BAD_REQUEST), expected, "{body}");
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn workflow_names_and_thread_ids_are_checked() {
    let (app, backend) = app(FakeBackend::default());
    let cases = [
        (r#"{"workflow": ""}"#, "field \"workflow\" is empty"),
        (r#"{"workflow": "  "}"#, "field \"workflow\" is empty"),
        (
            r#"{"workflow": "../secrets"}"#,
            "field \"workflow\" contains a path separator (\"../secrets\"): expected the name \
             of a workflow in the workflows folder, such as \"chain\"",
        ),
        (
            r#"{"workflow": "a\\b"}"#,
            "field \"workflow\" contains a path separator",
        ),
        (
            r#"{"workflow": ".."}"#,
            "field \"workflow\" starts with a dot",
        ),
        (
            r#"{"workflow": "chain\n"}"#,
            "field \"workflow\" contains a control character",
        ),
        (
            r#"{"workflow": "chain", "thread": " "}"#,
            "field \"thread\" is empty or only whitespace (\" \")",
        ),
        (
            r#"{"workflow": "chain", "thread": "a\u0000b"}"#,
            "field \"thread\" contains a control character",
        ),
    ];
    for (body, expected) in cases {
        let reply = send(&app, post_json("/runs", body)).await;
        assert_contains(reply.error(StatusCode::BAD_REQUEST), expected);
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn blank_or_invalid_thread_ids_in_paths_are_400() {
    let (app, backend) = app(FakeBackend::default());
    for (uri, expected) in [
        (
            "/runs/%20%20",
            "the thread id in the path is empty or only whitespace (\"  \")",
        ),
        (
            "/runs/%09/state",
            "the thread id in the path is empty or only whitespace (\"\\t\")",
        ),
        (
            "/runs/a%00b/history",
            "the thread id in the path contains a control character (\"a\\0b\")",
        ),
        (
            "/runs/%FF",
            "the thread id in the path is not UTF-8 once percent-decoded",
        ),
    ] {
        let reply = send(&app, get(uri)).await;
        assert_contains(reply.error(StatusCode::BAD_REQUEST), expected);
    }
    let reply = send(&app, post_json("/runs/%20/resume", "")).await;
    assert_contains(reply.error(StatusCode::BAD_REQUEST), "only whitespace");
    let reply = send(&app, post_json("/runs/%20/cancel", "")).await;
    assert_contains(reply.error(StatusCode::BAD_REQUEST), "only whitespace");
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_status_filters_are_400() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(&app, get("/runs?status=runing")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "query parameter \"status\": unknown run status \"runing\" (expected pending, \
         running, sleeping, interrupted, waiting, retrying, completed, failed or cancelled)"
    );
    let reply = send(&app, get("/runs?status=")).await;
    assert_contains(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown run status \"\" (expected pending",
    );
    let reply = send(&app, get("/runs?state=running")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown query parameter \"state\" (expected \"status\", \"workflow\", \"tag\", \
         \"since\", \"thread\", \"parent\", \"limit\" or \"cursor\")"
    );
    let reply = send(&app, get("/runs?status=running&status=failed")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "query parameter \"status\" is given more than once"
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_page_parameters_are_400() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for (uri, expected) in [
        (
            "/runs/job-1/history?limit=0",
            "query parameter \"limit\": must be at least 1",
        ),
        (
            "/runs/job-1/history?limit=1001",
            "query parameter \"limit\": 1001 is over the maximum page size of 1000",
        ),
        (
            "/runs/job-1/logs?limit=10001",
            "query parameter \"limit\": 10001 is over the maximum page size of 10000",
        ),
        (
            "/runs?limit=10001",
            "query parameter \"limit\": 10001 is over the maximum page size of 10000",
        ),
        (
            "/runs/job-1/history?limit=ten",
            "query parameter \"limit\" must be a whole number, not \"ten\"",
        ),
        (
            "/runs/job-1/history?cursor=-3",
            "query parameter \"cursor\": invalid cursor \"-3\": pass the next_cursor of a \
             previous page as it was printed",
        ),
        (
            "/runs/job-1/history?states=yes",
            "query parameter \"states\" must be true or false (or 1 or 0), not \"yes\"",
        ),
        (
            "/runs/job-1/history?limit=1&limit=2",
            "query parameter \"limit\" is given more than once",
        ),
        (
            "/runs/job-1/history?state=true",
            "unknown query parameter \"state\" (expected \"limit\", \"cursor\", \"states\", \
             \"diff\" or \"all\")",
        ),
        (
            "/runs/job-1/logs?states=true",
            "unknown query parameter \"states\" (expected \"limit\" or \"cursor\")",
        ),
        (
            "/runs/job-1/state?steps=1",
            "unknown query parameter \"steps\" (expected \"step\")",
        ),
        (
            "/runs/job-1/state?step=-1",
            "query parameter \"step\" must be a step number (0 and up), not \"-1\"",
        ),
        (
            "/runs/job-1/state?step=two",
            "query parameter \"step\" must be a step number (0 and up), not \"two\"",
        ),
    ] {
        let reply = send(&app, get(uri)).await;
        assert_eq!(reply.error(StatusCode::BAD_REQUEST), expected, "{uri}");
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let (app, _) = app(FakeBackend::default());
    for (method, uri) in [
        (Method::GET, "/nope"),
        (Method::GET, "/runs/job-1/event"),
        (Method::POST, "/runs/job-1/resume/now"),
        (Method::GET, "/ui/runs"),
    ] {
        let reply = send(&app, request(method.clone(), uri, None, Body::empty())).await;
        assert_eq!(
            reply.error(StatusCode::NOT_FOUND),
            format!("no route for {method} {uri}")
        );
    }
}

#[tokio::test]
async fn wrong_methods_are_405_json_with_allow() {
    let (app, backend) = app(FakeBackend::default());
    for (method, uri, allow) in [
        (Method::POST, "/health", "GET,HEAD"),
        (Method::DELETE, "/runs", "GET,HEAD,POST"),
        (Method::PUT, "/runs/job-1", "GET,HEAD,DELETE"),
        (Method::GET, "/runs/job-1/resume", "POST"),
        (Method::PUT, "/runs/job-1/cancel", "POST"),
        (Method::POST, "/workflows", "GET,HEAD"),
    ] {
        let reply = send(&app, request(method.clone(), uri, None, Body::empty())).await;
        assert_contains(
            reply.error(StatusCode::METHOD_NOT_ALLOWED),
            &format!("method {method} is not allowed on {uri}"),
        );
        assert_eq!(reply.headers.get(ALLOW).unwrap(), allow, "{method} {uri}");
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bodies_over_1_mib_are_413_json() {
    let (app, backend) = app(FakeBackend::default());
    let padding = "x".repeat(1024 * 1024);
    let body = format!(r#"{{"workflow": "chain", "input": {{"pad": "{padding}"}}}}"#);
    let reply = send(&app, post_json("/runs", &body)).await;
    assert_eq!(
        reply.error(StatusCode::PAYLOAD_TOO_LARGE),
        "request body is larger than the limit of 1 MiB (1048576 bytes)"
    );
    let reply = send(&app, post_json("/runs/job-1/resume", &body)).await;
    reply.error(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(backend.calls.lock().unwrap().is_empty());

    // Just under the limit is fine.
    let padding = "x".repeat(1024 * 1024 - 100);
    let body = format!(r#"{{"workflow": "chain", "input": {{"pad": "{padding}"}}}}"#);
    let reply = send(&app, post_json("/runs", &body)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
}

#[tokio::test]
async fn odd_bodies_are_400_not_panics() {
    let (app, backend) = app(FakeBackend::default());
    let deep = "[".repeat(100_000);
    let bodies: [&[u8]; 9] = [
        b" ",
        b"null",
        b"1",
        b"\"chain\"",
        b"\xff\xfe{}",
        b"{\"workflow\": \"chain\"} {}",
        b"{\"workflow\": \"\\ud800\"}",
        b"\x00",
        deep.as_bytes(),
    ];
    for body in bodies {
        let reply = send(
            &app,
            request(
                Method::POST,
                "/runs",
                Some("application/json"),
                Body::from(body.to_vec()),
            ),
        )
        .await;
        let message = reply.error(StatusCode::BAD_REQUEST);
        assert!(!message.is_empty());
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

// Backend errors.

#[tokio::test]
async fn backend_errors_keep_their_status_and_message() {
    let (app, _) = app(FakeBackend::with_runs(&[
        ("job-1", "running"),
        ("done", "completed"),
    ]));
    let cases = [
        (
            get("/runs/ghost"),
            StatusCode::NOT_FOUND,
            "no run with thread id \"ghost\"",
        ),
        (
            get("/runs/ghost/history"),
            StatusCode::NOT_FOUND,
            "no run with thread id \"ghost\"",
        ),
        (
            post_json("/runs/ghost/cancel", ""),
            StatusCode::NOT_FOUND,
            "no run with thread id \"ghost\"",
        ),
        (
            post_json("/runs", r#"{"workflow": "missing"}"#),
            StatusCode::NOT_FOUND,
            "no workflow named \"missing\" in the workflows folder",
        ),
        (
            post_json("/runs", r#"{"workflow": "broken"}"#),
            StatusCode::BAD_REQUEST,
            "workflow \"broken\" is invalid: line 3: unknown node",
        ),
        (
            post_json("/runs", r#"{"workflow": "chain", "thread": "job-1"}"#),
            StatusCode::CONFLICT,
            "thread id \"job-1\" is already taken",
        ),
        (
            post_json("/runs/done/resume", ""),
            StatusCode::CONFLICT,
            "run \"done\" is completed: there is nothing to resume",
        ),
        (
            get("/runs/boom/state"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store is unreachable",
        ),
    ];
    for (request, status, expected) in cases {
        let reply = send(&app, request).await;
        assert_eq!(reply.error(status), expected);
    }
}
