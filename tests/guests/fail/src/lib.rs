//! `fail`: fails the step with a chosen failure, to test how the host
//! records failures and applies the retry policy.
//!
//! Config:
//!
//! - `kind` (`"fatal"` or `"retryable"`, default `"fatal"`);
//! - `message` (string, default `"failed on purpose"`): the failure's message;
//! - `attempts` (integer, optional): fail only the first `attempts` attempts
//!   of a step, then succeed with the update `{"recovered_at": <attempt>}`.
//!   Without it every attempt fails.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    #[default]
    Fatal,
    Retryable,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    kind: Kind,
    message: String,
    attempts: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            kind: Kind::Fatal,
            message: "failed on purpose".to_owned(),
            attempts: None,
        }
    }
}

struct Fail;

impl Node for Fail {
    const NAME: &'static str = "fail";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Fails with a configured failure (a test node).";
    type Config = Config;
    type State = Value;

    fn run(ctx: &Context<Config>, _state: Value) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        if config
            .attempts
            .is_some_and(|attempts| ctx.attempt > attempts)
        {
            log::info!("{}: recovered at attempt {}", ctx.node, ctx.attempt);
            return Ok(Outcome::update(json!({ "recovered_at": ctx.attempt })));
        }
        log::warn!("{}: failing attempt {}", ctx.node, ctx.attempt);
        Err(match config.kind {
            Kind::Fatal => Failure::fatal(&config.message),
            Kind::Retryable => Failure::retryable(&config.message),
        })
    }
}

export_node!(Fail);

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(config: Value, attempt: u32) -> Result<Outcome, Failure> {
        let config: Config = serde_json::from_value(config).unwrap();
        let ctx = Context {
            attempt,
            ..Context::for_test(config)
        };
        Fail::run(&ctx, json!({}))
    }

    #[test]
    fn fails_fatally_by_default() {
        assert_eq!(
            attempt(json!({}), 7),
            Err(Failure::fatal("failed on purpose"))
        );
    }

    #[test]
    fn retryable_with_attempts_recovers_after_them() {
        let config = json!({"kind": "retryable", "message": "flaky", "attempts": 2});
        assert_eq!(attempt(config.clone(), 1), Err(Failure::retryable("flaky")));
        assert_eq!(attempt(config.clone(), 2), Err(Failure::retryable("flaky")));
        assert_eq!(
            attempt(config, 3),
            Ok(Outcome::update(json!({ "recovered_at": 3 })))
        );
    }

    #[test]
    fn zero_attempts_never_fails() {
        let config = json!({"kind": "retryable", "attempts": 0});
        assert_eq!(
            attempt(config, 1),
            Ok(Outcome::update(json!({ "recovered_at": 1 })))
        );
    }
}
