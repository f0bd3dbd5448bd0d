//! The HTTP API of a real `savepoint serve`, over a plain TCP socket: every
//! route's happy path, and the JSON errors of bad requests.

use serde_json::{Value, json};

use crate::fixtures::{Daemon, Env, http};

const ASK: &str = r#"
name = "ask"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" } }
next = "end"
"#;

const NAP: &str = r#"
name = "nap"
start = "nap"
[nodes.nap]
plugin = "echo"
config = { sleep_ms = 60000 }
next = "end"
"#;

const BUSY: &str = r#"
name = "busy"
start = "hot"
[nodes.hot]
plugin = "spin"
next = "end"
"#;

/// A daemon whose workflows folder holds `chain`, `ask`, `nap` and `busy`.
fn daemon(env: &Env) -> Daemon {
    let chain =
        std::fs::read_to_string(crate::fixtures::repo_root().join("examples/workflows/chain.toml"))
            .unwrap();
    env.daemon_workflow("chain", &chain);
    env.daemon_workflow("ask", ASK);
    env.daemon_workflow("nap", NAP);
    env.daemon_workflow("busy", BUSY);
    env.serve(&["--workers", "4"])
}

fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("not an array: {other}"),
    }
}

fn names(items: &[Value], key: &str) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn every_route_answers_on_a_real_daemon() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);

    let health = daemon.get("/health");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json(), json!({"status": "ok"}));

    let workflows = array(daemon.get("/workflows").json());
    assert_eq!(names(&workflows, "name"), ["ask", "busy", "chain", "nap"]);
    assert!(workflows.iter().all(|w| w["ok"] == true), "{workflows:?}");
    let plugins = array(daemon.get("/plugins").json());
    assert_eq!(names(&plugins, "name"), ["counter", "echo", "spin"]);
    assert!(plugins.iter().all(|p| p["ok"] == true), "{plugins:?}");

    // POST /runs: 201 and the new run's status.
    let created = daemon.post(
        "/runs",
        &json!({"workflow": "chain", "thread": "api-1", "input": {"count": 5}}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let created = created.json();
    assert_eq!(created["thread"], "api-1", "{created}");
    assert_eq!(created["workflow"], "chain", "{created}");
    assert_eq!(created["status"], "pending", "{created}");
    assert_eq!(created["step"], 0, "{created}");

    let done = daemon.wait_run("api-1", "completed", |s| s["status"] == "completed");
    assert_eq!(done["step"], 10, "{done}");
    let state = daemon.get("/runs/api-1/state");
    assert_eq!(state.status, 200, "{state:?}");
    assert_eq!(state.json(), json!({"count": 15}));
    let history = array(daemon.get("/runs/api-1/history").json());
    let steps: Vec<u64> = history
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=10).rev().collect::<Vec<u64>>());
    assert_eq!(history[0]["node"], "n10");
    assert_eq!(history[0]["state"], json!({"count": 15}));
    // The API and the CLI read the same database.
    assert_eq!(env.state("api-1"), json!({"count": 15}));

    // Without a thread, the daemon picks one.
    let anonymous = daemon.post("/runs", &json!({"workflow": "chain"}));
    assert_eq!(anonymous.status, 201, "{anonymous:?}");
    let thread = anonymous.json()["thread"].as_str().unwrap().to_string();
    assert!(!thread.is_empty());
    daemon.wait_run(&thread, "completed", |s| s["status"] == "completed");

    // An interrupt answered through the API.
    let asked = daemon.post("/runs", &json!({"workflow": "ask", "thread": "api-ask"}));
    assert_eq!(asked.status, 201, "{asked:?}");
    let waiting = daemon.wait_run("api-ask", "interrupted", |s| s["status"] == "interrupted");
    assert_eq!(
        waiting["waiting_for"],
        json!({"question": "ok?"}),
        "{waiting}"
    );
    let resumed = daemon.post(
        "/runs/api-ask/resume",
        &json!({"input": {"approved": true}}),
    );
    assert_eq!(resumed.status, 200, "{resumed:?}");
    daemon.wait_run("api-ask", "completed", |s| s["status"] == "completed");
    let seen = &daemon.get("/runs/api-ask/state").json()["seen"];
    assert_eq!(seen["resume"], json!({"approved": true}), "{seen}");

    // GET /runs lists them all, or those with a status.
    let all = array(daemon.get("/runs").json());
    assert_eq!(names(&all, "thread"), {
        let mut expected = vec!["api-1".to_string(), "api-ask".to_string(), thread];
        expected.sort();
        expected
    });
    let completed = array(daemon.get("/runs?status=completed").json());
    assert_eq!(completed.len(), 3, "{completed:?}");
    let failed = array(daemon.get("/runs?status=failed").json());
    assert!(failed.is_empty(), "{failed:?}");

    // Cancel a busy run through the API; its history is kept.
    let busy = daemon.post("/runs", &json!({"workflow": "busy", "thread": "api-busy"}));
    assert_eq!(busy.status, 201, "{busy:?}");
    daemon.wait_run("api-busy", "running", |s| {
        s["status"] == "running" && !s["lease_owner"].is_null()
    });
    let cancelled = http(daemon.addr(), "POST", "/runs/api-busy/cancel", None);
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.json()["status"], "cancelled");
    let released = daemon.wait_run("api-busy", "released", |s| s["lease_owner"].is_null());
    assert_eq!(released["status"], "cancelled", "{released}");
    let running = array(daemon.get("/runs?status=running").json());
    assert!(running.is_empty(), "{running:?}");
}

