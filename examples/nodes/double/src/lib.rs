//! `double`: the node a fan-out sends to. Its state is the send's input
//! `{"item": <number>}`; it returns `{"doubled": [item * 2]}` (with `doubled =
//! "append"` in the workflow's `[state]`, the sends' results collect in send
//! order) and logs its send index.

use savepoint_sdk::{Context, Failure, NoConfig, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct State {
    item: i64,
}

struct Double;

impl Node for Double {
    const NAME: &'static str = "double";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Returns {\"doubled\": [item * 2]} for the item it was sent.";
    type Config = NoConfig;
    type State = State;

    fn run(ctx: &Context<NoConfig>, state: State) -> Result<Outcome, Failure> {
        let doubled = state
            .item
            .checked_mul(2)
            .ok_or_else(|| Failure::fatal(format!("{} * 2 overflows", state.item)))?;
        match ctx.send_index {
            Some(index) => log::info!("send {index}: {} -> {doubled}", state.item),
            None => log::info!("{} -> {doubled}", state.item),
        }
        Ok(Outcome::update(json!({ "doubled": [doubled] })))
    }
}

export_node!(Double);
