//! Sends (fan-out), as [`decide`](super::decide) routes them: a node's update may ask
//! for calls of other nodes, each with its own input. Each send becomes a branch of
//! the next step named `node#index` ([`savepoint_workflow::send_branch`]), `index`
//! counting every send of the step, its nodes' lists one after the other in the
//! step's order; its input is stored with the run's position
//! ([`savepoint_store::RunRecord::send_inputs`]) and is the call's whole state.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use savepoint_workflow::{Workflow, send_branch};

/// One call a node's update asks for in the next step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendCall {
    pub node: String,
    pub input: Map<String, Value>,
}

/// The sends of one step, numbered as its writes are routed (in the step's order).
pub(super) struct Sends<'a> {
    workflow: &'a Workflow,
    /// Where the workflow was read from, for messages.
    path: &'a str,
    /// Sends routed so far in this step: the next one's index.
    made: u64,
    /// The input of each send branch of the next step.
    pub inputs: BTreeMap<String, Value>,
}

impl<'a> Sends<'a> {
    pub fn new(workflow: &'a Workflow, path: &'a str) -> Sends<'a> {
        Sends {
            workflow,
            path,
            made: 0,
            inputs: BTreeMap::new(),
        }
    }

    /// Route the sends of `from` (a branch of the step): the branches of the next step
    /// they make, or why the step fails at `from` (a send to a node the workflow does
    /// not have, or to a join; more sends in the step than `max_fanout`).
    pub fn route(&mut self, from: &str, sends: &[SendCall]) -> Result<Vec<String>, String> {
        let max = self.workflow.max_fanout;
        let count = sends.len() as u64;
        let total = self.made + count;
        if total > max {
            let path = self.path;
            return Err(if self.made == 0 {
                format!(
                    "node \"{from}\" sent {count} calls, over max_fanout = {max} of the \
                     workflow ({path})"
                )
            } else {
                format!(
                    "node \"{from}\" sent {count} calls, {total} with the other sends of its \
                     step, over max_fanout = {max} of the workflow ({path})"
                )
            });
        }
        for send in sends {
            let Some(node) = self.workflow.nodes.get(&send.node) else {
                let nodes: Vec<&str> = self.workflow.nodes.keys().map(String::as_str).collect();
                return Err(format!(
                    "node \"{from}\" sent to \"{}\", which the workflow does not have \
                     (nodes: {})",
                    send.node,
                    nodes.join(", ")
                ));
            };
            if !node.after.is_empty() {
                // A join runs once every node of its `after` has finished: a send
                // would run it on its own, before them.
                return Err(format!(
                    "node \"{from}\" sent to \"{}\", a join (after = [{}]), which runs when \
                     those nodes have finished, never by a send",
                    send.node,
                    quoted(&node.after)
                ));
            }
        }
        let mut branches = Vec::with_capacity(sends.len());
        for (offset, send) in sends.iter().enumerate() {
            // At most max_fanout in all, which `total` checked fits; an index past
            // u32 (a max_fanout of billions) saturates rather than wraps.
            let index = u32::try_from(self.made + offset as u64).unwrap_or(u32::MAX);
            let branch = send_branch(&send.node, index);
            self.inputs
                .insert(branch.clone(), Value::Object(send.input.clone()));
            branches.push(branch);
        }
        self.made = total;
        Ok(branches)
    }
}

fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    quoted.join(", ")
}
