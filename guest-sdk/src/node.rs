//! The [`Node`] trait that a node author implements.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Context, Failure, Outcome};

/// A workflow node: what it says about itself and what it does in one step.
///
/// Export the implementing type with [`export_node!`](crate::export_node).
pub trait Node {
    /// A short name, e.g. `counter` (`savepoint plugins` shows it).
    const NAME: &'static str;
    /// The node's own version; `env!("CARGO_PKG_VERSION")` is a good choice.
    const VERSION: &'static str;
    /// One or two sentences on what the node does.
    const DESCRIPTION: &'static str;

    /// The node's `config` table from the workflow file.
    ///
    /// The host passes `{}` when the workflow gives no config, so a config
    /// with optional fields should use `#[serde(default)]`; a node without
    /// config uses [`NoConfig`]. Add `#[serde(deny_unknown_fields)]` so a typo
    /// in the workflow file fails the step instead of being ignored.
    type Config: DeserializeOwned;

    /// The part of the run's state that the node reads.
    ///
    /// The state is a JSON object; a struct reads the keys it names and
    /// ignores the others. `serde_json::Map<String, serde_json::Value>` gets
    /// the whole state.
    type State: DeserializeOwned;

    /// A JSON Schema for [`Node::Config`], if the node publishes one.
    fn config_schema() -> Option<serde_json::Value> {
        None
    }

    /// Run one step.
    ///
    /// The host calls `run` once per step in a fresh sandbox. A step may run
    /// more than once (retries, crashes, `savepoint resume`): use
    /// [`Context::idempotency_key`] for side effects outside the host.
    fn run(ctx: &Context<Self::Config>, state: Self::State) -> Result<Outcome, Failure>;
}

/// The config of a node that takes none: accepts `{}` and rejects any key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}
