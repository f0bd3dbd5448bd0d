//! Hostile plugins: nodes that loop, recurse, hoard memory, abort, return
//! garbage or a huge state, flood the log, or snoop on files, the environment
//! and the network; and broken files dropped into the plugins folder.
//!
//! Each case runs in a `serve` daemon next to a well-behaved run (a traced
//! chain of counters) started at the same time. The hostile run fails at its
//! node with a message that names the node and the cause, or (for the
//! sandbox) the node only sees a refusal; nothing partial is stored (the
//! history holds the committed steps only, the state is unchanged, no pending
//! write); the good run completes with every node run once; and the daemon
//! still answers `GET /health`.

use serde_json::{Value, json};

use crate::fixtures::{Daemon, Env, assert_ran_once, traced_chain};

mod limits;
mod logs;
mod plugins_folder;
mod sandbox;

/// Nodes of the good run; each sleeps [`GOOD_DELAY_MS`], so the good run is
/// still going while the hostile node misbehaves.
pub(super) const GOOD_NODES: usize = 6;
pub(super) const GOOD_DELAY_MS: u64 = 40;

/// A daemon whose workflows folder holds `good` (a traced chain of counters),
/// `bad` (a counter `first`, then the hostile node, then `end`) and, when the
/// `hostile` plugin is there, `warm` (one well-behaved `hostile` node).
pub(super) struct Arena {
    pub(super) env: Env,
    pub(super) daemon: Daemon,
}

impl Arena {
    /// `table` is the body of the hostile node's table (`plugin`, `config`,
    /// limits), without `next`.
    pub(super) fn new(plugins: &[&str], node: &str, table: &str) -> Arena {
        let env = Env::new(plugins);
        env.daemon_workflow("good", &traced_chain("good", GOOD_NODES, |_| GOOD_DELAY_MS));
        env.daemon_workflow(
            "bad",
            &format!(
                "name = \"bad\"\nstart = \"first\"\n\
                 [nodes.first]\nplugin = \"counter\"\nnext = \"{node}\"\n\
                 [nodes.{node}]\n{table}\nnext = \"end\"\n"
            ),
        );
        if plugins.contains(&"hostile") {
            env.daemon_workflow(
                "warm",
                "name = \"warm\"\nstart = \"w\"\n\
                 [nodes.w]\nplugin = \"hostile\"\nconfig = { mode = \"ok\" }\nnext = \"end\"\n",
            );
        }
        let daemon = env.serve(&["--workers", "4"]);
        Arena { env, daemon }
    }

    pub(super) fn start(&self, workflow: &str, thread: &str) {
        let created = self
            .daemon
            .post("/runs", &json!({"workflow": workflow, "thread": thread}));
        assert_eq!(
            created.status, 201,
            "POST /runs for workflow {workflow}: {created:?}"
        );
    }

    /// Wait until run `thread` stopped (completed, failed, cancelled,
    /// interrupted); its status.
    pub(super) fn wait_end(&self, thread: &str) -> Value {
        self.daemon.wait_run(thread, "to stop", |s| {
            !matches!(
                s["status"].as_str(),
                Some("pending" | "running" | "retrying" | "sleeping")
            )
        })
    }

    /// Start the hostile run `bad`, then the good run `good`; wait for both.
    /// Checks the good run and the daemon's health; returns the status of the
    /// hostile run.
    pub(super) fn play(&self) -> Value {
        self.start("bad", "bad");
        self.start("good", "good");
        let bad = self.wait_end("bad");
        self.check_good("good");
        bad
    }

    /// The good run `thread` completed, every node once, in order.
    pub(super) fn check_good(&self, thread: &str) {
        let good = self.wait_end(thread);
        assert_eq!(
            good["status"], "completed",
            "the well-behaved run next to the hostile one: {good}"
        );
        assert_ran_once(
            thread,
            GOOD_NODES,
            &self.env.state(thread),
            &self.env.history(thread),
        );
        self.assert_serving();
    }

    pub(super) fn assert_serving(&self) {
        let health = self.daemon.get("/health");
        assert_eq!(health.status, 200, "GET /health: {health:?}");
        assert_eq!(health.json()["status"], "ok", "GET /health: {health:?}");
    }

    /// The hostile run failed at `node` (step 2) with an error naming the
    /// node and every needle, and stored nothing of that step.
    pub(super) fn assert_failed(&self, status: &Value, node: &str, needles: &[&str]) -> String {
        assert_eq!(status["status"], "failed", "the hostile run: {status}");
        let error = status["error"]
            .as_str()
            .unwrap_or_else(|| panic!("a failed run has an error: {status}"))
            .to_string();
        eprintln!("the hostile run failed: {error}");
        assert!(
            error.contains(&format!("node \"{node}\"")),
            "the error names the node {node:?}: {error}"
        );
        for needle in needles {
            assert!(
                error.contains(needle),
                "the error mentions {needle:?}: {error}"
            );
        }
        assert_eq!(status["step"], 1, "{status}");
        assert_eq!(status["next"], json!([node]), "{status}");
        assert_eq!(status["pending_writes"], json!([]), "{status}");
        self.assert_committed(1);
        assert_eq!(
            self.env.state("bad"),
            json!({"count": 1}),
            "state unchanged"
        );
        error
    }

    /// The hostile run completed (its node saw the refusal as a value): two
    /// steps, the second by `node`. Returns the final state.
    pub(super) fn assert_completed(&self, status: &Value, node: &str) -> Value {
        assert_eq!(status["status"], "completed", "the hostile run: {status}");
        let history = self.assert_committed(2);
        assert_eq!(history[0]["node"], node, "{history:?}");
        let state = self.env.state("bad");
        eprintln!("the hostile run completed: {state}");
        assert_eq!(state["count"], 1, "{state}");
        state
    }

    /// The hostile run's history holds exactly `steps` checkpoints: `first`
    /// then (if 2) the hostile node. Returns it (newest first).
    pub(super) fn assert_committed(&self, steps: usize) -> Vec<Value> {
        let history = self.env.history("bad");
        let numbers: Vec<u64> = history
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=steps as u64).rev().collect();
        assert_eq!(numbers, expected, "committed steps only: {history:?}");
        assert_eq!(history[steps - 1]["node"], "first", "{history:?}");
        history
    }
}

/// The node table of a `hostile` node in `mode`, plus `extra` lines.
pub(super) fn hostile(mode: &str, extra: &str) -> String {
    format!("plugin = \"hostile\"\nconfig = {{ mode = \"{mode}\" }}\n{extra}")
}
