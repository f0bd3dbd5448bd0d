//! `counter`: adds `by` to the state's `count` (a missing `count` counts as 0).
//!
//! This is the Rust implementation of the counter contract in
//! `guest-sdk/CONFORMANCE.md`, which the counter of every language follows and
//! the conformance suite checks.
//!
//! Config (every key optional):
//!
//! - `by` (integer, default 1): what to add.
//! - `delay_ms` (integer, default 0): how long to sleep first, to simulate work.
//!   A string of digits is accepted too, so that a workflow can take the delay
//!   from the host's environment: `delay_ms = "${env:BENCH_DELAY_MS}"` (the
//!   benchmarks' resume scenario slows one node down only in the process it
//!   kills).
//! - `trace` (boolean, default false): also return `"trace": [<node name>]`.
//!   With `trace = "append"` in the workflow's `[state]`, the state keeps the
//!   list of nodes that ran.
//! - `mode` (default `"count"`): `count`, `echo`, `context`, `goto`,
//!   `interrupt`, `sleep`, `retryable`, `fatal`, `panic`, `fanout`, `item` or
//!   `signal` (see CONFORMANCE.md), with `goto`, `question`, `sleep_ms`,
//!   `fail_attempts`, `message`, `signal` and `timeout_ms`.
//!
//! The plain update is `{"count": count + by}` (plus `trace`). Every call logs
//! one line such as `n3: count call, attempt 1`.

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    by: i64,
    #[serde(deserialize_with = "millis")]
    delay_ms: u64,
    trace: bool,
    mode: String,
    goto: Option<String>,
    question: String,
    sleep_ms: u64,
    fail_attempts: Option<u32>,
    message: String,
    signal: String,
    timeout_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            by: 1,
            delay_ms: 0,
            trace: false,
            mode: "count".to_owned(),
            goto: None,
            question: "continue?".to_owned(),
            sleep_ms: 100,
            fail_attempts: None,
            message: "counter failed".to_owned(),
            signal: "go".to_owned(),
            timeout_ms: None,
        }
    }
}

/// `delay_ms`: a number, or a string of digits (`"${env:NAME}"` resolves to one).
fn millis<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Millis {
        Number(u64),
        Text(String),
    }
    match Millis::deserialize(deserializer)? {
        Millis::Number(ms) => Ok(ms),
        Millis::Text(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().map_err(serde::de::Error::custom)
        }
        Millis::Text(text) => Err(serde::de::Error::custom(format!(
            "delay_ms must be a number of milliseconds or a string of digits, not {text:?}"
        ))),
    }
}

/// The part of the state this node reads.
#[derive(Debug, Deserialize)]
struct State {
    #[serde(default)]
    count: i64,
    #[serde(default)]
    payload: Value,
    /// `fanout`: one send per element.
    #[serde(default)]
    items: Vec<Value>,
    /// `item`: the element a send carries.
    #[serde(default)]
    item: Value,
}

struct Counter;

impl Node for Counter {
    const NAME: &'static str = "counter";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Adds `by` (default 1) to the state's `count`.";
    type Config = Config;
    type State = State;

