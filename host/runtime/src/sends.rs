//! The calls of sends (fan-out), as [`step`](super::step) makes them: a branch of a
//! step named `node#index` ([`savepoint_workflow::branch_node`]) calls `node` with the
//! send's input (stored with the run's position) as its whole state, its own
//! idempotency key `thread/step/node/index`, and `ctx.send-index = index`. What a
//! step makes of the sends a node returns is decided in `decide/sends.rs`.

use savepoint_store::RunRecord;
use savepoint_workflow::branch_node;

/// What a branch of the run's next step calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BranchCall<'a> {
    /// The branch's name: the node, or `node#index` for a send.
    pub branch: &'a str,
    /// The node of the workflow it calls.
    pub node: &'a str,
    /// The send's index, for a send.
    pub send_index: Option<u32>,
}

impl<'a> BranchCall<'a> {
    pub fn new(branch: &'a str) -> BranchCall<'a> {
        let (node, send_index) = branch_node(branch);
        BranchCall {
            branch,
            node,
            send_index,
        }
    }

    /// The call's idempotency key: `thread/step/node`, and `/index` for a send, so
    /// that each send of a node has its own.
    pub fn idempotency_key(&self, thread: &str, step: u64) -> String {
        match self.send_index {
            None => format!("{thread}/{step}/{}", self.node),
            Some(index) => format!("{thread}/{step}/{}/{index}", self.node),
        }
    }

    /// The state the call gets as JSON text: the run's (`state_text`), or a send's
    /// own input. `Err` says why a send has none (a position the store damaged: the
    /// branch fails, naming it).
    pub fn state(&self, run: &RunRecord, state_text: &str) -> Result<String, String> {
        if self.send_index.is_none() {
            return Ok(state_text.to_string());
        }
        match run.send_inputs.get(self.branch) {
            Some(input) => Ok(input.to_string()),
            None => Err(format!(
                "send \"{}\" has no stored input (thread \"{}\", step {})",
                self.branch,
                run.thread,
                run.step + 1
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_has_its_own_key_and_index() {
        let send = BranchCall::new("double#12");
        assert_eq!((send.node, send.send_index), ("double", Some(12)));
        assert_eq!(send.idempotency_key("job-1", 3), "job-1/3/double/12");
        let plain = BranchCall::new("double");
        assert_eq!((plain.node, plain.send_index), ("double", None));
        assert_eq!(plain.idempotency_key("job-1", 3), "job-1/3/double");
    }
}
