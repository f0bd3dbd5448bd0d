//! Durable sleeps: `run` parks, `resume` waits until the sleep is due, and
//! `--wait` keeps a run in the foreground through sleeps and retry waits.

use serde_json::{Value, json};

use super::{ASK, COMPLETED, PARKED, created_at, failing, pairs, steps};
use crate::fixtures::Env;

#[test]
fn a_sleep_parks_the_run_and_resume_waits_until_it_is_due() {
    let env = Env::new(&["echo", "counter"]);
    let workflow = env.workflow(
        "nap.toml",
        r#"
name = "nap"
start = "nap"
[nodes.nap]
plugin = "echo"
config = { sleep_ms = 300 }
next = "after"
[nodes.after]
plugin = "counter"
next = "end"
"#,
    );
    let stderr = env.exits(PARKED, &["run", &workflow, "--thread", "nap"]);
    assert!(stderr.contains("sleeping until"), "{stderr}");
    assert!(stderr.contains("savepoint resume nap"), "{stderr}");

    // The sleep's update is committed; the node runs again when it wakes.
    let parked = env.status("nap");
    assert_eq!(parked["status"], "sleeping", "{parked}");
    assert_eq!(parked["step"], 1, "{parked}");
    assert_eq!(parked["next"], json!(["nap"]), "{parked}");
    assert_eq!(parked["wakes"], 1, "{parked}");
    let wake_at = parked["wake_at"]
        .as_str()
        .unwrap_or_else(|| panic!("a sleeping run has wake_at: {parked}"))
        .to_string();
    assert!(parked["created_at"].as_str().unwrap() < wake_at.as_str());
    assert_eq!(env.state("nap"), json!({"slept": true}));

    // `resume` waits until the run is due, then continues it.
    let stderr = env.exits(COMPLETED, &["resume", "nap"]);
    assert!(stderr.contains("completed"), "{stderr}");
    let state = env.state("nap");
    assert_eq!(state["slept"], true, "{state}");
    assert_eq!(state["count"], 1, "{state}");
    assert_eq!(state["seen"]["node"], "nap", "{state}");
    assert_eq!(
        state["seen"]["wakes"], 1,
        "ctx.wakes after one wake: {state}"
    );
    assert_eq!(state["seen"]["step"], 2, "{state}");

    let history = env.history("nap");
    assert_eq!(
        steps(&history),
        pairs(&[(1, "nap"), (2, "nap"), (3, "after")])
    );
    let woke = created_at(&history, 2);
    assert!(
        woke >= wake_at,
        "the node ran again at {woke}, before it was due at {wake_at}"
    );
    let done = env.status("nap");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["wake_at"], Value::Null, "{done}");
}

#[test]
fn the_poll_example_sleeps_until_the_answer_is_there() {
    let env = Env::new(&["poll"]);
    let workflow = env.workflow(
        "poll.toml",
        r#"
name = "poll"
start = "look"
[nodes.look]
plugin = "poll"
config = { every_ms = 100, until_wakes = 2 }
next = "end"
"#,
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "poll"]);
    assert_eq!(env.state("poll"), json!({"polls": 1}));
    // Each resume waits for one wake-up; the run parks again until the answer.
    let mut resumes = 0;
    loop {
        resumes += 1;
        assert!(resumes <= 4, "the answer came on the second wake-up");
        let (code, _, stderr) = env.exit(&["resume", "poll"]);
        match code {
            Some(COMPLETED) => break,
            Some(PARKED) => assert_eq!(env.status("poll")["status"], "sleeping"),
            other => panic!("resume exited with {other:?}: {stderr}"),
        }
    }
    assert_eq!(env.state("poll"), json!({"polls": 2, "replied": true}));
    let history = env.history("poll");
    assert_eq!(
        steps(&history),
        pairs(&[(1, "look"), (2, "look"), (3, "look")])
    );
    let looks: Vec<String> = env
        .logs("poll")
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(looks.len(), 3, "{looks:?}");
    assert!(
        looks[2].contains("look 3: the answer is there"),
        "{looks:?}"
    );
}

#[test]
fn wait_keeps_the_run_in_the_foreground_through_sleeps_and_retry_waits() {
    let env = Env::new(&["poll", "fail", "echo"]);
    let poll = env.workflow(
        "poll.toml",
        "name = \"poll\"\nstart = \"look\"\n[nodes.look]\nplugin = \"poll\"\n\
         config = { every_ms = 100, until_wakes = 2 }\nnext = \"end\"\n",
    );
    env.exits(COMPLETED, &["run", &poll, "--thread", "poll", "--wait"]);
    assert_eq!(env.state("poll"), json!({"polls": 2, "replied": true}));
    assert_eq!(env.history("poll").len(), 3);

    // `resume --wait` goes through every later sleep too.
    env.exits(PARKED, &["run", &poll, "--thread", "later"]);
    env.exits(COMPLETED, &["resume", "later", "--wait"]);
    assert_eq!(env.state("later"), json!({"polls": 2, "replied": true}));

    let flaky = env.workflow(
        "flaky.toml",
        &failing(
            r#"{ kind = "retryable", message = "flaky", attempts = 2 }"#,
            r#"{ attempts = 3, backoff = "fixed", initial = "100ms" }"#,
        ),
    );
    env.exits(COMPLETED, &["run", &flaky, "--thread", "flaky", "--wait"]);
    assert_eq!(env.state("flaky"), json!({"recovered_at": 3}));

    // An interrupt still ends the command: only a person can answer it.
    let ask = env.workflow("ask.toml", ASK);
    let mut run = env.spawn(&["run", &ask, "--thread", "ask", "--wait"]);
    let exit = run.wait_exit("run --wait to stop at the interrupt");
    assert_eq!(exit.code(), Some(PARKED), "{exit}");
    assert_eq!(env.status("ask")["status"], "interrupted");
}
