//! The schedule routes: what `POST /schedules` hands the backend, and what it refuses
//! before the backend (each refusal naming its field).

use axum::http::StatusCode;
use serde_json::json;

use super::{FakeBackend, app, get, post_json, send};

#[tokio::test]
async fn a_schedule_is_added_listed_paused_and_resumed() {
    let (app, backend) = app(FakeBackend::default());
    let body = r#"{"name": "nightly", "workflow": "chain", "cron": "0 2 * * *",
                   "tz": "Europe/Paris", "catch_up": "all", "input": {"n": 1}}"#;
    let reply = send(&app, post_json("/schedules", body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["name"], "nightly");
    let reply = send(&app, post_json("/schedules/nightly/pause", "")).await;
    assert_eq!(reply.body["paused"], true);
    let reply = send(&app, post_json("/schedules/nightly/resume", "{}")).await;
    assert_eq!(reply.body["paused"], false);
    let reply = send(&app, get("/schedules")).await;
    assert_eq!(reply.body["schedules"][0]["name"], "go");
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        [
            "add_schedule nightly chain",
            "pause_schedule nightly true",
            "pause_schedule nightly false",
            "schedules",
        ]
    );
}

#[tokio::test]
async fn a_bad_schedule_request_is_refused_naming_its_field() {
    let cases = [
        (
            json!({"name": "a b", "workflow": "chain", "every": "1h"}),
            "field \"name\": invalid schedule name \"a b\": use 1 to 100 letters, digits, '_', \
             '.' or '-'",
        ),
        (
            json!({"name": "n", "workflow": "chain", "cron": "* * * * *", "every": "1h"}),
            "fields \"cron\" and \"every\" both given: a schedule has one",
        ),
        (
            json!({"name": "n", "workflow": "chain", "every": "1h", "tz": "UTC"}),
            "field \"tz\" goes with \"cron\" (an \"every\" period is the same in every time \
             zone)",
        ),
        (
            json!({"name": "n", "workflow": "chain", "every": "soon"}),
            "field \"every\": ",
        ),
        (
            json!({"name": "n", "workflow": "chain", "every": "1h", "catch_up": "some"}),
            "field \"catch_up\": unknown catch-up policy \"some\" (expected none, last or all)",
        ),
        (
            json!({"name": "n", "workflow": "../x", "every": "1h"}),
            "field \"workflow\" ",
        ),
    ];
    for (body, message) in cases {
        let (app, backend) = app(FakeBackend::default());
        let reply = send(&app, post_json("/schedules", &body.to_string())).await;
        let error = reply.error(StatusCode::BAD_REQUEST);
        assert!(error.starts_with(message), "{body}: {error}");
        assert!(backend.calls.lock().unwrap().is_empty(), "{body}");
    }
    let (app, _) = app(FakeBackend::default());
    let reply = send(&app, get("/schedules/a%20b")).await;
    assert!(
        reply
            .error(StatusCode::BAD_REQUEST)
            .starts_with("invalid schedule name \"a b\"")
    );
}
