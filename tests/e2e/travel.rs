//! Time travel from the command line: fork, update (as a node), replay in place,
//! history with diffs and superseded branches, and the event log of a run that
//! crashed, retried, waited for an answer and was cancelled.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::fixtures::{Env, progress_step};

/// n1, n2, n3 count; `ask` waits for an answer (and counts); n5 counts.
const ASK: &str = r#"
name = "ask"
start = "n1"

[nodes.n1]
plugin = "counter"
next = "n2"

[nodes.n2]
plugin = "counter"
next = "n3"

[nodes.n3]
plugin = "counter"
next = "ask"

[nodes.ask]
plugin = "counter"
config = { mode = "interrupt", question = "go on?" }
next = "n5"

[nodes.n5]
plugin = "counter"
next = "end"
"#;

/// `a` counts, then `b` fails for good; `manual` stands in for `a` on another
/// route, to `c`.
const DETOUR: &str = r#"
name = "detour"
start = "a"

[nodes.a]
plugin = "counter"
next = "b"

[nodes.b]
plugin = "fail"
config = { message = "bad data" }
next = "end"

[nodes.manual]
plugin = "counter"
next = "c"

[nodes.c]
plugin = "counter"
config = { by = 10 }
next = "end"
"#;

/// The error object of a `--json` command that fails with exit `code`.
pub fn error_of(env: &Env, code: i32, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (actual, stdout, stderr) = env.exit(&args);
    assert_eq!(actual, Some(code), "savepoint {args:?}: {stdout}{stderr}");
    let body: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    body["error"].clone()
}

