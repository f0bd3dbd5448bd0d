//! Sub-workflow nodes: a node written `workflow = "chain.toml"` runs that workflow as a
//! child run, and its branch takes what the child ends with. What the child gets
//! (`input`), what the parent takes back (`output`) and the child's thread (`id`) are
//! plain functions of plain values here; the runtime creates, waits for and reads the
//! child.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The thread template of a child run when the node has no `id`: `PARENT/STEP/NODE`
/// (and `/INDEX` for a send's child, `/replay-BRANCH` after a replay in place).
pub const DEFAULT_CHILD_ID: &str = "{thread}/{step}/{node}";

/// The placeholders an `id` template may use.
pub const ID_PLACEHOLDERS: [&str; 5] = ["thread", "step", "node", "index", "branch"];

/// The placeholders every `id` template must have: without them, two runs (or two steps
/// of one run, in a loop) would share one child and take its old result.
pub const ID_REQUIRED: [&str; 2] = ["thread", "step"];

/// What a sub-workflow node runs, gives and takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubWorkflow {
    /// The child workflow file as written: relative to the folder of the file that names
    /// it (an absolute path is used as it is).
    pub path: String,
    /// `input = { child_key = "parent_key" }`: the child's input, each key read from the
    /// parent's state (a parent key that is absent is left out). `None`: the parent's
    /// whole state.
    pub input: Option<BTreeMap<String, String>>,
    /// `output = { parent_key = "child_key" }`: the branch's update, each key read from
    /// the child's final state (a child key that is absent is left out), merged through
    /// the parent's reducers. `None`: the child's whole final state.
    pub output: Option<BTreeMap<String, String>>,
    /// The child's thread: `{thread}`, `{step}`, `{node}` and `{index}` (a send's index)
    /// are replaced; [`DEFAULT_CHILD_ID`] when the node has no `id`.
    pub id: Option<String>,
}

impl SubWorkflow {
    /// The child run's input, from the parent's `state`.
    pub fn child_input(&self, state: &Map<String, Value>) -> Map<String, Value> {
        pick(self.input.as_ref(), state)
    }

    /// The parent branch's update, from the child's final `state`.
    pub fn parent_update(&self, state: &Map<String, Value>) -> Map<String, Value> {
        pick(self.output.as_ref(), state)
    }

    /// The thread of the child that step `step` of run `parent`, on its branch
    /// `branch` (0, and one more with every replay in place), makes at node `node` (for
    /// a send, with its `index`). The same every time the step runs: a step that runs
    /// again finds its child instead of making another. A send's child without
    /// `{index}` in the template gets `/INDEX`, and a replayed step's child without
    /// `{branch}` gets `/replay-BRANCH`: each send and each replay has a child of its
    /// own, never an earlier one's result.
    pub fn thread(
        &self,
        parent: &str,
        step: u64,
        node: &str,
        index: Option<u32>,
        branch: u64,
    ) -> String {
        let mut template = self.id.clone().unwrap_or(DEFAULT_CHILD_ID.to_owned());
        if index.is_some() && !template.contains("{index}") {
            template.push_str("/{index}");
        }
        if branch > 0 && !template.contains("{branch}") {
            template.push_str("/replay-{branch}");
        }
        let index = index.map(|i| i.to_string()).unwrap_or_default();
        template
            .replace("{thread}", parent)
            .replace("{step}", &step.to_string())
            .replace("{node}", node)
            .replace("{index}", &index)
            .replace("{branch}", &branch.to_string())
    }
}

/// `from` with the keys `mapping` names (`to_key = "from_key"`), or all of it.
fn pick(
    mapping: Option<&BTreeMap<String, String>>,
    from: &Map<String, Value>,
) -> Map<String, Value> {
    match mapping {
        None => from.clone(),
        Some(mapping) => mapping
            .iter()
            .filter_map(|(to, key)| Some((to.clone(), from.get(key)?.clone())))
            .collect(),
    }
}

/// The first `{name}` of an `id` template that is not a placeholder, if any (`{` without
/// its `}` counts as one).
pub(crate) fn unknown_placeholder(template: &str) -> Option<String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Some(rest[open..].to_owned());
        };
        let name = &after[..close];
        if !ID_PLACEHOLDERS.contains(&name) {
            return Some(format!("{{{name}}}"));
        }
        rest = &after[close + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sub(input: Option<&[(&str, &str)]>, output: Option<&[(&str, &str)]>) -> SubWorkflow {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        SubWorkflow {
            path: "chain.toml".into(),
            input: input.map(map),
            output: output.map(map),
            id: None,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn without_mappings_the_whole_state_goes_and_comes_back() {
        let s = sub(None, None);
        let state = object(json!({"count": 1, "x": [1]}));
        assert_eq!(s.child_input(&state), state);
        assert_eq!(s.parent_update(&state), state);
    }

    #[test]
    fn mappings_rename_and_leave_out_absent_keys() {
        let s = sub(
            Some(&[("n", "count"), ("gone", "missing")]),
            Some(&[("total", "n")]),
        );
        let parent = object(json!({"count": 3, "other": true}));
        assert_eq!(s.child_input(&parent), object(json!({"n": 3})));
        let child = object(json!({"n": 13, "scratch": 1}));
        assert_eq!(s.parent_update(&child), object(json!({"total": 13})));
    }

    #[test]
    fn threads_follow_the_template() {
        let mut s = sub(None, None);
        assert_eq!(s.thread("p", 3, "sub", None, 0), "p/3/sub");
        assert_eq!(s.thread("p", 3, "sub", Some(7), 0), "p/3/sub/7");
        assert_eq!(s.thread("p", 3, "sub", None, 2), "p/3/sub/replay-2");
        assert_eq!(s.thread("p", 3, "sub", Some(7), 1), "p/3/sub/7/replay-1");
        s.id = Some("{thread}/order-{step}-{index}".into());
        assert_eq!(s.thread("p", 2, "sub", Some(1), 0), "p/order-2-1");
        s.id = Some("{thread}/order-{step}".into());
        assert_eq!(s.thread("p", 2, "sub", Some(1), 0), "p/order-2/1");
        s.id = Some("{thread}-{branch}/{step}".into());
        assert_eq!(s.thread("p", 2, "sub", None, 3), "p-3/2");
    }

    #[test]
    fn unknown_placeholders_are_found() {
        assert_eq!(
            unknown_placeholder("{thread}/{step}/{node}/{index}/{branch}"),
            None
        );
        assert_eq!(unknown_placeholder("{thread}/{run}"), Some("{run}".into()));
        assert_eq!(unknown_placeholder("x-{thread"), Some("{thread".into()));
    }
}
