//! `GET /metrics` of a real daemon after it ran workflows: steps by node, failed
//! attempts, node call and commit timings, compiles, and runs by status, as Prometheus
//! reads them (the text format, open without the token).

use serde_json::json;

use crate::fixtures::{Env, repo_root};

const FLAKY: &str = r#"
name = "flaky"
start = "f"
[nodes.f]
plugin = "fail"
config = { kind = "retryable", message = "flaky", attempts = 1 }
retry = { attempts = 3, backoff = "fixed", initial = "10ms" }
next = "end"
"#;

const DOOMED: &str = r#"
name = "doomed"
start = "f"
[nodes.f]
plugin = "fail"
config = { kind = "fatal", message = "no", attempts = 5 }
next = "end"
"#;

#[test]
fn metrics_count_what_the_daemon_did() {
    let env = Env::new(&["counter", "fail"]);
    let chain = std::fs::read_to_string(repo_root().join("examples/workflows/chain.toml")).unwrap();
    env.daemon_workflow("chain", &chain);
    env.daemon_workflow("flaky", FLAKY);
    env.daemon_workflow("doomed", DOOMED);
    // A compile cache of its own: each component is compiled once, by this daemon.
    let daemon = env.serve_with(&["--workers", "4"], |command| {
        command.env("SAVEPOINT_CACHE", "own-cache");
    });
    for (workflow, thread) in [("chain", "c-1"), ("flaky", "f-1"), ("doomed", "d-1")] {
        let created = daemon.post("/runs", &json!({"workflow": workflow, "thread": thread}));
        assert_eq!(created.status, 201, "{created:?}");
    }
    for (thread, status) in [
        ("c-1", "completed"),
        ("f-1", "completed"),
        ("d-1", "failed"),
    ] {
        let done = daemon.wait_run(thread, status, |run| run["status"] == status);
        assert_eq!(done["status"], status, "{done}");
    }

    let scrape = daemon.get("/metrics");
    assert_eq!(scrape.status, 200, "{scrape:?}");
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = &scrape.body;
    let value = |sample: &str| -> f64 {
        let line = text
            .lines()
            .find(|line| {
                line.rsplit_once(' ')
                    .is_some_and(|(name, _)| name == sample)
            })
            .unwrap_or_else(|| panic!("no sample {sample} in:\n{text}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    for n in 1..=10 {
        let labels = format!(r#"{{workflow="chain",node="n{n}"}}"#);
        assert_eq!(
            value(&format!("savepoint_steps_committed_total{labels}")),
            1.0
        );
        assert_eq!(
            value(&format!("savepoint_attempts_failed_total{labels}")),
            0.0
        );
        let calls = format!("savepoint_node_call_duration_seconds_count{labels}");
        assert_eq!(value(&calls), 1.0);
    }
    let flaky = r#"{workflow="flaky",node="f"}"#;
    assert_eq!(
        value(&format!("savepoint_steps_committed_total{flaky}")),
        1.0
    );
    assert_eq!(
        value(&format!("savepoint_attempts_failed_total{flaky}")),
        1.0
    );
    assert_eq!(
        value(&format!(
            "savepoint_node_call_duration_seconds_count{flaky}"
        )),
        2.0,
        "the failed attempt's call is timed too"
    );
    let doomed = r#"{workflow="doomed",node="f"}"#;
    assert_eq!(
        value(&format!("savepoint_steps_committed_total{doomed}")),
        0.0
    );
    assert_eq!(
        value(&format!("savepoint_attempts_failed_total{doomed}")),
        1.0
    );
    // Ten chain steps and the flaky one committed; failures commit no checkpoint.
    assert_eq!(value("savepoint_commit_duration_seconds_count"), 11.0);
    assert_eq!(
        value(r#"savepoint_commit_duration_seconds_bucket{le="+Inf"}"#),
        11.0
    );
    // The counter and fail components, each compiled once.
    assert_eq!(
        value("savepoint_component_compile_duration_seconds_count"),
        2.0
    );
    assert!(value("savepoint_component_compile_duration_seconds_sum") > 0.0);
    assert_eq!(value("savepoint_lease_takeovers_total"), 0.0);
    assert_eq!(value(r#"savepoint_runs{status="completed"}"#), 2.0);
    assert_eq!(value(r#"savepoint_runs{status="failed"}"#), 1.0);
    assert_eq!(value(r#"savepoint_runs{status="pending"}"#), 0.0);
    assert_eq!(value("savepoint_runs_parked"), 0.0);
    assert_eq!(value("savepoint_runs_due_waiting"), 0.0);
    for family in [
        "# TYPE savepoint_steps_committed_total counter",
        "# TYPE savepoint_node_call_duration_seconds histogram",
        "# TYPE savepoint_runs gauge",
    ] {
        assert!(text.lines().any(|line| line == family), "{family}:\n{text}");
    }
}
