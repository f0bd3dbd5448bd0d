//! Sub-workflows: a node that runs another workflow file as a child run. `validate`
//! (and `run`, before the run exists) refuses a child file that is missing, invalid, or
//! that includes its parent again.

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages};

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A one-node workflow named `name` whose node runs `child` as a sub-workflow.
fn includes(name: &str, child: &str) -> String {
    format!(
        "name = \"{name}\"\nstart = \"sub\"\n\n[nodes.sub]\nworkflow = \"{child}\"\nnext = \"end\"\n"
    )
}

#[test]
fn validate_refuses_a_child_that_includes_itself_a_cycle_and_a_missing_file() {
    let env = Env::new(&["counter"]);
    std::fs::create_dir_all(env.path().join("lib")).unwrap();
    let cases = [
        ("self.toml", includes("self", "self.toml")),
        ("parent.toml", includes("parent", "lib/chain.toml")),
        ("lib/chain.toml", includes("chain", "../parent.toml")),
        ("missing.toml", includes("missing", "nowhere.toml")),
        ("broken.toml", includes("broken", "lib/broken.toml")),
        (
            "lib/broken.toml",
            "name = \"b\"\nstart = \"a\"\n[nodes.a]\nplugin = \"gone\"\nnext = \"end\"\n".into(),
        ),
    ];
    for (file, text) in &cases {
        env.workflow(file, text);
    }
    let mut messages = Messages::new();
    for file in ["self.toml", "parent.toml", "missing.toml", "broken.toml"] {
        messages.add(
            &format!("validate {file}"),
            &env.exits(2, &["validate", file]),
        );
        let stderr = env.fails(&["run", file, "--thread", "never"]);
        messages.add(&format!("run {file}"), &stderr);
    }
    messages.check("children-validate.txt");
    // Not one of them created a run.
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs["runs"], json!([]), "{runs}");
}

