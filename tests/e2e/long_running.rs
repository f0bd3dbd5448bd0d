//! Runs that take time: durable sleeps, interrupts (a human in the loop),
//! retries, parallel branches with joins, and step timeouts; driven in the
//! foreground (`run` parks with exit code 3, `resume` continues) or by a
//! `serve` daemon.

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Env, now_ms, parse_time, wait_for};

/// Exit codes of `run` and `resume`.
const COMPLETED: i32 = 0;
const FAILED: i32 = 1;
const PARKED: i32 = 3;

/// The `(step, node)` pairs of a history, oldest first.
fn steps(history: &[Value]) -> Vec<(u64, String)> {
    let mut steps: Vec<(u64, String)> = history
        .iter()
        .map(|c| {
            (
                c["step"].as_u64().unwrap(),
                c["node"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    steps.reverse();
    steps
}

fn pairs(items: &[(u64, &str)]) -> Vec<(u64, String)> {
    items.iter().map(|(s, n)| (*s, n.to_string())).collect()
}

/// The attempts of `node`'s log lines at `level` (all levels when `None`),
/// in log order.
fn log_attempts(logs: &[Value], node: &str, level: Option<&str>) -> Vec<u64> {
    logs.iter()
        .filter(|l| l["node"] == node && level.is_none_or(|level| l["level"] == level))
        .map(|l| l["attempt"].as_u64().unwrap())
        .collect()
}

fn created_at(history: &[Value], step: u64) -> String {
    let checkpoint = history
        .iter()
        .find(|c| c["step"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {history:?}"));
    checkpoint["created_at"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------- sleep

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

// ------------------------------------------------------------ interrupt

const ASK: &str = r#"
name = "ask"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" } }
next = "end"
"#;

#[test]
fn an_interrupt_waits_for_input_and_resume_answers_it() {
    let env = Env::new(&["echo"]);
    let workflow = env.workflow("ask.toml", ASK);
    let stderr = env.exits(PARKED, &["run", &workflow, "--thread", "ask"]);
    assert!(stderr.contains("waiting for input"), "{stderr}");

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
    assert!(
        stderr.contains("waiting for input")
            && stderr.contains("ok?")
            && stderr.contains("--input"),
        "{stderr}"
    );
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
    assert!(stderr.contains("thread \"ask\" is completed"), "{stderr}");
    assert_eq!(
        env.state("ask")["seen"]["resume"],
        json!({"approved": true})
    );
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
    assert!(
        stderr.contains("thread \"nap\" is sleeping, not interrupted"),
        "{stderr}"
    );
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
    assert!(
        stderr.contains("thread \"broken\" is failed, not interrupted"),
        "{stderr}"
    );
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
    assert!(error.contains("unknown field `aproved`"), "{again}");
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

// -------------------------------------------------------------- retries

/// One `fail` node with the given config and retry policy.
fn failing(config: &str, retry: &str) -> String {
    format!(
        "name = \"flaky\"\nstart = \"f\"\n[nodes.f]\nplugin = \"fail\"\nconfig = {config}\n\
         retry = {retry}\nnext = \"end\"\n"
    )
}

#[test]
fn a_daemon_retries_a_retryable_failure_until_it_recovers() {
    let env = Env::new(&["fail"]);
    let workflow = env.daemon_workflow(
        "flaky",
        &failing(
            r#"{ kind = "retryable", message = "flaky", attempts = 2 }"#,
            r#"{ attempts = 3, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let _daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "flaky"]);
    let done = env.wait_status("flaky", "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(env.state("flaky"), json!({"recovered_at": 3}));
    assert_eq!(steps(&env.history("flaky")), pairs(&[(1, "f")]));
    let logs = env.logs("flaky");
    assert_eq!(
        log_attempts(&logs, "f", Some("warn")),
        vec![1, 2],
        "{logs:?}"
    );
    assert_eq!(log_attempts(&logs, "f", Some("info")), vec![3], "{logs:?}");
}

#[test]
fn a_fatal_failure_fails_at_once_despite_a_retry_policy() {
    let env = Env::new(&["fail"]);
    let workflow = env.workflow(
        "fatal.toml",
        &failing(
            r#"{ kind = "fatal", message = "boom" }"#,
            r#"{ attempts = 3, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let stderr = env.exits(FAILED, &["run", &workflow, "--thread", "fatal"]);
    assert!(stderr.contains("boom"), "{stderr}");
    let status = env.status("fatal");
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["attempt"], 1, "{status}");
    assert_eq!(status["error_node"], "f", "{status}");
    assert!(
        status["error"]
            .as_str()
            .unwrap_or_default()
            .contains("boom"),
        "{status}"
    );
    assert_eq!(status["wake_at"], Value::Null, "{status}");
    assert_eq!(log_attempts(&env.logs("fatal"), "f", None), vec![1]);
}

#[test]
fn a_daemon_fails_the_run_when_the_retry_budget_is_spent() {
    let env = Env::new(&["fail"]);
    let workflow = env.daemon_workflow(
        "hopeless",
        &failing(
            r#"{ kind = "retryable", message = "still down" }"#,
            r#"{ attempts = 2, backoff = "fixed", initial = "50ms" }"#,
        ),
    );
    let _daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "hopeless"]);
    let done = env.wait_status("hopeless", "failed", |s| {
        s["status"] == "failed" || s["status"] == "completed"
    });
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["error_node"], "f", "{done}");
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("still down"),
        "{done}"
    );
    assert_eq!(
        log_attempts(&env.logs("hopeless"), "f", Some("warn")),
        vec![1, 2]
    );
    assert!(env.history("hopeless").is_empty());
}

#[test]
fn a_foreground_run_parks_on_a_retryable_failure_and_resume_retries() {
    let env = Env::new(&["fail"]);
    let workflow = env.workflow(
        "flaky.toml",
        &failing(
            r#"{ kind = "retryable", message = "flaky", attempts = 1 }"#,
            r#"{ attempts = 2, backoff = "fixed", initial = "200ms" }"#,
        ),
    );
    let stderr = env.exits(PARKED, &["run", &workflow, "--thread", "flaky"]);
    assert!(stderr.contains("waiting to retry"), "{stderr}");
    let parked = env.status("flaky");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert_eq!(parked["attempt"], 1, "{parked}");
    assert_eq!(parked["error_node"], "f", "{parked}");
    assert!(
        parked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("flaky"),
        "{parked}"
    );
    let retry_at = parked["wake_at"]
        .as_str()
        .unwrap_or_else(|| panic!("a retrying run has wake_at: {parked}"))
        .to_string();

    env.exits(COMPLETED, &["resume", "flaky"]);
    assert_eq!(env.state("flaky"), json!({"recovered_at": 2}));
    let history = env.history("flaky");
    let ran = created_at(&history, 1);
    assert!(ran >= retry_at, "retried at {ran}, before {retry_at}");
    let done = env.status("flaky");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
}

#[test]
fn resuming_a_failed_run_replays_only_the_failed_node() {
    let env = Env::new(&["counter", "fail"]);
    let workflow = env.workflow(
        "replay.toml",
        r#"
name = "replay"
start = "a"
[state]
trace = "append"
[nodes.a]
plugin = "counter"
config = { trace = true }
next = "b"
[nodes.b]
plugin = "counter"
config = { trace = true }
next = "f"
[nodes.f]
plugin = "fail"
config = { kind = "fatal", message = "fix me", attempts = 1 }
next = "c"
[nodes.c]
plugin = "counter"
config = { trace = true }
next = "end"
"#,
    );
    env.exits(FAILED, &["run", &workflow, "--thread", "replay"]);
    let failed = env.status("replay");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["step"], 2, "{failed}");
    assert_eq!(failed["next"], json!(["f"]), "{failed}");
    let before = env.history("replay");
    assert_eq!(steps(&before), pairs(&[(1, "a"), (2, "b")]));

    let stderr = env.exits(COMPLETED, &["resume", "replay"]);
    let resumed: Vec<&str> = stderr.lines().filter(|l| l.starts_with("step ")).collect();
    assert_eq!(resumed.len(), 2, "only f and c ran: {stderr}");
    assert!(resumed[0].contains(" f "), "{stderr}");

    let state = env.state("replay");
    assert_eq!(state["trace"], json!(["a", "b", "c"]), "{state}");
    assert_eq!(state["count"], 3, "{state}");
    assert_eq!(state["recovered_at"], 2, "{state}");
    let after = env.history("replay");
    assert_eq!(
        steps(&after),
        pairs(&[(1, "a"), (2, "b"), (3, "f"), (4, "c")])
    );
    // The checkpoints before the failure are the same rows, untouched.
    assert_eq!(&after[2..], &before[..], "history before the failed node");
    let logs = env.logs("replay");
    for node in ["a", "b", "c"] {
        assert_eq!(
            log_attempts(&logs, node, Some("info")),
            vec![1],
            "{node} ran once: {logs:?}"
        );
    }
}

// ------------------------------------------------------------- parallel

/// `s` fans out to `branches` (counters adding 1 and 10), joined by `c`.
fn fan(branches: &str) -> String {
    format!(
        r#"
name = "fan"
start = "s"
[state]
trace = "append"
[nodes.s]
plugin = "counter"
config = {{ trace = true }}
next = {branches}
[nodes.a]
plugin = "counter"
config = {{ trace = true, by = 1 }}
next = "c"
[nodes.b]
plugin = "counter"
config = {{ trace = true, by = 10 }}
next = "c"
[nodes.c]
plugin = "counter"
config = {{ trace = true }}
after = ["a", "b"]
next = "end"
"#
    )
}

#[test]
fn parallel_branches_merge_in_list_order_and_the_join_runs_once() {
    let env = Env::new(&["counter"]);
    // Both branches read count = 1; `count` is replaced, so the last branch
    // in the list decides it: b (1 + 10) here, a (1 + 1) below.
    let ab = env.workflow("ab.toml", &fan(r#"["a", "b"]"#));
    env.exits(COMPLETED, &["run", &ab, "--thread", "ab"]);
    let state = env.state("ab");
    assert_eq!(state["trace"], json!(["s", "a", "b", "c"]), "{state}");
    assert_eq!(state["count"], 12, "{state}");
    assert_eq!(
        steps(&env.history("ab")),
        pairs(&[(1, "s"), (2, "a,b"), (3, "c")])
    );
    let logs = env.logs("ab");
    assert_eq!(log_attempts(&logs, "c", Some("info")), vec![1], "{logs:?}");

    let ba = env.workflow("ba.toml", &fan(r#"["b", "a"]"#));
    env.exits(COMPLETED, &["run", &ba, "--thread", "ba"]);
    let state = env.state("ba");
    assert_eq!(state["trace"], json!(["s", "b", "a", "c"]), "{state}");
    assert_eq!(state["count"], 3, "{state}");
    assert_eq!(
        steps(&env.history("ba")),
        pairs(&[(1, "s"), (2, "b,a"), (3, "c")])
    );
}

#[test]
fn a_failing_branch_is_retried_without_running_its_sibling_again() {
    let env = Env::new(&["counter", "fail"]);
    let workflow = env.workflow(
        "branchy.toml",
        r#"
name = "branchy"
start = "s"
[state]
trace = "append"
[nodes.s]
plugin = "counter"
config = { trace = true }
next = ["a", "f"]
[nodes.a]
plugin = "counter"
config = { trace = true }
next = "c"
[nodes.f]
plugin = "fail"
config = { kind = "retryable", message = "flaky branch", attempts = 1 }
retry = { attempts = 2, backoff = "fixed", initial = "200ms" }
next = "c"
[nodes.c]
plugin = "counter"
config = { trace = true }
after = ["a", "f"]
next = "end"
"#,
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "branchy"]);
    let parked = env.status("branchy");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert_eq!(parked["step"], 1, "{parked}");
    assert_eq!(parked["error_node"], "f", "{parked}");
    assert_eq!(
        parked["pending_writes"],
        json!(["a"]),
        "a's update is kept: {parked}"
    );

    env.exits(COMPLETED, &["resume", "branchy"]);
    let state = env.state("branchy");
    assert_eq!(state["trace"], json!(["s", "a", "c"]), "{state}");
    assert_eq!(state["recovered_at"], 2, "{state}");
    assert_eq!(
        steps(&env.history("branchy")),
        pairs(&[(1, "s"), (2, "a,f"), (3, "c")])
    );
    let logs = env.logs("branchy");
    assert_eq!(
        log_attempts(&logs, "a", Some("info")),
        vec![1],
        "a ran once: {logs:?}"
    );
    assert_eq!(log_attempts(&logs, "f", None), vec![1, 2], "{logs:?}");
    assert_eq!(env.status("branchy")["pending_writes"], json!([]));
}

// -------------------------------------------------------------- timeout

fn hot(retry: &str) -> String {
    format!(
        "name = \"hot\"\nstart = \"hot\"\n[nodes.hot]\nplugin = \"spin\"\ntimeout = \"300ms\"\n\
         {retry}next = \"end\"\n"
    )
}

#[test]
fn a_node_past_its_timeout_fails_with_a_message_naming_it() {
    let env = Env::new(&["spin"]);
    let workflow = env.workflow("hot.toml", &hot(""));
    let started = std::time::Instant::now();
    let stderr = env.exits(FAILED, &["run", &workflow, "--thread", "hot"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the spinning node was stopped"
    );
    let status = env.status("hot");
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error_node"], "hot", "{status}");
    let error = status["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("node \"hot\"") && error.contains("timed out after 300ms"),
        "{status}"
    );
    assert!(stderr.contains("timed out after 300ms"), "{stderr}");
    assert_eq!(status["attempt"], 1, "{status}");
}

#[test]
fn a_timeout_is_retried_then_the_run_fails() {
    let env = Env::new(&["spin"]);
    let workflow = env.workflow(
        "hot.toml",
        &hot("retry = { attempts = 2, backoff = \"fixed\", initial = \"100ms\" }\n"),
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "hot"]);
    let parked = env.status("hot");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert!(
        parked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out after 300ms"),
        "{parked}"
    );
    env.exits(FAILED, &["resume", "hot"]);
    let failed = env.status("hot");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 2, "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out after 300ms"),
        "{failed}"
    );
    assert_eq!(log_attempts(&env.logs("hot"), "hot", None), vec![1, 2]);
}

// ------------------------------------------------------- more edge cases

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

#[test]
fn exponential_backoff_doubles_the_wait_up_to_max() {
    let env = Env::new(&["fail"]);
    // The workflow-wide retry applies to a node without its own.
    let workflow = env.workflow(
        "backoff.toml",
        r#"
name = "backoff"
start = "f"
retry = { attempts = 4, backoff = "exponential", initial = "200ms", max = "600ms", jitter = 0.0 }
[nodes.f]
plugin = "fail"
config = { kind = "retryable", message = "down" }
next = "end"
"#,
    );
    let wait = |status: &Value| {
        parse_time(status["wake_at"].as_str().unwrap())
            - parse_time(status["updated_at"].as_str().unwrap())
    };
    env.exits(PARKED, &["run", &workflow, "--thread", "backoff"]);
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        let status = env.status("backoff");
        assert_eq!(status["status"], "retrying", "{status}");
        assert_eq!(status["attempt"], attempt, "{status}");
        waits.push(wait(&status));
        let expected = if attempt == 3 { FAILED } else { PARKED };
        env.exits(expected, &["resume", "backoff"]);
    }
    // 200 ms, twice that, then capped at max (not 800 ms).
    for (wait, expected) in waits.iter().zip([200, 400, 600]) {
        assert!(
            (expected - 150..=expected + 10).contains(wait),
            "waits {waits:?}, expected about [200, 400, 600] ms"
        );
    }
    let failed = env.status("backoff");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 4, "{failed}");
}

#[test]
fn a_trap_is_retried_like_a_retryable_failure() {
    let env = Env::new(&["trap"]);
    let workflow = env.workflow(
        "trap.toml",
        "name = \"trap\"\nstart = \"t\"\n[nodes.t]\nplugin = \"trap\"\n\
         retry = { attempts = 2, backoff = \"fixed\", initial = \"100ms\" }\nnext = \"end\"\n",
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "trap"]);
    let parked = env.status("trap");
    assert_eq!(parked["status"], "retrying", "{parked}");
    assert!(
        parked["error"]
            .as_str()
            .unwrap_or_default()
            .contains("node \"t\""),
        "{parked}"
    );
    env.exits(FAILED, &["resume", "trap"]);
    let failed = env.status("trap");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 2, "{failed}");
}

#[test]
fn a_sleeping_branch_runs_again_alone_and_the_join_waits_for_it() {
    let env = Env::new(&["counter", "echo"]);
    let workflow = env.workflow(
        "drowsy.toml",
        r#"
name = "drowsy"
start = "s"
[state]
trace = "append"
[nodes.s]
plugin = "counter"
config = { trace = true }
next = ["a", "b"]
[nodes.a]
plugin = "echo"
config = { sleep_ms = 200 }
next = "c"
[nodes.b]
plugin = "counter"
config = { trace = true }
next = "c"
[nodes.c]
plugin = "counter"
config = { trace = true }
after = ["a", "b"]
next = "end"
"#,
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "drowsy"]);
    let parked = env.status("drowsy");
    assert_eq!(parked["status"], "sleeping", "{parked}");
    assert_eq!(parked["step"], 2, "{parked}");
    assert_eq!(
        parked["next"],
        json!(["a"]),
        "only the sleeper runs again: {parked}"
    );
    let state = env.state("drowsy");
    assert_eq!(state["trace"], json!(["s", "b"]), "{state}");
    assert_eq!(state["slept"], true, "{state}");

    env.exits(COMPLETED, &["resume", "drowsy"]);
    let state = env.state("drowsy");
    assert_eq!(state["trace"], json!(["s", "b", "c"]), "{state}");
    assert_eq!(state["seen"]["wakes"], 1, "{state}");
    assert_eq!(
        steps(&env.history("drowsy")),
        pairs(&[(1, "s"), (2, "a,b"), (3, "a"), (4, "c")])
    );
    let logs = env.logs("drowsy");
    assert_eq!(log_attempts(&logs, "b", Some("info")), vec![1], "{logs:?}");
    assert_eq!(log_attempts(&logs, "c", Some("info")), vec![1], "{logs:?}");
}

#[test]
fn an_interrupted_branch_is_answered_without_running_its_sibling_again() {
    let env = Env::new(&["counter", "echo"]);
    let workflow = env.workflow(
        "split.toml",
        r#"
name = "split"
start = "s"
[state]
trace = "append"
[nodes.s]
plugin = "counter"
config = { trace = true }
next = ["a", "q"]
[nodes.a]
plugin = "counter"
config = { trace = true }
next = "c"
[nodes.q]
plugin = "echo"
config = { interrupt = { question = "go?" } }
next = "c"
[nodes.c]
plugin = "counter"
config = { trace = true }
after = ["a", "q"]
next = "end"
"#,
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "split"]);
    let parked = env.status("split");
    assert_eq!(parked["status"], "interrupted", "{parked}");
    assert_eq!(parked["step"], 1, "{parked}");
    assert_eq!(
        parked["waiting_for"],
        json!({"question": "go?"}),
        "{parked}"
    );
    assert_eq!(parked["pending_writes"], json!(["a"]), "{parked}");

    env.exits(COMPLETED, &["resume", "split", "--input", "\"go\""]);
    let state = env.state("split");
    assert_eq!(state["trace"], json!(["s", "a", "c"]), "{state}");
    assert_eq!(state["seen"]["node"], "q", "{state}");
    assert_eq!(state["seen"]["resume"], "go", "{state}");
    assert_eq!(
        steps(&env.history("split")),
        pairs(&[(1, "s"), (2, "a,q"), (3, "c")])
    );
    let logs = env.logs("split");
    assert_eq!(
        log_attempts(&logs, "a", Some("info")),
        vec![1],
        "a ran once: {logs:?}"
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
