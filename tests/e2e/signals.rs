//! Named signals: a node waits (`wait-signal`), the run parks as `waiting`, and a
//! signal (`savepoint signal`) wakes it; the node runs again with the signal. Signals
//! sent before the wait are kept in the run's mailbox, in order, and each is received
//! exactly once, across SIGKILLs of the process that drives the run.

use serde_json::{Value, json};

use crate::fixtures::Env;

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn the_signal_example_waits_for_go_and_merges_its_data() {
    let env = Env::new(&["counter", "gate"]);
    let signal = env.example_workflow("signal.toml");
    let args = [
        "run",
        signal.as_str(),
        "--thread",
        "order-7",
        "--input",
        r#"{"count":0}"#,
    ];
    // Parked: exit code 3.
    env.exits(3, &args);
    let status = env.status("order-7");
    assert_eq!(status["status"], "waiting", "{status}");
    assert_eq!(status["step"], 1, "{status}");
    let sent = env.json(&[
        "signal",
        "order-7",
        "go",
        "--data",
        r#"{"approved": true}"#,
        "--json",
    ]);
    assert_eq!(sent["name"], "go", "{sent}");
    let stdout = env.ok(&["resume", "order-7"]);
    assert_eq!(
        parse(&stdout),
        json!({"count": 2, "approved": true, "timed_out": false})
    );
    // The signal was received at step 2 (gate's), once.
    let mailbox = env.json(&["signals", "order-7", "--json"]);
    let signals = mailbox["signals"].as_array().expect("a list of signals");
    assert_eq!(signals.len(), 1, "{mailbox}");
    assert_eq!(signals[0]["delivered_step"], 2, "{mailbox}");
}

/// Five `gate`s in a row, each waiting for `go` and appending the data's `got`.
fn gates(env: &Env, timeout_ms: Option<u64>) -> String {
    let mut text = String::from("name = \"gates\"\nstart = \"g1\"\n[state]\ngot = \"append\"\n");
    for i in 1..=5 {
        let next = if i == 5 {
            "end".to_owned()
        } else {
            format!("g{}", i + 1)
        };
        let timeout = timeout_ms.map_or(String::new(), |ms| format!(", timeout_ms = {ms}"));
        text.push_str(&format!(
            "[nodes.g{i}]\nplugin = \"gate\"\nconfig = {{ signal = \"go\"{timeout} }}\nnext = \"{next}\"\n"
        ));
    }
    env.daemon_workflow("gates.toml", &text)
}

fn go(env: &Env, thread: &str, n: u64) {
    env.ok(&[
        "signal",
        thread,
        "go",
        "--data",
        &json!({ "got": [n] }).to_string(),
    ]);
}

/// Every signal delivered once, in the order sent, at steps 1..=5.
fn check_gates(env: &Env, thread: &str) {
    let state = env.state(thread);
    assert_eq!(state["got"], json!([1, 2, 3, 4, 5]), "{state}");
    let mailbox = env.json(&["signals", thread, "--json"]);
    let delivered: Vec<(Value, Value)> = mailbox["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["data"]["got"][0].clone(), s["delivered_step"].clone()))
        .collect();
    let expected: Vec<(Value, Value)> = (1..=5).map(|n| (json!(n), json!(n))).collect();
    assert_eq!(delivered, expected, "{mailbox}");
}

#[test]
fn signals_sent_before_the_wait_are_kept_in_order_and_each_received_once() {
    let env = Env::new(&["gate"]);
    let gates = gates(&env, None);
    env.ok(&["start", &gates, "--thread", "early", "--input", "{}"]);
    for n in 1..=3 {
        go(&env, "early", n);
    }
    // g1..g3 take the three signals at once; g4 waits.
    env.exits(3, &["resume", "early"]);
    let status = env.status("early");
    assert_eq!(status["status"], "waiting", "{status}");
    assert_eq!(status["step"], 3, "{status}");
    go(&env, "early", 4);
    go(&env, "early", 5);
    env.ok(&["resume", "early"]);
    check_gates(&env, "early");
    // A signal for a finished run is refused, naming it.
    let stderr = env.fails(&["signal", "early", "go"]);
    assert!(stderr.contains("early"), "{stderr}");
}

#[test]
fn a_signal_wait_past_its_deadline_runs_the_node_again_without_a_signal() {
    let env = Env::new(&["gate"]);
    env.workflow(
        "late.toml",
        "name = \"late\"\nstart = \"g\"\n[nodes.g]\nplugin = \"gate\"\n\
         config = { signal = \"go\", timeout_ms = 300 }\nnext = \"end\"\n",
    );
    // `--wait` waits through the signal wait, until its deadline.
    let stdout = env.ok(&["run", "late.toml", "--thread", "late", "--wait"]);
    assert_eq!(parse(&stdout), json!({"timed_out": true}));
    // The signal that comes afterwards stays in the mailbox, undelivered.
    let stderr = env.fails(&["signal", "late", "go"]);
    assert!(stderr.contains("late"), "{stderr}");
}

#[test]
fn sigkill_of_serve_while_signals_arrive_loses_and_doubles_no_signal() {
    let env = Env::new(&["gate"]);
    let gates = gates(&env, None);
    env.ok(&["start", &gates, "--thread", "k", "--input", "{}"]);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut daemon = Some(env.serve(&["--lease", "2s"]));
    for n in 1..=5u64 {
        go(&env, "k", n);
        // SIGKILL the daemon after some of the signals (which ones differs from one
        // test run to the next), at once or after a moment, and start another.
        if (u64::from(nanos) >> n) & 1 == 1 {
            if n % 2 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(u64::from(nanos % 50)));
            }
            drop(daemon.take());
            daemon = Some(env.serve(&["--lease", "2s"]));
        }
    }
    env.wait_status("k", "completed", |s| s["status"] == "completed");
    drop(daemon);
    check_gates(&env, "k");
}
