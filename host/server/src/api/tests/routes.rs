//! Every route's happy path.

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{FakeBackend, app, get, post_json, request, send};
use crate::api::CreateRun;

#[tokio::test]
async fn health_is_ok() {
    let (app, _) = app(FakeBackend::default());
    let reply = send(&app, get("/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({ "status": "ok" }));
}

#[tokio::test]
async fn create_run_answers_201_with_the_backend_value() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(
        &app,
        post_json(
            "/runs",
            r#"{"workflow": "chain", "thread": "job-1", "input": {"text": "hi"}}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.headers.get(CONTENT_TYPE).unwrap(), "application/json");
    assert_eq!(
        reply.body,
        json!({ "thread": "job-1", "workflow": "chain", "status": "running", "input": { "text": "hi" } })
    );
    let created = backend.created.lock().unwrap();
    assert_eq!(
        created[..],
        [CreateRun {
            workflow: "chain".into(),
            thread: Some("job-1".into()),
            input: json!({ "text": "hi" }).as_object().unwrap().clone(),
            tags: Default::default(),
        }]
    );
}

#[tokio::test]
async fn create_run_defaults_thread_to_none_and_input_to_empty() {
    let (app, backend) = app(FakeBackend::default());
    for body in [
        r#"{"workflow": "chain"}"#,
        r#"{"workflow": "other", "thread": null, "input": null}"#,
    ] {
        let reply = send(&app, post_json("/runs", body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{body}: {}", reply.body);
    }
    let created = backend.created.lock().unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(created[1].workflow, "other");
    for request in created.iter() {
        assert_eq!(request.thread, None);
        assert!(request.input.is_empty());
    }
}

#[tokio::test]
async fn create_run_accepts_json_content_types_with_parameters() {
    let (app, _) = app(FakeBackend::default());
    for (i, content_type) in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.savepoint+json",
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!(r#"{{"workflow": "chain", "thread": "t{i}"}}"#);
        let reply = send(
            &app,
            request(Method::POST, "/runs", Some(content_type), Body::from(body)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{content_type}");
    }
}

#[tokio::test]
async fn list_runs_with_and_without_a_status_filter() {
    let (app, backend) = app(FakeBackend::with_runs(&[
        ("a", "running"),
        ("b", "completed"),
        ("c", "running"),
    ]));
    let all = send(&app, get("/runs")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.body["runs"].as_array().unwrap().len(), 3);
    assert_eq!(all.body["next_cursor"], Value::Null);

    let running = send(&app, get("/runs?status=running")).await;
    assert_eq!(running.status, StatusCode::OK);
    let threads: Vec<&str> = running.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["thread"].as_str().unwrap())
        .collect();
    assert_eq!(threads, ["a", "c"]);

    let empty = send(&app, get("/runs?status=cancelled")).await;
    assert_eq!(empty.body, json!({"runs": [], "next_cursor": null}));
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "list_runs None 100",
            "list_runs Some(Running) 100",
            "list_runs Some(Cancelled) 100"
        ]
    );
}

#[tokio::test]
async fn run_status_state_and_history() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let status = send(&app, get("/runs/job-1")).await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["thread"], "job-1");

    let state = send(&app, get("/runs/job-1/state")).await;
    assert_eq!(state.status, StatusCode::OK);
    assert_eq!(state.body["state"], json!({ "text": "HELLO" }));
    let state = send(&app, get("/runs/job-1/state?step=0")).await;
    assert_eq!(state.status, StatusCode::OK);

    let history = send(&app, get("/runs/job-1/history")).await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(
        history.headers.get(CONTENT_TYPE).unwrap(),
        "application/json"
    );
    assert_eq!(history.body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(history.body["next_cursor"], Value::Null);

    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "run_status job-1",
            "run_state job-1",
            "run_state job-1 step 0",
            "run_history job-1 PageQuery { cursor: None, limit: 50 } ChangedKeys"
        ]
    );
}

#[tokio::test]
async fn history_logs_and_runs_take_page_parameters() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let history = send(
        &app,
        get("/runs/job-1/history?limit=1000&cursor=37&states=true"),
    )
    .await;
    assert_eq!(history.status, StatusCode::OK);
    let logs = send(&app, get("/runs/job-1/logs?cursor=12")).await;
    assert_eq!(logs.status, StatusCode::OK);
    assert_eq!(logs.body["entries"][0]["message"], "hi");
    assert_eq!(logs.body["next_cursor"], "7");
    let runs = send(&app, get("/runs?limit=3&status=running")).await;
    assert_eq!(runs.status, StatusCode::OK);
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "run_history job-1 PageQuery { cursor: Some(Cursor(37)), limit: 1000 } WholeStates",
            "run_logs job-1 PageQuery { cursor: Some(Cursor(12)), limit: 1000 }",
            "list_runs Some(Running) 3",
        ]
    );
}

#[tokio::test]
async fn thread_ids_in_paths_are_percent_decoded() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job 1/ä", "running")]));
    let reply = send(&app, get("/runs/job%201%2F%C3%A4")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(backend.calls.lock().unwrap()[..], ["run_status job 1/ä"]);
}

#[tokio::test]
async fn resume_with_an_empty_body_has_no_input() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "interrupted")]));
    // An empty JSON body: what `curl -X POST -H 'content-type: application/json'` sends.
    let reply = send(&app, post_json("/runs/job-1/resume", "")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "running");
    // `{}` and `{"input": null}` mean the same.
    for body in ["{}", r#"{"input": null}"#] {
        let reply = send(&app, post_json("/runs/job-1/resume", body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{body:?}: {}", reply.body);
    }
    let resumed = backend.resumed.lock().unwrap();
    assert_eq!(resumed.len(), 3);
    assert!(
        resumed
            .iter()
            .all(|(thread, resume)| thread == "job-1" && resume.input.is_none())
    );
}

#[tokio::test]
async fn resume_passes_any_json_input() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "interrupted")]));
    for body in [r#"{"input": {"approved": true}}"#, r#"{"input": 5}"#] {
        let reply = send(&app, post_json("/runs/job-1/resume", body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{body}: {}", reply.body);
    }
    let inputs: Vec<Option<Value>> = backend
        .resumed
        .lock()
        .unwrap()
        .iter()
        .map(|(_, resume)| resume.input.clone())
        .collect();
    assert_eq!(inputs, [Some(json!({ "approved": true })), Some(json!(5))]);
}

#[tokio::test]
async fn cancel_with_an_empty_body_or_an_empty_object() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    let reply = send(&app, post_json("/runs/job-1/cancel", "")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "cancelled");
    let reply = send(&app, post_json("/runs/job-1/cancel", "{}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        ["cancel job-1", "cancel job-1"]
    );
}

#[tokio::test]
async fn workflows_and_plugins() {
    let (app, _) = app(FakeBackend::default());
    let workflows = send(&app, get("/workflows")).await;
    assert_eq!(workflows.status, StatusCode::OK);
    assert_eq!(workflows.body[0]["name"], "chain");
    let plugins = send(&app, get("/plugins")).await;
    assert_eq!(plugins.status, StatusCode::OK);
    assert_eq!(plugins.body[0]["name"], "upper");
}
