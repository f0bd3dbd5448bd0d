//! Edges: where a run goes after a node returned, when a join node may run, and
//! which nodes a run can reach.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Edge, Node, RouteError, Target, Workflow};

pub(super) fn route(
    workflow: &Workflow,
    node: &str,
    goto: Option<&str>,
) -> Result<Vec<String>, RouteError> {
    let Some(n) = workflow.nodes.get(node) else {
        return Err(RouteError::UnknownNode {
            node: node.to_owned(),
            nodes: workflow.nodes.keys().cloned().collect(),
        });
    };
    let names = |targets: &[Target]| -> Vec<String> {
        targets
            .iter()
            .filter_map(Target::node)
            .map(str::to_owned)
            .collect()
    };
    let target = match (&n.edge, goto) {
        (Edge::Next(next), None) => return Ok(names(next)),
        (Edge::Next(next), Some(goto)) if *next == [Target::from_name(goto)] => {
            return Ok(names(next));
        }
        (Edge::Next(next), Some(goto)) => {
            return Err(RouteError::GotoWithoutRoutes {
                node: node.to_owned(),
                goto: goto.to_owned(),
                next: next.iter().map(Target::to_string).collect(),
            });
        }
        (Edge::Routes(routes), goto) => {
            let chosen = goto.map(Target::from_name);
            match routes.iter().find(|r| Some(*r) == chosen.as_ref()) {
                Some(target) => target,
                None => {
                    let routes = routes.iter().map(Target::to_string).collect();
                    return Err(match goto {
                        Some(goto) => RouteError::NotARoute {
                            node: node.to_owned(),
                            goto: goto.to_owned(),
                            routes,
                        },
                        None => RouteError::MissingGoto {
                            node: node.to_owned(),
                            routes,
                        },
                    });
                }
            }
        }
    };
    Ok(target.node().map(str::to_owned).into_iter().collect())
}

pub(super) fn advance(
    workflow: &Workflow,
    joins: &BTreeMap<String, BTreeSet<String>>,
    completed: &[(String, Vec<String>)],
) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
    let mut joins = joins.clone();
    let mut scheduled: Vec<String> = Vec::new();
    let mut is_scheduled: HashSet<&str> = HashSet::new();
    // Each join reached in this step: its `after` as a set, and how many of those
    // nodes have arrived, so that a join waiting for thousands of branches costs
    // one lookup per arrival.
    let mut waiting: HashMap<&str, (HashSet<&str>, usize)> = HashMap::new();
    for (from, targets) in completed {
        for target in targets {
            let after = workflow.nodes.get(target).map_or(&[][..], |n| &n.after[..]);
            if !after.is_empty() {
                let arrived = joins.entry(target.clone()).or_default();
                let (listed, count) = waiting.entry(target).or_insert_with(|| {
                    let listed: HashSet<&str> = after.iter().map(String::as_str).collect();
                    let count = arrived
                        .iter()
                        .filter(|a| listed.contains(a.as_str()))
                        .count();
                    (listed, count)
                });
                if arrived.insert(from.clone()) && listed.contains(from.as_str()) {
                    *count += 1;
                }
                if *count < listed.len() {
                    continue;
                }
                joins.remove(target);
                waiting.remove(target.as_str());
            }
            if is_scheduled.insert(target) {
                scheduled.push(target.clone());
            }
        }
    }
    (scheduled, joins)
}

/// Nodes a run can never reach from `start`, sorted by name (see [`reachable`]).
pub(super) fn unreachable(workflow: &Workflow) -> Vec<String> {
    let reached = reachable(&workflow.nodes, &workflow.start);
    workflow
        .nodes
        .keys()
        .filter(|name| !reached.contains(name.as_str()))
        .cloned()
        .collect()
}

/// The nodes a run can reach from `start`: a node is reached through an edge from
/// a reached node, except a join, which is reached once every node in its `after`
/// is (a join waits for all of them). Linear in nodes and edges.
///
/// Relies on what parsing checked first: edge targets are distinct, and the only
/// edges into a join come from the nodes in its `after` (also distinct), so
/// counting the reached nodes with an edge into a join counts its `after`.
pub(super) fn reachable<'a>(nodes: &'a BTreeMap<String, Node>, start: &'a str) -> HashSet<&'a str> {
    let mut reached: HashSet<&str> = HashSet::from([start]);
    let mut arrived: HashMap<&str, usize> = HashMap::new();
    let mut todo = vec![start];
    while let Some(name) = todo.pop() {
        let Some(node) = nodes.get(name) else {
            continue;
        };
        for next in node.edge.targets().iter().filter_map(Target::node) {
            if reached.contains(next) {
                continue;
            }
            let waits_for = nodes.get(next).map_or(0, |n| n.after.len());
            if waits_for > 0 {
                let count = arrived.entry(next).or_default();
                *count += 1;
                if *count < waits_for {
                    continue;
                }
            }
            reached.insert(next);
            todo.push(next);
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
name = "loop"
start = "a"
[nodes.a]
next = "check"
[nodes.check]
plugin = "router"
routes = ["a", "end"]
[nodes.b]
next = "end"
[nodes.c]
next = "c"
"#;

    fn wf() -> Workflow {
        Workflow::parse("loop.toml", FILE).unwrap()
    }

    #[test]
    fn next_edge_without_goto() {
        assert_eq!(wf().route("a", None).unwrap(), ["check"]);
    }

    #[test]
    fn next_edge_with_matching_goto() {
        assert_eq!(wf().route("a", Some("check")).unwrap(), ["check"]);
        assert!(wf().route("b", Some("end")).unwrap().is_empty());
    }

    #[test]
    fn next_to_end_finishes() {
        assert!(wf().route("b", None).unwrap().is_empty());
    }

    #[test]
    fn next_edge_with_other_goto_fails() {
        let err = wf().route("a", Some("b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"node "a" returned goto "b", but it declares no routes; its next is "check""#
        );
    }

    #[test]
    fn routes_choose() {
        assert_eq!(wf().route("check", Some("a")).unwrap(), ["a"]);
        assert!(wf().route("check", Some("end")).unwrap().is_empty());
    }

    #[test]
    fn routes_reject_undeclared_goto() {
        let err = wf().route("check", Some("b")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"node "check" returned goto "b", which is not one of its routes ("a", "end")"#
        );
    }

    #[test]
    fn routes_require_goto() {
        let err = wf().route("check", None).unwrap_err();
        assert!(matches!(err, RouteError::MissingGoto { .. }));
        assert_eq!(
            err.to_string(),
            r#"node "check" declares routes, so it must choose one of them with goto ("a", "end"), but it returned no goto"#
        );
    }

    #[test]
    fn unknown_node() {
        let err = wf().route("zz", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"there is no node "zz" in the workflow (nodes: a, b, c, check)"#
        );
    }

    #[test]
    fn unreachable_nodes_are_warnings() {
        let wf = wf();
        assert_eq!(unreachable(&wf), ["b", "c"]);
        assert_eq!(
            wf.warnings("loop.toml"),
            [
                r#"loop.toml:9:1: warning: node "b" is unreachable from start "a" by the workflow's edges (fine when a node's update sends to it: fan-out)"#,
                r#"loop.toml:11:1: warning: node "c" is unreachable from start "a" by the workflow's edges (fine when a node's update sends to it: fan-out)"#,
            ]
        );
    }
}
