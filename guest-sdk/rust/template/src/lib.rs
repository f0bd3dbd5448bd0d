//! `@NAME@`: a savepoint node. It is called once per step with the run's
//! state and returns a partial update that the host merges into the state.
//!
//! It reads `state.name` (a string; "world" when absent), logs
//! `greeting NAME`, waits `delay_ms`, and returns
//! `{"message": "<greeting>, <name>!"}`.

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The node's `config` table in the workflow file; `config_schema` below
/// declares the same for `savepoint validate` and `savepoint plugins`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// The word to greet with.
    greeting: String,
    /// How long to wait before answering, in milliseconds.
    delay_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            greeting: "Hello".to_string(),
            delay_ms: 0,
        }
    }
}

struct MyNode;

impl Node for MyNode {
    const NAME: &'static str = "@NAME@";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Greets `state.name` (a template: change me).";
    type Config = Config;
    /// The whole state (this node reads `name`).
    type State = Map<String, Value>;

    fn config_schema() -> Option<Value> {
        Some(json!({
            "type": "object",
            "properties": {
                "greeting": {
                    "type": "string",
                    "default": "Hello",
                    "description": "The word to greet with."
                },
                "delay_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 0,
                    "description": "How long to wait before answering, in milliseconds."
                }
            },
            "additionalProperties": false
        }))
    }

    fn run(ctx: &Context<Config>, state: Self::State) -> Result<Outcome, Failure> {
        let name = match state.get("name") {
            None => "world",
            Some(Value::String(name)) => name,
            // A permanent problem: the run fails at this node
            // (Failure::retryable: the workflow's retry policy applies).
            Some(_) => return Err(Failure::fatal("state.name must be a string")),
        };
        log::info!("greeting {name}");
        std::thread::sleep(Duration::from_millis(ctx.config.delay_ms));
        // A partial update, merged into the run's state by the workflow's reducers.
        let message = format!("{}, {name}!", ctx.config.greeting);
        Ok(Outcome::update(json!({ "message": message })))
    }
}

export_node!(MyNode);
