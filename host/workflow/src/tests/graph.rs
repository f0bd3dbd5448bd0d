//! The graph: edges, routes and the start node name nodes that exist.

use super::*;

#[test]
fn edge_to_missing_node() {
    let text = CHAIN.replace("next = \"check\"", "next = \"n4\"");
    assert_eq!(
        error(&text),
        "wf.toml:12:8: node \"n1\" has next = \"n4\", but there is no node \"n4\" (nodes: check, n1, n2)"
    );
}

#[test]
fn missing_start_node() {
    let text = CHAIN.replace("start = \"n1\"", "start = \"n0\"");
    assert_eq!(
        error(&text),
        "wf.toml:2:9: start = \"n0\", but there is no node \"n0\" (nodes: check, n1, n2)"
    );
    let text = CHAIN.replace("start = \"n1\"", "start = \"end\"");
    assert!(error(&text).starts_with("wf.toml:2:9: "));
}

#[test]
fn route_to_missing_node() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[\"n1\", \"n9\"]");
    assert_eq!(
        error(&text),
        "wf.toml:16:17: node \"check\" has route \"n9\", but there is no node \"n9\" (nodes: check, n1, n2)"
    );
}

#[test]
fn duplicate_route() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[\"end\", \"n1\", \"end\"]");
    assert_eq!(
        error(&text),
        "wf.toml:16:24: node \"check\" lists route \"end\" twice"
    );
}

#[test]
fn empty_routes() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[]");
    assert_eq!(
        error(&text),
        "wf.toml:16:10: node \"check\" has routes = [], but it needs at least one route"
    );
}

#[test]
fn bad_reducer_name() {
    let text = CHAIN.replace("count = \"add\"", "count = \"sum\"");
    assert_eq!(
        error(&text),
        "wf.toml:6:9: state key \"count\" has reducer \"sum\", but valid reducers are: replace, append, merge, add"
    );
}

#[test]
fn node_with_no_edge() {
    let text = CHAIN.replace("next = \"end\"", "");
    let e = error(&text);
    assert!(
        e.starts_with("wf.toml:18:1: node \"n2\" has no edge: add next"),
        "{e}"
    );
}

#[test]
fn node_with_both_edges() {
    let text = CHAIN.replace("routes = [", "next = \"n1\"\nroutes = [");
    let e = error(&text);
    assert!(
        e.starts_with("wf.toml:17:10: node \"check\" has both next and routes; pick one"),
        "{e}"
    );
}

#[test]
fn end_is_not_a_node_name() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n[nodes.end]\nnext = \"a\"\n",
    );
    assert!(
        e.starts_with("wf.toml:5:8: \"end\" cannot be a node name"),
        "{e}"
    );
}
