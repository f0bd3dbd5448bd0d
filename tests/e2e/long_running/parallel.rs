//! Parallel branches with joins: merged in list order, the join runs once,
//! and a branch that fails, sleeps or is interrupted runs again alone.

use serde_json::json;

use super::{COMPLETED, PARKED, fan, log_attempts, pairs, steps};
use crate::fixtures::Env;

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
