//! Many runs at once: `savepoint start --batch FILE` (one run per line of a JSON-lines
//! file, every line checked before any run exists) and `POST /runs/batch`.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages};

/// Waits until the daemon has completed `thread` and returns its status.
fn completed(daemon: &crate::fixtures::Daemon, thread: &str) -> Value {
    daemon.wait_run(thread, "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    })
}

#[test]
fn start_batch_creates_one_run_per_line_for_the_daemon() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    // Blank lines (also of spaces) are skipped: the runs are numbered among the runs.
    let lines = "{\"count\": 1}\n\n{\"count\": 10}\n   \n{\"count\": 100}\n";
    std::fs::write(env.path().join("runs.jsonl"), lines).unwrap();
    let args = [
        "start",
        &workflow,
        "--batch",
        "runs.jsonl",
        "--thread",
        "job",
        "--tag",
        "team=ops",
    ];
    let (code, stdout, stderr) = env.exit(&args);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("created 3 runs (job-1 to job-3) in "),
        "{stdout}"
    );
    // Without a daemon, the runs wait: said once for the batch.
    assert!(
        stderr.contains("the runs wait until one starts"),
        "{stderr}"
    );
    for (thread, count) in [("job-1", 1), ("job-2", 10), ("job-3", 100)] {
        let status = env.status(thread);
        assert_eq!(status["status"], "pending", "{status}");
        assert_eq!(status["tags"], json!({"team": "ops"}), "{status}");
        assert_eq!(
            env.json(&["state", thread, "--step", "0", "--json"]),
            json!({ "count": count })
        );
    }

    // Standard input, generated threads, --json.
    let mut child = env
        .command(&["start", &workflow, "--batch", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"count\": 5}\n{}\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["created"], 2, "{created}");
    let threads: Vec<String> = created["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    let prefix = threads[0].strip_suffix("-1").expect("numbered from 1");
    assert!(
        prefix.starts_with("run-"),
        "a new id as `start` makes: {prefix}"
    );
    assert_eq!(threads[1], format!("{prefix}-2"));

    // A daemon picks them all up.
    let daemon = env.serve(&[]);
    for (thread, count) in [("job-1", 11), ("job-2", 20), ("job-3", 110)] {
        assert_eq!(completed(&daemon, thread)["status"], "completed");
        assert_eq!(env.state(thread), json!({ "count": count }));
    }
    for thread in &threads {
        assert_eq!(completed(&daemon, thread)["status"], "completed");
    }
    assert_eq!(env.state(&threads[0]), json!({"count": 15}));
}

#[test]
fn a_bad_line_or_a_taken_thread_creates_no_run() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let mut said = Messages::new();
    for (name, lines) in [
        ("not-json.jsonl", "{\"count\": 1}\n\n{count: 2}\n"),
        ("not-object.jsonl", "{\"count\": 1}\n[1, 2]\n"),
        ("empty.jsonl", "\n  \n"),
    ] {
        std::fs::write(env.path().join(name), lines).unwrap();
        let stderr = env.exits(2, &["start", &workflow, "--batch", name, "--thread", "b"]);
        said.add(&format!("--batch {name}"), &stderr);
    }
    assert!(!env.db_exists() || env.fails(&["status", "b-1"]).contains("no run"));
    let stderr = env.exits(
        2,
        &[
            "start",
            &workflow,
            "--batch",
            "nowhere.jsonl",
            "--thread",
            "b",
        ],
    );
    said.add("--batch nowhere.jsonl", &stderr);

    // A thread of the batch is taken: refused before any run is created.
    env.ok(&["start", &workflow, "--thread", "job-3"]);
    std::fs::write(env.path().join("five.jsonl"), "{}\n".repeat(5)).unwrap();
    let stderr = env.exits(
        6,
        &[
            "start",
            &workflow,
            "--batch",
            "five.jsonl",
            "--thread",
            "job",
        ],
    );
    said.add("--batch five.jsonl --thread job (job-3 taken)", &stderr);
    for thread in ["job-1", "job-2", "job-4", "job-5"] {
        assert!(
            env.fails(&["status", thread]).contains("no run"),
            "{thread}"
        );
    }
    said.check("start-batch-refused.txt");
}

#[test]
fn post_runs_batch_creates_every_run_or_none() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow(
        "chain",
        &std::fs::read_to_string(
            crate::fixtures::repo_root().join("examples/workflows/chain.toml"),
        )
        .unwrap(),
    );
    let daemon = env.serve(&[]);
    let body = json!({"workflow": "chain", "runs": [
        {"thread": "api-1", "input": {"count": 1}, "tags": {"team": "ops"}},
        {"input": {"count": 2}},
    ]});
    let reply = daemon.post("/runs/batch", &body);
    assert_eq!(reply.status, 201, "{reply:?}");
    let created = reply.json();
    assert_eq!(created["created"], 2, "{created}");
    assert_eq!(created["threads"][0], "api-1");
    let generated = created["threads"][1].as_str().unwrap().to_owned();
    assert!(
        generated.ends_with("-2"),
        "numbered by its place: {generated}"
    );
    assert_eq!(completed(&daemon, "api-1")["tags"], json!({"team": "ops"}));
    assert_eq!(env.state("api-1"), json!({"count": 11}));
    assert_eq!(completed(&daemon, &generated)["status"], "completed");
    assert_eq!(env.state(&generated), json!({"count": 12}));

    // One taken thread: 409, and none of the others exists.
    let body = json!({"workflow": "chain", "runs": [
        {"thread": "api-2"}, {"thread": "api-1"}, {"thread": "api-3"},
    ]});
    let reply = daemon.post("/runs/batch", &body);
    let message = reply.error(409);
    assert!(message.contains("\"api-1\""), "{message}");
    for thread in ["api-2", "api-3"] {
        assert_eq!(daemon.get(&format!("/runs/{thread}")).status, 404);
    }
    // Too many runs for one request.
    let runs: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    let reply = daemon.post("/runs/batch", &json!({"workflow": "chain", "runs": runs}));
    let message = reply.error(400);
    assert!(message.contains("10000"), "{message}");
}
