//! `@NAME@`: a savepoint node. It is called once per step with the run's
//! state and returns a partial update that the host merges into the state.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::json;

/// The node's `config` table in the workflow file.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    greeting: Option<String>,
}

/// The part of the run's state this node reads; other keys are ignored.
#[derive(Debug, Deserialize)]
struct State {
    #[serde(default)]
    name: Option<String>,
}

struct MyNode;

impl Node for MyNode {
    const NAME: &'static str = "@NAME@";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Greets `name` (change me).";
    type Config = Config;
    type State = State;

    fn run(ctx: &Context<Config>, state: State) -> Result<Outcome, Failure> {
        let greeting = ctx.config.greeting.as_deref().unwrap_or("Hello");
        let name = state.name.as_deref().unwrap_or("world");
        log::info!("{}: greeting {name} at step {}", ctx.node, ctx.step);
        Ok(Outcome::update(json!({ "message": format!("{greeting}, {name}!") })))
    }
}

export_node!(MyNode);
