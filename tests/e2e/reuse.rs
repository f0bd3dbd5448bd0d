//! Warm instances (`reuse = true`), the instance pool's fallback, and the
//! `describe()` cache.
//!
//! The `warm` guest counts the calls of its own instance: a loop of one node
//! sees 1, 2, 3... when the instance is kept warm, and always 1 when every
//! call gets a fresh instance. An instance whose call failed in any way is
//! dropped, so the attempt after it starts again at 1.

use std::os::unix::process::CommandExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::fixtures::{Env, Lang, lang_guest};

/// A loop of one `warm` node `w` that runs `loops` times, with `config` and
/// the node keys `extra` (e.g. `reuse = true`); `seen` collects the call
/// counts.
fn warm_loop(env: &Env, loops: u64, config: &str, extra: &str) -> String {
    env.workflow(
        "warm.toml",
        &format!(
            "name = \"warm\"\nstart = \"w\"\n[state]\nseen = \"append\"\n\
             [nodes.w]\nplugin = \"warm\"\nconfig = {{ loops = {loops}{config} }}\n\
             routes = [\"w\", \"end\"]\n{extra}\n"
        ),
    )
}

/// What the node printed on each call, in order.
fn printed(env: &Env, thread: &str) -> Vec<String> {
    env.logs(thread)
        .iter()
        .filter(|l| l["level"] == "stdout")
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_warm_node_sees_its_instance_count_its_calls() {
    let env = Env::new(&["warm"]);
    let workflow = warm_loop(&env, 4, "", "reuse = true");
    let (code, _, stderr) = env.exit(&["run", &workflow, "--thread", "warm"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains("instance pool"),
        "the pool is reserved here: {stderr}"
    );
    let state = env.state("warm");
    assert_eq!(state["seen"], json!([1, 2, 3, 4]), "{state}");
    // Each call's capture holds only what that call printed.
    assert_eq!(
        printed(&env, "warm"),
        ["warm call 1", "warm call 2", "warm call 3", "warm call 4"]
    );
}

#[test]
fn without_reuse_every_call_gets_a_fresh_instance() {
    let env = Env::new(&["warm"]);
    for (thread, extra) in [("default", ""), ("off", "reuse = false")] {
        let workflow = warm_loop(&env, 3, "", extra);
        env.ok(&["run", &workflow, "--thread", thread]);
        let state = env.state(thread);
        assert_eq!(state["seen"], json!([1, 1, 1]), "{thread}: {state}");
    }
}

/// A warm loop of 3 calls whose instance fails on its second call (by
/// `config`), with a retry policy: each failed instance is dropped, so the
/// retry, on a fresh instance, sees call 1 again, and so does every step.
fn a_failing_warm_instance_is_dropped(config: &str, extra: &str, error: &str) {
    let env = Env::new(&["warm"]);
    let workflow = warm_loop(
        &env,
        3,
        config,
        &format!(
            "reuse = true\nretry = {{ attempts = 2, initial = \"10ms\", backoff = \"fixed\", \
             jitter = 0.0 }}\n{extra}"
        ),
    );
    let (code, _, stderr) = env.exit(&["run", &workflow, "--thread", "t", "--wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("failed, retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{stderr}");
    assert!(retries.iter().all(|l| l.contains(error)), "{stderr}");
    let state = env.state("t");
    assert_eq!(state["seen"], json!([1, 1, 1]), "{state}");
    // Calls 1 (step 1), 2 (fails), 1 (retry), then the same for step 3.
    let calls: Vec<(u64, u64)> = env
        .logs("t")
        .iter()
        .filter(|l| l["level"] == "stdout")
        .map(|l| (l["step"].as_u64().unwrap(), l["attempt"].as_u64().unwrap()))
        .collect();
    assert_eq!(calls, [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2)]);
    let messages = printed(&env, "t");
    assert_eq!(
        messages,
        [
            "warm call 1",
            "warm call 2",
            "warm call 1",
            "warm call 2",
            "warm call 1"
        ]
    );
}

#[test]
fn a_trapped_warm_instance_is_dropped() {
    a_failing_warm_instance_is_dropped(", trap_at = 2", "", "trapped");
}

#[test]
fn a_warm_instance_that_returned_a_failure_is_dropped() {
    a_failing_warm_instance_is_dropped(
        ", fail_at = 2",
        "",
        "retryable failure: warm: failure at call 2",
    );
}

#[test]
fn a_warm_instance_that_timed_out_is_dropped() {
    a_failing_warm_instance_is_dropped(", spin_at = 2", "timeout = \"300ms\"", "timed out after");
}

#[test]
fn a_warm_instance_that_ran_out_of_fuel_is_dropped() {
    a_failing_warm_instance_is_dropped(
        ", spin_at = 2",
        "fuel = 50_000_000",
        "ran out of fuel (50000000 units)",
    );
}

/// The interpreters keep working in a warm instance: a node that sleeps, then
/// counts on the call after its wake-up, in one process (`--wait`).
#[test]
fn interpreter_nodes_answer_a_second_call_in_a_warm_instance() {
    for lang in [Lang::Python, Lang::Js, Lang::C] {
        let env = Env::new(&[]);
        env.add_plugin("counter", &lang_guest(lang, "counter"));
        let workflow = env.workflow(
            "sleepy.toml",
            "name = \"sleepy\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n\
             config = { mode = \"sleep\", sleep_ms = 20 }\nnext = \"end\"\nreuse = true\n",
        );
        env.ok(&["run", &workflow, "--thread", "s", "--wait"]);
        let state = env.state("s");
        assert_eq!(state["wakes"], 1, "{lang:?}: {state}");
        assert_eq!(state["count"], 1, "{lang:?}: {state}");
        let infos: Vec<String> = env
            .logs("s")
            .iter()
            .filter(|l| l["level"] == "info")
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(infos.len(), 2, "{lang:?}: one log line per call: {infos:?}");
        assert!(
            infos.iter().all(|m| m.starts_with("a: sleep call")),
            "{lang:?}: {infos:?}"
        );
    }
}

/// Under an address-space limit the pool cannot be reserved: the host says so
/// once and runs nodes with on-demand allocation.
#[test]
fn without_room_for_the_pool_the_host_falls_back_and_says_so_once() {
    let env = Env::new(&["warm"]);
    let workflow = warm_loop(&env, 3, "", "reuse = true");
    let mut command = env.command(&["run", &workflow, "--thread", "small"]);
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing
    // else between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64 << 30,
                rlim_max: 64 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run savepoint");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("cannot reserve the instance pool").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("on-demand"), "{stderr}");
    assert_eq!(env.state("small")["seen"], json!([1, 2, 3]));
}

/// `plugins --json` with the compile cache in `cache`.
fn plugins(env: &Env, cache: &Path) -> Vec<Value> {
    let output = env
        .command(&["plugins", "--json"])
        .env("SAVEPOINT_CACHE", cache)
        .output()
        .expect("run savepoint plugins");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout).expect("plugins --json is JSON") {
        Value::Array(loads) => loads,
        other => panic!("plugins --json is not an array: {other}"),
    }
}

/// The one `describe()` cache entry of `cache`.
fn describe_entry(cache: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(cache)
        .expect("the cache folder exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".describe.json"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap()
}

#[test]
fn a_cached_plugin_is_described_from_the_cache_and_a_damaged_entry_is_rebuilt() {
    let env = Env::new(&["warm"]);
    let cache = env.path().join("cache");
    let first = plugins(&env, &cache);
    let description = "Counts the calls of its instance (a test node).";
    assert_eq!(first[0]["info"]["description"], description, "{first:?}");
    let entry = describe_entry(&cache);
    let mut info: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    assert_eq!(info["description"], description);

    // A cached load believes the entry (so it did not call describe()).
    info["description"] = json!("from the cache");
    std::fs::write(&entry, info.to_string()).unwrap();
    let cached = plugins(&env, &cache);
    assert_eq!(cached[0]["info"]["description"], "from the cache");
    assert_eq!(cached[0]["digest"], first[0]["digest"]);

    // A damaged entry is ignored, and replaced by describe()'s answer.
    for damage in ["{\"name\": \"warm\", \"vers", "[]", "{\"name\": 1}", ""] {
        std::fs::write(&entry, damage).unwrap();
        let rebuilt = plugins(&env, &cache);
        assert_eq!(rebuilt[0]["ok"], true, "{damage:?}: {rebuilt:?}");
        assert_eq!(rebuilt[0]["info"]["description"], description, "{damage:?}");
        let again: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap())
            .unwrap_or_else(|e| panic!("{damage:?}: the entry is rewritten: {e}"));
        assert_eq!(again["description"], description, "{damage:?}");
    }
}
