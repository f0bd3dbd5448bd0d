//! `describer`: a node whose `describe()` misbehaves. `describe()` takes no
//! input, so the way it misbehaves is a marker in the component's data
//! section, [`MODE`]: the tests copy the component and overwrite the marker
//! with another of the same length, which keeps the copy a valid component
//! (with a digest of its own).
//!
//! - `describe-mode:ok________`: describe itself as `describer`.
//! - `describe-mode:loop______`: loop forever in `describe()`.
//! - `describe-mode:huge______`: return a config schema of 1 MiB.
//! - `describe-mode:schema____`: declare the config schema of the node that
//!   `savepoint new node` makes: `{greeting: string, delay_ms: integer >= 0}`,
//!   no other key.
//!
//! `run` returns `{"described": true}`.

use std::hint::black_box;

use savepoint_sdk::{Context, Failure, NoConfig, Node, Outcome, export_node};
use serde_json::{Value, json};

/// The marker the tests overwrite.
pub static MODE: [u8; 24] = *b"describe-mode:ok________";

struct Describer;

impl Node for Describer {
    const NAME: &'static str = "describer";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Misbehaves in describe() as its data says (a test node).";
    type Config = NoConfig;
    type State = Value;

    fn config_schema() -> Option<Value> {
        // Read through `black_box`, so the compiler cannot fold the marker's
        // value into the code: the bytes in the file decide.
        let mode: &[u8; 24] = black_box(&MODE);
        match &mode[14..] {
            b"loop______" => loop {
                black_box(());
            },
            b"huge______" => Some(json!({ "description": "x".repeat(1 << 20) })),
            b"schema____" => Some(json!({
                "type": "object",
                "properties": {
                    "greeting": { "type": "string", "default": "Hello" },
                    "delay_ms": { "type": "integer", "minimum": 0, "default": 0 }
                },
                "additionalProperties": false
            })),
            _ => None,
        }
    }

    fn run(_ctx: &Context<NoConfig>, _state: Value) -> Result<Outcome, Failure> {
        Ok(Outcome::update(json!({ "described": true })))
    }
}

export_node!(Describer);
