//! Bad input of every kind gets an error that names the file, node or cause,
//! and never leaves a partial checkpoint behind.

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages, golden, guest};

/// Bad workflow files: `validate` and `run` refuse them with the file and
/// line, and `run` stores nothing.
#[test]
fn bad_workflow_files_are_refused_with_file_and_line() {
    let env = Env::new(&["counter", "router"]);
    let cases: &[(&str, &str)] = &[
        ("syntax", "name = \"x\"\nstart = \n"),
        (
            "unknown-key",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnxt = \"end\"\n",
        ),
        (
            "missing-edge-target",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n",
        ),
        (
            "missing-start",
            "name = \"x\"\nstart = \"zero\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
        ),
        (
            "unknown-plugin",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"countr\"\nnext = \"end\"\n",
        ),
        (
            "route-to-missing-node",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"router\"\nroutes = [\"a\", \"b\"]\n",
        ),
        (
            "bad-reducer",
            "name = \"x\"\nstart = \"a\"\n[state]\ncount = \"sum\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
        ),
        (
            "no-edge",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n",
        ),
        (
            "unreachable-join",
            "name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n\
             [nodes.b]\nplugin = \"counter\"\nnext = \"d\"\n[nodes.c]\nplugin = \"counter\"\n\
             next = \"d\"\n[nodes.d]\nplugin = \"counter\"\nafter = [\"b\", \"c\"]\nnext = \"end\"\n",
        ),
    ];
    let mut report = String::new();
    for (name, text) in cases {
        let file = env.workflow(&format!("{name}.toml"), text);
        let stderr = env.fails(&["validate", &file]);
        assert!(
            stderr.contains(&format!("{file}:")),
            "{name}: the error names the file and line: {stderr}"
        );
        let run_stderr = env.fails(&["run", &file, "--thread", name]);
        assert!(
            run_stderr.contains(&format!("{file}:")),
            "{name}: {run_stderr}"
        );
        report.push_str(&format!("== {name}\n{stderr}\n"));
    }
    golden("bad-workflows.txt", &report);
    // Not one of them created a run.
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs["runs"], json!([]), "{runs}");
}

/// A route the node may not take is refused when the node takes it.
#[test]
fn goto_to_an_undeclared_route_fails_the_run_at_that_node() {
    let env = Env::new(&["counter", "router"]);
    let workflow = env.workflow(
        "wild.toml",
        r#"
name = "wild"
start = "inc"
[nodes.inc]
plugin = "counter"
next = "check"
[nodes.check]
plugin = "router"
config = { below = 5, then = "elsewhere", else = "end" }
routes = ["inc", "end"]
[nodes.elsewhere]
plugin = "counter"
next = "end"
"#,
    );
    env.fails(&["run", &workflow, "--thread", "wild"]);
    let status = env.status("wild");
    assert_eq!(status["status"], "failed");
    let error = status["error"].as_str().unwrap();
    golden("route-not-declared.txt", &format!("{error}\n"));
    assert_eq!(
        env.history("wild").len(),
        1,
        "only the inc step was committed"
    );
}

/// Node failures: a trap, invalid JSON, an update that is not an object, a
/// fatal failure. Each fails the run at that node with a message naming it;
/// the checkpoints before it are intact and nothing partial is stored.
#[test]
fn failing_nodes_fail_the_run_at_that_node() {
    let env = Env::new(&["counter", "trap", "badjson", "fail"]);
    let cases = [
        ("trap", "{}"),
        ("badjson", "{ mode = \"not-json\" }"),
        ("badjson", "{ mode = \"not-object\" }"),
        ("fail", "{ kind = \"fatal\", message = \"the sky fell\" }"),
    ];
    let mut said = Messages::new();
    for (i, (plugin, config)) in cases.iter().enumerate() {
        let thread = format!("bad-{i}");
        let workflow = env.workflow(
            &format!("{thread}.toml"),
            &format!(
                "name = \"bad\"\nstart = \"first\"\n[nodes.first]\nplugin = \"counter\"\nnext = \"culprit\"\n\
                 [nodes.culprit]\nplugin = \"{plugin}\"\nconfig = {config}\nnext = \"end\"\n"
            ),
        );
        let stderr = env.fails(&[
            "run",
            &workflow,
            "--thread",
            &thread,
            "--input",
            r#"{"count":1}"#,
        ]);
        let status = env.status(&thread);
        assert_eq!(status["status"], "failed", "{status}");
        assert_eq!(status["step"], 1, "{status}");
        assert_eq!(status["next"], json!(["culprit"]));
        let error = status["error"].as_str().expect("an error message");
        said.add(&format!("{plugin} {config}"), error);
        assert!(stderr.contains(error), "run prints the error: {stderr}");
        // No partial checkpoint: the state is the one of step 1.
        assert_eq!(env.history(&thread).len(), 1);
        assert_eq!(env.state(&thread), json!({"count": 2}));

        // `resume` replays the failed node, from the same state.
        env.fails(&["resume", &thread]);
        let status = env.status(&thread);
        assert_eq!(status["status"], "failed");
        assert_eq!(
            status["attempt"], 2,
            "the replay is the second attempt: {status}"
        );
        assert_eq!(env.history(&thread).len(), 1);
    }
    said.check("failing-nodes.txt");
}

/// Broken files in the plugins folder are reported one by one and do not
/// stop the good plugins from working.
#[test]
fn broken_plugin_files_are_reported_and_the_rest_still_work() {
    let env = Env::new(&["counter"]);
    env.write_plugin("empty", b"");
    env.write_plugin("corrupt", b"this is not wasm at all, just text");
    env.write_plugin("core", b"\0asm\x01\0\0\0");
    env.write_plugin("truncated", b"\0asm\x0d\0\x01\0\x01\x7f");
    env.add_plugin("otherworld", &guest("otherworld"));

    let plugins = env.json(&["plugins", "--json"]);
    let by_name = |name: &str| -> Value {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is listed: {plugins}"))
    };
    let counter = by_name("counter");
    assert_eq!(counter["ok"], true, "{counter}");
    assert_eq!(counter["info"]["name"], "counter");
    assert!(counter["digest"].as_str().unwrap().starts_with("sha256:"));
    let mut said = Messages::new();
    for name in ["empty", "corrupt", "core", "truncated", "otherworld"] {
        let entry = by_name(name);
        assert_eq!(entry["ok"], false, "{entry}");
        said.add(
            &format!("plugins: {name}.wasm"),
            entry["error"].as_str().unwrap(),
        );
    }
    said.add("savepoint plugins", &env.ok(&["plugins"]));

    // The good plugin still runs a workflow next to the broken files.
    let workflow = env.example_workflow("chain.toml");
    env.ok(&["run", &workflow, "--thread", "fine"]);
    assert_eq!(env.state("fine"), json!({"count": 10}));

    // A node whose plugin is broken refuses the run before it exists (as
    // `validate` does), naming the node and the file; nothing ran.
    let workflow = env.workflow(
        "broken.toml",
        "name = \"b\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n\
         [nodes.b]\nplugin = \"otherworld\"\nnext = \"end\"\n",
    );
    let (code, stdout, _) = env.exit(&["run", &workflow, "--thread", "broken", "--json"]);
    assert_eq!(code, Some(2), "{stdout}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    let problem = &error["error"]["details"]["problems"][0];
    assert_eq!(problem["node"], "b", "{error}");
    said.add("run: node b", problem["message"].as_str().unwrap());
    said.check("broken-plugin-files.txt");
    let (code, _, _) = env.exit(&["status", "broken"]);
    assert_eq!(code, Some(5), "no run was created");
}
