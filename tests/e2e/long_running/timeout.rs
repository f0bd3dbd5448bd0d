//! Step timeouts: a node past its timeout fails with a message naming it,
//! and a timeout is retried like a failure.

use super::{FAILED, PARKED, hot, log_attempts};
use crate::fixtures::{Env, Messages};

#[test]
fn a_node_past_its_timeout_fails_with_a_message_naming_it() {
    let env = Env::new(&["spin"]);
    let workflow = env.workflow("hot.toml", &hot(""));
    let started = std::time::Instant::now();
    let stderr = env.exits(FAILED, &["run", &workflow, "--thread", "hot"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the spinning node was stopped"
    );
    let status = env.status("hot");
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error_node"], "hot", "{status}");
    let mut said = Messages::new();
    said.add(
        "status: error",
        status["error"].as_str().unwrap_or_default(),
    );
    said.add("savepoint run hot.toml --thread hot", &stderr);
    said.check("timeout.txt");
    assert_eq!(status["attempt"], 1, "{status}");
}

#[test]
fn a_timeout_is_retried_then_the_run_fails() {
    let env = Env::new(&["spin"]);
    let workflow = env.workflow(
        "hot.toml",
        &hot("retry = { attempts = 2, backoff = \"fixed\", initial = \"100ms\" }\n"),
    );
    env.exits(PARKED, &["run", &workflow, "--thread", "hot"]);
    let parked = env.status("hot");
    assert_eq!(parked["status"], "retrying", "{parked}");
    let mut said = Messages::new();
    said.add(
        "status: retrying",
        parked["error"].as_str().unwrap_or_default(),
    );
    env.exits(FAILED, &["resume", "hot"]);
    let failed = env.status("hot");
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["attempt"], 2, "{failed}");
    said.add(
        "status: failed",
        failed["error"].as_str().unwrap_or_default(),
    );
    said.check("timeout-retried.txt");
    assert_eq!(log_attempts(&env.logs("hot"), "hot", None), vec![1, 2]);
}
