//! `badjson`: returns an update whose state text the host must reject,
//! bypassing the SDK's serialization with `Outcome::update_raw`.
//!
//! Config: `mode` (required):
//!
//! - `"not-json"`: the update is `{"count": ` (not JSON);
//! - `"not-object"`: the update is `[1, 2, 3]` (JSON, but not an object).

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    NotJson,
    NotObject,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
}

struct BadJson;

impl Node for BadJson {
    const NAME: &'static str = "badjson";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Returns an update that is not a JSON object (a test node).";
    type Config = Config;
    type State = Value;

    fn run(ctx: &Context<Config>, _state: Value) -> Result<Outcome, Failure> {
        Ok(Outcome::update_raw(match ctx.config.mode {
            Mode::NotJson => r#"{"count": "#,
            Mode::NotObject => "[1, 2, 3]",
        }))
    }
}

export_node!(BadJson);
