//! Exact-code pinning: a run keeps the component bytes it started with when
//! the plugin file is replaced or deleted, across processes.

use serde_json::{Value, json};

use std::time::Duration;

use crate::fixtures::{Daemon, Env, file_digest, golden, guest, wait_for};

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

#[test]
fn a_plugin_dropped_into_the_folder_of_a_running_daemon_is_used_by_the_next_run() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow(
        "fresh",
        r#"
name = "fresh"
start = "only"
[nodes.only]
plugin = "fresh"
next = "end"
"#,
    );
    let daemon = env.serve(&["--workers", "2"]);
    let early = daemon.post("/runs", &json!({"workflow": "fresh", "thread": "early"}));
    assert_eq!(early.status, 400, "no fresh.wasm yet: {early:?}");

    env.add_plugin("fresh", &guest("counter"));
    let created = daemon.post("/runs", &json!({"workflow": "fresh", "thread": "late"}));
    assert_eq!(created.status, 201, "{created:?}");
    let done = daemon.wait_run("late", "settled", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(digests(&env, "late"), vec![file_digest(&guest("counter"))]);
}

#[test]
fn upgrade_moves_a_parked_run_to_the_current_plugin() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("nap.toml", NAP);
    let old = file_digest(&guest("counter"));
    park(&env, &workflow, "up", &[]);
    env.add_plugin("counter", &guest("echo"));
    let new = file_digest(&guest("echo"));

    let (code, _, stderr) = env.exit(&["resume", "up", "--upgrade", "--wait"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("upgraded"), "{stderr}");
    assert!(stderr.contains("plugin counter:"), "{stderr}");
    // Step 1 was made by the old counter, the steps after the upgrade by echo.
    let mut made_by = digests(&env, "up");
    made_by.reverse();
    assert_eq!(made_by, vec![old.clone(), new.clone(), new.clone()]);
    assert!(env.state("up").get("seen").is_some());
}

#[test]
fn upgrade_is_refused_with_a_report_when_the_run_s_node_is_gone() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("nap.toml", NAP);
    park(&env, &workflow, "stuck", &[]);
    let renamed = NAP
        .replace("start = \"nap\"", "start = \"doze\"")
        .replace("[nodes.nap]", "[nodes.doze]");
    env.workflow("nap.toml", &renamed);

    let err = env.fails(&["resume", "stuck", "--upgrade"]);
    golden("upgrade-node-gone.txt", &err);
    // Nothing changed: the run still resumes on the versions it started with.
    assert_eq!(env.status("stuck")["status"], "sleeping");
    env.ok(&["resume", "stuck", "--wait"]);
    assert_eq!(env.state("stuck")["count"], json!(2));
}

