//! Runs that go right: the chain, the loop, what a node sees.

use serde_json::{Value, json};

use crate::fixtures::{Env, file_digest, golden, guest};

#[test]
fn chain_runs_to_ten_with_one_checkpoint_per_node() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "job-1",
        "--input",
        r#"{"count":0}"#,
    ]);

    let status = env.status("job-1");
    assert_eq!(status["thread"], "job-1");
    assert_eq!(status["workflow"], "chain");
    assert_eq!(status["status"], "completed");
    assert_eq!(status["step"], 10);
    assert_eq!(status["next"], json!([]));
    assert_eq!(status["error"], Value::Null);

    assert_eq!(env.state("job-1"), json!({"count": 10}));

    let history = env.history("job-1");
    assert_eq!(history.len(), 10, "one checkpoint per node: {history:?}");
    let counter_digest = file_digest(&guest("counter"));
    for (i, checkpoint) in history.iter().enumerate() {
        // Newest first: step 10 (n10) down to step 1 (n1).
        let step = 10 - i as u64;
        assert_eq!(checkpoint["step"], step);
        assert_eq!(checkpoint["node"], format!("n{step}"));
        assert_eq!(checkpoint["state"], json!({"count": step}));
        assert_eq!(checkpoint["component_digest"], counter_digest);
        assert!(
            checkpoint["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        let next = if step == 10 {
            json!([])
        } else {
            json!([format!("n{}", step + 1)])
        };
        assert_eq!(checkpoint["next"], next);
    }
}

#[test]
fn conditional_loop_routes_with_goto_until_done() {
    let env = Env::new(&["counter", "router"]);
    let workflow = env.example_workflow("loop.toml");
    env.ok(&["run", &workflow, "--thread", "loop-1"]);
    let status = env.status("loop-1");
    assert_eq!(status["status"], "completed", "{status}");
    let state = env.state("loop-1");
    let count = state["count"].as_i64().expect("count is a number");
    let history = env.history("loop-1");
    // Every pass is one `inc` step and one `check` step.
    assert_eq!(history.len() as i64, 2 * count, "{history:?}");
    assert_eq!(history[0]["node"], "check");
    assert_eq!(history[0]["next"], json!([]));
}

#[test]
fn node_sees_its_context_and_its_logs_are_kept() {
    let env = Env::new(&["counter", "echo"]);
    let workflow = env.workflow(
        "ctx.toml",
        r#"
name = "ctx"
start = "first"
[nodes.first]
plugin = "counter"
next = "look"
[nodes.look]
plugin = "echo"
config = { colour = "blue", n = 3 }
next = "end"
"#,
    );
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "ctx-1",
        "--input",
        r#"{"count":41,"name":"Zoë 🚀"}"#,
    ]);
    let state = env.state("ctx-1");
    assert_eq!(state["count"], 42);
    assert_eq!(state["name"], "Zoë 🚀");
    let seen = &state["seen"];
    assert_eq!(seen["thread"], "ctx-1");
    assert_eq!(seen["node"], "look");
    assert_eq!(seen["step"], 2);
    assert_eq!(seen["attempt"], 1);
    assert_eq!(seen["config"], json!({"colour": "blue", "n": 3}));
    assert_eq!(seen["resume"], Value::Null);
    assert_eq!(seen["idempotency_key"], "ctx-1/2/look");

    let logs = Value::Array(env.logs("ctx-1"));
    let echo_levels: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["node"] == "look")
        .filter_map(|line| line["level"].as_str())
        .collect();
    for level in ["trace", "debug", "info", "warn", "error"] {
        assert!(
            echo_levels.contains(&level),
            "no {level} line from echo: {logs}"
        );
    }
}

#[test]
fn run_without_thread_makes_up_an_id_and_prints_it() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let output = env.run(&["run", &workflow, "--json"]);
    assert!(output.status.success());
    let status: Value = serde_json::from_slice(&output.stdout).expect("status JSON");
    let thread = status["thread"].as_str().expect("thread id").to_string();
    assert!(!thread.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&thread), "the id is printed: {stderr}");
    assert_eq!(env.status(&thread)["status"], "completed");
}

#[test]
fn compiled_components_are_cached_by_digest() {
    let env = Env::new(&["counter"]);
    let cache = env.path().join("own-cache");
    let cache_arg = cache.display().to_string();
    env.ok(&["plugins", "--cache", &cache_arg]);
    // The compiled code (and, beside it, what describe() said).
    let entries: Vec<String> = std::fs::read_dir(&cache)
        .expect("the cache folder exists after loading a plugin")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".cwasm"))
        .collect();
    let hex = file_digest(&guest("counter"))
        .trim_start_matches("sha256:")
        .to_string();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with(&hex), "{entries:?}");
    // A second start loads the cached code and still works.
    let plugins = env.json(&["plugins", "--cache", &cache_arg, "--json"]);
    assert_eq!(plugins[0]["ok"], true);
}

#[test]
fn state_after_any_step_is_whole_and_a_large_shared_value_is_stored_once() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let document = "d".repeat(20_000);
    let input = json!({"count": 0, "document": document}).to_string();
    for thread in ["doc-1", "doc-2"] {
        env.ok(&["run", &workflow, "--thread", thread, "--input", &input]);
    }

    for step in [0_u64, 4, 10] {
        let step_text = step.to_string();
        let state: Value =
            serde_json::from_str(&env.ok(&["state", "doc-1", "--step", &step_text, "--json"]))
                .unwrap();
        assert_eq!(
            state,
            json!({"count": step, "document": document}),
            "step {step}"
        );
    }
    let err = env.fails(&["state", "doc-1", "--step", "11"]);
    golden("state-step-too-far.txt", &err);
    let history = env.history("doc-2");
    assert!(
        history
            .iter()
            .all(|c| c["state"]["document"] == json!(document))
    );

    // Each step wrote `count` only, and both runs share one copy of the document.
    let rows = env.sql_number("SELECT COUNT(*) FROM state_writes WHERE step > 0");
    let blobs = env.sql_number("SELECT COUNT(*) FROM blobs");
    assert_eq!((rows, blobs), (Some(20), Some(1)));
}
