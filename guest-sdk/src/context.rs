//! What the host tells a node about the call it is making.

use serde::de::DeserializeOwned;

use crate::Failure;

/// The call a node's [`run`](crate::Node::run) answers.
#[derive(Debug, Clone)]
pub struct Context<C> {
    /// The run (thread) id: the save slot this call belongs to.
    pub thread: String,
    /// The name of this node in the workflow file (`[nodes.<name>]`).
    pub node: String,
    /// The step this call will commit, counted from 1. A replayed step keeps
    /// its number.
    pub step: u64,
    /// Which attempt at this step this is, counted from 1.
    pub attempt: u32,
    /// The node's `config` from the workflow file.
    pub config: C,
    /// The value the run was resumed with (`savepoint resume --input`) when
    /// this call answers an [interrupt](crate::Outcome::interrupt).
    pub resume: Option<serde_json::Value>,
    /// `<thread>/<step>/<node>`: the same for every attempt at this step and
    /// different for every other step. Pass it to outside systems so that a
    /// side effect repeated by a retry or a crash happens only once.
    pub idempotency_key: String,
}

impl<C> Context<C> {
    /// The resume value as a `T`, or `None` when the call does not answer an
    /// interrupt. A value that does not deserialize is a fatal failure.
    pub fn resume_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Failure> {
        self.resume
            .as_ref()
            .map(|value| {
                T::deserialize(value)
                    .map_err(|e| Failure::fatal(format!("cannot read the resume value: {e}")))
            })
            .transpose()
    }
}
