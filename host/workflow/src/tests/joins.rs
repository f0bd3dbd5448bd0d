//! Fan-out lists and joins: what parses, and joins that can never run.

use super::*;

#[test]
fn parses_fan_out_and_join() {
    let wf = diamond();
    assert_eq!(wf.nodes["a"].edge, Edge::Next(vec![node("b"), node("c")]));
    assert_eq!(wf.nodes["d"].after, ["b", "c"]);
    assert!(wf.nodes["b"].after.is_empty());
    assert!(wf.warnings("wf.toml").is_empty());
    // A one-element list is the same as the string; ["end"] too.
    let wf = parse(&DIAMOND.replace("next = \"d\"", "next = [\"d\"]")).unwrap();
    assert_eq!(wf.nodes["b"].edge, Edge::Next(vec![node("d")]));
    let wf = parse(&DIAMOND.replace("next = \"end\"", "next = [\"end\"]")).unwrap();
    assert_eq!(wf.nodes["d"].edge, Edge::Next(vec![Target::End]));
}

#[test]
fn fan_out_list_errors() {
    let cases = [
        (
            "[]",
            "wf.toml:5:8: node \"a\" has next = [], but it needs at least one target (use next = \"end\" to finish the run)",
        ),
        (
            "[\"b\", \"c\", \"b\"]",
            "wf.toml:5:19: node \"a\" lists next \"b\" twice",
        ),
        (
            "[\"b\", \"zz\"]",
            "wf.toml:5:14: node \"a\" has next \"zz\", but there is no node \"zz\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"end\"]",
            "wf.toml:5:14: node \"a\" lists \"end\" among several next nodes; a list runs every node in it in parallel, so it can only name nodes (a branch ends when its own next is \"end\")",
        ),
        (
            "[\"end\", \"end\"]",
            "wf.toml:5:9: node \"a\" lists \"end\" among several next nodes; a list runs every node in it in parallel, so it can only name nodes (a branch ends when its own next is \"end\")",
        ),
        (
            "[\"b\", \"c\", \"c\"]",
            "wf.toml:5:19: node \"a\" lists next \"c\" twice",
        ),
    ];
    for (list, expected) in cases {
        let text = DIAMOND.replace("next = [\"b\", \"c\"]", &format!("next = {list}"));
        assert_eq!(error(&text), expected, "next = {list}");
    }
    let e = error(&DIAMOND.replace("next = [\"b\", \"c\"]", "next = [\"b\", 3]"));
    assert!(
        e.starts_with("wf.toml:5:14: invalid type: integer `3`"),
        "{e}"
    );
    let e = error(&DIAMOND.replace("next = [\"b\", \"c\"]", "next = { b = 1 }"));
    assert!(
        e.starts_with(
            "wf.toml:5:8: invalid type: map, expected a node name, \"end\", or a list of node names"
        ),
        "{e}"
    );
}

#[test]
fn after_list_errors() {
    let cases = [
        (
            "[]",
            "wf.toml:14:9: node \"d\" has after = [], but a join needs at least one node to wait for (remove after for a node that runs as soon as it is reached)",
        ),
        (
            "[\"b\", \"c\", \"b\"]",
            "wf.toml:14:20: node \"d\" lists \"b\" in after twice",
        ),
        (
            "[\"b\", \"zz\"]",
            "wf.toml:14:15: node \"d\" lists \"zz\" in after, but there is no node \"zz\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"end\"]",
            "wf.toml:14:15: node \"d\" lists \"end\" in after, but there is no node \"end\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"c\", \"d\"]",
            "wf.toml:14:20: node \"d\" cannot wait for itself (after)",
        ),
    ];
    for (list, expected) in cases {
        let text = DIAMOND.replace("after = [\"b\", \"c\"]", &format!("after = {list}"));
        assert_eq!(error(&text), expected, "after = {list}");
    }
}

