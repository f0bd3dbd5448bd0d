//! The dashboard's pages on a real daemon: what `Backend::run_graph` and
//! `Backend::plugin_versions` read from the store (the graph of the run's pinned
//! workflow text, its pins, the stored versions with `describe()`), and the runs
//! list's counts. The pages' markup is tested in the server crate
//! (`dashboard::tests`); the browser test drives them in Chromium.

use serde_json::json;

use super::{array, daemon};
use crate::fixtures::Env;

#[test]
fn the_dashboard_reads_runs_graphs_and_versions_from_the_daemon() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    let created = daemon.post("/runs", &json!({"workflow": "chain", "thread": "dash-1"}));
    assert_eq!(created.status, 201, "{created:?}");
    let asked = daemon.post("/runs", &json!({"workflow": "ask", "thread": "dash-ask"}));
    assert_eq!(asked.status, 201, "{asked:?}");
    daemon.wait_run("dash-1", "completed", |s| s["status"] == "completed");
    daemon.wait_run("dash-ask", "interrupted", |s| s["status"] == "interrupted");

    let list = daemon.get("/");
    assert_eq!(list.status, 200, "{list:?}");
    assert_eq!(
        list.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for part in [
        "<a href=\"/ui/runs/dash-1\">dash-1</a>",
        "<a href=\"/ui/runs/dash-ask\">dash-ask</a>",
        ">completed 1</a>",
        ">interrupted 1</a>",
        ">failed 0</a>",
    ] {
        assert!(list.body.contains(part), "{part}: {}", list.body);
    }
    let filtered = daemon.get("/?status=interrupted&thread=dash-");
    assert!(filtered.body.contains(">dash-ask</a>"), "{}", filtered.body);
    assert!(!filtered.body.contains(">dash-1</a>"), "{}", filtered.body);

    // The graph of the run's pinned text: chain's ten nodes and the end; a completed
    // run is at the end.
    let chain = daemon.get("/ui/runs/dash-1");
    assert_eq!(chain.status, 200, "{chain:?}");
    for node in (1..=10).map(|n| format!("n{n}")).chain(["end".to_string()]) {
        assert!(
            chain.body.contains(&format!("data-node=\"{node}\"")),
            "{node}: {}",
            chain.body
        );
    }
    assert!(
        chain
            .body
            .contains("<g class=\"node current\" data-node=\"end\" aria-current=\"step\">"),
        "{}",
        chain.body
    );
    assert!(
        chain.body.contains("Current: end (completed)"),
        "{}",
        chain.body
    );
    assert!(
        chain.body.contains("<h3>Step 10 · <code>n10</code></h3>"),
        "{}",
        chain.body
    );

    // The interrupted run is at its node, and pinned to the echo file's version.
    let plugins = array(daemon.get("/plugins").json());
    let echo = plugins.iter().find(|p| p["name"] == "echo").unwrap();
    let digest = echo["digest"].as_str().unwrap();
    let ask = daemon.get("/ui/runs/dash-ask");
    assert_eq!(ask.status, 200, "{ask:?}");
    assert!(
        ask.body
            .contains("<g class=\"node current\" data-node=\"ask\" aria-current=\"step\">"),
        "{}",
        ask.body
    );
    assert!(
        ask.body.contains("Current: ask (interrupted)"),
        "{}",
        ask.body
    );
    assert!(
        ask.body.contains(&format!(
            "<th scope=\"row\">echo</th><td><code>{digest}</code></td><td>ask</td>"
        )),
        "{}",
        ask.body
    );

    // Every stored version: current, with describe(), and the unfinished run on it.
    let versions = daemon.get("/ui/plugins");
    assert_eq!(versions.status, 200, "{versions:?}");
    let row = versions
        .body
        .lines()
        .find(|line| line.contains(&format!("<code>{digest}</code>")))
        .unwrap_or_else(|| panic!("no row for {digest}: {}", versions.body));
    assert!(
        row.contains("<span class=\"badge\">current</span>"),
        "{row}"
    );
    assert!(row.contains("<strong>"), "describe() of {digest}: {row}");
    assert!(
        row.contains("<a href=\"/ui/runs/dash-ask\">dash-ask</a>"),
        "{row}"
    );

    let missing = daemon.get("/ui/runs/nobody");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.body.contains("role=\"alert\""), "{}", missing.body);
}
