//! `spin`: burns CPU without ever returning, so tests can check that the
//! host stops a node that runs too long (a step `timeout`) or a run that is
//! cancelled while a node is busy.
//!
//! Config (optional):
//!
//! - `ms` (integer): instead of spinning forever, busy-wait this many
//!   milliseconds (without sleeping, so the CPU stays busy), then return the
//!   empty update `{}`. Without it the node never returns.
//!
//! The node logs one line before it starts spinning.

use std::hint::black_box;
use std::time::{Duration, Instant};

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    ms: Option<u64>,
}

struct Spin;

impl Node for Spin {
    const NAME: &'static str = "spin";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Busy-loops forever, or for `ms` milliseconds (a test node).";
    type Config = Config;
    type State = Value;

    fn run(ctx: &Context<Config>, _state: Value) -> Result<Outcome, Failure> {
        match ctx.config.ms {
            None => {
                log::info!("{}: spinning forever", ctx.node);
                spin_forever()
            }
            Some(ms) => {
                log::info!("{}: spinning for {ms} ms", ctx.node);
                spin_for(Duration::from_millis(ms));
                Ok(Outcome::empty())
            }
        }
    }
}

/// A loop with no way out. `black_box` keeps the compiler from proving the
/// counter unused and reducing the loop to nothing (or to a trap).
fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Busy-wait: read the clock in a loop until `duration` has passed.
fn spin_for(duration: Duration) {
    let start = Instant::now();
    let mut turns: u64 = 0;
    while start.elapsed() < duration {
        turns = black_box(turns.wrapping_add(1));
    }
    black_box(turns);
}

export_node!(Spin);
