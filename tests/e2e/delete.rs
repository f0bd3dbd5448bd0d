//! Deleting runs, by hand and by retention (`serve --retain`): what only the
//! deleted run referred to goes, what other runs share stays.

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Env, http, wait_for};
use crate::travel::error_of;

/// `a` counts, then `ask` waits for an answer.
const ASK: &str = r#"
name = "ask"
start = "a"

[nodes.a]
plugin = "counter"
next = "ask"

[nodes.ask]
plugin = "counter"
config = { mode = "interrupt" }
next = "end"
"#;

fn exists(env: &Env, thread: &str) -> bool {
    let (code, _, stderr) = env.exit(&["status", thread]);
    match code {
        Some(0) => true,
        Some(5) => false,
        _ => panic!("status {thread}: {stderr}"),
    }
}

/// A value of 1 KiB or more is stored once by digest, however many runs hold it.
fn big_input() -> String {
    json!({ "big": "x".repeat(4096), "count": 0 }).to_string()
}

#[test]
fn a_delete_keeps_what_another_run_shares_and_frees_the_rest() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("ask.toml", ASK);
    let input = big_input();
    for thread in ["gone", "kept"] {
        let args = [
            "run", &workflow, "--thread", thread, "--input", &input, "-q",
        ];
        let (code, _, stderr) = env.exit(&args);
        assert_eq!(code, Some(3), "parked at ask: {stderr}");
    }
    env.ok(&["resume", "gone", "--input", "true", "-q"]);

    // An unfinished run is deleted only when forced.
    let refused = error_of(&env, 6, &["delete", "kept"]);
    assert_eq!(refused["code"], "conflict", "{refused}");
    assert!(exists(&env, "kept"));

    let deleted = env.json(&["delete", "gone", "--json"]);
    assert_eq!(deleted["thread"], "gone");
    assert_eq!(deleted["checkpoints"], 2, "{deleted}");
    assert!(deleted["events"].as_u64().unwrap() > 0, "{deleted}");
    // `kept` holds the same large value and the same component version.
    assert_eq!(deleted["freed"]["components"], 0, "{deleted}");
    assert_eq!(deleted["freed"]["values"], 0, "{deleted}");
    assert!(!exists(&env, "gone"));
    let missing = error_of(&env, 5, &["delete", "gone"]);
    assert_eq!(missing["code"], "not_found");

    // The other run reads its state and goes on to the end.
    assert_eq!(env.state("kept")["big"].as_str().map(str::len), Some(4096));
    env.ok(&["resume", "kept", "--input", "true", "-q"]);
    let state = env.state("kept");
    assert_eq!(state["count"], 2);
    assert_eq!(state["big"].as_str().map(str::len), Some(4096));

    // The last run that held them frees them.
    let deleted = env.json(&["delete", "kept", "--json"]);
    assert!(
        deleted["freed"]["components"].as_u64().unwrap() >= 1,
        "{deleted}"
    );
    assert!(
        deleted["freed"]["values"].as_u64().unwrap() >= 1,
        "{deleted}"
    );
    assert_eq!(env.sql_number("SELECT COUNT(*) FROM components"), Some(0));

    // The thread can be used again, from scratch.
    let (code, _, _) = env.exit(&[
        "run", &workflow, "--thread", "gone", "--input", &input, "-q",
    ]);
    assert_eq!(code, Some(3));
    assert_eq!(env.status("gone")["step"], 1);
    let events = env.pages(&["events", "gone", "--json"]);
    assert_eq!(
        events[0]["event"], "created",
        "only the new run's: {events:?}"
    );
    let history = env.pages(&["history", "gone", "--json"]);
    assert_eq!(history.len(), 1, "{history:?}");

    // Forced: an unfinished run goes too.
    let forced = env.json(&["delete", "gone", "--force", "--json"]);
    assert_eq!(forced["thread"], "gone");
    assert!(!exists(&env, "gone"));
}

#[test]
fn retention_deletes_only_old_finished_runs() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("ask.toml", ASK);
    let once = env.workflow(
        "once.toml",
        "name = \"once\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    for thread in ["old-done", "new-done"] {
        env.ok(&["run", &once, "--thread", thread, "-q"]);
    }
    let (code, _, _) = env.exit(&["run", &workflow, "--thread", "old-parked", "-q"]);
    assert_eq!(code, Some(3));
    env.ok(&["start", &once, "--thread", "old-cancelled"]);
    env.ok(&["cancel", "old-cancelled"]);
    // Two days ago, as far as the database knows.
    env.sql_write(
        "UPDATE runs SET updated_at = updated_at - 172800000 \
         WHERE thread IN ('old-done', 'old-parked', 'old-cancelled')",
    );

    let daemon = env.serve(&["--retain", "1d"]);
    wait_for(
        "retention to delete the old finished runs",
        DEADLINE,
        || match exists(&env, "old-done") || exists(&env, "old-cancelled") {
            true => Err("still there".to_string()),
            false => Ok(()),
        },
    );
    // The same pass saw the others, and left them.
    assert!(exists(&env, "new-done"));
    assert!(
        exists(&env, "old-parked"),
        "a parked run is never deleted by retention"
    );
    let status: Value = env.status("old-parked");
    assert_eq!(status["status"], "interrupted");
    // The daemon says what it deleted, oldest first.
    let said = wait_for("the retention line", DEADLINE, || {
        let stderr = daemon.stderr();
        let line = stderr.lines().find(|l| l.contains("retention"));
        line.map(str::to_string).ok_or(stderr)
    });
    assert_eq!(
        said,
        "savepoint serve: retention deleted 2 finished run(s) unchanged for 1d: old-done, \
         old-cancelled"
    );
}

/// A forced delete of a daemon's only run frees the component versions that run
/// alone was pinned to, though the daemon's watcher had stored them: the next
/// `POST /runs` stores them again instead of failing with "component ... is not
/// stored" (found by a tester: a 500 until the daemon restarted).
#[test]
fn a_daemon_creates_runs_after_a_delete_freed_its_components() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow(
        "once",
        "name = \"once\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    let daemon = env.serve(&[]);
    let create = |thread: &str| {
        let created = daemon.post("/runs", &json!({"workflow": "once", "thread": thread}));
        assert_eq!(created.status, 201, "{created:?}");
        daemon.wait_run(thread, "completed", |s| s["status"] == "completed");
    };
    create("first");
    let deleted = http(daemon.addr(), "DELETE", "/runs/first?force=true", None);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(
        deleted.json()["deleted"]["freed"]["components"],
        1,
        "{deleted:?}"
    );
    create("second");
}
