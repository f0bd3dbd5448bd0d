//! `warm`: counts the calls of its own instance, so tests can tell a warm
//! instance (`reuse = true`) from a fresh one.
//!
//! The update is `{"calls": n, "seen": [n]}`, where `n` is 1 on the first call
//! of this instance, 2 on the second, and so on (a workflow that sets
//! `seen = "append"` collects the sequence). Every call prints `warm call n`
//! to stdout.
//!
//! Config (every key optional):
//!
//! - `trap_at` (integer): panic on call `n == trap_at` of this instance.
//! - `fail_at` (integer): return a retryable failure on call `n == fail_at`.
//! - `spin_at` (integer): loop forever on call `n == spin_at` (for timeouts).
//! - `loops` (integer): route back to this node (`goto` its own name) until
//!   the state's `seen` holds `loops` entries, counting this call; then
//!   `goto = "end"`. The node's table then declares `routes = [<node>, "end"]`.
//! - `hold_mib` (integer): on every call, allocate this many MiB, touch every
//!   page, and keep them for the instance's life (its memory grows).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node};
use serde_json::{Map, Value, json};

/// Calls of this instance so far.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// What `hold_mib` allocated, kept for the instance's life.
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Warm;

impl Node for Warm {
    const NAME: &'static str = "warm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Counts the calls of its instance (a test node).";
    type Config = Map<String, Value>;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Self::Config>, state: Self::State) -> Result<Outcome, Failure> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        println!("warm call {n}");
        let config = &ctx.config;
        let at = |key: &str| config.get(key).and_then(Value::as_u64) == Some(n);
        if at("trap_at") {
            panic!("warm: trap at call {n}");
        }
        if at("fail_at") {
            return Err(Failure::retryable(format!("warm: failure at call {n}")));
        }
        if let Some(mib) = config.get("hold_mib").and_then(Value::as_u64) {
            let mut block = vec![0u8; usize::try_from(mib).unwrap_or(usize::MAX) << 20];
            for page in block.chunks_mut(4096) {
                page[0] = 1;
            }
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(block);
        }
        if at("spin_at") {
            let mut spins: u64 = 0;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        let outcome = Outcome::update(json!({ "calls": n, "seen": [n] }));
        Ok(match config.get("loops").and_then(Value::as_u64) {
            None => outcome,
            Some(loops) => {
                let seen = state
                    .get("seen")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let done = u64::try_from(seen).unwrap_or(u64::MAX).saturating_add(1) >= loops;
                outcome.goto(if done { "end" } else { ctx.node.as_str() })
            }
        })
    }
}

export_node!(Warm);