#[test]
fn the_api_upgrades_a_parked_run_or_says_why_not() {
    let env = Env::new(&["counter"]);
    let nap = NAP.replace("sleep_ms = 300", "sleep_ms = 1000");
    env.daemon_workflow("nap", &nap);
    // Asleep for the whole test.
    let long = NAP.replace("sleep_ms = 300", "sleep_ms = 600000");
    env.daemon_workflow("long", &long);
    let daemon = env.serve(&["--workers", "2"]);
    for (workflow, thread) in [("nap", "api-up"), ("long", "api-stuck")] {
        let created = daemon.post("/runs", &json!({"workflow": workflow, "thread": thread}));
        assert_eq!(created.status, 201, "{created:?}");
        daemon.wait_run(thread, "asleep", |s| {
            s["status"] == "sleeping" && s["lease_owner"].is_null()
        });
    }
    let old = file_digest(&guest("counter"));
    env.add_plugin("counter", &guest("echo"));
    let upgraded = daemon.post("/runs/api-up/resume", &json!({"upgrade": true}));
    assert_eq!(upgraded.status, 200, "{upgraded:?}");
    let done = daemon.wait_run("api-up", "settled", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    let new = file_digest(&guest("echo"));
    let mut made_by = digests(&env, "api-up");
    made_by.reverse();
    assert_eq!(made_by, vec![old, new.clone(), new]);

    // The node the other run sleeps in is gone from the workflow file.
    env.daemon_workflow(
        "long",
        &long
            .replace("[nodes.nap]", "[nodes.doze]")
            .replace("start = \"nap\"", "start = \"doze\""),
    );
    let refused = daemon.post("/runs/api-stuck/resume", &json!({"upgrade": true}));
    let error = refused.error(409);
    golden("api-upgrade-node-gone.txt", &format!("{error}\n"));
}

#[test]
fn plugins_lists_stored_versions_and_gc_removes_those_no_run_needs() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("nap.toml", NAP);
    let v1 = file_digest(&guest("counter"));
    park(&env, &workflow, "a", &[]);
    env.add_plugin("counter", &guest("echo"));
    let v2 = file_digest(&guest("echo"));
    park(&env, &workflow, "b", &[]);
    env.ok(&["resume", "b", "--wait"]);

    let versions = env.json(&["plugins", "--versions", "--json"]);
    let summary: Vec<(Value, Value, Value, Value)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["digest"].clone(),
                v["current"].clone(),
                v["runs"].clone(),
                v["unfinished"].clone(),
            )
        })
        .collect();
    let mut expected = vec![
        (json!(v1), json!(false), json!(1), json!(["a"])),
        (json!(v2), json!(true), json!(1), json!([])),
    ];
    expected.sort_by_key(|(digest, ..)| digest.to_string());
    let mut summary = summary;
    summary.sort_by_key(|(digest, ..)| digest.to_string());
    assert_eq!(summary, expected, "{versions}");
    let human = env.ok(&["plugins"]);
    assert!(human.contains("unfinished: a"), "{human}");

    // Only the completed run used v2: it goes; v1 stays for the sleeping run. (gc also
    // prunes the compile cache: not the one every test shares.)
    let removed = env.json(&["gc", "--json", "--cache", "own-cache"]);
    assert_eq!(removed["components"], 1, "{removed}");
    let left = env.json(&["plugins", "--versions", "--json"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["digest"], json!(v1));
    env.ok(&["resume", "a", "--wait"]);
    assert_eq!(env.state("a")["count"], json!(2));

    // A new run stores the current file again.
    park(&env, &workflow, "c", &[]);
    env.ok(&["resume", "c", "--wait"]);
    assert_eq!(digests(&env, "c"), vec![json!(v2); 3]);
    let removed = env.json(&["gc", "--json", "--cache", "own-cache"]);
    assert_eq!(removed["components"], 2, "{removed}");
    assert_eq!(digests(&env, "a").len(), 3, "histories stay whole");
}