    fn run(ctx: &Context<Config>, state: State) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        log::info!(
            "{}: {} call, attempt {}",
            ctx.node,
            config.mode,
            ctx.attempt
        );
        if config.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(config.delay_ms));
        }
        let mut update = count(ctx, &state)?;
        match config.mode.as_str() {
            "count" => {}
            "echo" => {
                update.insert("echo".into(), state.payload);
            }
            "context" => {
                update.insert(
                    "ctx".into(),
                    json!({
                        "thread": ctx.thread,
                        "node": ctx.node,
                        "step": ctx.step,
                        "attempt": ctx.attempt,
                        "config": config,
                        "resume": ctx.resume,
                        "idempotency_key": ctx.idempotency_key,
                        "interrupt_timed_out": ctx.interrupt_timed_out,
                        "wakes": ctx.wakes,
                        "lease_epoch": ctx.lease_epoch,
                    }),
                );
            }
            "goto" => {
                let to = config
                    .goto
                    .clone()
                    .ok_or_else(|| Failure::fatal("mode \"goto\" needs config.goto"))?;
                return Ok(Outcome::update(update).goto(to));
            }
            "interrupt" => match &ctx.resume {
                None => return Ok(Outcome::interrupt(json!({ "question": config.question }))),
                Some(answer) => {
                    update.insert("answer".into(), answer.clone());
                }
            },
            "sleep" => {
                if ctx.wakes == 0 {
                    return Ok(Outcome::sleep(
                        Duration::from_millis(config.sleep_ms),
                        json!({ "slept": true }),
                    ));
                }
                update.insert("wakes".into(), json!(ctx.wakes));
            }
            "retryable" => {
                if config.fail_attempts.is_none_or(|n| ctx.attempt <= n) {
                    return Err(Failure::retryable(config.message.clone()));
                }
            }
            "fatal" => return Err(Failure::fatal(config.message.clone())),
            "panic" => panic!("{}", config.message),
            "fanout" => {
                let to = config
                    .goto
                    .clone()
                    .ok_or_else(|| Failure::fatal("mode \"fanout\" needs config.goto"))?;
                let sends = state.items.iter().fold(Outcome::update(update), |o, item| {
                    o.send(to.clone(), json!({ "item": item }))
                });
                return Ok(sends);
            }
            "item" => {
                let seen = json!({
                    "item": state.item,
                    "send_index": ctx.send_index,
                    "idempotency_key": ctx.idempotency_key,
                });
                return Ok(Outcome::update(json!({ "seen": [seen] })));
            }
            "signal" => match &ctx.signal {
                None if !ctx.interrupt_timed_out => {
                    let wait = Outcome::wait_signal(config.signal.clone());
                    return Ok(match config.timeout_ms {
                        Some(ms) => wait.timeout(Duration::from_millis(ms)),
                        None => wait,
                    });
                }
                signal => {
                    let signal = signal
                        .as_ref()
                        .map(|s| json!({"name": s.name, "data": s.data}));
                    update.insert("signal".into(), signal.unwrap_or(Value::Null));
                    update.insert("timed_out".into(), json!(ctx.interrupt_timed_out));
                }
            },
            other => return Err(Failure::fatal(format!("unknown mode {other:?}"))),
        }
        Ok(Outcome::update(update))
    }
}

/// `{"count": count + by}`, plus `trace` when asked.
fn count(ctx: &Context<Config>, state: &State) -> Result<Map<String, Value>, Failure> {
    let by = ctx.config.by;
    let count = state
        .count
        .checked_add(by)
        .ok_or_else(|| Failure::fatal(format!("count {} + {by} overflows", state.count)))?;
    let mut update = Map::new();
    update.insert("count".into(), json!(count));
    if ctx.config.trace {
        update.insert("trace".into(), json!([ctx.node]));
    }
    Ok(update)
}

export_node!(Counter);

#[cfg(test)]
mod tests {
    use super::*;

    fn delay(config: Value) -> Result<u64, String> {
        serde_json::from_value::<Config>(config)
            .map(|c| c.delay_ms)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn delay_ms_is_a_number_or_a_string_of_digits() {
        assert_eq!(delay(json!({})), Ok(0));
        assert_eq!(delay(json!({"delay_ms": 250})), Ok(250));
        assert_eq!(delay(json!({"delay_ms": "60000"})), Ok(60000));
        assert_eq!(delay(json!({"delay_ms": "0"})), Ok(0));
        for bad in [
            json!("1.5"),
            json!(""),
            json!("-1"),
            json!("soon"),
            json!(-1),
        ] {
            assert!(delay(json!({ "delay_ms": bad })).is_err(), "{bad}");
        }
    }
}
