//! The routes of run search and time travel: what each hands to the backend, and the
//! 400s of their own parameters and fields.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::ACCEPT;
use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{FakeBackend, app, get, post_json, request, send};
use crate::api::{Cursor, Deletion, EditState, ForkRequest, PageQuery, RunSearch, RunStatus};

fn delete(uri: &str) -> axum::http::Request<Body> {
    request(Method::DELETE, uri, Some("application/json"), Body::empty())
}

#[tokio::test]
async fn list_runs_hands_over_every_filter_and_the_page() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(
        &app,
        get(
            "/runs?status=failed&workflow=approval&tag=customer=acme&tag=note=a%3Db&since=2d\
             &thread=job-%25&limit=50&cursor=7",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(&app, get("/runs")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // An empty prefix (a form's empty field) is every thread's start.
    let reply = send(&app, get("/runs?thread=")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let searches = backend.searches.lock().unwrap();
    assert_eq!(
        searches[..],
        [
            RunSearch {
                status: Some(RunStatus::Failed),
                workflow: Some("approval".into()),
                tags: vec![
                    ("customer".into(), "acme".into()),
                    ("note".into(), "a=b".into())
                ],
                since: Some(Duration::from_secs(2 * 86_400)),
                thread_prefix: Some("job-%".into()),
                parent: None,
                page: PageQuery {
                    cursor: Some(Cursor::after(7)),
                    limit: 50
                },
            },
            RunSearch {
                status: None,
                workflow: None,
                tags: Vec::new(),
                since: None,
                thread_prefix: None,
                parent: None,
                page: PageQuery {
                    cursor: None,
                    limit: 100
                },
            },
            RunSearch {
                status: None,
                workflow: None,
                tags: Vec::new(),
                since: None,
                thread_prefix: None,
                parent: None,
                page: PageQuery {
                    cursor: None,
                    limit: 100
                },
            },
        ]
    );
}

#[tokio::test]
async fn bad_search_parameters_are_400() {
    let (app, backend) = app(FakeBackend::default());
    for (uri, expected) in [
        (
            "/runs?tag=customer",
            "query parameter \"tag\": \"customer\" is not key=value (e.g. customer=acme)",
        ),
        (
            "/runs?tag=a%20b=c",
            "query parameter \"tag\": tag key \"a b\" is not valid: use 1 to 64 letters, \
             digits, '_', '-', '.', ':' or '/'",
        ),
        (
            "/runs?since=2days",
            "query parameter \"since\": invalid duration \"2days\": use a number and a unit \
             (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\"",
        ),
        (
            "/runs?workflow=",
            "query parameter \"workflow\" must be a workflow's name, not \"\"",
        ),
        (
            "/runs?thread=job%0A",
            "query parameter \"thread\" contains a control character (\"job\\n\"): expected \
             the start of a thread id",
        ),
        (
            "/runs?status=lost",
            "query parameter \"status\": unknown run status \"lost\" (expected pending, \
             running, sleeping, interrupted, waiting, retrying, completed, failed or cancelled)",
        ),
        (
            "/runs?cursor=x",
            "query parameter \"cursor\": invalid cursor \"x\": pass the next_cursor of a \
             previous page as it was printed",
        ),
    ] {
        let reply = send(&app, get(uri)).await;
        assert_eq!(reply.error(StatusCode::BAD_REQUEST), expected, "{uri}");
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_run_takes_tags_checked_as_the_cli_checks_them() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(
        &app,
        post_json(
            "/runs",
            r#"{"workflow": "chain", "tags": {"customer": "acme", "priority": "high"}}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let tags = backend.created.lock().unwrap()[0].tags.clone();
    assert_eq!(
        tags.into_iter().collect::<Vec<_>>(),
        [
            ("customer".to_string(), "acme".to_string()),
            ("priority".to_string(), "high".to_string())
        ]
    );
    for (body, expected) in [
        (
            r#"{"workflow": "chain", "tags": ["customer=acme"]}"#,
            "field \"tags\" must be a JSON object, not an array",
        ),
        (
            r#"{"workflow": "chain", "tags": {"customer": 1}}"#,
            "field \"tags\": the value of \"customer\" must be a string, not a number",
        ),
        (
            r#"{"workflow": "chain", "tags": {"customer": ""}}"#,
            "field \"tags\": tag value \"\" is not valid: use 1 to 256 bytes of text without \
             control characters",
        ),
        (
            r#"{"workflow": "chain", "input": {"name\u0000": "ada"}}"#,
            "field \"input\": state key \"name\\0\" contains U+0000, which no state key may \
             hold",
        ),
    ] {
        let reply = send(&app, post_json("/runs", body)).await;
        assert_eq!(reply.error(StatusCode::BAD_REQUEST), expected, "{body}");
    }
    assert_eq!(backend.created.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn history_takes_diff_and_all_and_events_are_paged() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for uri in [
        "/runs/job-1/history?diff=1&all=1",
        "/runs/job-1/history?diff=true&all=false",
        "/runs/job-1/history?states=true&all=true",
        "/runs/job-1/events?limit=10&cursor=3",
    ] {
        let reply = send(&app, get(uri)).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
    }
    let reply = send(&app, get("/runs/job-1/history?diff=1&states=1")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "query parameters \"states\" and \"diff\" cannot be combined: ask for whole states \
         or for each step's changes"
    );
    let reply = send(&app, get("/runs/job-1/events?limit=10001")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "query parameter \"limit\": 10001 is over the maximum page size of 10000"
    );
    // Without a page parameter, the page is for a client that asks for JSON (else a
    // stream: `events`).
    let mut json = get("/runs/job-1/events");
    json.headers_mut()
        .insert(ACCEPT, "application/json".parse().unwrap());
    let events = send(&app, json).await;
    assert_eq!(events.body["entries"][0]["event"], "created");
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "run_history job-1 PageQuery { cursor: None, limit: 50 } Changes all",
            "run_history job-1 PageQuery { cursor: None, limit: 50 } Changes",
            "run_history job-1 PageQuery { cursor: None, limit: 50 } WholeStates all",
            "run_events job-1 PageQuery { cursor: Some(Cursor(3)), limit: 10 }",
            "run_events job-1 PageQuery { cursor: None, limit: 1000 }",
        ]
    );
}

#[tokio::test]
async fn fork_answers_201_and_hands_over_step_thread_and_edit() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
    let reply = send(
        &app,
        post_json(
            "/runs/job-1/fork",
            r#"{"step": 3, "thread": "job-1-fix", "update": {"count": 100}, "as_node": "n4"}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["thread"], "job-1-fix");
    let reply = send(
        &app,
        post_json("/runs/job-1/fork", r#"{"step": 0, "thread": "job-1-b"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        backend.forks.lock().unwrap()[..],
        [
            ForkRequest {
                source: "job-1".into(),
                step: 3,
                thread: "job-1-fix".into(),
                update: json!({"count": 100}).as_object().cloned(),
                as_node: Some("n4".into()),
                by: "api".into(),
            },
            ForkRequest {
                source: "job-1".into(),
                step: 0,
                thread: "job-1-b".into(),
                update: None,
                as_node: None,
                by: "api".into(),
            },
        ]
    );
}

#[tokio::test]
async fn bad_fork_and_update_bodies_are_400() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
    for (uri, body, expected) in [
        (
            "/runs/job-1/fork",
            r#"{"thread": "x"}"#,
            "missing field \"step\" in the request body",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": -1, "thread": "x"}"#,
            "field \"step\" must be a whole number (0 and up), not -1",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": "4", "thread": "x"}"#,
            "field \"step\" must be a whole number (0 and up), not a string",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": 4}"#,
            "missing field \"thread\" in the request body",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": 4, "thread": " "}"#,
            "field \"thread\" is empty or only whitespace (\" \")",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": 4, "thread": "x", "update": 5}"#,
            "field \"update\" must be a JSON object, not a number",
        ),
        (
            "/runs/job-1/fork",
            r#"{"step": 4, "thread": "x", "update": {"a\u0000": 1}}"#,
            "field \"update\": state key \"a\\0\" contains U+0000, which no state key may hold",
        ),
        (
            "/runs/job-1/update",
            r#"{"values": {"\u0000": 1}}"#,
            "field \"values\": state key \"\\0\" contains U+0000, which no state key may hold",
        ),
        (
            "/runs/job-1/fork",
            "",
            "missing field \"step\" in the request body",
        ),
        (
            "/runs/job-1/update",
            "",
            "missing field \"values\" in the request body",
        ),
        (
            "/runs/job-1/update",
            r#"{"values": [1]}"#,
            "field \"values\" must be a JSON object, not an array",
        ),
        (
            "/runs/job-1/update",
            r#"{"values": {}, "as_node": ""}"#,
            "field \"as_node\" must be the name of a node of the run's workflow, not \"\"",
        ),
        (
            "/runs/job-1/resume",
            r#"{"from_step": 2, "input": "yes"}"#,
            "fields \"from_step\" and \"input\" cannot be combined: a replay starts again from \
             a checkpoint, with no question pending",
        ),
        (
            "/runs/job-1/resume",
            r#"{"from_step": 1.5}"#,
            "field \"from_step\" must be a whole number (0 and up), not 1.5",
        ),
    ] {
        let reply = send(&app, post_json(uri, body)).await;
        assert_eq!(
            reply.error(StatusCode::BAD_REQUEST),
            expected,
            "{uri} {body}"
        );
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn update_resume_from_a_step_and_delete() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
    let reply = send(
        &app,
        post_json(
            "/runs/job-1/update",
            r#"{"values": {"approved": false}, "as_node": "review"}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        backend.edits.lock().unwrap()[..],
        [(
            "job-1".to_string(),
            EditState {
                values: json!({"approved": false}).as_object().unwrap().clone(),
                as_node: Some("review".into()),
            },
            "api".to_string()
        )]
    );

    let reply = send(&app, post_json("/runs/job-1/resume", r#"{"from_step": 2}"#)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let resumed = backend.resumed.lock().unwrap().clone();
    assert_eq!(resumed[0].1.from_step, Some(2));
    assert_eq!(resumed[0].1.input, None);

    let reply = send(&app, delete("/runs/job-1?force=1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["deleted"]["checkpoints"], 2);
    let reply = send(&app, delete("/runs/job-1")).await;
    assert_eq!(
        reply.error(StatusCode::NOT_FOUND),
        "no run with thread id \"job-1\""
    );
    let reply = send(&app, delete("/runs/job-1?force=maybe")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "query parameter \"force\" must be true or false (or 1 or 0), not \"maybe\""
    );
    let calls = backend.calls.lock().unwrap().clone();
    assert_eq!(
        calls[1..],
        [
            "resume job-1",
            &format!("delete job-1 {:?}", Deletion::Forced),
            &format!("delete job-1 {:?}", Deletion::Finished),
        ]
    );
}