#[test]
fn the_parent_example_runs_chain_as_a_child_then_counts_to_eleven() {
    let env = Env::new(&["counter"]);
    env.example_workflow("chain.toml");
    let parent = env.example_workflow("parent.toml");
    let stdout = env.ok(&["run", &parent, "--thread", "p", "--input", r#"{"count":0}"#]);
    assert_eq!(parse(&stdout), json!({"count": 11}));
    assert_eq!(env.status("p")["status"], "completed");
    let child = env.status("p/1/chain");
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["step"], 10);
    assert_eq!(env.state("p/1/chain"), json!({"count": 10}));
    // The parent's step 1 is the child's final state; step 2 the counter.
    let steps: Vec<(u64, String)> = env
        .history("p")
        .iter()
        .map(|c| {
            (
                c["step"].as_u64().unwrap(),
                c["node"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(steps, [(2, "bump".to_owned()), (1, "chain".to_owned())]);
}

/// A parent whose node `sub` runs `flaky.toml`, whose node fails its first `fails`
/// attempts (and the child has no retry of its own); `retry` is the parent node's.
fn flaky_parent(env: &Env, retry: &str) -> String {
    env.workflow(
        "flaky.toml",
        "name = \"flaky\"\nstart = \"f\"\n[nodes.f]\nplugin = \"fail\"\n\
         config = { kind = \"retryable\", message = \"not yet\", attempts = 1 }\nnext = \"end\"\n",
    );
    env.workflow(
        "parent.toml",
        &format!(
            "name = \"parent\"\nstart = \"sub\"\n[nodes.sub]\nworkflow = \"flaky.toml\"\n{retry}\n\
             next = \"end\"\n"
        ),
    )
}

#[test]
fn a_failed_child_is_resumed_by_the_parent_s_retry() {
    let env = Env::new(&["fail"]);
    let parent = flaky_parent(&env, "retry = { attempts = 2, initial = \"10ms\" }");
    let stdout = env.ok(&["run", &parent, "--thread", "p", "--wait"]);
    assert_eq!(parse(&stdout), json!({"recovered_at": 2}));
    // One child, which failed once and was resumed from its last checkpoint.
    let children = env.json(&["runs", "--parent", "p", "--json"]);
    let threads: Vec<&str> = children["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["thread"].as_str().unwrap())
        .collect();
    assert_eq!(threads, ["p/1/sub"]);
    assert_eq!(env.status("p/1/sub")["status"], "completed");
    let events = env.json(&["events", "p", "--json"]);
    let failed: Vec<&Value> = events["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "attempt_failed")
        .collect();
    assert_eq!(failed.len(), 1, "the parent's step failed once: {events}");
}

#[test]
fn a_failed_child_without_a_retry_fails_the_parent_naming_it() {
    let env = Env::new(&["fail"]);
    let parent = flaky_parent(&env, "");
    let stderr = env.fails(&["run", &parent, "--thread", "p"]);
    let status = env.status("p");
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error_node"], "sub");
    let mut messages = Messages::new();
    messages.add("the parent's error", status["error"].as_str().unwrap());
    messages.add("run", &stderr);
    messages.check("children-failed.txt");
    assert_eq!(env.status("p/1/sub")["status"], "failed");
}

#[test]
fn cancel_of_a_parent_cancels_its_waiting_child() {
    let env = Env::new(&["counter", "approval"]);
    env.workflow(
        "ask.toml",
        "name = \"ask\"\nstart = \"review\"\n[nodes.review]\nplugin = \"approval\"\n\
         config = { question = \"ok?\" }\nroutes = [\"end\"]\n",
    );
    let parent = env.workflow("parent.toml", &includes("parent", "ask.toml"));
    // (It ends parked: its exit code says so.)
    env.run(&["run", &parent, "--thread", "p"]);
    assert_eq!(env.status("p")["status"], "waiting");
    assert_eq!(env.status("p/1/sub")["status"], "interrupted");
    env.ok(&["cancel", "p"]);
    assert_eq!(env.status("p")["status"], "cancelled");
    assert_eq!(env.status("p/1/sub")["status"], "cancelled");
}

/// `pre` (a counter), `sub` (runs `traced.toml`: five counters of `delay_ms` each that
/// trace their names), `post` (a counter): every execution that was committed is in the
/// state's traces.
fn traced_family(env: &Env, delay_ms: u64) -> String {
    let mut child =
        String::from("name = \"traced\"\nstart = \"n1\"\n[state]\ntrace = \"append\"\n");
    for i in 1..=5 {
        let next = if i == 5 {
            "end".to_owned()
        } else {
            format!("n{}", i + 1)
        };
        child.push_str(&format!(
            "[nodes.n{i}]\nplugin = \"counter\"\nconfig = {{ delay_ms = {delay_ms}, trace = true }}\n\
             next = \"{next}\"\n"
        ));
    }
    env.workflow("traced.toml", &child);
    env.workflow(
        "family.toml",
        "name = \"family\"\nstart = \"pre\"\n[state]\ntrace = \"append\"\n\
         [nodes.pre]\nplugin = \"counter\"\nconfig = { trace = true }\nnext = \"sub\"\n\
         [nodes.sub]\nworkflow = \"traced.toml\"\ninput = { count = \"count\" }\n\
         output = { count = \"count\", child_trace = \"trace\" }\nnext = \"post\"\n\
         [nodes.post]\nplugin = \"counter\"\nconfig = { trace = true }\nnext = \"end\"\n",
    )
}

/// Exactly one child, the right final states, and every step committed once.
fn check_family(env: &Env, thread: &str) {
    let status = env.status(thread);
    assert_eq!(status["status"], "completed", "{status}");
    let child = format!("{thread}/2/sub");
    let children = env.json(&["runs", "--parent", thread, "--json"]);
    let threads: Vec<&str> = children["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["thread"].as_str().unwrap())
        .collect();
    assert_eq!(threads, [child.as_str()], "one child: {children}");
    assert_eq!(
        env.state(thread),
        json!({"count": 7, "trace": ["pre", "post"], "child_trace": ["n1", "n2", "n3", "n4", "n5"]})
    );
    assert_eq!(
        env.state(&child),
        json!({"count": 6, "trace": ["n1", "n2", "n3", "n4", "n5"]})
    );
    for (run, steps) in [(thread, 3u64), (child.as_str(), 5)] {
        let history: Vec<u64> = env
            .history(run)
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect();
        assert_eq!(history, (1..=steps).rev().collect::<Vec<_>>(), "{run}");
    }
    // Each committed step of the child logged once: no node ran into the state twice.
    let logs = env.logs(&child);
    for step in 1..=5u64 {
        let lines = logs
            .iter()
            .filter(|l| l["step"] == step && l["level"] == "info")
            .count();
        assert_eq!(lines, 1, "child step {step} logged {lines} times: {logs:?}");
    }
}

/// SIGKILL `run family.toml` once it printed `kill_after` step lines (the parent's
/// and its child's), then go on with `resume` (or a `serve` daemon).
fn kill_family(kill_after: u64, restart: Restart) {
    let env = Env::new(&["counter"]);
    let family = traced_family(&env, 100);
    let thread = format!("family-{kill_after}");
    let args = [
        "run",
        &family,
        "--thread",
        &thread,
        "--input",
        r#"{"count":0}"#,
    ];
    let seen = env.sigkill_after(&args, |_, seen| seen >= kill_after);
    assert_eq!(seen, kill_after, "the run printed {kill_after} step lines");
    match restart {
        Restart::Resume => {
            env.ok(&["resume", &thread]);
        }
        Restart::Serve => {
            let _daemon = env.serve(&[]);
            env.wait_status(&thread, "completed", |s| s["status"] == "completed");
        }
    }
    check_family(&env, &thread);
}

#[derive(Debug, Clone, Copy)]
enum Restart {
    Resume,
    Serve,
}

#[test]
fn sigkill_of_a_parent_with_a_child_then_resume_loses_and_doubles_nothing() {
    // After `pre`; after the parent parked for its child; in the child; after the
    // child's last step; after the parent took the child's state.
    for kill_after in [1, 2, 4, 7, 8] {
        kill_family(kill_after, Restart::Resume);
    }
}

#[test]
fn sigkill_of_a_parent_with_a_child_then_serve_finishes_both() {
    // A point in the child's run or just after, different from one test run to the next.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    kill_family(3 + u64::from(nanos % 5), Restart::Serve);
}

#[test]
fn serve_runs_a_parent_and_its_child() {
    let env = Env::new(&["counter"]);
    let family = traced_family(&env, 0);
    env.ok(&[
        "start",
        &family,
        "--thread",
        "s",
        "--input",
        r#"{"count":0}"#,
    ]);
    let _daemon = env.serve(&[]);
    env.wait_status("s", "completed", |s| s["status"] == "completed");
    check_family(&env, "s");
    let status = env.status("s");
    assert_eq!(
        status["children"],
        json!([{"thread": "s/2/sub", "workflow": "traced", "status": "completed", "step": 5}])
    );
    assert_eq!(env.status("s/2/sub")["parent"], "s");
}

#[test]
fn a_replayed_step_makes_a_new_child_and_takes_its_result() {
    let env = Env::new(&["counter"]);
    let child = |by: u64| {
        format!(
            "name = \"one\"\nstart = \"n\"\n[nodes.n]\nplugin = \"counter\"\nconfig = {{ by = {by} }}\nnext = \"end\"\n"
        )
    };
    env.workflow("one.toml", &child(1));
    env.workflow("p.toml", &includes("p", "one.toml"));
    let stdout = env.ok(&[
        "run",
        "p.toml",
        "--thread",
        "r",
        "--input",
        r#"{"count":0}"#,
    ]);
    assert_eq!(parse(&stdout), json!({"count": 1}));
    // The child's file changes; a replay of step 1 with --upgrade runs the new file in
    // a child of its own, not the old child's result.
    env.workflow("one.toml", &child(100));
    let stdout = env.ok(&["resume", "r", "--from-step", "0", "--upgrade"]);
    assert_eq!(parse(&stdout), json!({"count": 100}));
    assert_eq!(env.state("r/1/sub"), json!({"count": 1}));
    assert_eq!(env.state("r/1/sub/replay-1"), json!({"count": 100}));
}

#[test]
fn an_id_without_thread_or_step_is_refused_naming_the_node() {
    let env = Env::new(&["counter"]);
    env.workflow(
        "one.toml",
        "name = \"one\"\nstart = \"n\"\n[nodes.n]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    env.workflow(
        "shared.toml",
        "name = \"shared\"\nstart = \"sub\"\n[nodes.sub]\nworkflow = \"one.toml\"\n\
         id = \"{thread}/the-child\"\nnext = \"end\"\n",
    );
    let stderr = env.exits(2, &["validate", "shared.toml"]);
    assert!(
        stderr.contains("node \"sub\" has id = \"{thread}/the-child\" without {step}"),
        "{stderr}"
    );
}
