//! The names of sends (fan-out). A node's update may ask for calls of other nodes,
//! each with its own input; each becomes a branch of the next step named
//! `node#index`, where `index` counts every send of the step that made them (its
//! nodes' lists one after the other, in the step's order, from 0). Node names
//! cannot hold `#` (see the name rule in `parse/node.rs`), so a branch name says
//! alone whether it is a send and of which node.

/// The branch of the next step that the send with `index` to `node` makes.
pub fn send_branch(node: &str, index: u32) -> String {
    format!("{node}#{index}")
}

/// A branch of a step: the node it calls, and the send's index when it is a send.
/// A name with a `#` but no index after it is taken whole (no node has such a
/// name, so its call fails naming it).
pub fn branch_node(branch: &str) -> (&str, Option<u32>) {
    match branch.rsplit_once('#') {
        Some((node, index)) => match index.parse() {
            Ok(index) => (node, Some(index)),
            Err(_) => (branch, None),
        },
        None => (branch, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_branch_names_its_node_and_index() {
        assert_eq!(send_branch("double", 7), "double#7");
        assert_eq!(branch_node("double#7"), ("double", Some(7)));
        assert_eq!(branch_node("double"), ("double", None));
        assert_eq!(branch_node("double#x"), ("double#x", None));
    }
}
