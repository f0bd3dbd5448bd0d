//! `counter`: adds `by` to the state's `count` (a missing `count` counts as 0).
//!
//! Config (every key optional):
//!
//! - `by` (integer, default 1): what to add.
//! - `delay_ms` (integer, default 0): how long to sleep first, to simulate
//!   work.
//! - `trace` (boolean, default false): also return `"trace": [<node name>]`.
//!   With `trace = "append"` in the workflow's `[state]`, the state keeps the
//!   list of nodes that ran.
//!
//! The update is `{"count": count + by}` (plus `trace`). The node logs one
//! line such as `n3: count 2 -> 3 (attempt 1)`.

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    by: i64,
    delay_ms: u64,
    trace: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            by: 1,
            delay_ms: 0,
            trace: false,
        }
    }
}

/// The part of the state this node reads.
#[derive(Debug, Deserialize)]
struct State {
    #[serde(default)]
    count: i64,
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
        if config.delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(config.delay_ms));
        }
        let count = state.count.checked_add(config.by).ok_or_else(|| {
            Failure::fatal(format!("count {} + {} overflows", state.count, config.by))
        })?;
        log::info!(
            "{}: count {} -> {count} (attempt {})",
            ctx.node,
            state.count,
            ctx.attempt
        );
        let mut update = json!({ "count": count });
        if config.trace {
            update["trace"] = json!([ctx.node]);
        }
        Ok(Outcome::update(update))
    }
}

export_node!(Counter);
