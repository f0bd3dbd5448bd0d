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
