//! Sub-workflows: a node that runs another workflow file as a child run. `validate`
//! (and `run`, before the run exists) refuses a child file that is missing, invalid, or
//! that includes its parent again.

use crate::fixtures::{Env, Messages};

/// A one-node workflow named `name` whose node runs `child` as a sub-workflow.
fn includes(name: &str, child: &str) -> String {
    format!(
        "name = \"{name}\"\nstart = \"sub\"\n\n[nodes.sub]\nworkflow = \"{child}\"\nnext = \"end\"\n"
    )
}

#[test]
fn validate_refuses_a_child_that_includes_itself_a_cycle_and_a_missing_file() {
    let env = Env::new(&["counter"]);
    std::fs::create_dir_all(env.path().join("lib")).unwrap();
    let cases = [
        ("self.toml", includes("self", "self.toml")),
        ("parent.toml", includes("parent", "lib/chain.toml")),
        ("lib/chain.toml", includes("chain", "../parent.toml")),
        ("missing.toml", includes("missing", "nowhere.toml")),
        ("broken.toml", includes("broken", "lib/broken.toml")),
        (
            "lib/broken.toml",
            "name = \"b\"\nstart = \"a\"\n[nodes.a]\nplugin = \"gone\"\nnext = \"end\"\n".into(),
        ),
    ];
    for (file, text) in &cases {
        env.workflow(file, text);
    }
    let mut messages = Messages::new();
    for file in ["self.toml", "parent.toml", "missing.toml", "broken.toml"] {
        messages.add(
            &format!("validate {file}"),
            &env.exits(2, &["validate", file]),
        );
        let stderr = env.fails(&["run", file, "--thread", "never"]);
        messages.add(&format!("run {file}"), &stderr);
    }
    messages.check("children-validate.txt");
    // Not one of them created a run.
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs["runs"], serde_json::json!([]), "{runs}");
}
