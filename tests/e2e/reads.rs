//! Bounded reads: a run whose history is far bigger than any sensible memory
//! (60 steps, each state holding a 2.5 MB string, 150 MB of whole states in
//! all, from a database of a few MB: the string is stored once) is read
//! through `history`, `logs`, `runs` and the HTTP API in pages, and neither
//! the CLI nor the daemon grows with the history.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::fixtures::{Daemon, Env, golden, proc_status_kib};

const STEPS: u64 = 60;
/// The size of the string in every state (of its JSON: 2 quotes more).
const BIG: u64 = 2_500_000;
/// The whole history as text is over 150 MB; reading it page by page holds
/// about one state (2.5 MB) at a time. This bound is far below the first and
/// leaves room for the process itself (and, for the daemon, its plugins).
const PEAK_BOUND_MIB: u64 = 100;

fn big_env() -> Env {
    let env = Env::new(&["hostile"]);
    let workflow = format!(
        "name = \"big\"\nstart = \"grow\"\n\
         [nodes.grow]\nplugin = \"hostile\"\n\
         config = {{ mode = \"big_states\", bytes = {BIG}, steps = {STEPS} }}\n\
         routes = [\"grow\", \"end\"]\nmax_state = \"8MiB\"\n"
    );
    let path = env.daemon_workflow("big", &workflow);
    env.ok(&["run", &path, "--thread", "big", "-q"]);
    env
}

fn steps(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|entry| entry["step"].as_u64().expect("step"))
        .collect()
}

/// Runs `savepoint args` to its end under GNU time and returns its stdout and
/// its peak RSS in KiB. (Not `wait4`'s `ru_maxrss` of our own child: a child
/// spawned from this process inherits the test process's RSS high-water mark
/// across `exec`, and the tests hold big strings; `time` is a small process.)
fn peak_of(env: &Env, args: &[&str]) -> (String, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "this test measures memory with GNU time (/usr/bin/time)"
    );
    let report = env.path().join("peak.txt");
    let command = env.command(args);
    let program = command.get_program().to_owned();
    let mut timed = Command::new(time);
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(command.get_args());
    // The environment `Env::command` set, and removed (SAVEPOINT_DB is the
    // Postgres URL on that pass, unset on SQLite's).
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    let output = timed
        .current_dir(env.path())
        .stdin(Stdio::null())
        .output()
        .expect("run savepoint under /usr/bin/time");
    assert!(
        output.status.success(),
        "savepoint {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak = std::fs::read_to_string(&report).expect("read the time report");
    let peak = peak.trim().parse().expect("a number of KiB");
    (String::from_utf8(output.stdout).expect("utf-8"), peak)
}

/// One big run (it takes a while to make), read in every way.
#[test]
fn a_big_history_is_read_in_pages_in_bounded_memory() {
    let env = big_env();
    cli_history_is_paged_small_by_default_and_streamed_with_states(&env);
    cli_logs_and_run_listings_are_paged(&env);
    the_api_pages_and_streams_history_and_logs_in_bounded_memory(&env);
}

