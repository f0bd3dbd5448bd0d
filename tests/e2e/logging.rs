//! `savepoint serve`'s log: with `RUST_LOG=info`, one line per run event (created,
//! started, parked, woke, completed, recovered) and per compile; `--log-format json`, one object
//! per line with the events' fields. (Without `RUST_LOG` the daemon says what it always
//! said: the tests of `daemon`, `pinning`, `storage` and `quiet` read those lines.)

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Daemon, Env, traced_chain, wait_for};

/// One node that sleeps a moment, then ends.
const NAP: &str = r#"
name = "nap"
start = "nap"
[nodes.nap]
plugin = "echo"
config = { sleep_ms = 200 }
next = "end"
"#;

/// The run events the daemon logs for a run that sleeps once, in order.
const EVENTS: [&str; 5] = [
    "run created",
    "run started",
    "run parked",
    "run woke",
    "run completed",
];

/// Start `nap` through the API as `thread` and wait until it completed.
fn nap(daemon: &Daemon, thread: &str) {
    let created = daemon.post("/runs", &json!({"workflow": "nap", "thread": thread}));
    assert_eq!(created.status, 201, "{created:?}");
    let done = daemon.wait_run(thread, "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
}

/// Wait until the daemon's log has a line for which `found` holds (a line is written
/// just after the commit it reports, so it may come a moment after the status does).
fn wait_line(daemon: &Daemon, what: &str, found: impl Fn(&str) -> bool) {
    wait_for(what, DEADLINE, || {
        let log = daemon.stderr();
        log.lines().any(&found).then_some(()).ok_or(log)
    });
}

#[test]
fn rust_log_info_shows_a_line_per_run_event() {
    let env = Env::new(&["echo"]);
    env.daemon_workflow("nap", NAP);
    let daemon = env.serve_with(&[], |command| {
        command.env("RUST_LOG", "info");
    });
    nap(&daemon, "nap-1");
    let ours = |line: &str, event: &str| line.contains(event) && line.contains("thread=nap-1");
    wait_line(&daemon, "the line of the completed run", |line| {
        ours(line, "run completed")
    });

    let log = daemon.stderr();
    let lines: Vec<&str> = log.lines().collect();
    let at: Vec<usize> = EVENTS
        .iter()
        .map(|event| {
            let found = lines.iter().position(|line| ours(line, event));
            found.unwrap_or_else(|| panic!("no `{event}` line for nap-1:\n{log}"))
        })
        .collect();
    assert!(
        at.is_sorted(),
        "the events in the order they happened:\n{log}"
    );
    let parked = lines[at[2]];
    for field in ["step=1", "node=nap", "status=sleeping", "until="] {
        assert!(parked.contains(field), "{field} in {parked}");
    }
    assert!(
        parked.contains(" INFO "),
        "the log's lines, with their level: {parked}"
    );
}

#[test]
fn a_run_taken_over_from_a_killed_daemon_is_logged_as_recovered() {
    let env = Env::new(&["counter"]);
    // One node that takes a minute: the daemon is killed in the middle of it.
    let workflow = env.daemon_workflow("slow", &traced_chain("slow", 1, |_| 60_000));
    let mut victim = env.serve(&[]);
    env.ok(&["start", &workflow, "--thread", "slow-1"]);
    let owner = victim.owner().to_string();
    env.wait_status("slow-1", "running in the first daemon", |s| {
        s["status"] == "running" && s["lease_owner"] == owner.as_str()
    });
    victim.kill();

    // Its process is gone: another daemon on this machine takes the run over at once.
    let survivor = env.serve_with(&[], |command| {
        command.env("RUST_LOG", "info");
    });
    wait_line(&survivor, "the run to be recovered", |line| {
        line.contains("run recovered") && line.contains("thread=slow-1")
    });
    let log = survivor.stderr();
    let line = log
        .lines()
        .find(|line| line.contains("run recovered"))
        .unwrap();
    for field in ["workflow=slow", "step=1", "attempt=1"] {
        assert!(line.contains(field), "{field} in {line}");
    }
}

#[test]
fn log_format_json_writes_one_object_per_line_with_the_fields() {
    let env = Env::new(&["echo"]);
    env.daemon_workflow("nap", NAP);
    // A compile cache of its own: the daemon compiles `echo`, and logs it.
    let cache = env.path().join("cache");
    let daemon = env.serve_with(&["--log-format", "json"], |command| {
        command
            .env("RUST_LOG", "info")
            .env("SAVEPOINT_CACHE", &cache);
    });
    nap(&daemon, "nap-2");
    let completed = |line: &str| line.contains("run completed") && line.contains("nap-2");
    wait_line(&daemon, "the line of the completed run", completed);

    // The lines `savepoint serve` prints for people (its address, a compile it waits
    // for) are not log lines: every other line is a JSON object.
    let log = daemon.stderr();
    let objects: Vec<Value> = log
        .lines()
        .filter(|line| !line.starts_with("savepoint serve: "))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}\n{log}"))
        })
        .collect();
    let event = |message: &str| {
        objects
            .iter()
            .find(|o| o["message"] == message && o["thread"] == "nap-2")
            .unwrap_or_else(|| panic!("no `{message}` object for nap-2:\n{log}"))
    };
    for message in EVENTS {
        let object = event(message);
        assert_eq!(object["level"], "INFO", "{object}");
        assert_eq!(object["target"], "savepoint_runtime::events", "{object}");
    }
    let parked = event("run parked");
    assert_eq!(parked["step"], 1, "{parked}");
    assert_eq!(parked["node"], "nap", "{parked}");
    assert_eq!(parked["status"], "sleeping", "{parked}");
    assert!(
        parked["until"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{parked}"
    );
    // The daemon drives each run in a span that names it and its workflow.
    assert_eq!(parked["span"]["name"], "run", "{parked}");
    assert_eq!(parked["span"]["workflow"], "nap", "{parked}");
    assert_eq!(event("run created")["workflow"], "nap");

    let compiled = objects
        .iter()
        .find(|o| o["message"] == "component compiled")
        .unwrap_or_else(|| panic!("no compile line:\n{log}"));
    assert_eq!(compiled["plugin"], "echo", "{compiled}");
    let digest = compiled["digest"].as_str().unwrap_or_default();
    assert!(digest.starts_with("sha256:"), "{compiled}");
    assert!(compiled["ms"].is_u64(), "{compiled}");
}