#[test]
fn start_node_cannot_join() {
    let text = DIAMOND.replace("start = \"a\"", "start = \"d\"");
    assert_eq!(
        error(&text),
        "wf.toml:14:9: node \"d\" is the start node, so it cannot have after: the run begins there without waiting"
    );
}

#[test]
fn after_entry_needs_an_edge_to_the_join() {
    // a is listed, but a's edge goes to b and c, not d.
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"b\", \"a\", \"c\"]");
    assert_eq!(
        error(&text),
        "wf.toml:14:15: node \"d\" lists \"a\" in after, but \"a\" has no edge to \"d\"; add \"d\" to the next or routes of \"a\""
    );
}

#[test]
fn every_edge_into_a_join_must_be_listed() {
    // c routes to d, but d waits only for b: c's edge is the mistake.
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"b\"]");
    assert_eq!(
        error(&text),
        "wf.toml:11:11: node \"c\" has an edge to \"d\", but \"d\" is a join reached only from the nodes in its after (\"b\"); add \"c\" to that list, or remove this edge"
    );
    // A fan-out list entry is located too.
    let text = DIAMOND.replace("next = [\"b\", \"c\"]", "next = [\"b\", \"c\", \"d\"]");
    assert_eq!(
        error(&text),
        "wf.toml:5:19: node \"a\" has an edge to \"d\", but \"d\" is a join reached only from the nodes in its after (\"b\", \"c\"); add \"a\" to that list, or remove this edge"
    );
}

#[test]
fn first_join_problem_in_the_file_is_reported() {
    // Two problems: b's edge into d (line 8) and d's after entry "a" (line 14).
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"c\", \"a\"]");
    assert!(error(&text).starts_with("wf.toml:8:8: node \"b\" has an edge to \"d\""));
}

#[test]
fn join_waiting_for_an_unreachable_node_is_an_error() {
    // c has an edge to d, but nothing leads to c: d would wait for it forever, and
    // the run would complete without running d.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = "d"
[nodes.c]
next = "d"
[nodes.d]
after = ["b", "c"]
next = "end"
"#;
    assert_eq!(
        error(text),
        "wf.toml:10:15: node \"d\" waits for \"c\" (after), but \"c\" can never run (no path \
         from start \"a\" reaches it), so \"d\" would never run and the run would end without \
         it; remove \"c\" from after, or add an edge that reaches \"c\""
    );
    // Reaching c makes it valid.
    let wf = parse(&text.replace("next = \"b\"", "next = [\"b\", \"c\"]")).unwrap();
    assert!(wf.warnings("wf.toml").is_empty());
}

#[test]
fn join_waiting_for_a_node_behind_itself_is_an_error() {
    // c is reached only through d, and d waits for c.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = "d"
[nodes.d]
after = ["b", "c"]
routes = ["c", "end"]
[nodes.c]
next = "d"
"#;
    assert!(
        error(text).starts_with(
            "wf.toml:8:15: node \"d\" waits for \"c\" (after), but \"c\" can never run"
        ),
        "{}",
        error(text)
    );
}

#[test]
fn join_behind_a_dead_join_is_reported_where_it_starts() {
    // d can never run (it waits for the unreachable c); e waits for d and b: the
    // error names d's entry, the first in the file.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = ["d", "e"]
[nodes.c]
next = "d"
[nodes.d]
after = ["b", "c"]
next = "e"
[nodes.e]
after = ["b", "d"]
next = "end"
"#;
    assert!(error(text).starts_with("wf.toml:10:15: node \"d\" waits for \"c\""));
}

#[test]
fn wholly_unreachable_join_is_a_warning() {
    // Nothing leads to b, c or d: a dead part of the graph, as before.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "end"
[nodes.b]
next = ["c", "d"]
[nodes.c]
next = "e"
[nodes.d]
next = "e"
[nodes.e]
after = ["c", "d"]
next = "end"
"#;
    let wf = parse(text).unwrap();
    assert_eq!(route::unreachable(&wf), ["b", "c", "d", "e"]);
}
