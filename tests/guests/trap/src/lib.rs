//! `trap`: panics on every call, so the host must report a trap that names
//! the node. Config: none (`{}`).

use savepoint_sdk::{Context, Failure, NoConfig, Node, Outcome, export_node};
use serde_json::Value;

struct Trap;

impl Node for Trap {
    const NAME: &'static str = "trap";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Panics on every call (a test node).";
    type Config = NoConfig;
    type State = Value;

    fn run(ctx: &Context<NoConfig>, _state: Value) -> Result<Outcome, Failure> {
        panic!("boom: node {} panics at step {}", ctx.node, ctx.step);
    }
}

export_node!(Trap);
