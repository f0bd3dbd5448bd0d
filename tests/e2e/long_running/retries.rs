//! Retries: retryable failures and traps are retried with backoff, fatal
//! ones fail at once, and resuming a failed run replays only the failed node.

use serde_json::{Value, json};

use super::{COMPLETED, FAILED, PARKED, created_at, failing, log_attempts, pairs, steps};
use crate::fixtures::{Env, Messages, parse_time};

#[test]
fn a_daemon_retries_a_retryable_failure_until_it_recovers() {
    let env = Env::new(&["fail"]);
    let workflow = env.daemon_workflow(
        "flaky",
        &failing(
            r#"{ kind = "retryable", message = "flaky", attempts = 2 }"#,
            r#"{ attempts = 3, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let _daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "flaky"]);
    let done = env.wait_status("flaky", "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(env.state("flaky"), json!({"recovered_at": 3}));
    assert_eq!(steps(&env.history("flaky")), pairs(&[(1, "f")]));
    let logs = env.logs("flaky");
    assert_eq!(
        log_attempts(&logs, "f", Some("warn")),
        vec![1, 2],
        "{logs:?}"
    );
    assert_eq!(log_attempts(&logs, "f", Some("info")), vec![3], "{logs:?}");
}

#[test]
fn a_fatal_failure_fails_at_once_despite_a_retry_policy() {
    let env = Env::new(&["fail"]);
    let workflow = env.workflow(
        "fatal.toml",
        &failing(
            r#"{ kind = "fatal", message = "boom" }"#,
            r#"{ attempts = 3, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let stderr = env.exits(FAILED, &["run", &workflow, "--thread", "fatal"]);
    let mut said = Messages::new();
    said.add("savepoint run fatal.toml --thread fatal", &stderr);
    let status = env.status("fatal");
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["attempt"], 1, "{status}");
    assert_eq!(status["error_node"], "f", "{status}");
    said.add(
        "status: error",
        status["error"].as_str().unwrap_or_default(),
    );
    said.check("fatal-despite-retry.txt");
    assert_eq!(status["wake_at"], Value::Null, "{status}");
    assert_eq!(log_attempts(&env.logs("fatal"), "f", None), vec![1]);
}

#[test]
fn a_daemon_fails_the_run_when_the_retry_budget_is_spent() {
    let env = Env::new(&["fail"]);
    let workflow = env.daemon_workflow(
        "hopeless",
        &failing(
            r#"{ kind = "retryable", message = "still down" }"#,
            r#"{ attempts = 2, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let _daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "hopeless"]);
    let done = env.wait_status("hopeless", "failed", |s| {
        s["status"] == "failed" || s["status"] == "completed"
    });
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["error_node"], "f", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("still down"),
        "{done}"
    );
    assert_eq!(
        log_attempts(&env.logs("hopeless"), "f", Some("warn")),
        vec![1, 2]
    );
    assert!(env.history("hopeless").is_empty());
}

#[test]
fn a_foreground_run_parks_on_a_retryable_failure_and_resume_retries() {
    let env = Env::new(&["fail"]);
    let workflow = env.workflow(
        "flaky.toml",
        &failing(
            r#"{ kind = "retryable", message = "flaky", attempts = 1 }"#,
            r#"{ attempts = 2, backoff = "fixed", initial = "200ms" }"#,
        ),
    );
    let stderr = env.exits(PARKED, &["run", &workflow, "--thread", "flaky"]);
    let mut said = Messages::new();
    said.add("savepoint run flaky.toml --thread flaky", &stderr);
    let parked = env.status("flaky");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert_eq!(parked["attempt"], 1, "{parked}");
    assert_eq!(parked["error_node"], "f", "{parked}");
    said.add(
        "status: error",
        parked["error"].as_str().unwrap_or_default(),
    );
    said.check("retry-parks-foreground.txt");
    let retry_at = parked["wake_at"]
        .as_str()
        .unwrap_or_else(|| panic!("a retrying run has wake_at: {parked}"))
        .to_string();

    env.exits(COMPLETED, &["resume", "flaky"]);
    assert_eq!(env.state("flaky"), json!({"recovered_at": 2}));
    let history = env.history("flaky");
    let ran = created_at(&history, 1);
    assert!(ran >= retry_at, "retried at {ran}, before {retry_at}");
    let done = env.status("flaky");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
}

#[test]
fn resuming_a_failed_run_replays_only_the_failed_node() {
    let env = Env::new(&["counter", "fail"]);
    let workflow = env.workflow(
        "replay.toml",
        r#"
name = "replay"
start = "a"
[state]
trace = "append"
[nodes.a]
plugin = "counter"
config = { trace = true }
next = "b"
[nodes.b]
plugin = "counter"
config = { trace = true }
next = "f"
[nodes.f]
plugin = "fail"
config = { kind = "fatal", message = "fix me", attempts = 1 }
next = "c"
[nodes.c]
plugin = "counter"
config = { trace = true }
next = "end"
"#,
    );
    env.exits(FAILED, &["run", &workflow, "--thread", "replay"]);
    let failed = env.status("replay");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["step"], 2, "{failed}");
    assert_eq!(failed["next"], json!(["f"]), "{failed}");
    let before = env.history("replay");
    assert_eq!(steps(&before), pairs(&[(1, "a"), (2, "b")]));

    let stderr = env.exits(COMPLETED, &["resume", "replay"]);
    let resumed: Vec<&str> = stderr.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(resumed.len(), 2, "only f and c ran: {stderr}");
    assert!(resumed[0].contains(" f "), "{stderr}");

    let state = env.state("replay");
    assert_eq!(state["trace"], json!(["a", "b", "c"]), "{state}");
    assert_eq!(state["count"], 3, "{state}");
    assert_eq!(state["recovered_at"], 2, "{state}");
    let after = env.history("replay");
    assert_eq!(
        steps(&after),
        pairs(&[(1, "a"), (2, "b"), (3, "f"), (4, "c")])
    );
    // The checkpoints before the failure are the same rows, untouched.
    assert_eq!(&after[2..], &before[..], "history before the failed node");
    let logs = env.logs("replay");
    for node in ["a", "b", "c"] {
        assert_eq!(
            log_attempts(&logs, node, Some("info")),
            vec![1],
            "{node} ran once: {logs:?}"
        );
    }
}

#[test]
fn exponential_backoff_doubles_the_wait_up_to_max() {
    let env = Env::new(&["fail"]);
    // The workflow-wide retry applies to a node without its own.
    let workflow = env.workflow(
        "backoff.toml",
        r#"
name = "backoff"
start = "f"
retry = { attempts = 4, backoff = "exponential", initial = "200ms", max = "600ms", jitter = 0.0 }
[nodes.f]
plugin = "fail"
config = { kind = "retryable", message = "down" }
next = "end"
"#,
    );
    let wait = |status: &Value| {
        parse_time(status["wake_at"].as_str().unwrap())
            - parse_time(status["updated_at"].as_str().unwrap())
    };
    env.exits(PARKED, &["run", &workflow, "--thread", "backoff"]);
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        let status = env.status("backoff");
        assert_eq!(status["status"], "retrying", "{status}");
        assert_eq!(status["attempt"], attempt, "{status}");
        waits.push(wait(&status));
        let expected = if attempt == 3 { FAILED } else { PARKED };
        env.exits(expected, &["resume", "backoff"]);
    }
    // 200 ms, twice that, then capped at max (not 800 ms).
    for (wait, expected) in waits.iter().zip([200, 400, 600]) {
        assert!(
            (expected - 150..=expected + 10).contains(wait),
            "waits {waits:?}, expected about [200, 400, 600] ms"
        );
    }
    let failed = env.status("backoff");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 4, "{failed}");
}

#[test]
fn a_trap_is_retried_like_a_retryable_failure() {
    let env = Env::new(&["trap"]);
    let workflow = env.workflow(
        "trap.toml",
        "name = \"trap\"\nstart = \"t\"\n[nodes.t]\nplugin = \"trap\"\n\
         retry = { attempts = 2, backoff = \"fixed\", initial = \"100ms\" }\nnext = \"end\"\n",
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "trap"]);
    let parked = env.status("trap");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert!(
        parked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("node \"t\""),
        "{parked}"
    );
    env.exits(FAILED, &["resume", "trap"]);
    let failed = env.status("trap");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 2, "{failed}");
}
