//! A node's edges: `next` or `routes` (where the run goes after it), and
//! `after` (the nodes a join waits for). Every wrong target is reported and
//! left out; the checks that need every node are `graph`'s.

use std::collections::HashSet;
use std::ops::Range;

use super::{Graph, RawNext, RawNode, Validator};
use crate::{Edge, Target};

impl Validator<'_> {
    /// A node's `next` or `routes`, and where each target that names a node
    /// is written. Every target that is wrong is reported, and left out.
    pub(super) fn edge(
        &self,
        name: &str,
        header: Range<usize>,
        raw_node: &RawNode,
        graph: &Graph<'_>,
    ) -> (Edge, Vec<(String, Range<usize>)>) {
        let mut target_spans: Vec<(String, Range<usize>)> = Vec::new();
        let listed = &graph.listed;
        let edge = match (&raw_node.next, &raw_node.routes) {
            (None, None) => {
                let msg = format!(
                    "node \"{name}\" has no edge: add next = \"<node>\" (or \"end\"), \
                     or routes = [\"<node>\", ...] to let the node choose with goto"
                );
                self.problem(header, msg);
                Edge::Next(vec![Target::End])
            }
            (Some(next), Some(routes)) => {
                let later = if next.span().start > routes.span().start {
                    next.span()
                } else {
                    routes.span()
                };
                let msg = format!(
                    "node \"{name}\" has both next and routes; pick one: next for a fixed \
                     successor, or routes to let the node choose with goto"
                );
                self.problem(later, msg);
                Edge::Next(vec![Target::End])
            }
            (Some(next), None) => match next.get_ref() {
                RawNext::One(target) => {
                    if graph.missing(target) {
                        let msg = format!(
                            "node \"{name}\" has next = \"{target}\", but there is no node \"{target}\" (nodes: {listed})",
                        );
                        self.problem(next.span(), msg);
                    }
                    let target = Target::from_name(target);
                    if let Some(node) = target.node() {
                        target_spans.push((node.to_owned(), next.span()));
                    }
                    Edge::Next(vec![target])
                }
                RawNext::Many(list) => {
                    if list.is_empty() {
                        let msg = format!(
                            "node \"{name}\" has next = [], but it needs at least one target \
                             (use next = \"end\" to finish the run)"
                        );
                        self.problem(next.span(), msg);
                    }
                    let mut targets: Vec<Target> = Vec::new();
                    let mut seen: HashSet<&str> = HashSet::new();
                    for item in list {
                        let target = Target::from_name(item.get_ref());
                        if !seen.insert(item.get_ref()) {
                            let msg = format!("node \"{name}\" lists next \"{target}\" twice");
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if graph.missing(item.get_ref()) {
                            let msg = format!(
                                "node \"{name}\" has next \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                                item.get_ref()
                            );
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if target == Target::End && list.len() > 1 {
                            let msg = format!(
                                "node \"{name}\" lists \"end\" among several next nodes; \
                                 a list runs every node in it in parallel, so it can only \
                                 name nodes (a branch ends when its own next is \"end\")"
                            );
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if let Some(node) = target.node() {
                            target_spans.push((node.to_owned(), item.span()));
                        }
                        targets.push(target);
                    }
                    Edge::Next(targets)
                }
            },
            (None, Some(routes)) => {
                if routes.get_ref().is_empty() {
                    let msg =
                        format!("node \"{name}\" has routes = [], but it needs at least one route");
                    self.problem(routes.span(), msg);
                }
                let mut targets: Vec<Target> = Vec::new();
                let mut seen: HashSet<&str> = HashSet::new();
                for route in routes.get_ref() {
                    let target = Target::from_name(route.get_ref());
                    if !seen.insert(route.get_ref()) {
                        let msg = format!("node \"{name}\" lists route \"{target}\" twice");
                        self.problem(route.span(), msg);
                        continue;
                    }
                    if graph.missing(route.get_ref()) {
                        let msg = format!(
                            "node \"{name}\" has route \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                            route.get_ref()
                        );
                        self.problem(route.span(), msg);
                        continue;
                    }
                    if let Some(node) = target.node() {
                        target_spans.push((node.to_owned(), route.span()));
                    }
                    targets.push(target);
                }
                Edge::Routes(targets)
            }
        };
        (edge, target_spans)
    }

    /// A node's `after` list (a join), and where each entry is written.
    pub(super) fn after(
        &self,
        name: &str,
        raw_node: &RawNode,
        graph: &Graph<'_>,
    ) -> (Vec<String>, Vec<Range<usize>>) {
        let mut after = Vec::new();
        let mut after_spans = Vec::new();
        let Some(list) = &raw_node.after else {
            return (after, after_spans);
        };
        if list.get_ref().is_empty() {
            let msg = format!(
                "node \"{name}\" has after = [], but a join needs at least one node to \
                 wait for (remove after for a node that runs as soon as it is reached)"
            );
            self.problem(list.span(), msg);
            return (after, after_spans);
        }
        if name == graph.start {
            let msg = format!(
                "node \"{name}\" is the start node, so it cannot have after: the run \
                 begins there without waiting"
            );
            self.problem(list.span(), msg);
            return (after, after_spans);
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for entry in list.get_ref() {
            let entry_name = entry.get_ref();
            if !seen.insert(entry_name) {
                let msg = format!("node \"{name}\" lists \"{entry_name}\" in after twice");
                self.problem(entry.span(), msg);
                continue;
            }
            if !graph.names.contains(entry_name.as_str()) {
                let msg = format!(
                    "node \"{name}\" lists \"{entry_name}\" in after, but there is no node \"{entry_name}\" (nodes: {})",
                    graph.listed
                );
                self.problem(entry.span(), msg);
                continue;
            }
            if entry_name == name {
                let msg = format!("node \"{name}\" cannot wait for itself (after)");
                self.problem(entry.span(), msg);
                continue;
            }
            after.push(entry_name.clone());
            after_spans.push(entry.span());
        }
        (after, after_spans)
    }
}
