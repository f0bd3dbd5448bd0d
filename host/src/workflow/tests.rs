//! Parsing and validation: what a good file becomes, and where each mistake is reported.

use serde_json::json;

use super::parse::DEFAULT_MAX_STEPS;
use super::*;

const CHAIN: &str = r#"name = "chain"
start = "n1"
max_steps = 50

[state]
count = "add"
log = "append"

[nodes.n1]
plugin = "counter"
config = { by = 2, at = 1979-05-27T07:32:00Z, nested = { list = [1, 2.5, "x"] } }
next = "check"

[nodes.check]
plugin = "router"
routes = ["n1", "end"]

[nodes.n2]
next = "end"
"#;

fn parse(text: &str) -> Result<Workflow, WorkflowError> {
    Workflow::parse("wf.toml", text)
}

/// Parses `text`, expecting an error; returns its headline.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.headline(),
    }
}

#[test]
fn parses_a_full_file() {
    let wf = parse(CHAIN).unwrap();
    assert_eq!(wf.name, "chain");
    assert_eq!(wf.start, "n1");
    assert_eq!(wf.max_steps, 50);
    assert_eq!(wf.reducer("count"), Reducer::Add);
    assert_eq!(wf.reducer("log"), Reducer::Append);
    assert_eq!(wf.reducer("other"), Reducer::Replace);

    let n1 = &wf.nodes["n1"];
    assert_eq!(n1.plugin, "counter");
    assert_eq!(
        n1.config,
        json!({"at": "1979-05-27T07:32:00Z", "by": 2, "nested": {"list": [1, 2.5, "x"]}})
    );
    assert_eq!(n1.edge, Edge::Next(Target::Node("check".into())));

    let check = &wf.nodes["check"];
    assert_eq!(
        check.edge,
        Edge::Routes(vec![Target::Node("n1".into()), Target::End])
    );

    let n2 = &wf.nodes["n2"];
    assert_eq!(n2.plugin, "n2", "plugin defaults to the node's name");
    assert_eq!(n2.config, json!({}));
    assert_eq!(n2.edge, Edge::Next(Target::End));

    assert_eq!(wf.plugins(), ["counter", "n2", "router"]);
}

#[test]
fn defaults() {
    let wf = parse("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap();
    assert_eq!(wf.max_steps, DEFAULT_MAX_STEPS);
    assert!(wf.reducers.is_empty());
    assert!(wf.warnings("wf.toml").is_empty());
}

#[test]
fn inline_nodes_table() {
    let wf = parse("name = \"x\"\nstart = \"a\"\nnodes = { a = { next = \"end\" } }\n").unwrap();
    assert_eq!(wf.nodes["a"].edge, Edge::Next(Target::End));
}

#[test]
fn reducer_names_round_trip() {
    for r in Reducer::ALL {
        assert_eq!(r.to_string().parse::<Reducer>(), Ok(r));
    }
    assert_eq!(
        "sum".parse::<Reducer>().unwrap_err().to_string(),
        "unknown reducer \"sum\"; valid reducers are: replace, append, merge, add"
    );
}

#[test]
fn syntax_error() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:3:9: "), "{e}");
}

#[test]
fn unknown_key_in_node() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n  nxet = 1\n");
    assert_eq!(
        e,
        "wf.toml:5:3: unknown field `nxet`, expected one of `plugin`, `config`, `next`, `routes`"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_step = 3\n[nodes.a]\nnext = \"end\"\n");
    assert!(
        e.starts_with("wf.toml:3:1: unknown field `max_step`"),
        "{e}"
    );
}

#[test]
fn wrong_type() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = 3\n");
    assert!(
        e.starts_with("wf.toml:4:8: invalid type: integer `3`"),
        "{e}"
    );
}

#[test]
fn missing_name() {
    let e = parse("start = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap_err();
    // The whole file is at fault: no source excerpt.
    assert_eq!(e.to_string(), "wf.toml:1:1: missing field `name`");
}

#[test]
fn empty_name() {
    let e = error("name = \" \"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(e, "wf.toml:1:8: name must not be empty");
}

#[test]
fn max_steps_zero() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_steps = 0\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:13: max_steps must be at least 1 (it bounds the steps of a run), got 0"
    );
}

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

#[test]
fn bad_node_name() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n[nodes.\"b c\"]\nnext = \"a\"\n",
    );
    assert!(
        e.starts_with("wf.toml:5:8: node name \"b c\" is invalid"),
        "{e}"
    );
}

#[test]
fn plugin_must_be_a_file_stem() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"../evil\"\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:4:10: node \"a\" has plugin = \"../evil\", but a plugin name must be a plain file stem"), "{e}");
}

#[test]
fn no_nodes() {
    assert_eq!(
        error("name = \"x\"\nstart = \"a\"\n"),
        "wf.toml:1:1: workflow has no nodes; add at least one [nodes.NAME] table"
    );
    assert!(
        error("name = \"x\"\nstart = \"a\"\n[nodes]\n")
            .starts_with("wf.toml:3:1: workflow has no nodes")
    );
}

#[test]
fn config_float_json_cannot_hold() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nconfig = { r = [1.0, nan] }\nnext = \"end\"\n",
    );
    assert_eq!(
        e,
        "wf.toml:4:10: node \"a\": config.r[1] is NaN, which JSON cannot represent"
    );
}

#[test]
fn full_display_has_source_and_caret() {
    let text = CHAIN.replace("next = \"check\"", "next = \"n4\"");
    let e = parse(&text).unwrap_err();
    let display = e.to_string();
    let mut lines = display.lines().skip(1);
    assert_eq!(lines.next(), Some("   |"));
    assert_eq!(lines.next(), Some("12 | next = \"n4\""));
    assert_eq!(lines.next(), Some("   |        ^^^^"));
    assert_eq!((e.file.as_str(), e.line, e.col), ("wf.toml", 12, 8));
}

#[test]
fn check_plugins_accepts_available() {
    let wf = parse(CHAIN).unwrap();
    let available = ["counter", "router", "n2", "extra"].map(String::from);
    wf.check_plugins("wf.toml", "plugins", &available).unwrap();
}

#[test]
fn unknown_plugin() {
    let wf = parse(&CHAIN.replace("\"counter\"", "\"countr\"")).unwrap();
    let available = ["router", "counter", "n2"].map(String::from);
    let e = wf
        .check_plugins("wf.toml", "plugins", &available)
        .unwrap_err();
    assert_eq!(
        e.headline(),
        "wf.toml:10:10: node \"n1\" uses plugin \"countr\", but plugins/countr.wasm does not exist (found: counter, n2, router)"
    );
}

#[test]
fn unknown_defaulted_plugin_points_at_header() {
    let wf = parse(CHAIN).unwrap();
    let available = ["counter", "router"].map(String::from);
    let e = wf
        .check_plugins("wf.toml", "plugins/", &available)
        .unwrap_err();
    assert_eq!(
        e.headline(),
        "wf.toml:18:1: node \"n2\" uses plugin \"n2\", but plugins/n2.wasm does not exist (found: counter, router)"
    );
    let e = wf.check_plugins("wf.toml", "p", &[]).unwrap_err();
    assert!(
        e.headline()
            .ends_with("p/counter.wasm does not exist (found: none)")
    );
}
