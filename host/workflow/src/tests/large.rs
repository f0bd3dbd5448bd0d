//! Large workflows: linear-time validation, and every problem reported at once.

use super::*;

/// `n` nodes `n0 -> n1 -> ... -> end`, each in its own table.
fn long_chain(n: usize) -> String {
    let mut text = String::from("name = \"long\"\nstart = \"n0\"\n");
    for i in 0..n {
        let next = if i + 1 == n {
            "end".to_owned()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "\n[nodes.n{i}]\nplugin = \"p\"\nnext = \"{next}\"\n"
        ));
    }
    text
}

/// A fan-out of `n` branches from `a`, each routing to the join `z` or to `end`,
/// and `z` waiting for all of them: one node with `n` edges, one with `n` after
/// entries.
fn wide_join(n: usize) -> String {
    let branches: Vec<String> = (0..n).map(|i| format!("\"b{i}\"")).collect();
    let mut text = format!(
        "name = \"wide\"\nstart = \"a\"\n\n[nodes.a]\nnext = [{}]\n\n[nodes.z]\nafter = [{}]\nnext = \"end\"\n",
        branches.join(", "),
        branches.join(", ")
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[nodes.b{i}]\nplugin = \"p\"\nroutes = [\"z\", \"end\"]\n"
        ));
    }
    text
}

/// Validation is linear in the size of the file. With the quadratic steps it had
/// (locating each node by scanning the text before it, a list lookup per edge
/// into a join), 20,000 nodes took 136 s in a debug build (a chain) and 153 s (a
/// 20,000-way join); these sizes would take many minutes. Linear, both take a
/// few seconds in a debug build.
#[test]
fn large_workflows_validate_in_linear_time() {
    let n = 50_000;
    let wf = parse(&long_chain(n)).unwrap();
    assert_eq!(wf.nodes.len(), n);
    assert!(wf.warnings("wf.toml").is_empty());
    wf.check_plugins("wf.toml", "plugins", &["p".to_owned()])
        .unwrap();
    // Errors found after parsing still point at the line.
    let e = wf.check_plugins("wf.toml", "plugins", &[]).unwrap_err();
    assert_eq!((e.line, e.col), (5, 10), "the first node's plugin: {e}");
    let text = long_chain(n).replace("next = \"end\"", "next = \"nowhere\"");
    let e = parse(&text).unwrap_err();
    assert_eq!((e.line, e.col), (4 * n + 2, 8), "the last node's next: {e}");

    let n = 20_000;
    let wf = parse(&wide_join(n)).unwrap();
    assert_eq!(wf.nodes["z"].after.len(), n);
    assert!(wf.warnings("wf.toml").is_empty());
    // Every branch arriving in one step schedules the join once.
    let completed: Vec<(String, Vec<String>)> = (0..n)
        .map(|i| (format!("b{i}"), vec!["z".to_owned()]))
        .collect();
    let (next, joins) = wf.advance(&BTreeMap::new(), &completed);
    assert_eq!(next, ["z"]);
    assert!(joins.is_empty());
    let (next, _) = wf.advance(
        &BTreeMap::new(),
        &[("a".to_owned(), wf.route("a", None).unwrap())],
    );
    assert_eq!(next.len(), n);
}

/// `parse_all` reports every problem, each naming its node, in the order
/// checked; `parse` reports the first of them.
#[test]
fn parse_all_reports_every_problem_and_parse_the_first() {
    let text = r#"name = ""
start = "a"
max_steps = 0

[nodes.a]
plugin = "counter"
retry = { attempts = 0, backoff = "slow" }
timeout = "soon"
next = ["b", "nowhere", "b"]

[nodes.b]
plugin = "counter"
memory = "1KiB"
routes = []
"#;
    let problems = Workflow::parse_all("wf.toml", text).unwrap_err();
    let found: Vec<(Option<&str>, String)> = problems
        .iter()
        .map(|p| (p.node.as_deref(), p.headline()))
        .collect();
    assert_eq!(
        found,
        vec![
            (None, "wf.toml:1:8: name must not be empty".to_string()),
            (
                None,
                "wf.toml:3:13: max_steps must be at least 1 (it bounds the steps of a run), got 0"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:9:14: node \"a\" has next \"nowhere\", but there is no node \"nowhere\" \
                 (nodes: a, b)"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:9:25: node \"a\" lists next \"b\" twice".to_string()
            ),
            (
                Some("a"),
                "wf.toml:7:22: node \"a\": retry.attempts must be at least 1 (it counts the \
                 first try; 1 = no retries), got 0"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:7:35: node \"a\": retry.backoff is \"slow\", but valid backoffs are: \
                 exponential, fixed"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:8:11: node \"a\": timeout: invalid duration \"soon\": use a number \
                 and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
                    .to_string()
            ),
            (
                Some("b"),
                "wf.toml:14:10: node \"b\" has routes = [], but it needs at least one route"
                    .to_string()
            ),
            (
                Some("b"),
                "wf.toml:13:10: node \"b\": memory must be between 1 MiB and 4 GiB, got 1 KiB"
                    .to_string()
            ),
        ]
    );
    assert_eq!(error(text), found[0].1);
}