#[test]
fn bad_requests_get_json_errors() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    let done = daemon.post("/runs", &json!({"workflow": "chain", "thread": "done"}));
    assert_eq!(done.status, 201, "{done:?}");
    daemon.wait_run("done", "completed", |s| s["status"] == "completed");

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
        assert!(error.contains("nobody"), "{method} {path}: {error}");
    }
    let error = daemon.get("/nowhere").error(404);
    assert!(error.contains("/nowhere"), "{error}");

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
    assert!(error.contains("not valid JSON"), "{error}");
    let error = post("[\"chain\"]").error(400);
    assert!(error.contains("JSON object"), "{error}");
    let error = post(r#"{"thread": "x"}"#).error(400);
    assert!(error.contains("missing field \"workflow\""), "{error}");
    let error = post(r#"{"workflow": 7}"#).error(400);
    assert!(error.contains("\"workflow\" must be a string"), "{error}");
    let error = post(r#"{"workflow": "chain", "input": [1]}"#).error(400);
    assert!(error.contains("\"input\" must be a JSON object"), "{error}");
    let error = post(r#"{"workflow": "chain", "colour": "red"}"#).error(400);
    assert!(error.contains("unknown field \"colour\""), "{error}");
    let error = post(r#"{"workflow": "../chain"}"#).error(400);
    assert!(error.contains("\"workflow\""), "{error}");
    let error = post(r#"{"workflow": "chain", "thread": "has space"}"#).error(400);
    assert!(error.contains("has space"), "{error}");
    let error = post("").error(400);
    assert!(error.contains("empty"), "{error}");
    let error = http(
        daemon.addr(),
        "POST",
        "/runs",
        Some(("text/plain", br#"{"workflow": "chain"}"#)),
    )
    .error(415);
    assert!(error.contains("application/json"), "{error}");
    let error = http(
        daemon.addr(),
        "POST",
        "/runs",
        Some(("", br#"{"workflow": "chain"}"#)),
    )
    .error(415);
    assert!(error.contains("Content-Type"), "{error}");
    // One byte over the 1 MiB limit (all of it is read, so the answer is not
    // lost to a reset connection).
    let mut big = vec![b' '; 1024 * 1024 + 1];
    big[0] = b'{';
    let error = http(
        daemon.addr(),
        "POST",
        "/runs",
        Some(("application/json", &big)),
    )
    .error(413);
    assert!(error.contains("1 MiB"), "{error}");

    // Unknown workflow, taken thread.
    let error = daemon
        .post("/runs", &json!({"workflow": "nope"}))
        .error(404);
    assert!(error.contains("no workflow \"nope\""), "{error}");
    let error = daemon
        .post("/runs", &json!({"workflow": "chain", "thread": "done"}))
        .error(409);
    assert!(error.contains("already exists"), "{error}");
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
        assert!(error.contains(method), "{method} {path}: {error}");
        assert!(response.header("allow").is_some(), "{response:?}");
    }

    // Bad query.
    let error = daemon.get("/runs?status=sideways").error(400);
    assert!(error.contains("sideways"), "{error}");
    let error = daemon.get("/runs?colour=red").error(400);
    assert!(error.contains("colour"), "{error}");

    // Resume and cancel of runs in no state for it: 409.
    let error = daemon
        .post("/runs/done/resume", &json!({"input": {"approved": true}}))
        .error(409);
    assert!(error.contains("completed"), "{error}");
    let error = daemon.post("/runs/done/cancel", &json!({})).error(409);
    assert!(error.contains("completed"), "{error}");

    let nap = daemon.post("/runs", &json!({"workflow": "nap", "thread": "nap"}));
    assert_eq!(nap.status, 201, "{nap:?}");
    daemon.wait_run("nap", "sleeping", |s| s["status"] == "sleeping");
    let error = daemon
        .post("/runs/nap/resume", &json!({"input": {"approved": true}}))
        .error(409);
    assert!(error.contains("not interrupted"), "{error}");
    assert_eq!(daemon.get("/runs/nap").json()["status"], "sleeping");

    let ask = daemon.post("/runs", &json!({"workflow": "ask", "thread": "ask"}));
    assert_eq!(ask.status, 201, "{ask:?}");
    daemon.wait_run("ask", "interrupted", |s| s["status"] == "interrupted");
    let error = daemon.post("/runs/ask/resume", &json!({})).error(409);
    assert!(error.contains("ok?"), "{error}");
    let error = daemon
        .post("/runs/ask/resume", &json!({"answer": true}))
        .error(400);
    assert!(error.contains("unknown field \"answer\""), "{error}");
    assert_eq!(daemon.get("/runs/ask").json()["status"], "interrupted");

    // A cancelled run stays cancelled.
    let cancelled = daemon.post("/runs/nap/cancel", &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    assert_eq!(cancelled.json()["status"], "cancelled");
    let error = daemon.post("/runs/nap/cancel", &json!({})).error(409);
    assert!(error.contains("cancelled"), "{error}");
    let error = daemon.post("/runs/nap/resume", &json!({})).error(409);
    assert!(error.contains("cancelled"), "{error}");
}

#[test]
fn resume_through_the_api_replays_a_failed_run_and_answers_before_a_deadline() {
    let env = Env::new(&["counter", "echo", "fail"]);
    env.daemon_workflow(
        "fragile",
        r#"
name = "fragile"
start = "warm"
[nodes.warm]
plugin = "counter"
next = "f"
[nodes.f]
plugin = "fail"
config = { kind = "fatal", message = "fix me", attempts = 1 }
next = "end"
"#,
    );
    env.daemon_workflow(
        "patient",
        r#"
name = "patient"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" }, interrupt_timeout_ms = 60000 }
next = "end"
"#,
    );
    let daemon = env.serve(&["--workers", "2"]);

    let created = daemon.post(
        "/runs",
        &json!({"workflow": "fragile", "thread": "fragile"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let failed = daemon.wait_run("fragile", "failed", |s| {
        s["status"] == "failed" || s["status"] == "completed"
    });
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error_node"], "f", "{failed}");
    let before = daemon.get("/runs/fragile/history").json();
    let resumed = daemon.post("/runs/fragile/resume", &json!({}));
    assert_eq!(resumed.status, 200, "{resumed:?}");
    daemon.wait_run("fragile", "completed", |s| s["status"] == "completed");
    assert_eq!(
        daemon.get("/runs/fragile/state").json(),
        json!({"count": 1, "recovered_at": 2})
    );
    let after = array(daemon.get("/runs/fragile/history").json());
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(
        after[1], before[0],
        "the checkpoint before the failure is kept"
    );

    let created = daemon.post(
        "/runs",
        &json!({"workflow": "patient", "thread": "patient"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let waiting = daemon.wait_run("patient", "interrupted", |s| s["status"] == "interrupted");
    assert!(waiting["wake_at"].is_string(), "a deadline: {waiting}");
    let answered = daemon.post("/runs/patient/resume", &json!({"input": "yes"}));
    assert_eq!(answered.status, 200, "{answered:?}");
    daemon.wait_run("patient", "completed", |s| s["status"] == "completed");
    let seen = &daemon.get("/runs/patient/state").json()["seen"];
    assert_eq!(seen["resume"], "yes", "{seen}");
    assert_eq!(seen["interrupt_timed_out"], false, "{seen}");
}
