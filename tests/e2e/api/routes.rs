//! Every route's happy path on a real daemon.

use serde_json::json;

use super::{array, daemon, names};
use crate::fixtures::{Env, http};

#[test]
fn every_route_answers_on_a_real_daemon() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);

    let health = daemon.get("/health");
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(health.json()["status"], "ok", "{health:?}");

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
    let history = array(daemon.get("/runs/api-1/history?states=true").json()["entries"].clone());
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
    let all = array(daemon.get("/runs").json()["runs"].clone());
    assert_eq!(names(&all, "thread"), {
        let mut expected = vec!["api-1".to_string(), "api-ask".to_string(), thread];
        expected.sort();
        expected
    });
    let completed = array(daemon.get("/runs?status=completed").json()["runs"].clone());
    assert_eq!(completed.len(), 3, "{completed:?}");
    let failed = array(daemon.get("/runs?status=failed").json()["runs"].clone());
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
    let running = array(daemon.get("/runs?status=running").json()["runs"].clone());
    assert!(running.is_empty(), "{running:?}");
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
    let before = daemon.get("/runs/fragile/history").json()["entries"].clone();
    let resumed = daemon.post("/runs/fragile/resume", &json!({}));
    assert_eq!(resumed.status, 200, "{resumed:?}");
    daemon.wait_run("fragile", "completed", |s| s["status"] == "completed");
    assert_eq!(
        daemon.get("/runs/fragile/state").json(),
        json!({"count": 1, "recovered_at": 2})
    );
    let after = array(daemon.get("/runs/fragile/history").json()["entries"].clone());
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
