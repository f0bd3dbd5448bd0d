//! Fan-out: a node's update with sends runs the sent node once per send, in parallel,
//! in the next step, each call with its own input, index and idempotency key; their
//! updates merge in send order. Bad sends fail the run naming the node; SIGKILL during
//! a fan-out loses and doubles nothing.

use serde_json::{Value, json};

use crate::fixtures::Env;

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// `split` (a counter in mode `fanout`) sends one `each` (a counter in mode `item`,
/// `delay_ms` each) per element of `items`; `each` goes on to `done`, a counter.
fn mapper(env: &Env, extra: &str, delay_ms: u64) -> String {
    env.workflow(
        "map.toml",
        &format!(
            "name = \"map\"\nstart = \"split\"\n{extra}\n[state]\nseen = \"append\"\n\
             [nodes.split]\nplugin = \"counter\"\nconfig = {{ mode = \"fanout\", goto = \"each\" }}\n\
             next = \"done\"\n\
             [nodes.each]\nplugin = \"counter\"\nconfig = {{ mode = \"item\", delay_ms = {delay_ms} }}\n\
             next = \"done\"\n\
             [nodes.done]\nplugin = \"counter\"\nconfig = {{ by = 10 }}\nnext = \"end\"\n"
        ),
    )
}

fn items(n: usize) -> String {
    json!({ "items": (0..n).collect::<Vec<_>>() }).to_string()
}

/// The `seen` list of a finished mapper run: one entry per send, in send order, each
/// with its index and its own key at step 2.
fn check_seen(state: &Value, thread: &str, n: usize) {
    let expected: Vec<Value> = (0..n)
        .map(|i| {
            json!({"item": i, "send_index": i, "idempotency_key": format!("{thread}/2/each/{i}")})
        })
        .collect();
    assert_eq!(state["seen"], Value::Array(expected), "{state}");
    // split counted once, done once (the join ran once, after every send).
    assert_eq!(state["count"], 11, "{state}");
}

#[test]
fn the_fanout_example_doubles_each_item_and_sums_them() {
    let env = Env::new(&["split", "double", "sum"]);
    let fanout = env.example_workflow("fanout.toml");
    let stdout = env.ok(&[
        "run",
        &fanout,
        "--thread",
        "f",
        "--input",
        r#"{"items":[1,2,3,4]}"#,
    ]);
    let state = parse(&stdout);
    assert_eq!(state["total"], 20, "{state}");
    assert_eq!(state["doubled"], json!([2, 4, 6, 8]), "{state}");
    let steps: Vec<(u64, String)> = env
        .history("f")
        .iter()
        .map(|c| {
            (
                c["step"].as_u64().unwrap(),
                c["node"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (3, "sum".to_owned()),
            (2, "double#0,double#1,double#2,double#3".to_owned()),
            (1, "split".to_owned())
        ]
    );
}

#[test]
fn each_send_has_its_input_index_and_key_and_the_join_runs_once() {
    let env = Env::new(&["counter"]);
    let map = mapper(&env, "", 0);
    let stdout = env.ok(&["run", &map, "--thread", "m", "--input", &items(5)]);
    check_seen(&parse(&stdout), "m", 5);
    // No sends: split follows its own edge.
    let stdout = env.ok(&["run", &map, "--thread", "none", "--input", "{}"]);
    assert_eq!(parse(&stdout)["count"], 11);
}

#[test]
fn a_send_to_an_unknown_node_or_past_max_fanout_fails_the_run_naming_the_node() {
    let env = Env::new(&["counter"]);
    env.workflow(
        "lost.toml",
        "name = \"lost\"\nstart = \"split\"\n[nodes.split]\nplugin = \"counter\"\n\
         config = { mode = \"fanout\", goto = \"nowhere\" }\nnext = \"end\"\n",
    );
    let (code, _, stderr) = env.exit(&["run", "lost.toml", "--thread", "l", "--input", &items(2)]);
    assert_eq!(code, Some(1), "{stderr}");
    let status = env.status("l");
    assert_eq!(status["status"], "failed", "{status}");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("node \"split\" sent to \"nowhere\", which the workflow does not have"),
        "{error}"
    );
    let map = mapper(&env, "max_fanout = 3", 0);
    let (code, _, stderr) = env.exit(&["run", &map, "--thread", "big", "--input", &items(4)]);
    assert_eq!(code, Some(1), "{stderr}");
    let error = env.status("big")["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("node \"split\" sent 4 calls, over max_fanout = 3 of the workflow"),
        "{error}"
    );
    // Three is within the limit.
    let stdout = env.ok(&["run", &map, "--thread", "three", "--input", &items(3)]);
    check_seen(&parse(&stdout), "three", 3);
}

