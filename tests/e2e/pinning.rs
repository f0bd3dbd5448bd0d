//! Exact-code pinning: a run keeps the component bytes it started with when
//! the plugin file is replaced or deleted, across processes.

use serde_json::{Value, json};

use crate::fixtures::{Env, file_digest, guest};

/// `nap` sleeps on its first call and counts when it wakes; `after` counts.
const NAP: &str = r#"
name = "nap"
start = "nap"

[nodes.nap]
plugin = "counter"
config = { mode = "sleep", sleep_ms = 300 }
next = "after"

[nodes.after]
plugin = "counter"
next = "end"
"#;

/// Run `thread` until it parks in its first node's sleep (exit code 3).
fn park(env: &Env, workflow: &str, thread: &str, more: &[&str]) {
    let mut args = vec!["run", workflow, "--thread", thread];
    args.extend(more);
    env.exits(3, &args);
    assert_eq!(env.status(thread)["status"], "sleeping");
}

fn digests(env: &Env, thread: &str) -> Vec<Value> {
    env.history(thread)
        .iter()
        .map(|checkpoint| checkpoint["component_digest"].clone())
        .collect()
}

#[test]
fn sleeping_runs_keep_the_replaced_plugin_and_new_runs_use_the_new_one() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("nap.toml", NAP);
    let old = file_digest(&guest("counter"));
    let threads: Vec<String> = (0..10).map(|i| format!("nap-{i}")).collect();
    for thread in &threads {
        park(&env, &workflow, thread, &[]);
    }

    // Replace the plugin with a component that does something else.
    env.add_plugin("counter", &guest("echo"));
    let new = file_digest(&guest("echo"));
    assert_ne!(old, new);

    for thread in &threads {
        env.ok(&["resume", thread, "--wait"]);
        assert_eq!(env.status(thread)["status"], "completed");
        // The counter ran every step: the echo node would have written `seen`.
        let state = env.state(thread);
        assert_eq!(state["count"], 2, "{thread}: {state}");
        assert!(state.get("seen").is_none(), "{thread}: {state}");
        assert_eq!(digests(&env, thread), vec![old.clone(); 3], "{thread}");
    }

    park(&env, &workflow, "fresh", &[]);
    env.ok(&["resume", "fresh", "--wait"]);
    let state = env.state("fresh");
    assert!(
        state.get("seen").is_some(),
        "the new run uses echo: {state}"
    );
    assert_eq!(digests(&env, "fresh"), vec![new.clone(); 3]);
}

#[test]
fn a_parked_run_completes_after_its_plugin_file_and_compiled_code_are_deleted() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("nap.toml", NAP);
    let cache = env.path().join("own-cache");
    let cache_arg = cache.display().to_string();
    park(&env, &workflow, "orphan", &["--cache", &cache_arg]);

    std::fs::remove_file(env.plugins().join("counter.wasm")).unwrap();
    // Also its compiled code, so that the bytes must come from the database.
    std::fs::remove_dir_all(&cache).unwrap();

    env.ok(&["resume", "orphan", "--wait", "--cache", &cache_arg]);
    assert_eq!(env.status("orphan")["status"], "completed");
    assert_eq!(env.state("orphan")["count"], json!(2));
    assert_eq!(
        digests(&env, "orphan"),
        vec![file_digest(&guest("counter")); 3]
    );
}

#[test]
fn a_daemon_restarted_after_the_plugin_file_is_deleted_still_completes_the_run() {
    let env = Env::new(&["counter"]);
    let nap = NAP.replace("sleep_ms = 300", "sleep_ms = 1500");
    let workflow = env.daemon_workflow("nap", &nap);
    let mut first = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "kept"]);
    env.wait_status("kept", "asleep", |s| s["status"] == "sleeping");
    first.kill();

    std::fs::remove_file(env.plugins().join("counter.wasm")).unwrap();
    let second = env.serve(&["--workers", "2"]);
    let done = second.wait_run("kept", "settled", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(env.state("kept")["count"], json!(2));
    assert_eq!(
        digests(&env, "kept"),
        vec![file_digest(&guest("counter")); 3]
    );
}
