//! Runs that take time: durable sleeps, interrupts (a human in the loop),
//! retries, parallel branches with joins, and step timeouts; driven in the
//! foreground (`run` parks with exit code 3, `resume` continues) or by a
//! `serve` daemon.

use serde_json::Value;

mod interrupt;
mod parallel;
mod retries;
mod sleep;
mod timeout;

/// Exit codes of `run` and `resume`.
pub(super) const COMPLETED: i32 = 0;
pub(super) const FAILED: i32 = 1;
pub(super) const PARKED: i32 = 3;

/// The `(step, node)` pairs of a history, oldest first.
pub(super) fn steps(history: &[Value]) -> Vec<(u64, String)> {
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

pub(super) fn pairs(items: &[(u64, &str)]) -> Vec<(u64, String)> {
    items.iter().map(|(s, n)| (*s, n.to_string())).collect()
}

/// The attempts of `node`'s log lines at `level` (all levels when `None`),
/// in log order.
pub(super) fn log_attempts(logs: &[Value], node: &str, level: Option<&str>) -> Vec<u64> {
    logs.iter()
        .filter(|l| l["node"] == node && level.is_none_or(|level| l["level"] == level))
        .map(|l| l["attempt"].as_u64().unwrap())
        .collect()
}

pub(super) fn created_at(history: &[Value], step: u64) -> String {
    let checkpoint = history
        .iter()
        .find(|c| c["step"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {history:?}"));
    checkpoint["created_at"].as_str().unwrap().to_string()
}

pub(super) const ASK: &str = r#"
name = "ask"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" } }
next = "end"
"#;

/// One `fail` node with the given config and retry policy.
pub(super) fn failing(config: &str, retry: &str) -> String {
    format!(
        "name = \"flaky\"\nstart = \"f\"\n[nodes.f]\nplugin = \"fail\"\nconfig = {config}\n\
         retry = {retry}\nnext = \"end\"\n"
    )
}

/// `s` fans out to `branches` (counters adding 1 and 10), joined by `c`.
pub(super) fn fan(branches: &str) -> String {
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

pub(super) fn hot(retry: &str) -> String {
    format!(
        "name = \"hot\"\nstart = \"hot\"\n[nodes.hot]\nplugin = \"spin\"\ntimeout = \"300ms\"\n\
         {retry}next = \"end\"\n"
    )
}
