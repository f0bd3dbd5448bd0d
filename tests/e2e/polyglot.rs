//! The mixed-language workflow: Rust -> Python -> JavaScript -> C in one run,
//! and the kill -9 test applied to it.

use serde_json::json;

use crate::fixtures::{Env, Lang, lang_guest, progress_step};

/// An environment with the four counters under the names polyglot.toml uses.
fn polyglot_env() -> Env {
    let env = Env::new(&["counter"]);
    for (lang, prefix) in [(Lang::Python, "py"), (Lang::Js, "js"), (Lang::C, "c")] {
        env.add_plugin(&format!("{prefix}-counter"), &lang_guest(lang, "counter"));
    }
    env
}

#[test]
fn the_polyglot_example_runs_all_four_languages_in_one_run() {
    let env = polyglot_env();
    let workflow = env.example_workflow("polyglot.toml");
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "poly",
        "--input",
        r#"{"count":0}"#,
    ]);
    assert_eq!(
        env.state("poly"),
        json!({"count": 4, "trace": ["rust", "python", "js", "c"]})
    );
    let digests: Vec<String> = env
        .history("poly")
        .iter()
        .map(|c| c["component_digest"].as_str().unwrap().to_string())
        .collect();
    let mut distinct = digests.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "four different components: {digests:?}");
}

/// Kill the run after the Python node (and after the JavaScript node) has
/// committed, resume, and check every language ran exactly once.
#[test]
fn kill_9_mid_polyglot_run_then_resume() {
    for kill_after in [2u64, 3] {
        let env = polyglot_env();
        let text = std::fs::read_to_string(
            crate::fixtures::repo_root().join("examples/workflows/polyglot.toml"),
        )
        .unwrap()
        .replace(
            "config = { trace = true }",
            "config = { trace = true, delay_ms = 300 }",
        );
        let workflow = env.workflow("slow-polyglot.toml", &text);
        let thread = format!("poly-kill-{kill_after}");
        let args = [
            "run",
            &workflow,
            "--thread",
            &thread,
            "--input",
            r#"{"count":0}"#,
        ];
        env.sigkill_after(&args, |step, _| step == kill_after);

        let status = env.status(&thread);
        let committed = status["step"].as_u64().unwrap();
        assert!(committed >= kill_after && committed < 4, "{status}");
        let output = env.run(&["resume", &thread]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let resumed: Vec<u64> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(progress_step)
            .collect();
        assert_eq!(resumed, (committed + 1..=4).collect::<Vec<u64>>());
        assert_eq!(
            env.state(&thread),
            json!({"count": 4, "trace": ["rust", "python", "js", "c"]}),
            "every language ran exactly once into the state"
        );
    }
}
