//! The checks that need every node: joins are reached exactly through their
//! `after` lists, and none waits for a node no run can reach. They run once
//! every node is valid on its own; each reports every violation, in file
//! order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use super::super::error::quoted;
use super::{EdgeSpans, Validator};
use crate::Node;

impl Validator<'_> {
    /// A join node (one with `after`) is reached exactly through its `after` list:
    /// each node listed has an edge to it, and no other node does.
    pub(super) fn joins(
        &self,
        nodes: &BTreeMap<String, Node>,
        spans: &BTreeMap<String, EdgeSpans>,
    ) {
        // Every edge between two nodes, and each join's after list, as sets: the
        // checks below are one lookup each, however many edges a node has.
        let edges: HashSet<(&str, &str)> = spans
            .iter()
            .flat_map(|(from, s)| {
                s.targets
                    .iter()
                    .map(move |(to, _)| (from.as_str(), to.as_str()))
            })
            .collect();
        let afters: HashMap<&str, HashSet<&str>> = nodes
            .iter()
            .filter(|(_, node)| !node.after.is_empty())
            .map(|(name, node)| {
                (
                    name.as_str(),
                    node.after.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let mut problems: Vec<(Range<usize>, &str, String)> = Vec::new();
        for (name, node) in nodes {
            for (waited, span) in node.after.iter().zip(&spans[name].after) {
                if !edges.contains(&(waited.as_str(), name.as_str())) {
                    let msg = format!(
                        "node \"{name}\" lists \"{waited}\" in after, but \"{waited}\" has no edge \
                         to \"{name}\"; add \"{name}\" to the next or routes of \"{waited}\""
                    );
                    problems.push((span.clone(), name, msg));
                }
            }
            for (target, span) in &spans[name].targets {
                let join = &nodes[target];
                if afters
                    .get(target.as_str())
                    .is_some_and(|after| !after.contains(name.as_str()))
                {
                    let msg = format!(
                        "node \"{name}\" has an edge to \"{target}\", but \"{target}\" is a join \
                         reached only from the nodes in its after ({}); add \"{name}\" to that \
                         list, or remove this edge",
                        quoted(&join.after)
                    );
                    problems.push((span.clone(), name, msg));
                }
            }
        }
        self.report_in_file_order(problems);
    }

    /// A join that some run can reach the edge into, but that waits for a node no
    /// run can reach, would never run: the run would complete without it.
    pub(super) fn dead_joins(
        &self,
        nodes: &BTreeMap<String, Node>,
        start: &str,
        spans: &BTreeMap<String, EdgeSpans>,
    ) {
        let reached = super::super::route::reachable(nodes, start);
        let mut problems: Vec<(Range<usize>, &str, String)> = Vec::new();
        for (name, node) in nodes {
            if node.after.is_empty() || reached.contains(name.as_str()) {
                continue;
            }
            let waited = || node.after.iter().zip(&spans[name].after);
            // A join none of whose nodes can run is merely unreachable (a warning),
            // like the rest of a part of the graph that nothing leads to.
            if !waited().any(|(w, _)| reached.contains(w.as_str())) {
                continue;
            }
            if let Some((never, span)) = waited().find(|(w, _)| !reached.contains(w.as_str())) {
                let msg = format!(
                    "node \"{name}\" waits for \"{never}\" (after), but \"{never}\" can never run \
                     (no path from start \"{start}\" reaches it), so \"{name}\" would never run and \
                     the run would end without it; remove \"{never}\" from after, or add an edge \
                     that reaches \"{never}\""
                );
                problems.push((span.clone(), name, msg));
            }
        }
        self.report_in_file_order(problems);
    }

    /// Records each problem (span, node, message), first in the file first.
    fn report_in_file_order(&self, mut problems: Vec<(Range<usize>, &str, String)>) {
        problems.sort_by_key(|(span, _, _)| span.start);
        for (span, node, message) in problems {
            self.report(self.err(span, message).in_node(node));
        }
    }
}
