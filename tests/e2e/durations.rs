//! Durations a node may ask for that no clock can reach: a sleep or an
//! interrupt deadline of `u64::MAX` or `i64::MAX` milliseconds. "Forever"
//! must mean forever (a sleep waits 100 years, an interrupt has no deadline),
//! never a time that wraps into the past and wakes the run at once.

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages, now_ms, parse_time};

/// What `run` exits with when the run parks.
const PARKED: i32 = 3;
/// 100 years less a day, in milliseconds: the least a "forever" wait lasts.
const NEARLY_A_CENTURY_MS: i64 = (36_525 - 1) * 86_400_000;

/// A workflow whose node `wait` runs hostile `mode` with `ms` (TOML integers
/// stop at `i64::MAX`: the node's default `ms` is `u64::MAX`).
fn forever_workflow(env: &Env, mode: &str, ms: u64) -> String {
    let ms = match i64::try_from(ms) {
        Ok(ms) => format!(", ms = {ms}"),
        Err(_) => String::new(),
    };
    env.workflow(
        "forever.toml",
        &format!(
            r#"
name = "forever"
start = "wait"
[nodes.wait]
plugin = "hostile"
config = {{ mode = "{mode}"{ms} }}
next = "end"
"#
        ),
    )
}

/// How many times node `wait` was called: it logs one `info` line a call.
fn calls(env: &Env, thread: &str) -> usize {
    env.logs(thread)
        .iter()
        .filter(|l| l["node"] == "wait" && l["level"] == "info")
        .count()
}

#[test]
fn a_sleep_of_u64_max_or_i64_max_ms_parks_the_run_for_a_century() {
    for ms in [u64::MAX, i64::MAX as u64] {
        let env = Env::new(&["hostile"]);
        let workflow = forever_workflow(&env, "sleep_forever", ms);
        let before = now_ms();
        env.exits(PARKED, &["run", &workflow, "--thread", "nap"]);

        let parked = env.status("nap");
        assert_eq!(parked["status"], "sleeping", "{ms}: {parked}");
        assert_eq!(parked["step"], 1, "{ms}: {parked}");
        assert_eq!(parked["wakes"], 1, "{ms}: {parked}");
        let wake_at = parse_time(parked["wake_at"].as_str().expect("a wake time"));
        assert!(
            wake_at >= before + NEARLY_A_CENTURY_MS,
            "{ms}: wakes at {}, not a century from now",
            parked["wake_at"]
        );
        assert_eq!(env.state("nap"), json!({"slept": true}), "{ms}");
        assert_eq!(calls(&env, "nap"), 1, "{ms}: the node was called once");
    }
}

#[test]
fn an_interrupt_deadline_of_u64_max_or_i64_max_ms_is_no_deadline() {
    let mut said = Messages::new();
    for ms in [u64::MAX, i64::MAX as u64] {
        let env = Env::new(&["hostile"]);
        let workflow = forever_workflow(&env, "interrupt_forever", ms);
        env.exits(PARKED, &["run", &workflow, "--thread", "ask"]);

        let parked = env.status("ask");
        assert_eq!(parked["status"], "interrupted", "{ms}: {parked}");
        assert_eq!(parked["step"], 0, "{ms}: {parked}");
        assert_eq!(
            parked["wake_at"],
            Value::Null,
            "{ms}: waits forever: {parked}"
        );
        assert_eq!(calls(&env, "ask"), 1, "{ms}: the node was called once");
        // No deadline passed: only an answer moves it on.
        let stderr = env.fails(&["resume", "ask"]);
        said.add(
            &format!("interrupt_timeout_ms = {ms}: savepoint resume ask"),
            &stderr,
        );
        assert_eq!(calls(&env, "ask"), 1, "{ms}: the node was called once");
    }
    said.check("interrupt-without-deadline.txt");
}
