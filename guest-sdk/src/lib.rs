//! Write savepoint workflow nodes in Rust.
//!
//! A node is a WebAssembly component that the savepoint host calls once per
//! step with the run's state. With this crate a node is a type that implements
//! [`Node`] and one [`export_node!`] line; the WIT bindings stay out of sight.
//!
//! ```no_run
//! use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
//! use serde::Deserialize;
//!
//! /// The part of the run's state this node reads; other keys are ignored.
//! #[derive(Deserialize)]
//! struct State {
//!     #[serde(default)]
//!     count: i64,
//! }
//!
//! /// The node's `config` table in the workflow file.
//! #[derive(Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config {
//!     by: i64,
//! }
//!
//! impl Default for Config {
//!     fn default() -> Self {
//!         Config { by: 1 }
//!     }
//! }
//!
//! struct Counter;
//!
//! impl Node for Counter {
//!     const NAME: &'static str = "counter";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const DESCRIPTION: &'static str = "Adds `by` to `count`.";
//!     type Config = Config;
//!     type State = State;
//!
//!     fn run(ctx: &Context<Config>, state: State) -> Result<Outcome, Failure> {
//!         let count = state
//!             .count
//!             .checked_add(ctx.config.by)
//!             .ok_or_else(|| Failure::fatal("count overflows"))?;
//!         log::info!("{}: count {} -> {count}", ctx.node, state.count);
//!         Ok(Outcome::update(serde_json::json!({ "count": count })))
//!     }
//! }
//!
//! export_node!(Counter);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasip2`; the `.wasm` file cargo writes
//! is the component the host loads:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2
//! ```
//!
//! # What a node returns
//!
//! `run` answers each call with an [`Outcome`] (the step succeeded) or a
//! [`Failure`]:
//!
//! - [`Outcome::update`]: a partial state update (a JSON object) that the host
//!   merges into the state with the workflow's reducers; then it commits a
//!   checkpoint and moves on along the node's `next` edge, or along one of its
//!   declared `routes` picked with [`Outcome::goto`].
//! - [`Outcome::sleep`]: wait, then look again (see [Sleep](#sleep-polling)).
//! - [`Outcome::interrupt`] and [`Outcome::interrupt_for`]: wait for a human
//!   (see [Interrupt](#interrupt-a-human-in-the-loop)).
//! - [`Failure::retryable`] or [`Failure::fatal`]: the step failed (see
//!   [Failures](#failures)).
//!
//! A state or config that does not deserialize into the node's types is a
//! fatal failure that names the problem; the node's `run` is not called.
//!
//! ## Sleep: polling
//!
//! [`Outcome::sleep(duration, update)`](Outcome::sleep) commits `update` (a
//! JSON object, merged like any update), parks the run durably (the process
//! may stop and restart meanwhile; a parked run costs no memory), and after
//! `duration` runs **this same node again**, on the updated state, with
//! [`ctx.wakes`](Context::wakes) one higher: 0 on the first call, 1 after the
//! first wake-up, and so on. The run moves on only when the node returns an
//! update. That is the polling pattern:
//!
//! ```
//! use std::time::Duration;
//!
//! use savepoint_sdk::{Context, NoConfig, Outcome};
//! use serde_json::json;
//!
//! fn poll(ctx: &Context<NoConfig>, replied: bool) -> Outcome {
//!     if replied {
//!         Outcome::update(json!({ "replied": true }))
//!     } else {
//!         // Not yet: look again in a minute.
//!         Outcome::sleep(Duration::from_secs(60), json!({ "polls": ctx.wakes + 1 }))
//!     }
//! }
//! # assert_eq!(
//! #     poll(&Context::for_test(NoConfig {}), false),
//! #     Outcome::sleep(Duration::from_secs(60), json!({ "polls": 1 })),
//! # );
//! ```
//!
//! ## Interrupt: a human in the loop
//!
//! [`Outcome::interrupt(payload)`](Outcome::interrupt) parks the run until
//! someone answers. Nothing is committed; `payload` (any JSON, typically the
//! question) is what `savepoint status ID` shows. The answer comes from
//!
//! ```text
//! savepoint resume ID --input '{"approved": true}'
//! ```
//!
//! and then **this same node runs again**, on the same state, with
//! [`ctx.resume`](Context::resume) set to the input (read it with
//! [`Context::resume_as`]). So a node that interrupts looks at `ctx.resume`
//! first: `None` means "ask", `Some` means "here is the answer".
//!
//! [`Outcome::interrupt_for(payload, timeout)`](Outcome::interrupt_for) adds a
//! deadline: when nobody answers within `timeout`, the node runs again with
//! `ctx.resume` still `None` and [`ctx.interrupt_timed_out`](Context::interrupt_timed_out)
//! set, and decides what silence means (reject, escalate, ask again).
//!
//! ```
//! use std::time::Duration;
//!
//! use savepoint_sdk::{Context, Failure, NoConfig, Outcome};
//! use serde_json::json;
//!
//! fn review(ctx: &Context<NoConfig>) -> Result<Outcome, Failure> {
//!     if ctx.interrupt_timed_out {
//!         return Ok(Outcome::update(json!({ "approved": false })).goto("end"));
//!     }
//!     Ok(match ctx.resume_as::<bool>()? {
//!         None => Outcome::interrupt_for(
//!             json!({ "question": "Publish?" }),
//!             Duration::from_secs(24 * 60 * 60),
//!         ),
//!         Some(true) => Outcome::update(json!({ "approved": true })).goto("publish"),
//!         Some(false) => Outcome::update(json!({ "approved": false })).goto("end"),
//!     })
//! }
//! # let answered = Context { resume: Some(json!(true)), ..Context::for_test(NoConfig {}) };
//! # assert_eq!(review(&answered), Ok(Outcome::update(json!({ "approved": true })).goto("publish")));
//! ```
//!
//! ## Failures
//!
//! A failure is data: the host records it with the node's name, and the run
//! stays inspectable and resumable. Checkpoints committed before it are never
//! lost.
//!
//! - [`Failure::retryable`]: a transient problem (an outage, a rate limit, a
//!   timeout of an API). The workflow's `retry` policy applies: a `retry`
//!   table at the top of the workflow file, or in the node's table, says how
//!   many attempts a step gets (the first included) and how long to wait
//!   between them, e.g. `retry = { attempts = 5, initial = "1s" }`. The step
//!   then runs again, on the same state, with [`ctx.attempt`](Context::attempt)
//!   one higher and the same [`ctx.idempotency_key`](Context::idempotency_key).
//!   Retries are opt-in: without a policy, or once its attempts are used up,
//!   the run fails at this node, as for a fatal failure.
//! - [`Failure::fatal`]: a permanent problem (bad input, a bug): no retry; the
//!   run fails at this node. `savepoint resume ID` replays the node from the
//!   last committed state once the cause is fixed.
//!
//! Any `std::error::Error` converts into a fatal failure, so `?` works; use
//! [`ResultExt::retryable`] for transient errors. A panic traps the call; the
//! host records it as a failure that names the node.
//!
//! # Testing a node
//!
//! [`Node::run`] is a plain function: a node's unit tests call it natively
//! (`cargo test -p my-node`, no WebAssembly needed) with a context from
//! [`Context::for_test`], and compare the result with the expected
//! [`Outcome`] or [`Failure`]; log lines go to standard error.
//!
//! ```ignore
//! #[test]
//! fn the_third_wake_up_finds_the_reply() {
//!     let ctx = Context { wakes: 3, ..Context::for_test(Config::default()) };
//!     assert_eq!(
//!         Poll::run(&ctx, IgnoredAny),
//!         Ok(Outcome::update(json!({ "replied": true }))),
//!     );
//! }
//! ```

