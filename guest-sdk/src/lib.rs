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
//! What the node returns:
//!
//! - [`Outcome::update`]: a partial state update (a JSON object) that the host
//!   merges into the state with the workflow's reducers; add
//!   [`Outcome::goto`] to pick one of the node's declared `routes`.
//! - [`Outcome::interrupt`]: park the run until someone resumes it with input;
//!   the node then runs again with [`Context::resume`] set.
//! - [`Outcome::sleep`]: park the run for a while, then run the node again.
//! - [`Failure::retryable`] or [`Failure::fatal`]: the step failed. Any
//!   `std::error::Error` converts into a fatal failure, so `?` works; use
//!   [`ResultExt::retryable`] for transient errors.
//!
//! A state or config that does not deserialize into the node's types is a
//! fatal failure that names the problem; the node's `run` is not called.

mod context;
mod export;
pub mod log;
mod node;
mod outcome;

pub use context::Context;
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
