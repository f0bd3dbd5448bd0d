//! Good files: what they become; the plugins they name.

use super::*;

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
    assert_eq!(n1.edge, Edge::Next(vec![Target::Node("check".into())]));

    let check = &wf.nodes["check"];
    assert_eq!(
        check.edge,
        Edge::Routes(vec![Target::Node("n1".into()), Target::End])
    );

    let n2 = &wf.nodes["n2"];
    assert_eq!(n2.plugin, "n2", "plugin defaults to the node's name");
    assert_eq!(n2.config, json!({}));
    assert_eq!(n2.edge, Edge::Next(vec![Target::End]));

    assert_eq!(wf.plugins(), ["counter", "n2", "router"]);
}

#[test]
fn defaults() {
    let wf = parse("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap();
    assert_eq!(wf.max_steps, DEFAULT_MAX_STEPS);
    assert_eq!(wf.max_fanout, DEFAULT_MAX_FANOUT);
    assert_eq!(wf.max_concurrency, DEFAULT_MAX_CONCURRENCY);
    assert!(wf.reducers.is_empty());
    assert!(wf.warnings("wf.toml").is_empty());
}

#[test]
fn inline_nodes_table() {
    let wf = parse("name = \"x\"\nstart = \"a\"\nnodes = { a = { next = \"end\" } }\n").unwrap();
    assert_eq!(wf.nodes["a"].edge, Edge::Next(vec![Target::End]));
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

#[test]
fn fanout_limits() {
    let wf = parse(
        "name = \"x\"\nstart = \"a\"\nmax_fanout = 5000\nmax_concurrency = 8\n\
         [nodes.a]\nnext = \"end\"\n",
    )
    .unwrap();
    assert_eq!(wf.max_fanout, 5000);
    assert_eq!(wf.max_concurrency, 8);
}