mod context;
mod export;
pub mod log;
mod node;
mod outcome;

pub use context::{Context, Signal};
pub use node::{NoConfig, Node};
pub use outcome::{Failure, Outcome, ResultExt};

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{describe, run};
}

/// The bindings generated from `wit/node.wit`. Not part of the API: use the
/// typed wrappers of this crate instead.
#[doc(hidden)]
#[allow(missing_debug_implementations, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "node",
        pub_export_macro: true,
        default_bindings_module: "savepoint_sdk::__bindings",
    });
}

/// Export a type that implements [`Node`] as the component's `node` world.
///
/// Call it once, at the top level of the node's `cdylib` crate:
///
/// ```ignore
/// savepoint_sdk::export_node!(MyNode);
/// ```
#[macro_export]
macro_rules! export_node {
    ($node:ty) => {
        const _: () = {
            struct SavepointNodeExport;

            impl $crate::__bindings::Guest for SavepointNodeExport {
                fn describe() -> $crate::__bindings::NodeInfo {
                    $crate::__private::describe::<$node>()
                }

                fn run(
                    ctx: $crate::__bindings::Context,
                    state: $crate::__bindings::Json,
                ) -> ::core::result::Result<$crate::__bindings::Outcome, $crate::__bindings::Failure>
                {
                    $crate::__private::run::<$node>(ctx, state)
                }
            }

            $crate::__bindings::export!(SavepointNodeExport with_types_in $crate::__bindings);
        };
    };
}
