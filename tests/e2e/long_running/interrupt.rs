//! Interrupts (a human in the loop): input answers them, a deadline times
//! them out.

use serde_json::{Value, json};

use super::{ASK, COMPLETED, FAILED, PARKED, created_at, pairs, steps};
use crate::fixtures::{DEADLINE, Env, Messages, golden, now_ms, parse_time, wait_for};

#[test]
fn an_interrupt_waits_for_input_and_resume_answers_it() {
    let env = Env::new(&["echo"]);
    let workflow = env.workflow("ask.toml", ASK);
    let mut said = Messages::new();
    let stderr = env.exits(PARKED, &["run", &workflow, "--thread", "ask"]);
    said.add("savepoint run ask.toml --thread ask", &stderr);

    let parked = env.status("ask");
    assert_eq!(parked["status"], "interrupted", "{parked}");
    assert_eq!(
        parked["waiting_for"],
        json!({"question": "ok?"}),
        "{parked}"
    );
    assert_eq!(parked["step"], 0, "nothing is committed: {parked}");
    assert_eq!(parked["next"], json!(["ask"]), "{parked}");
    assert_eq!(parked["wake_at"], Value::Null, "no deadline: {parked}");
    assert!(env.history("ask").is_empty());

    // Without an answer, resume says what the question is.
    let stderr = env.fails(&["resume", "ask"]);
    said.add("savepoint resume ask", &stderr);
    assert_eq!(env.status("ask")["status"], "interrupted");

    // The answer reaches the node as ctx.resume.
    env.exits(
        COMPLETED,
        &["resume", "ask", "--input", r#"{"approved":true}"#],
    );
    let seen = &env.state("ask")["seen"];
    assert_eq!(seen["resume"], json!({"approved": true}), "{seen}");
    assert_eq!(seen["interrupt_timed_out"], false, "{seen}");
    assert_eq!(seen["step"], 1, "{seen}");
    assert_eq!(
        seen["attempt"], 1,
        "an interrupt is not a failed attempt: {seen}"
    );
    let done = env.status("ask");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["waiting_for"], Value::Null, "{done}");
    assert_eq!(steps(&env.history("ask")), pairs(&[(1, "ask")]));

    // A completed run takes no more answers.
    let stderr = env.fails(&["resume", "ask", "--input", r#"{"approved":false}"#]);
    said.add("savepoint resume ask --input (completed)", &stderr);
    assert_eq!(
        env.state("ask")["seen"]["resume"],
        json!({"approved": true})
    );
    said.check("interrupt.txt");
}

#[test]
fn input_is_refused_for_a_run_that_is_not_interrupted() {
    let env = Env::new(&["echo", "fail"]);
    // A sleeping run: --input is refused at once, without waiting for the wake.
    let nap = env.workflow(
        "nap.toml",
        "name = \"nap\"\nstart = \"nap\"\n[nodes.nap]\nplugin = \"echo\"\n\
         config = { sleep_ms = 5000 }\nnext = \"end\"\n",
    );
    env.exits(PARKED, &["run", &nap, "--thread", "nap"]);
    let started = std::time::Instant::now();
    let stderr = env.fails(&["resume", "nap", "--input", r#"{"approved":true}"#]);
    let mut said = Messages::new();
    said.add("savepoint resume nap --input (sleeping)", &stderr);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "the refusal did not wait for the wake-up"
    );
    let status = env.status("nap");
    assert_eq!(status["status"], "sleeping", "{status}");
    assert_eq!(status["step"], 1, "{status}");

    // A failed run: resume without --input is how it continues.
    let broken = env.workflow(
        "broken.toml",
        "name = \"broken\"\nstart = \"f\"\n[nodes.f]\nplugin = \"fail\"\nnext = \"end\"\n",
    );
    env.exits(FAILED, &["run", &broken, "--thread", "broken"]);
    let stderr = env.fails(&["resume", "broken", "--input", "{}"]);
    said.add("savepoint resume broken --input (failed)", &stderr);
    said.check("input-not-interrupted.txt");
    assert_eq!(env.status("broken")["status"], "failed");
}

#[test]
fn an_unanswered_interrupt_times_out_under_a_daemon() {
    let env = Env::new(&["echo"]);
    let workflow = env.daemon_workflow(
        "deadline",
        r#"
name = "deadline"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" }, interrupt_timeout_ms = 1000 }
next = "end"
"#,
    );
    let _daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "late"]);
    let parked = env.wait_status("late", "interrupted", |s| {
        s["status"] == "interrupted" || s["status"] == "completed"
    });
    assert_eq!(parked["status"], "interrupted", "{parked}");
    assert_eq!(
        parked["waiting_for"],
        json!({"question": "ok?"}),
        "{parked}"
    );
    let deadline = parked["wake_at"]
        .as_str()
        .unwrap_or_else(|| panic!("an interrupt with a deadline has wake_at: {parked}"))
        .to_string();

    // Nobody answers: past the deadline the node runs again, timed out.
    let done = env.wait_status("late", "completed", |s| s["status"] == "completed");
    assert_eq!(done["step"], 1, "{done}");
    let seen = &env.state("late")["seen"];
    assert_eq!(seen["interrupt_timed_out"], true, "{seen}");
    assert_eq!(seen["resume"], Value::Null, "{seen}");
    let history = env.history("late");
    assert_eq!(steps(&history), pairs(&[(1, "ask")]));
    let ran = created_at(&history, 1);
    assert!(
        ran >= deadline,
        "ran at {ran}, before the deadline {deadline}"
    );
}

#[test]
fn the_approval_example_asks_again_on_a_bad_answer_then_routes() {
    let env = Env::new(&["approval", "counter"]);
    let workflow = env.workflow(
        "review.toml",
        r#"
name = "review"
start = "review"
[nodes.review]
plugin = "approval"
config = { on_approve = "publish", on_reject = "end" }
routes = ["publish", "end"]
[nodes.publish]
plugin = "counter"
next = "end"
"#,
    );
    let input = r#"{"title":"Hello"}"#;
    env.exits(
        PARKED,
        &["run", &workflow, "--thread", "yes", "--input", input],
    );
    let asked = env.status("yes");
    assert_eq!(asked["status"], "interrupted", "{asked}");
    assert_eq!(
        asked["waiting_for"]["question"], "Approve publishing Hello?",
        "{asked}"
    );

    // A typo: the node asks again, saying what was wrong.
    env.exits(PARKED, &["resume", "yes", "--input", r#"{"aproved":true}"#]);
    let again = env.status("yes");
    assert_eq!(again["status"], "interrupted", "{again}");
    let error = again["waiting_for"]["error"].as_str().unwrap_or_default();
    golden("approval-typo.txt", &format!("{error}\n"));
    assert_eq!(again["step"], 0, "{again}");

    env.exits(
        COMPLETED,
        &[
            "resume",
            "yes",
            "--input",
            r#"{"approved":true,"comment":"ship it"}"#,
        ],
    );
    assert_eq!(
        env.state("yes"),
        json!({"title": "Hello", "approved": true, "comment": "ship it", "timed_out": false, "count": 1})
    );
    assert_eq!(
        steps(&env.history("yes")),
        pairs(&[(1, "review"), (2, "publish")])
    );

    // A rejection goes to the end: publish never runs.
    env.exits(
        PARKED,
        &["run", &workflow, "--thread", "no", "--input", input],
    );
    env.exits(
        COMPLETED,
        &["resume", "no", "--input", r#"{"approved":false}"#],
    );
    let state = env.state("no");
    assert_eq!(state["approved"], false, "{state}");
    assert_eq!(state.get("count"), None, "{state}");
    assert_eq!(steps(&env.history("no")), pairs(&[(1, "review")]));
}

#[test]
fn resume_after_an_interrupt_deadline_runs_the_node_timed_out() {
    let env = Env::new(&["echo"]);
    let workflow = env.workflow(
        "deadline.toml",
        r#"
name = "deadline"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" }, interrupt_timeout_ms = 200 }
next = "end"
"#,
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "late"]);
    let parked = env.status("late");
    assert_eq!(parked["status"], "interrupted", "{parked}");
    let deadline = parked["wake_at"]
        .as_str()
        .unwrap_or_else(|| panic!("an interrupt with a deadline has wake_at: {parked}"))
        .to_string();
    let due = parse_time(&deadline);
    wait_for("the interrupt's deadline to pass", DEADLINE, || {
        let now = now_ms();
        if now > due {
            Ok(())
        } else {
            Err(format!("{} ms to go", due - now))
        }
    });
    // Nobody answered in time: without a daemon, `resume` is how the node
    // runs again, with interrupt_timed_out (as the daemon would).
    env.exits(COMPLETED, &["resume", "late"]);
    let seen = &env.state("late")["seen"];
    assert_eq!(seen["interrupt_timed_out"], true, "{seen}");
    assert_eq!(seen["resume"], Value::Null, "{seen}");
}
