//! kill -9 in the middle of a run, then `resume`: the run continues from its
//! last committed checkpoint, and no node before it runs again.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages, progress_step};

/// Ten counters that each take `delay_ms` and append their name to `trace`,
/// so the state itself records every execution that was committed.
fn traced_chain(delay_ms: u64) -> String {
    let mut text = String::from("name = \"traced\"\nstart = \"n1\"\n[state]\ntrace = \"append\"\n");
    for i in 1..=10 {
        let next = if i == 10 {
            "end".to_string()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "[nodes.n{i}]\nplugin = \"counter\"\nconfig = {{ delay_ms = {delay_ms}, trace = true }}\nnext = \"{next}\"\n"
        ));
    }
    text
}

/// Start the traced chain, SIGKILL the process once `kill_after` steps have
/// been reported committed, resume it, and check nothing was lost or redone.
fn kill_and_resume(kill_after: u64, start_count: i64) {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("traced.toml", &traced_chain(150));
    let thread = format!("crash-{kill_after}");
    let input = json!({ "count": start_count }).to_string();

    let args = ["run", &workflow, "--thread", &thread, "--input", &input];
    let seen = env.sigkill_after(&args, |step, _| step >= kill_after);
    assert_eq!(
        seen, kill_after,
        "the run reported step {kill_after} before we killed it"
    );

    // What survived the kill: the committed steps, exactly.
    let status = env.status(&thread);
    assert_eq!(status["status"], "running", "{status}");
    let committed = status["step"].as_u64().expect("step");
    assert!(committed >= kill_after && committed < 10, "{status}");
    assert_eq!(status["next"], json!([format!("n{}", committed + 1)]));
    assert_eq!(env.history(&thread).len() as u64, committed);
    let state = env.state(&thread);
    assert_eq!(state["count"], start_count + committed as i64, "{state}");

    // Resume: the first step it runs is the one after the last checkpoint.
    let output = env.run(&["resume", &thread]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "resume failed: {stderr}");
    let resumed_steps: Vec<u64> = stderr.lines().filter_map(progress_step).collect();
    let expected: Vec<u64> = (committed + 1..=10).collect();
    assert_eq!(
        resumed_steps, expected,
        "resume ran exactly the missing steps:\n{stderr}"
    );

    // The final state is right, and every node ran into it exactly once.
    let state = env.state(&thread);
    assert_eq!(
        state["count"],
        start_count + 10,
        "the stored state, not the input: {state}"
    );
    let trace: Vec<String> = (1..=10).map(|i| format!("n{i}")).collect();
    assert_eq!(state["trace"], json!(trace));
    let history = env.history(&thread);
    let steps: Vec<u64> = history
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=10).rev().collect::<Vec<u64>>());
    assert_eq!(env.status(&thread)["status"], "completed");

    // Each committed step carries exactly one line from its counter.
    let logs = Value::Array(env.logs(&thread));
    for step in 1..=10u64 {
        let lines = logs
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["step"] == step && l["level"] == "info")
            .count();
        assert_eq!(lines, 1, "step {step} logged {lines} times: {logs}");
    }
}

#[test]
fn kill_after_first_step_then_resume() {
    kill_and_resume(1, 0);
}

#[test]
fn kill_mid_run_then_resume_uses_stored_state_not_input() {
    kill_and_resume(4, 100);
}

#[test]
fn kill_near_the_end_then_resume() {
    kill_and_resume(8, 0);
}

#[test]
fn resume_of_a_completed_run_is_refused() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    env.ok(&["run", &workflow, "--thread", "done"]);
    let mut said = Messages::new();
    said.add("savepoint resume done", &env.fails(&["resume", "done"]));
    let stderr = env.fails(&["run", &workflow, "--thread", "done"]);
    said.add("savepoint run chain.toml --thread done", &stderr);
    said.check("completed-run-refusals.txt");
    assert_eq!(env.state("done"), json!({"count": 10}));
}

#[test]
fn run_on_an_unfinished_thread_says_to_resume() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("traced.toml", &traced_chain(150));
    let mut child = env
        .command(&["run", &workflow, "--thread", "busy"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in progress.by_ref() {
        if progress_step(&line.unwrap()).is_some() {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(progress);
    let stderr = env.fails(&["run", &workflow, "--thread", "busy"]);
    assert!(
        stderr.contains("already exists and is unfinished")
            && stderr.contains("savepoint resume busy"),
        "{stderr}"
    );
    // The refused command changed nothing.
    let status: Value = env.status("busy");
    assert_eq!(status["status"], "running");
}
