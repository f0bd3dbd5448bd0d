//! `poll`: the polling pattern, "has the user replied yet?". The node looks,
//! and while the answer is not there it puts the run to sleep durably and
//! looks again later; once it is there, the run moves on.
//!
//! This example only simulates the looking: the answer "arrives" on the
//! `until_wakes`-th wake-up. A real node would call an API instead (read a
//! mailbox, a ticket, a job's status), return the update as soon as the
//! answer is there, and give up (a failure, or a route) after enough wakes.
//!
//! Each call:
//!
//! - while `ctx.wakes < until_wakes`: sleep `every_ms` milliseconds with the
//!   update `{"polls": wakes + 1}` (committed before the run parks, so the
//!   state counts the looks even across a crash); the host then runs this
//!   node again with `ctx.wakes` one higher;
//! - then: return the update `{<key>: true}` and follow the node's `next`
//!   edge.
//!
//! With the defaults the node sleeps three times, a second each, and the run
//! ends up with `{"polls": 3, "replied": true}`.
//!
//! Config (every key optional):
//!
//! - `every_ms` (integer, default 1000): how long each sleep lasts.
//! - `until_wakes` (integer, default 3): how many wake-ups until the answer
//!   is there (0: it is there on the first look, no sleep).
//! - `key` (string, default `"replied"`): the state key set to `true` when
//!   the answer is there.

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    every_ms: u64,
    until_wakes: u32,
    key: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            every_ms: 1000,
            until_wakes: 3,
            key: "replied".to_owned(),
        }
    }
}

struct Poll;

impl Node for Poll {
    const NAME: &'static str = "poll";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Sleeps `every_ms` and looks again until the \
                                       `until_wakes`-th wake-up, then sets `key` to true.";
    type Config = Config;
    /// The node reads nothing from the state.
    type State = IgnoredAny;

    fn run(ctx: &Context<Config>, _state: IgnoredAny) -> Result<Outcome, Failure> {
        let Config {
            every_ms,
            until_wakes,
            key,
        } = &ctx.config;
        let polls = ctx.wakes.saturating_add(1);
        if ctx.wakes < *until_wakes {
            log::info!(
                "{}: look {polls}: no answer yet; looking again in {every_ms} ms",
                ctx.node
            );
            return Ok(Outcome::sleep(
                Duration::from_millis(*every_ms),
                json!({ "polls": polls }),
            ));
        }
        log::info!("{}: look {polls}: the answer is there", ctx.node);
        Ok(Outcome::update(Map::from_iter([(
            key.clone(),
            Value::Bool(true),
        )])))
    }
}

export_node!(Poll);

#[cfg(test)]
mod tests {
    use super::*;

    fn call(config: Value, wakes: u32) -> Result<Outcome, Failure> {
        let config: Config = serde_json::from_value(config).unwrap();
        let ctx = Context {
            wakes,
            ..Context::for_test(config)
        };
        Poll::run(&ctx, IgnoredAny)
    }

    #[test]
    fn sleeps_until_the_last_wake_then_updates() {
        for wakes in 0..3 {
            assert_eq!(
                call(json!({}), wakes),
                Ok(Outcome::sleep(
                    Duration::from_secs(1),
                    json!({ "polls": wakes + 1 })
                ))
            );
        }
        assert_eq!(
            call(json!({}), 3),
            Ok(Outcome::update(json!({ "replied": true })))
        );
    }

    #[test]
    fn the_config_sets_the_pace_and_the_key() {
        let config = json!({"every_ms": 250, "until_wakes": 1, "key": "paid"});
        assert_eq!(
            call(config.clone(), 0),
            Ok(Outcome::sleep(
                Duration::from_millis(250),
                json!({ "polls": 1 })
            ))
        );
        assert_eq!(
            call(config, 1),
            Ok(Outcome::update(json!({ "paid": true })))
        );
    }

    #[test]
    fn until_wakes_zero_never_sleeps() {
        assert_eq!(
            call(json!({"until_wakes": 0}), 0),
            Ok(Outcome::update(json!({ "replied": true })))
        );
    }

    #[test]
    fn a_typo_in_the_config_is_an_error() {
        let error = serde_json::from_value::<Config>(json!({"every": 5})).unwrap_err();
        assert!(
            error.to_string().starts_with("unknown field `every`"),
            "{error}"
        );
    }
}
