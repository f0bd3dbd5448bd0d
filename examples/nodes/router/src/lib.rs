//! `router`: picks the next node by comparing a number in the state with a
//! bound; the building block of a conditional loop.
//!
//! Config:
//!
//! - `key` (string, default `"count"`): the top-level state key to read. It
//!   must hold a number.
//! - `below` (integer, required): the bound.
//! - `then` (string, required): the route to take when `state[key] < below`.
//! - `else` (string, required): the route to take otherwise.
//!
//! Both routes must be among the node's `routes` in the workflow file, e.g.
//!
//! ```toml
//! [nodes.check]
//! plugin = "router"
//! config = { key = "count", below = 5, then = "inc", else = "end" }
//! routes = ["inc", "end"]
//! ```
//!
//! The update is empty (`{}`). A missing or non-numeric key fails the step.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "default_key")]
    key: String,
    below: i64,
    then: String,
    #[serde(rename = "else")]
    otherwise: String,
}

fn default_key() -> String {
    "count".to_owned()
}

struct Router;

impl Node for Router {
    const NAME: &'static str = "router";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Goes to `then` while the state's `key` is below `below`, else to `else`.";
    type Config = Config;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Config>, state: Map<String, Value>) -> Result<Outcome, Failure> {
        let Config {
            key,
            below,
            then,
            otherwise,
        } = &ctx.config;
        let value = state
            .get(key)
            .ok_or_else(|| Failure::fatal(format!("the state has no key `{key}`")))?;
        let is_below = match (value.as_i64(), value.as_f64()) {
            (Some(n), _) => n < *below,
            // Larger than i64 (u64) or a float: compare as floats.
            (None, Some(x)) => x < *below as f64,
            (None, None) => {
                return Err(Failure::fatal(format!(
                    "the state's `{key}` is not a number: {value}"
                )));
            }
        };
        let route = if is_below { then } else { otherwise };
        let relation = if is_below { "<" } else { ">=" };
        log::info!("{}: {key} {value} {relation} {below} -> {route}", ctx.node);
        Ok(Outcome::empty().goto(route))
    }
}

export_node!(Router);
