//! Bad requests get JSON errors: unknown runs and routes, bad bodies, wrong
//! methods, bad queries, and runs in no state for what is asked.

use serde_json::json;

use super::daemon;
use crate::fixtures::{Env, Messages, http, http_raw};

#[test]
fn bad_requests_get_json_errors() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    let done = daemon.post("/runs", &json!({"workflow": "chain", "thread": "done"}));
    assert_eq!(done.status, 201, "{done:?}");
    daemon.wait_run("done", "completed", |s| s["status"] == "completed");
    // Every error message, under the request that got it.
    let mut said = Messages::new();

    // Unknown runs: 404 on every per-run route.
    for (method, path) in [
        ("GET", "/runs/nobody"),
        ("GET", "/runs/nobody/state"),
        ("GET", "/runs/nobody/history"),
        ("POST", "/runs/nobody/resume"),
        ("POST", "/runs/nobody/cancel"),
    ] {
        let response = http(daemon.addr(), method, path, None);
        let error = response.error(404);
        said.add(&format!("{method} {path}"), &error);
    }
    let error = daemon.get("/nowhere").error(404);
    said.add("GET /nowhere", &error);

    // Bodies.
    let post = |body: &str| {
        http(
            daemon.addr(),
            "POST",
            "/runs",
            Some(("application/json", body.as_bytes())),
        )
    };
    let error = post("{\"workflow\": ").error(400);
    said.add("POST /runs: cut-off JSON", &error);
    let error = post("[\"chain\"]").error(400);
    said.add("POST /runs: an array", &error);
    let error = post(r#"{"thread": "x"}"#).error(400);
    said.add("POST /runs: no workflow", &error);
    let error = post(r#"{"workflow": 7}"#).error(400);
    said.add("POST /runs: workflow 7", &error);
    let error = post(r#"{"workflow": "chain", "input": [1]}"#).error(400);
    said.add("POST /runs: input [1]", &error);
    let error = post(r#"{"workflow": "chain", "colour": "red"}"#).error(400);
    said.add("POST /runs: unknown field colour", &error);
    let error = post(r#"{"workflow": "../chain"}"#).error(400);
    said.add("POST /runs: workflow ../chain", &error);
    let error = post(r#"{"workflow": "chain", "thread": "has space"}"#).error(400);
    said.add("POST /runs: thread \"has space\"", &error);
    let error = post("").error(400);
    said.add("POST /runs: empty body", &error);
    let error = http(
        daemon.addr(),
        "POST",
        "/runs",
        Some(("text/plain", br#"{"workflow": "chain"}"#)),
    )
    .error(415);
    said.add("POST /runs: text/plain", &error);
    let error = http(
        daemon.addr(),
        "POST",
        "/runs",
        Some(("", br#"{"workflow": "chain"}"#)),
    )
    .error(415);
    said.add("POST /runs: no Content-Type", &error);
    // One byte over the 1 MiB limit: refused before it is read, so over a raw
    // socket that reads the answer despite the broken pipe.
    let mut big = vec![b' '; 1024 * 1024 + 1];
    big[0] = b'{';
    let error = http_raw(daemon.addr(), "/runs", "application/json", &big).error(413);
    said.add("POST /runs: 1 MiB + 1 byte", &error);

    // Unknown workflow, taken thread.
    let error = daemon
        .post("/runs", &json!({"workflow": "nope"}))
        .error(404);
    said.add("POST /runs: workflow nope", &error);
    // The CLI's message, without its flag hint: a client has no --thread.
    let taken = daemon.post("/runs", &json!({"workflow": "chain", "thread": "done"}));
    assert_eq!(
        taken.error(409),
        "thread \"done\" already exists and is completed; pick another thread id"
    );
    assert_eq!(taken.code(), "conflict");
    assert_eq!(
        taken.json()["error"]["details"],
        json!({"thread": "done", "status": "completed"})
    );
    assert_eq!(daemon.get("/runs/done/state").json(), json!({"count": 10}));

    // Wrong methods: 405 with Allow.
    for (method, path) in [
        ("DELETE", "/runs"),
        ("PUT", "/runs/done"),
        ("GET", "/runs/done/resume"),
        ("GET", "/runs/done/cancel"),
        ("POST", "/health"),
    ] {
        let response = http(daemon.addr(), method, path, None);
        let error = response.error(405);
        said.add(&format!("{method} {path}"), &error);
        assert!(response.header("allow").is_some(), "{response:?}");
    }

    // Bad query.
    let error = daemon.get("/runs?status=sideways").error(400);
    said.add("GET /runs?status=sideways", &error);
    let error = daemon.get("/runs?colour=red").error(400);
    said.add("GET /runs?colour=red", &error);

    // Resume and cancel of runs in no state for it: 409.
    let error = daemon
        .post("/runs/done/resume", &json!({"input": {"approved": true}}))
        .error(409);
    said.add("POST /runs/done/resume", &error);
    let error = daemon.post("/runs/done/cancel", &json!({})).error(409);
    assert_eq!(
        error,
        "thread \"done\" has already completed; nothing to cancel"
    );

    let nap = daemon.post("/runs", &json!({"workflow": "nap", "thread": "nap"}));
    assert_eq!(nap.status, 201, "{nap:?}");
    daemon.wait_run("nap", "sleeping", |s| s["status"] == "sleeping");
    let error = daemon
        .post("/runs/nap/resume", &json!({"input": {"approved": true}}))
        .error(409);
    said.add("POST /runs/nap/resume (sleeping)", &error);
    assert_eq!(daemon.get("/runs/nap").json()["status"], "sleeping");

    let ask = daemon.post("/runs", &json!({"workflow": "ask", "thread": "ask"}));
    assert_eq!(ask.status, 201, "{ask:?}");
    daemon.wait_run("ask", "interrupted", |s| s["status"] == "interrupted");
    let error = daemon.post("/runs/ask/resume", &json!({})).error(409);
    said.add("POST /runs/ask/resume without input", &error);
    let error = daemon
        .post("/runs/ask/resume", &json!({"answer": true}))
        .error(400);
    said.add("POST /runs/ask/resume with an unknown field", &error);
    assert_eq!(daemon.get("/runs/ask").json()["status"], "interrupted");

    // A cancelled run stays cancelled.
    let cancelled = daemon.post("/runs/nap/cancel", &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.json()["status"], "cancelled");
    let error = daemon.post("/runs/nap/cancel", &json!({})).error(409);
    said.add("POST /runs/nap/cancel (cancelled)", &error);
    let error = daemon.post("/runs/nap/resume", &json!({})).error(409);
    said.add("POST /runs/nap/resume (cancelled)", &error);
    said.check("api-errors.txt");
}