#[test]
fn sigkill_during_a_fanout_of_50_then_resume_loses_and_doubles_no_send() {
    // Killed at a point of the fan-out step that differs from one test run to the next.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let env = Env::new(&["counter"]);
    // 50 sends of 20 ms each, 8 at once: the fan-out step takes about 125 ms.
    let map = mapper(&env, "max_concurrency = 8", 20);
    for (round, wait_ms) in [(0, u64::from(nanos % 120)), (1, 0), (2, 60)] {
        let thread = format!("kill-{round}");
        // After split's step (the fan-out is the next step), wait a moment, then kill.
        let args = ["run", &map, "--thread", &thread, "--input", &items(50)];
        env.sigkill_after(&args, |step, _| {
            if step == 1 {
                std::thread::sleep(std::time::Duration::from_millis(wait_ms));
            }
            step == 1
        });
        let status = env.status(&thread);
        if status["status"] != "completed" {
            env.ok(&["resume", &thread]);
        }
        let state = env.state(&thread);
        check_seen(&state, &thread, 50);
        let steps: Vec<u64> = env
            .history(&thread)
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect();
        assert_eq!(steps, [3, 2, 1], "{thread}");
    }
}

#[test]
fn finished_sends_are_not_run_again_when_a_sibling_send_is_retried() {
    let env = Env::new(&["counter", "fail"]);
    // Step 2: `a` sends two `each`, `b` two `flaky`; step 3 runs the four sends, and
    // the flaky ones fail their first attempt.
    env.workflow(
        "siblings.toml",
        "name = \"siblings\"\nstart = \"fork\"\n[state]\nseen = \"append\"\n\
         [nodes.fork]\nplugin = \"counter\"\nconfig = { by = 0 }\nnext = [\"a\", \"b\"]\n\
         [nodes.a]\nplugin = \"counter\"\nconfig = { mode = \"fanout\", goto = \"each\" }\nnext = \"end\"\n\
         [nodes.b]\nplugin = \"counter\"\nconfig = { mode = \"fanout\", goto = \"flaky\" }\nnext = \"end\"\n\
         [nodes.each]\nplugin = \"counter\"\nconfig = { mode = \"item\" }\nnext = \"end\"\n\
         [nodes.flaky]\nplugin = \"fail\"\nconfig = { kind = \"retryable\", message = \"not yet\", attempts = 1 }\n\
         retry = { attempts = 3, initial = \"10ms\" }\nnext = \"end\"\n",
    );
    let stdout = env.ok(&[
        "run",
        "siblings.toml",
        "--thread",
        "s",
        "--input",
        r#"{"items":[1,2]}"#,
        "--wait",
    ]);
    let state = parse(&stdout);
    assert_eq!(
        state["seen"],
        json!([
            {"item": 1, "send_index": 0, "idempotency_key": "s/3/each/0"},
            {"item": 2, "send_index": 1, "idempotency_key": "s/3/each/1"}
        ]),
        "{state}"
    );
    assert_eq!(state["recovered_at"], 2, "{state}");
    // Each `each` send ran once (attempt 1); each flaky send twice.
    let logs = env.logs("s");
    let calls = |branch: &str| -> Vec<u64> {
        logs.iter()
            .filter(|l| l["step"] == 3 && l["node"] == branch && l["level"] == "info")
            .map(|l| l["attempt"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(calls("each#0"), [1], "{logs:?}");
    assert_eq!(calls("each#1"), [1], "{logs:?}");
    let history: Vec<String> = env
        .history("s")
        .iter()
        .map(|c| c["node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history[0], "each#0,each#1,flaky#2,flaky#3", "{history:?}");
}
