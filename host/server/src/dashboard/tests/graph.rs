//! The workflow graph, laid out by `layout-rs`.

use std::collections::BTreeMap;

use serde_json::json;

use crate::dashboard::graph::{Graph, figure};
use crate::dashboard::run::{current, pending_sends};

fn graph(edges: &[(&str, &str, bool)]) -> Graph {
    let mut nodes: Vec<&str> = edges
        .iter()
        .flat_map(|(from, to, _)| [*from, *to])
        .filter(|name| *name != "end")
        .collect();
    nodes.sort();
    nodes.dedup();
    Graph::from_json(&json!({
        "nodes": nodes.iter().map(|n| json!({"name": n, "plugin": n})).collect::<Vec<_>>(),
        "edges": edges.iter().map(|(f, t, r)| json!({"from": f, "to": t, "route": r})).collect::<Vec<_>>(),
    }))
}

#[tokio::test]
async fn every_node_is_a_group_and_only_the_current_ones_are_marked() {
    let chain = graph(&[("a", "b", false), ("b", "c", false), ("c", "end", false)]);
    let html = figure(&chain, &["b".to_string()], &BTreeMap::new(), "running").await;
    for node in ["a", "b", "c", "end"] {
        assert_eq!(
            html.matches(&format!("data-node=\"{node}\"")).count(),
            1,
            "{node}: {html}"
        );
    }
    assert_eq!(html.matches("aria-current=\"step\"").count(), 1, "{html}");
    assert!(
        html.contains("<g class=\"node current\" data-node=\"b\" aria-current=\"step\">"),
        "{html}"
    );
    assert!(html.contains("Current: b (running)"), "{html}");
    assert!(html.contains(" data-status=\"running\" "), "{html}");
    // Three edges, each a path with an arrowhead.
    assert_eq!(html.matches("<path class=\"edge").count(), 3, "{html}");
}

#[tokio::test]
async fn loops_fan_outs_and_routes_are_laid_out() {
    let looped = graph(&[
        ("start", "work", false),
        ("work", "check", false),
        ("check", "work", true),
        ("check", "end", true),
        ("check", "check", true),
        ("start", "side", false),
        ("side", "join", false),
        ("work", "join", false),
    ]);
    let html = figure(
        &looped,
        &["work".to_string(), "side".to_string()],
        &BTreeMap::new(),
        "running",
    )
    .await;
    assert_eq!(html.matches("aria-current=\"step\"").count(), 2, "{html}");
    assert!(html.contains("Current: work, side (running)"), "{html}");
    assert!(html.contains("<path class=\"edge route\""), "{html}");
    assert!(!html.contains("is not drawn"), "{html}");
}

#[tokio::test]
async fn names_are_escaped_in_the_svg() {
    let hostile = graph(&[("<x>", "end", false)]);
    let html = figure(&hostile, &["<x>".to_string()], &BTreeMap::new(), "<b>").await;
    assert!(html.contains("data-node=\"&lt;x&gt;\""), "{html}");
    assert!(!html.contains("<x>") && !html.contains("<b>"), "{html}");
    assert!(html.contains("data-status=\"&lt;b&gt;\""), "{html}");
}

#[test]
fn the_current_node_follows_the_status() {
    let at = |run: serde_json::Value| current(&run);
    assert_eq!(
        at(json!({"status": "interrupted", "next": ["review"]})),
        ["review"]
    );
    assert_eq!(at(json!({"status": "completed", "next": []})), ["end"]);
    assert_eq!(
        at(json!({"status": "failed", "next": [], "error_node": "fetch"})),
        ["fetch"]
    );
    assert!(at(json!({"status": "cancelled", "next": []})).is_empty());
    assert_eq!(
        at(json!({"status": "running", "next": ["a", "b"]})),
        ["a", "b"]
    );
}

#[test]
fn a_fan_out_is_at_its_node_once_with_the_sends_still_to_run() {
    // `split` sent four `double`s; #1 finished (a pending write) while the others
    // wait, and a static branch `log` runs beside them.
    let run = json!({
        "status": "retrying",
        "next": ["double#0", "double#1", "log", "double#2", "double#3"],
        "pending_writes": ["double#1", "log"],
    });
    assert_eq!(current(&run), ["double", "log"]);
    assert_eq!(
        pending_sends(&run),
        BTreeMap::from([("double".to_string(), 3)])
    );
    // All sent calls done: none pending, the node is still where the run is.
    let run = json!({"status": "running", "next": ["double#0"], "pending_writes": ["double#0"]});
    assert_eq!(current(&run), ["double"]);
    assert!(pending_sends(&run).is_empty());
}

#[tokio::test]
async fn the_graph_counts_a_nodes_pending_sends_in_its_box_and_in_words() {
    let fan = graph(&[
        ("split", "double", false),
        ("double", "join", false),
        ("join", "end", false),
    ]);
    let sends = BTreeMap::from([("double".to_string(), 3)]);
    let html = figure(&fan, &["double".to_string()], &sends, "running").await;
    assert!(
        html.contains("<g class=\"node current\" data-node=\"double\" data-sends=\"3\" aria-current=\"step\"><title>double: 3 sends pending</title>"),
        "{html}"
    );
    assert_eq!(html.matches("<text class=\"sends\"").count(), 1, "{html}");
    assert!(html.contains(">×3</text>"), "{html}");
    assert!(
        html.contains("Current: double: 3 sends pending (running)"),
        "{html}"
    );
    let one = BTreeMap::from([("double".to_string(), 1)]);
    let html = figure(&fan, &["double".to_string()], &one, "running").await;
    assert!(
        html.contains("Current: double: 1 send pending (running)"),
        "{html}"
    );
}

/// The times in `graph::OPTIMIZE_UP_TO`'s comment: each graph laid out, then drawn
/// again from the cache.
#[tokio::test]
#[ignore = "a measurement: cargo test --workspace --lib -- dashboard::tests::graph::layout_time --ignored --nocapture"]
async fn layout_time() {
    for size in [10, 30, 40, 41, 60, 100, 101] {
        let mut edges = Vec::new();
        let names: Vec<String> = (0..size).map(|i| format!("node{i}")).collect();
        for i in 0..size - 1 {
            edges.push((names[i].as_str(), names[i + 1].as_str(), false));
            if i % 7 == 0 && i > 10 {
                edges.push((names[i].as_str(), names[i - 9].as_str(), true));
                edges.push((names[i].as_str(), "end", true));
            }
        }
        let graph = graph(&edges);
        let started = std::time::Instant::now();
        let html = figure(&graph, &[names[5].clone()], &BTreeMap::new(), "running").await;
        let first = started.elapsed();
        let started = std::time::Instant::now();
        figure(&graph, &[names[6].clone()], &BTreeMap::new(), "running").await;
        println!(
            "{size} nodes: {} bytes in {first:?}, then {:?} from the cache",
            html.len(),
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_graph_too_large_to_lay_out_still_has_its_legend() {
    let names: Vec<String> = (0..101).map(|i| format!("n{i}")).collect();
    let edges: Vec<(&str, &str, bool)> = names
        .windows(2)
        .map(|pair| (pair[0].as_str(), pair[1].as_str(), false))
        .collect();
    let html = figure(
        &graph(&edges),
        &["n7".to_string()],
        &BTreeMap::new(),
        "running",
    )
    .await;
    assert!(
        html.contains("The graph of 101 nodes is not drawn."),
        "{html}"
    );
    assert!(html.contains("Current: n7 (running)"), "{html}");
}