fn cli_history_is_paged_small_by_default_and_streamed_with_states(env: &Env) {
    // The default page: the 50 latest steps, no states, the keys each changed.
    let page = env.json(&["history", "big", "--json"]);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(steps(entries), (11..=STEPS).rev().collect::<Vec<_>>());
    assert_eq!(page["next_cursor"], "11");
    assert!(entries.iter().all(|e| e.get("state").is_none()), "{page}");
    assert_eq!(entries[0]["changed"], json!({"n": 2}));
    assert_eq!(entries[0]["node"], "grow");
    assert_eq!(entries[0]["next"], json!([]));
    let first = env.json(&["history", "big", "--json", "--cursor", "2"]);
    assert_eq!(
        first,
        json!({"entries": [{
            // The run's first checkpoint: no parent, on the first branch.
            "checkpoint": first["entries"][0]["checkpoint"],
            "parent": null, "branch": 0, "superseded": false,
            "step": 1, "node": "grow", "next": ["grow"],
            "changed": {"big": BIG + 2, "n": 1},
            "component_digest": entries[0]["component_digest"],
            "workflow_digest": entries[0]["workflow_digest"],
            "created_at": first["entries"][0]["created_at"],
        }], "next_cursor": null})
    );

    // Following the cursors visits every step once, newest first.
    let all = env.pages(&["history", "big", "--json", "--limit", "7"]);
    assert_eq!(steps(&all), (1..=STEPS).rev().collect::<Vec<_>>());

    // For people: a table, and how to get the next page.
    let (code, stdout, stderr) = env.exit(&["history", "big", "--limit", "3"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stdout.lines().nth(1).unwrap().ends_with("n 2 B"),
        "{stdout}"
    );
    assert_eq!(
        stderr,
        "more: savepoint history big --cursor 58 --limit 3\n"
    );
    let stderr = env.fails(&["history", "big", "--limit", "1001"]);
    golden("history-limit-too-large.txt", &stderr);

    // Whole states: each page stops after 64 MiB of them, and the CLI holds
    // one entry at a time.
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut peak_kib = 0;
    loop {
        let mut args = vec!["history", "big", "--states", "--json", "--limit", "1000"];
        if let Some(cursor) = &cursor {
            args.extend(["--cursor", cursor]);
        }
        let (stdout, peak) = peak_of(env, &args);
        peak_kib = peak_kib.max(peak);
        let page: Value = serde_json::from_str(&stdout).expect("history --json is JSON");
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() < 30, "a page stops at 64 MiB of states");
        for entry in entries {
            let state = entry["state"].as_object().expect("whole state");
            assert_eq!(state["big"].as_str().map(str::len), Some(BIG as usize));
            assert_eq!(state["n"], entry["step"]);
        }
        seen.extend(steps(entries));
        match &page["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, (1..=STEPS).rev().collect::<Vec<_>>());
    eprintln!("history --states peaked at {} MiB", peak_kib / 1024);
    assert!(
        peak_kib < PEAK_BOUND_MIB * 1024,
        "history --states peaked at {} MiB",
        peak_kib / 1024
    );
}

fn cli_logs_and_run_listings_are_paged(env: &Env) {
    let page = env.json(&["logs", "big", "--json", "--limit", "25"]);
    assert_eq!(page["entries"].as_array().unwrap().len(), 25);
    assert!(page["next_cursor"].is_string(), "{page}");
    let all = env.pages(&["logs", "big", "--json", "--limit", "25"]);
    assert_eq!(steps(&all), (1..=STEPS).collect::<Vec<_>>(), "oldest first");
    let (code, _, stderr) = env.exit(&["logs", "big", "--limit", "59"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.starts_with("more: savepoint logs big --cursor "),
        "{stderr}"
    );

    let path = env.daemon_workflow(
        "ok",
        "name = \"ok\"\nstart = \"n\"\n[nodes.n]\nplugin = \"hostile\"\n\
         config = { mode = \"ok\" }\nnext = \"end\"\n",
    );
    env.ok(&["run", &path, "--thread", "small", "-q"]);
    let runs = env.json(&["runs", "--json", "--limit", "1"]);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs["runs"][0]["thread"], "small");
    let (_, _, stderr) = env.exit(&["runs", "--limit", "1"]);
    assert!(stderr.starts_with("more: savepoint runs "), "{stderr}");
    assert!(stderr.contains("--limit 1 --cursor "), "{stderr}");
}

/// The entries of every page of `path` (with its query), following `next_cursor`.
fn api_pages(daemon: &Daemon, path: &str) -> (Vec<Value>, usize) {
    let (mut entries, mut pages) = (Vec::new(), 0);
    let mut next = path.to_string();
    loop {
        let response = daemon.get(&next);
        assert_eq!(response.status, 200, "{next}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let page = response.json();
        pages += 1;
        entries.extend(page["entries"].as_array().unwrap().iter().cloned());
        match &page["next_cursor"] {
            Value::String(cursor) => next = format!("{path}&cursor={cursor}"),
            Value::Null => return (entries, pages),
            other => panic!("next_cursor {other}"),
        }
    }
}

fn the_api_pages_and_streams_history_and_logs_in_bounded_memory(env: &Env) {
    // A daemon that did not run the big run itself: its memory is the reads'.
    let daemon = env.serve(&[]);

    let page = daemon.get("/runs/big/history").json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 50);
    assert_eq!(page["next_cursor"], "11");
    assert!(page["entries"][0].get("state").is_none());
    let (all, pages) = api_pages(&daemon, "/runs/big/history?limit=7");
    assert_eq!(steps(&all), (1..=STEPS).rev().collect::<Vec<_>>());
    assert_eq!(pages, 9);

    let (all, pages) = api_pages(&daemon, "/runs/big/history?states=true&limit=1000");
    assert_eq!(steps(&all), (1..=STEPS).rev().collect::<Vec<_>>());
    assert!(pages >= 3, "pages stop at 64 MiB of states: {pages}");
    assert!(all.iter().all(|e| e["state"]["n"] == e["step"]));
    drop(all);

    let (lines, pages) = api_pages(&daemon, "/runs/big/logs?limit=25");
    assert_eq!(steps(&lines), (1..=STEPS).collect::<Vec<_>>());
    assert_eq!(pages, 3);
    let runs = daemon.get("/runs?limit=1").json();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert!(runs["next_cursor"].is_string(), "{runs}");

    let error = daemon.get("/runs/big/history?limit=5000").error(400);
    assert_eq!(
        error,
        "query parameter \"limit\": 5000 is over the maximum page size of 1000"
    );
    let error = daemon.get("/runs/nobody/logs").error(404);
    golden("api-logs-of-unknown-run.txt", &format!("{error}\n"));

    let peak_mib = proc_status_kib(daemon.pid(), "VmHWM") / 1024;
    eprintln!("the daemon peaked at {peak_mib} MiB");
    assert!(
        peak_mib < PEAK_BOUND_MIB,
        "the daemon peaked at {peak_mib} MiB serving 150 MB of history"
    );
}
