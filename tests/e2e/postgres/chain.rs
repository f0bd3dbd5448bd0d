//! The workflow the several-hosts tests run: a chain of `report` nodes, each
//! telling the [`Witness`](super::witness::Witness) when its call starts and
//! ends, and which host made it.

use std::net::SocketAddr;

use serde_json::Value;

use crate::fixtures::{DEADLINE, http, wait_for};

/// A chain `n1 -> ... -> nN -> end` of `hostile` nodes in `report` mode
/// calling the witness on `port`, each naming its host (`SAVEPOINT_TEST_WHO`
/// in the environment of the host that calls it).
pub fn report_chain(name: &str, nodes: usize, port: u16) -> String {
    let mut text = format!("name = \"{name}\"\nstart = \"n1\"\n");
    for i in 1..=nodes {
        let next = if i == nodes {
            "end".to_string()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "[nodes.n{i}]\nplugin = \"hostile\"\n\
             config = {{ mode = \"report\", port = {port}, who = \"${{env:SAVEPOINT_TEST_WHO}}\" }}\n\
             allow_http = [\"127.0.0.1:{port}\"]\nnext = \"{next}\"\n"
        ));
    }
    text
}

/// Create a run of the workflow `workflow` (in the hosts' workflows folder)
/// through the API of the host at `addr`.
pub fn create_run(addr: SocketAddr, workflow: &str, thread: &str) {
    let body = serde_json::json!({ "workflow": workflow, "thread": thread }).to_string();
    let response = http(
        addr,
        "POST",
        "/runs",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(response.status, 201, "POST /runs {body}: {response:?}");
}

/// Every checkpoint of `thread`, newest first, as `history --json` lists them
/// (`GET /runs/{id}/history` answers the same entries, and one request per
/// run keeps checking hundreds of runs quick).
pub fn history(addr: SocketAddr, thread: &str) -> Vec<Value> {
    let response = http(
        addr,
        "GET",
        &format!("/runs/{thread}/history?limit=1000"),
        None,
    );
    assert_eq!(response.status, 200, "history of {thread}: {response:?}");
    let page = response.json();
    assert_eq!(
        page["next_cursor"],
        Value::Null,
        "{thread}: one page: {page}"
    );
    page["entries"].as_array().expect("entries").clone()
}

/// Check that the history of a finished run of [`report_chain`] holds steps
/// N..1 (newest first), each once, step i by node `ni`.
pub fn assert_steps_once(thread: &str, nodes: usize, history: &[Value]) {
    let steps: Vec<(u64, String)> = history
        .iter()
        .map(|c| {
            (
                c["step"].as_u64().expect("step"),
                c["node"].as_str().expect("node").to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = (1..=nodes as u64)
        .rev()
        .map(|i| (i, format!("n{i}")))
        .collect();
    assert_eq!(steps, expected, "thread {thread}: one checkpoint per step");
}

/// Wait (up to `deadline`) until the host at `addr` lists `runs` completed
/// runs; fails at once when one failed, naming it and why.
pub fn wait_completed(addr: SocketAddr, runs: usize, deadline: std::time::Duration) {
    let deadline = deadline.max(DEADLINE);
    wait_for(&format!("{runs} completed runs"), deadline, || {
        let failed = list(addr, "failed")?;
        assert!(failed.is_empty(), "runs failed: {failed:#?}");
        let completed = list(addr, "completed")?.len();
        if completed == runs {
            Ok(())
        } else {
            Err(format!("{completed} completed"))
        }
    });
}

/// The runs with `status`, as `GET /runs?status=..` lists them (an error
/// while the database is away).
fn list(addr: SocketAddr, status: &str) -> Result<Vec<Value>, String> {
    let response = http(
        addr,
        "GET",
        &format!("/runs?status={status}&limit=10000"),
        None,
    );
    if response.status != 200 {
        return Err(format!("GET /runs: {response:?}"));
    }
    Ok(response.json()["runs"]
        .as_array()
        .expect("a list of runs")
        .clone())
}
