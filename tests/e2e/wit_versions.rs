//! The host runs components of every `savepoint:node` version it supports, side by
//! side: the 0.1.0 components in `fixtures/wit-0.1.0/` were built (once, and are never
//! rebuilt) by the SDK of that version, before 0.2.0 existed, and run unchanged.

use serde_json::{Value, json};

use crate::fixtures::{Env, repo_root};

/// A prebuilt 0.1.0 component.
fn old(name: &str) -> std::path::PathBuf {
    repo_root()
        .join("tests/e2e/fixtures/wit-0.1.0")
        .join(format!("{name}.wasm"))
}

fn wit_of(plugins: &Value, name: &str) -> Value {
    plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plugin {name}: {plugins}"))["wit"]
        .clone()
}

#[test]
fn components_of_0_1_0_and_0_2_0_run_side_by_side() {
    let env = Env::new(&["counter"]);
    env.add_plugin("old-counter", &old("counter"));
    env.add_plugin("old-approval", &old("approval"));
    let plugins = env.json(&["plugins", "--json"]);
    assert_eq!(wit_of(&plugins, "counter"), "0.2.0");
    assert_eq!(wit_of(&plugins, "old-counter"), "0.1.0");
    assert_eq!(wit_of(&plugins, "old-approval"), "0.1.0");
    let text = env.ok(&["plugins"]);
    assert!(
        text.contains("(wit 0.1.0)") && text.contains("(wit 0.2.0)"),
        "{text}"
    );

    // A 0.2.0 counter fans out to a 0.1.0 counter: each send runs the old component
    // with the send's input; the old one does not see the send index.
    env.workflow(
        "mixed.toml",
        "name = \"mixed\"\nstart = \"split\"\n[state]\ncount = \"add\"\n\
         [nodes.split]\nplugin = \"counter\"\nconfig = { mode = \"fanout\", goto = \"old\", by = 0 }\n\
         next = \"end\"\n\
         [nodes.old]\nplugin = \"old-counter\"\nconfig = { by = 5 }\nnext = \"approve\"\n\
         [nodes.approve]\nplugin = \"old-approval\"\nnext = \"end\"\n",
    );
    env.exits(
        3,
        &[
            "run",
            "mixed.toml",
            "--thread",
            "m",
            "--input",
            r#"{"items":[1,2,3]}"#,
        ],
    );
    // Three old counters added 5 each (their inputs had no count); then the old
    // approval node interrupted, as 0.1.0 nodes always could.
    assert_eq!(env.status("m")["status"], "interrupted");
    let stdout = env.ok(&["resume", "m", "--input", r#"{"approved": true}"#]);
    let state: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(state["count"], 15, "{state}");
    assert_eq!(state["approved"], json!(true), "{state}");
}

#[test]
fn a_0_1_0_chain_runs_unchanged() {
    let env = Env::new(&[]);
    env.add_plugin("counter", &old("counter"));
    let chain = env.example_workflow("chain.toml");
    let stdout = env.ok(&["run", &chain, "--thread", "c", "--input", r#"{"count":0}"#]);
    let state: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(state, json!({"count": 10}));
}
