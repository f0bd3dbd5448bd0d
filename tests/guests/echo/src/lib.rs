//! `echo`: returns what the host passed in, so tests can check it, and logs
//! one line at each level.
//!
//! The update is `{"seen": {"thread", "node", "step", "attempt", "config",
//! "resume", "interrupt_timed_out", "wakes", "idempotency_key"}}` (`resume`
//! is `null` when the call does not answer an interrupt).
//!
//! Config: any JSON object (it is echoed back). A few keys also change what
//! the node does:
//!
//! - `interrupt` (any JSON): on a first call (no resume value, no timed-out
//!   interrupt), interrupt with this payload instead of echoing; the resumed
//!   (or timed-out) call echoes.
//! - `interrupt_timeout_ms` (integer): with `interrupt`, the interrupt's
//!   deadline; without it the interrupt waits forever.
//! - `sleep_ms` (integer): when the state has no `slept` key, sleep this long
//!   with the update `{"slept": true}` instead of echoing; the call after the
//!   sleep echoes.
//! - `goto` (string): take this route after the echo.

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde_json::{Map, Value, json};

struct Echo;

impl Node for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Returns the call's context as its update (a test node).";
    type Config = Map<String, Value>;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Self::Config>, state: Self::State) -> Result<Outcome, Failure> {
        let node = &ctx.node;
        log::trace!("{node}: trace line");
        log::debug!("{node}: debug line");
        log::info!("{node}: info line");
        log::warn!("{node}: warn line");
        log::error!("{node}: error line");

        let config = &ctx.config;
        if let Some(payload) = config.get("interrupt")
            && ctx.resume.is_none()
            && !ctx.interrupt_timed_out
        {
            return Ok(match config.get("interrupt_timeout_ms") {
                None => Outcome::interrupt(payload),
                Some(ms) => Outcome::interrupt_for(
                    payload,
                    Duration::from_millis(millis(ms, "interrupt_timeout_ms")?),
                ),
            });
        }
        if let Some(ms) = config.get("sleep_ms")
            && !state.contains_key("slept")
        {
            return Ok(Outcome::sleep(
                Duration::from_millis(millis(ms, "sleep_ms")?),
                json!({ "slept": true }),
            ));
        }

        let outcome = Outcome::update(json!({
            "seen": {
                "thread": ctx.thread,
                "node": ctx.node,
                "step": ctx.step,
                "attempt": ctx.attempt,
                "config": config,
                "resume": ctx.resume,
                "interrupt_timed_out": ctx.interrupt_timed_out,
                "wakes": ctx.wakes,
                "idempotency_key": ctx.idempotency_key,
            }
        }));
        Ok(match config.get("goto") {
            None => outcome,
            Some(Value::String(to)) => outcome.goto(to),
            Some(other) => {
                return Err(Failure::fatal(format!("goto is not a string: {other}")));
            }
        })
    }
}

/// A config value that must be a number of milliseconds.
fn millis(value: &Value, key: &str) -> Result<u64, Failure> {
    value
        .as_u64()
        .ok_or_else(|| Failure::fatal(format!("{key} is not an integer: {value}")))
}

export_node!(Echo);
