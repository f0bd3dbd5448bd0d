//! `POST /runs/batch`: the runs checked one by one (a refusal names the run by its
//! place), the number of runs capped, and the run whose thread is `batch` still
//! reachable at `/runs/batch`.

use axum::body::Body;
use axum::http::header::ALLOW;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{FakeBackend, app, get, post_json, request, send};
use crate::api::{BatchEntry, CreateRuns, MAX_BATCH_RUNS};

#[tokio::test]
async fn a_batch_is_checked_and_handed_over_whole() {
    let (app, backend) = app(FakeBackend::default());
    let body = r#"{"workflow": "chain", "runs": [
        {"thread": "job-1", "input": {"n": 1}, "tags": {"team": "ops"}},
        {},
        {"thread": null, "input": null}
    ]}"#;
    let reply = send(&app, post_json("/runs/batch", body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"created": 3, "threads": ["job-1", "batch-2", "batch-3"]})
    );
    let empty = BatchEntry {
        thread: None,
        input: Default::default(),
        tags: Default::default(),
    };
    let batches = backend.batches.lock().unwrap();
    assert_eq!(
        batches[..],
        [CreateRuns {
            workflow: "chain".into(),
            runs: vec![
                BatchEntry {
                    thread: Some("job-1".into()),
                    input: json!({"n": 1}).as_object().unwrap().clone(),
                    tags: [("team".to_owned(), "ops".to_owned())].into(),
                },
                empty.clone(),
                empty,
            ],
        }]
    );
}

#[tokio::test]
async fn a_bad_run_is_named_by_its_place_and_nothing_reaches_the_backend() {
    let (app, backend) = app(FakeBackend::default());
    let too_many = json!({
        "workflow": "chain",
        "runs": vec![json!({}); MAX_BATCH_RUNS + 1],
    })
    .to_string();
    let cases = [
        (
            r#"{"workflow": "chain", "runs": [{}, {"thread": "a\u0001b"}]}"#.to_owned(),
            "runs[1]: field \"thread\"",
        ),
        (
            r#"{"workflow": "chain", "runs": [{}, {}, 7]}"#.to_owned(),
            "runs[2]: must be an object such as {\"input\": {}}, not a number",
        ),
        (
            r#"{"workflow": "chain", "runs": [{"input": [1]}]}"#.to_owned(),
            "runs[0]: field \"input\"",
        ),
        (
            r#"{"workflow": "chain", "runs": [{"bogus": 1}]}"#.to_owned(),
            "runs[0]: unknown field \"bogus\" in the request body (expected \"thread\", \"input\" or \"tags\")",
        ),
        (
            r#"{"workflow": "chain", "runs": []}"#.to_owned(),
            "field \"runs\" is empty: give at least one run",
        ),
        (
            r#"{"workflow": "chain", "runs": {}}"#.to_owned(),
            "field \"runs\" must be an array, not an object",
        ),
        (
            r#"{"workflow": "chain"}"#.to_owned(),
            "missing field \"runs\" in the request body",
        ),
        (
            too_many,
            "field \"runs\" has 10001 runs, more than the 10000 one request may create; \
             send them in several requests",
        ),
    ];
    for (body, expected) in cases {
        let reply = send(&app, post_json("/runs/batch", &body)).await;
        let message = reply.error(StatusCode::BAD_REQUEST);
        assert!(message.starts_with(expected), "{message}");
    }
    assert!(backend.batches.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_run_named_batch_is_read_and_deleted_at_runs_batch() {
    let (app, _) = app(FakeBackend::with_runs(&[("batch", "completed")]));
    let reply = send(&app, get("/runs/batch")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["thread"], Value::from("batch"));
    let reply = send(&app, get("/runs/batch/state")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // `Allow` names what the document says `/runs/batch` takes.
    let put = request(
        Method::PUT,
        "/runs/batch",
        Some("application/json"),
        Body::from("{}"),
    );
    let reply = send(&app, put).await;
    reply.error(StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers.get(ALLOW).unwrap(), "POST");
}