#[test]
fn an_exported_run_is_imported_into_a_fresh_database_and_completes_there() {
    let here = Env::new(&["counter"]);
    let workflow = here.workflow("nap.toml", NAP);
    park(&here, &workflow, "travel", &[]);
    let bundle = here.path().join("travel.bundle");
    let out = here.run(&["export", "travel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&bundle, &out.stdout).unwrap();

    // Another machine: no plugin files, its own compile cache.
    let there = Env::new(&[]);
    let bundle_arg = bundle.display().to_string();
    let imported = there.ok(&["import", &bundle_arg]);
    assert_eq!(imported.trim(), "travel");
    assert_eq!(there.status("travel")["status"], "sleeping");
    assert_eq!(there.history("travel"), here.history("travel"));
    let again = there.fails(&["import", &bundle_arg]);
    assert!(again.contains("travel"), "{again}");

    let cache = there.path().join("own-cache").display().to_string();
    there.ok(&["resume", "travel", "--wait", "--cache", &cache]);
    assert_eq!(there.status("travel")["status"], "completed");
    assert_eq!(there.state("travel")["count"], json!(2));
    assert_eq!(
        digests(&there, "travel"),
        vec![file_digest(&guest("counter")); 3]
    );
    // The original is untouched.
    assert_eq!(here.status("travel")["status"], "sleeping");

    let junk = there.path().join("junk.bundle");
    std::fs::write(&junk, b"not a bundle").unwrap();
    let err = there.fails(&["import", &junk.display().to_string()]);
    assert!(err.contains("is not a run bundle"), "{err}");
}

/// Wait until the daemon's stderr has `needle` (the watcher reports there).
fn wait_report(daemon: &Daemon, needle: &str) {
    wait_for(needle, Duration::from_secs(60), || {
        let log = daemon.stderr();
        if log.contains(needle) {
            Ok(())
        } else {
            Err(log)
        }
    });
}

/// Start a run of `workflow` on `daemon`, wait until it settles, and return
/// the digest of the component that made its one step.
fn one_run(env: &Env, daemon: &Daemon, workflow: &str, thread: &str) -> Value {
    let created = daemon.post("/runs", &json!({"workflow": workflow, "thread": thread}));
    assert_eq!(created.status, 201, "{created:?}");
    let done = daemon.wait_run(thread, "settled", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    digests(env, thread).remove(0)
}

#[test]
fn serve_loads_a_replaced_plugin_in_the_background_and_keeps_serving_when_it_is_broken() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow(
        "one",
        r#"
name = "one"
start = "only"
[nodes.only]
plugin = "counter"
next = "end"
"#,
    );
    let daemon = env.serve(&["--workers", "2"]);
    let v1 = file_digest(&guest("counter"));
    wait_report(
        &daemon,
        &format!("plugin counter: new runs use {}", &v1[..19]),
    );
    assert_eq!(one_run(&env, &daemon, "one", "before"), json!(v1));

    // A broken replacement is reported; new runs keep the version before it.
    env.write_plugin("counter", b"\0asm\x0d\x00\x01\x00 not really a component");
    wait_report(&daemon, "new runs keep using");
    assert_eq!(one_run(&env, &daemon, "one", "broken"), json!(v1));

    // A good replacement is loaded in the background and used from then on.
    env.add_plugin("counter", &guest("echo"));
    let v2 = file_digest(&guest("echo"));
    wait_report(
        &daemon,
        &format!("plugin counter: new runs use {}", &v2[..19]),
    );
    assert_eq!(one_run(&env, &daemon, "one", "after"), json!(v2));
}

#[test]
fn ten_runs_sleeping_in_a_daemon_wake_on_the_replaced_plugin_s_old_bytes() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow("nap", &NAP.replace("sleep_ms = 300", "sleep_ms = 1500"));
    let daemon = env.serve(&["--workers", "4"]);
    let old = file_digest(&guest("counter"));
    let threads: Vec<String> = (0..10).map(|i| format!("d-nap-{i}")).collect();
    for thread in &threads {
        let created = daemon.post("/runs", &json!({"workflow": "nap", "thread": thread}));
        assert_eq!(created.status, 201, "{created:?}");
    }
    for thread in &threads {
        daemon.wait_run(thread, "asleep", |s| s["status"] == "sleeping");
    }
    env.add_plugin("counter", &guest("echo"));
    let new = file_digest(&guest("echo"));
    for thread in &threads {
        let done = daemon.wait_run(thread, "settled", |s| {
            s["status"] == "completed" || s["status"] == "failed"
        });
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(digests(&env, thread), vec![json!(old); 3], "{thread}");
    }
    wait_report(
        &daemon,
        &format!("plugin counter: new runs use {}", &new[..19]),
    );
    let created = daemon.post("/runs", &json!({"workflow": "nap", "thread": "d-new"}));
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("d-new", "settled", |s| s["status"] == "completed");
    assert_eq!(digests(&env, "d-new"), vec![json!(new); 3]);
}
