//! What this process's runtime counts and times for `GET /metrics`: steps committed and
//! attempts failed per workflow and node, node call and commit durations, and leases
//! taken over. The step path records with a few atomic adds under a read lock of a map
//! that gains an entry only for a (workflow, node) pair it has not seen (no allocation
//! per step); a scrape copies everything out as a [`MetricsSnapshot`]. The server turns
//! that into the Prometheus text format; this crate knows nothing of it.
//!
//! The counts are this process's since it started (Prometheus counters: a restart
//! starts them at 0 again, which `rate()` handles); what the database holds (runs by
//! status, the backlog) is read from the store at each scrape instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use savepoint_base::metrics::{Histogram, HistogramSnapshot, STEP_SECONDS};

/// The runtime's counters and timings (one per [`Runtime`](crate::Runtime)).
#[derive(Debug)]
pub struct Metrics {
    /// By workflow name, then node name: looked up with borrowed names.
    nodes: RwLock<HashMap<String, HashMap<String, NodeMetrics>>>,
    commits: Histogram,
    takeovers: AtomicU64,
}

/// What is counted per node of a workflow.
#[derive(Debug)]
struct NodeMetrics {
    steps: AtomicU64,
    failed: AtomicU64,
    calls: Histogram,
}

impl NodeMetrics {
    fn new() -> NodeMetrics {
        NodeMetrics {
            steps: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            calls: Histogram::new(STEP_SECONDS),
        }
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            nodes: RwLock::default(),
            commits: Histogram::new(STEP_SECONDS),
            takeovers: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Runs `record` on the metrics of `node` of `workflow`, creating them the first time.
    fn with_node(&self, workflow: &str, node: &str, record: impl Fn(&NodeMetrics)) {
        {
            let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(metrics) = nodes.get(workflow).and_then(|nodes| nodes.get(node)) {
                return record(metrics);
            }
        }
        let mut nodes = self.nodes.write().unwrap_or_else(PoisonError::into_inner);
        let metrics = nodes
            .entry(workflow.to_owned())
            .or_default()
            .entry(node.to_owned())
            .or_insert_with(NodeMetrics::new);
        record(metrics);
    }

    /// A node of `workflow` was called; its call took `elapsed` (whatever it returned).
    pub(crate) fn node_called(&self, workflow: &str, node: &str, elapsed: Duration) {
        self.with_node(workflow, node, |metrics| metrics.calls.observe(elapsed));
    }

    /// A step of `workflow` committed at `nodes` (several: parallel branches), its
    /// commit having taken `commit`.
    pub(crate) fn step_committed(&self, workflow: &str, nodes: &[String], commit: Duration) {
        self.commits.observe(commit);
        for node in nodes {
            self.with_node(workflow, node, |metrics| {
                metrics.steps.fetch_add(1, Ordering::Relaxed);
            });
        }
    }

    /// An attempt at `node` of `workflow` failed (the run retries or failed).
    pub(crate) fn attempt_failed(&self, workflow: &str, node: &str) {
        self.with_node(workflow, node, |metrics| {
            metrics.failed.fetch_add(1, Ordering::Relaxed);
        });
    }

    /// This process took over the lease of a run that another owner held.
    pub(crate) fn lease_taken_over(&self) {
        self.takeovers.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything counted so far, nodes in name order.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        let mut snapshot: Vec<NodeSnapshot> = nodes
            .iter()
            .flat_map(|(workflow, nodes)| {
                nodes.iter().map(move |(node, metrics)| NodeSnapshot {
                    workflow: workflow.clone(),
                    node: node.clone(),
                    steps_committed: metrics.steps.load(Ordering::Relaxed),
                    attempts_failed: metrics.failed.load(Ordering::Relaxed),
                    calls: metrics.calls.snapshot(),
                })
            })
            .collect();
        snapshot.sort_by(|a, b| (&a.workflow, &a.node).cmp(&(&b.workflow, &b.node)));
        MetricsSnapshot {
            nodes: snapshot,
            commits: self.commits.snapshot(),
            lease_takeovers: self.takeovers.load(Ordering::Relaxed),
        }
    }
}

/// The runtime's metrics at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// Every (workflow, node) that was called or counted, by workflow then node.
    pub nodes: Vec<NodeSnapshot>,
    /// How long each commit of a step took (the wait for the checkpoint to be durable).
    pub commits: HistogramSnapshot,
    /// Runs this process took over from another owner (its lease expired, or its
    /// process died).
    pub lease_takeovers: u64,
}

/// One node of one workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSnapshot {
    pub workflow: String,
    pub node: String,
    /// Steps committed that ran this node.
    pub steps_committed: u64,
    /// Attempts at this node that failed (each retry's failure, and the last one).
    pub attempts_failed: u64,
    /// How long its calls took.
    pub calls: HistogramSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_workflow_and_node() {
        let metrics = Metrics::default();
        let ms = Duration::from_millis;
        metrics.node_called("chain", "b", ms(2));
        metrics.node_called("chain", "a", ms(1));
        metrics.step_committed("chain", &["a".into(), "b".into()], ms(3));
        metrics.step_committed("chain", &["a".into()], ms(3));
        metrics.attempt_failed("other", "a");
        metrics.lease_taken_over();
        let snapshot = metrics.snapshot();
        let rows: Vec<_> = snapshot
            .nodes
            .iter()
            .map(|n| {
                let (w, n, s, f, c) = (
                    &n.workflow,
                    &n.node,
                    n.steps_committed,
                    n.attempts_failed,
                    n.calls.count,
                );
                (w.as_str(), n.as_str(), s, f, c)
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("chain", "a", 2, 0, 1),
                ("chain", "b", 1, 0, 1),
                ("other", "a", 0, 1, 0)
            ]
        );
        assert_eq!(snapshot.commits.count, 2);
        assert_eq!(snapshot.lease_takeovers, 1);
    }
}