fn steps_nodes(history: &[Value]) -> Vec<(u64, String)> {
    history
        .iter()
        .map(|e| {
            (
                e["step"].as_u64().unwrap(),
                e["node"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn is_checkpoint_id(id: &Value) -> bool {
    id.as_str()
        .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn a_fork_and_its_source_run_to_completion_independently() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("ask.toml", ASK);
    let (code, _, stderr) = env.exit(&["run", &workflow, "--thread", "src", "-q"]);
    assert_eq!(code, Some(3), "parked at the question: {stderr}");
    assert_eq!(env.status("src")["step"], 3);

    // From step 2, with the count edited as if n2 had returned it: n3 runs next.
    let fork = env.json(&[
        "fork",
        "src",
        "--step",
        "2",
        "--thread",
        "fork-1",
        "--update",
        r#"{"count":100}"#,
        "--as-node",
        "n2",
        "--json",
    ]);
    assert_eq!(fork["status"], "pending", "{fork}");
    assert_eq!(fork["next"], json!(["n3"]));
    assert_eq!(env.state("fork-1"), json!({"count": 100}));
    let history = env.pages(&["history", "fork-1", "--json", "--states"]);
    assert_eq!(
        steps_nodes(&history),
        vec![(3, "n2".to_string()), (2, "fork".to_string())],
        "{history:?}"
    );
    let source = env.pages(&["history", "src", "--json"]);
    let source_step_2 = source.iter().find(|e| e["step"] == 2).unwrap();
    assert!(is_checkpoint_id(&history[1]["checkpoint"]), "{history:?}");
    assert_eq!(history[1]["parent"], source_step_2["checkpoint"]);
    assert_eq!(history[0]["parent"], history[1]["checkpoint"]);
    assert_eq!(history[1]["state"], json!({"count": 2}));

    // A fork of the fork, from its input step: the same.
    env.ok(&["fork", "fork-1", "--step", "2", "--thread", "fork-2"]);
    assert_eq!(env.state("fork-2"), json!({"count": 2}));

    // Each goes its own way: the fork to its own question, then to the end.
    let (code, _, stderr) = env.exit(&["resume", "fork-1", "-q"]);
    assert_eq!(code, Some(3), "{stderr}");
    env.ok(&["resume", "fork-1", "--input", r#""yes""#, "-q"]);
    env.ok(&["resume", "src", "--input", r#""yes""#, "-q"]);
    assert_eq!(env.status("fork-1")["status"], "completed");
    assert_eq!(env.status("src")["status"], "completed");
    assert_eq!(env.state("fork-1")["count"], 103);
    assert_eq!(env.state("src")["count"], 5);
    assert_eq!(env.state("fork-2"), json!({"count": 2}), "untouched");
    let src = env.pages(&["history", "src", "--json"]);
    assert_eq!(src.len(), 5, "{src:?}");
}

#[test]
fn update_as_a_node_takes_its_route_and_a_completed_run_goes_on() {
    let env = Env::new(&["counter", "fail"]);
    let workflow = env.workflow("detour.toml", DETOUR);
    env.exits(1, &["run", &workflow, "--thread", "d", "-q"]);
    assert_eq!(env.status("d")["status"], "failed");

    // An unknown node names the workflow's nodes; nothing changes.
    let error = error_of(
        &env,
        2,
        &["update", "d", "--values", "{}", "--as-node", "nope"],
    );
    assert_eq!(error["code"], "usage");
    assert_eq!(
        error["details"],
        json!({"thread": "d", "node": "nope", "nodes": ["a", "b", "c", "manual"]})
    );

    let edited = env.json(&[
        "update",
        "d",
        "--values",
        r#"{"count":50}"#,
        "--as-node",
        "manual",
        "--json",
    ]);
    assert_eq!(edited["status"], "failed", "the status stays: {edited}");
    assert_eq!(edited["next"], json!(["c"]));
    assert_eq!(edited["step"], 2);
    env.ok(&["resume", "d", "-q"]);
    assert_eq!(env.status("d")["status"], "completed");
    assert_eq!(env.state("d"), json!({"count": 60}));
    let history = env.pages(&["history", "d", "--json", "--diff"]);
    assert_eq!(
        steps_nodes(&history),
        vec![(3, "c".into()), (2, "manual".into()), (1, "a".into())]
    );
    assert_eq!(
        history[1]["diff"],
        json!([{"op": "replace", "path": "/count", "value": 50}])
    );
    assert_eq!(
        history[2]["diff"],
        json!([{"op": "add", "path": "/count", "value": 1}])
    );

    // A completed run edited as a node with a next: resume goes on from there.
    let edited = env.json(&[
        "update",
        "d",
        "--values",
        r#"{"count":0}"#,
        "--as-node",
        "manual",
        "--json",
    ]);
    assert_eq!(edited["status"], "completed");
    assert_eq!(edited["next"], json!(["c"]));
    env.ok(&["resume", "d", "-q"]);
    assert_eq!(env.state("d"), json!({"count": 10}));
    // Without a node, the values merge and the next stays (the end).
    env.ok(&["update", "d", "--values", r#"{"note":"checked"}"#]);
    assert_eq!(env.state("d"), json!({"count": 10, "note": "checked"}));
    assert_eq!(env.status("d")["next"], json!([]));
    let history = env.pages(&["history", "d", "--json"]);
    assert_eq!(history[0]["node"], "update");
}

#[test]
fn a_running_run_is_not_edited() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow(
        "slow.toml",
        "name = \"slow\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n\
         config = { delay_ms = 60000 }\ntimeout = \"none\"\nnext = \"end\"\n",
    );
    let _run = env.spawn(&["run", &workflow, "--thread", "busy"]);
    env.wait_status("busy", "running", |s| s["status"] == "running");
    let error = error_of(&env, 6, &["update", "busy", "--values", r#"{"count":1}"#]);
    assert_eq!(error["code"], "conflict", "{error}");
    assert_eq!(error["details"]["thread"], "busy");
    let error = error_of(&env, 6, &["resume", "busy", "--from-step", "0"]);
    assert_eq!(error["code"], "conflict", "{error}");
    env.ok(&["cancel", "busy"]);
}

#[test]
fn a_replay_in_place_keeps_the_superseded_branch_in_history() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    env.ok(&["run", &workflow, "--thread", "r", "-q"]);
    let before = env.pages(&["history", "r", "--json"]);
    // The replay runs n7 on with a changed file: n7 now adds 100.
    let text = std::fs::read_to_string(env.path().join(&workflow)).unwrap();
    let changed = text.replacen(
        "[nodes.n7]\nplugin = \"counter\"",
        "[nodes.n7]\nplugin = \"counter\"\nconfig = { by = 100 }",
        1,
    );
    assert_ne!(changed, text, "chain.toml's n7 as expected");
    std::fs::write(env.path().join(&workflow), changed).unwrap();
    env.ok(&["resume", "r", "--from-step", "6", "--upgrade", "-q"]);

    let status = env.status("r");
    assert_eq!(status["status"], "completed");
    assert_eq!(status["step"], 10);
    assert_eq!(env.state("r"), json!({"count": 109}));
    // state --step is the current branch's.
    assert_eq!(
        env.json(&["state", "r", "--step", "8", "--json"]),
        json!({"count": 107})
    );
    assert_eq!(
        env.json(&["state", "r", "--step", "6", "--json"]),
        json!({"count": 6})
    );

    let current = env.pages(&["history", "r", "--json", "--states"]);
    assert_eq!(current.len(), 10);
    let branch = |e: &Value| e["branch"].as_u64().unwrap();
    assert!(current[..4].iter().all(|e| branch(e) == 1), "{current:?}");
    assert!(current[4..].iter().all(|e| branch(e) == 0), "{current:?}");
    assert!(current.iter().all(|e| e["superseded"] == false));
    // The replay's first checkpoint follows the step it went back to.
    assert_eq!(current[3]["parent"], current[4]["checkpoint"]);

    let all = env.pages(&["history", "r", "--json", "--states", "--all"]);
    assert_eq!(all.len(), 14, "{all:?}");
    let superseded: Vec<&Value> = all.iter().filter(|e| e["superseded"] == true).collect();
    assert_eq!(
        superseded
            .iter()
            .map(|e| (e["step"].as_u64().unwrap(), branch(e), e["state"].clone()))
            .collect::<Vec<_>>(),
        (7..=10)
            .rev()
            .map(|s| (s, 0, json!({"count": s})))
            .collect::<Vec<_>>()
    );
    // They are the checkpoints history showed before the replay.
    let old_ids: Vec<&Value> = before[..4].iter().map(|e| &e["checkpoint"]).collect();
    let superseded_ids: Vec<&Value> = superseded.iter().map(|e| &e["checkpoint"]).collect();
    assert_eq!(superseded_ids, old_ids);

    // For people: the superseded rows are marked with their branch.
    let text = env.ok(&["history", "r", "--all", "--limit", "1000"]);
    let marked = text
        .lines()
        .filter(|l| l.starts_with("0 superseded"))
        .count();
    assert_eq!(marked, 4, "{text}");
    // And the diff of a step: one operation per line under it.
    let text = env.ok(&["history", "r", "--diff", "--limit", "1"]);
    let ops: Vec<&str> = text.lines().skip(2).map(str::trim).collect();
    assert_eq!(ops, ["replace  /count 109"], "{text}");
}

#[test]
fn events_tell_a_crash_a_retry_an_answer_and_a_cancel() {
    let env = Env::new(&["counter"]);
    // n2 is slow in the process the test kills, quick after.
    let workflow = env.workflow(
        "eventful.toml",
        r#"
name = "eventful"
start = "n1"

[nodes.n1]
plugin = "counter"
config = { mode = "retryable", fail_attempts = 1 }
retry = { attempts = 2, initial = "1ms", backoff = "fixed", jitter = 0.0 }
next = "n2"

[nodes.n2]
plugin = "counter"
config = { delay_ms = "${env:SLOW_MS}" }
timeout = "none"
next = "ask"

[nodes.ask]
plugin = "counter"
config = { mode = "interrupt" }
next = "end"
"#,
    );
    let mut child = env
        .command(&["run", &workflow, "--thread", "ev", "--wait"])
        .env("SLOW_MS", "600000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start savepoint run");
    use std::io::BufRead;
    let mut progress = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in progress.by_ref() {
        if progress_step(&line.unwrap()) == Some(1) {
            break;
        }
    }
    // n2's first attempt is under way (its log line is written at its end: wait
    // for the status only).
    env.wait_status("ev", "running n2", |s| {
        s["step"] == 1 && s["status"] == "running"
    });
    child.kill().expect("SIGKILL savepoint");
    child.wait().expect("reap savepoint");
    drop(progress);

    let mut resume = env.command(&["resume", "ev", "-q"]);
    let output = resume.env("SLOW_MS", "0").output().unwrap();
    assert_eq!(output.status.code(), Some(3), "parked at ask: {output:?}");
    let mut answer = env.command(&["resume", "ev", "--input", "true", "-q"]);
    assert!(
        answer
            .env("SLOW_MS", "0")
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_eq!(env.status("ev")["status"], "completed");

    let events = env.pages(&["events", "ev", "--json"]);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let in_order = |wanted: &[&str]| {
        let mut rest = kinds.iter();
        wanted.iter().all(|w| rest.any(|k| k == w))
    };
    assert!(
        in_order(&[
            "created",
            "attempt_failed",
            "step",
            "lease_taken_over",
            "step",
            "interrupted",
            "answered",
            "step"
        ]),
        "{kinds:?}"
    );
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let failed = events
        .iter()
        .find(|e| e["event"] == "attempt_failed")
        .unwrap();
    assert_eq!(failed["node"], "n1");
    assert_eq!(failed["attempt"], 1);
    assert!(
        failed["retry_at"].is_string() || failed["retry_at"].is_number(),
        "{failed}"
    );
    let taken = events
        .iter()
        .find(|e| e["event"] == "lease_taken_over")
        .unwrap();
    assert_eq!(taken["step"], 1);
    assert_eq!(
        taken["attempt"], 2,
        "the crashed call was attempt 1: {taken}"
    );
    let answered = events.iter().find(|e| e["event"] == "answered").unwrap();
    assert_eq!(answered["input"], true);
    // The node saw the call after the crash as its second attempt.
    let logs = env.logs("ev");
    let n2: Vec<&Value> = logs
        .iter()
        .filter(|l| l["node"] == "n2")
        .map(|l| &l["attempt"])
        .collect();
    assert_eq!(
        n2,
        [&json!(2)],
        "the killed attempt logged nothing: {logs:?}"
    );

    // A cancel is an event too.
    let mut parked = env.command(&["run", &workflow, "--thread", "ev-2", "-q"]);
    let output = parked.env("SLOW_MS", "0").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "waits to retry n1: {output:?}"
    );
    env.ok(&["cancel", "ev-2"]);
    let events = env.pages(&["events", "ev-2", "--json", "--limit", "2"]);
    assert_eq!(events.last().unwrap()["event"], "cancelled", "{events:?}");

    // For people: a table, oldest first.
    let text = env.ok(&["events", "ev"]);
    let header = text.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["ID", "AT", "STEP", "EVENT", "DETAILS"]
    );
    assert_eq!(text.lines().count(), events_count(&env, "ev") + 1);
}

fn events_count(env: &Env, thread: &str) -> usize {
    env.pages(&["events", thread, "--json"]).len()
}
