//! `GET /metrics`: what the runtime and the plugin host counted and timed in this process,
//! and what the database holds now (runs by status, parked runs, the due-and-waiting
//! backlog: one indexed `count_runs` per scrape), in the Prometheus text format
//! (`prometheus-client`'s encoder). Each metric is described in the README's "Metrics".

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use savepoint_base::metrics::HistogramSnapshot;
use savepoint_runtime::MetricsSnapshot;
use savepoint_store::{RunCounts, RunStatus};

/// Everything one scrape reports.
#[derive(Debug)]
pub(crate) struct Scrape {
    pub runtime: MetricsSnapshot,
    pub compiles: HistogramSnapshot,
    pub counts: RunCounts,
}

impl Scrape {
    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn exposition(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let nodes = &self.runtime.nodes;
        let mut steps = encoder.encode_descriptor(
            "savepoint_steps_committed",
            "Steps committed by this process, by workflow and node (a parallel step counts for each of its nodes)",
            None,
            MetricType::Counter,
        )?;
        for node in nodes {
            let labels = [("workflow", &*node.workflow), ("node", &*node.node)];
            ConstCounter::new(node.steps_committed).encode(steps.encode_family(&labels)?)?;
        }
        let mut failed = encoder.encode_descriptor(
            "savepoint_attempts_failed",
            "Node attempts that failed in this process (retried or failed for good), by workflow and node",
            None,
            MetricType::Counter,
        )?;
        for node in nodes {
            let labels = [("workflow", &*node.workflow), ("node", &*node.node)];
            ConstCounter::new(node.attempts_failed).encode(failed.encode_family(&labels)?)?;
        }
        let mut calls = encoder.encode_descriptor(
            "savepoint_node_call_duration_seconds",
            "How long node calls took (a fresh sandbox, the call, its output), by workflow and node",
            None,
            MetricType::Histogram,
        )?;
        for node in nodes {
            let labels = [("workflow", &*node.workflow), ("node", &*node.node)];
            histogram(&node.calls, calls.encode_family(&labels)?)?;
        }
        let commits = encoder.encode_descriptor(
            "savepoint_commit_duration_seconds",
            "How long committing a step's checkpoint took (until it was durable, group commit included)",
            None,
            MetricType::Histogram,
        )?;
        histogram(&self.runtime.commits, commits)?;
        let compiles = encoder.encode_descriptor(
            "savepoint_component_compile_duration_seconds",
            "How long compiling a component took (compile cache misses only)",
            None,
            MetricType::Histogram,
        )?;
        histogram(&self.compiles, compiles)?;
        let takeovers = encoder.encode_descriptor(
            "savepoint_lease_takeovers",
            "Runs this process took over from another owner whose lease expired or whose process died",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.runtime.lease_takeovers).encode(takeovers)?;

        let counts = &self.counts;
        let count = |status: RunStatus| counts.by_status.get(&status).copied().unwrap_or(0);
        let mut runs = encoder.encode_descriptor(
            "savepoint_runs",
            "Runs in the database, by status (every status, 0 included)",
            None,
            MetricType::Gauge,
        )?;
        for status in RunStatus::ALL {
            let labels = [("status", status.as_str())];
            gauge(count(status)).encode(runs.encode_family(&labels)?)?;
        }
        let parked = encoder.encode_descriptor(
            "savepoint_runs_parked",
            "Runs parked in the database: sleeping, interrupted (waiting for input), waiting \
             (for a signal or child runs) or retrying",
            None,
            MetricType::Gauge,
        )?;
        gauge(
            [
                RunStatus::Sleeping,
                RunStatus::Interrupted,
                RunStatus::Waiting,
                RunStatus::Retrying,
            ]
            .into_iter()
            .map(count)
            .sum(),
        )
        .encode(parked)?;
        let backlog = encoder.encode_descriptor(
            "savepoint_runs_due_waiting",
            "Runs that could be executed now and no live lease holds (pending, orphaned, or parked and due): the backlog",
            None,
            MetricType::Gauge,
        )?;
        gauge(counts.due_waiting).encode(backlog)?;
        Ok(())
    }
}

/// A count as a gauge's value (Prometheus gauges are signed).
fn gauge(count: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX))
}

/// A histogram snapshot (cumulative `le` buckets) as the encoder takes it: each bucket's
/// own count, then `+Inf` with what exceeded every bound.
fn histogram(
    snapshot: &HistogramSnapshot,
    mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
) -> fmt::Result {
    let mut below = 0;
    let mut buckets: Vec<(f64, u64)> = snapshot
        .buckets
        .iter()
        .map(|&(bound, cumulative)| {
            let own = cumulative.saturating_sub(below);
            below = cumulative;
            (bound, own)
        })
        .collect();
    buckets.push((f64::INFINITY, snapshot.count.saturating_sub(below)));
    encoder.encode_histogram::<NoLabelSet>(snapshot.sum_seconds, snapshot.count, &buckets, None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use savepoint_base::metrics::{Histogram, STEP_SECONDS};
    use savepoint_runtime::NodeSnapshot;

    use super::*;

    #[test]
    fn a_scrape_is_prometheus_text() {
        let calls = Histogram::new(&[0.001, 0.01]);
        calls.observe(Duration::from_micros(500));
        calls.observe(Duration::from_millis(20));
        let scrape = Scrape {
            runtime: MetricsSnapshot {
                nodes: vec![NodeSnapshot {
                    workflow: "chain".into(),
                    node: "add".into(),
                    steps_committed: 3,
                    attempts_failed: 1,
                    calls: calls.snapshot(),
                }],
                commits: Histogram::new(&[0.001]).snapshot(),
                lease_takeovers: 2,
            },
            compiles: Histogram::new(STEP_SECONDS).snapshot(),
            counts: RunCounts {
                by_status: BTreeMap::from([(RunStatus::Completed, 4), (RunStatus::Sleeping, 1)]),
                due_waiting: 5,
            },
        };
        let text = scrape.exposition();
        for line in [
            "# TYPE savepoint_steps_committed_total counter",
            r#"savepoint_steps_committed_total{workflow="chain",node="add"} 3"#,
            r#"savepoint_attempts_failed_total{workflow="chain",node="add"} 1"#,
            "# TYPE savepoint_node_call_duration_seconds histogram",
            r#"savepoint_node_call_duration_seconds_bucket{workflow="chain",node="add",le="0.001"} 1"#,
            r#"savepoint_node_call_duration_seconds_bucket{workflow="chain",node="add",le="0.01"} 1"#,
            r#"savepoint_node_call_duration_seconds_bucket{workflow="chain",node="add",le="+Inf"} 2"#,
            r#"savepoint_node_call_duration_seconds_count{workflow="chain",node="add"} 2"#,
            "savepoint_commit_duration_seconds_count 0",
            "savepoint_lease_takeovers_total 2",
            r#"savepoint_runs{status="completed"} 4"#,
            r#"savepoint_runs{status="failed"} 0"#,
            "savepoint_runs_parked 1",
            "savepoint_runs_due_waiting 5",
        ] {
            assert!(
                text.lines().any(|seen| seen == line),
                "{line:?} not in:\n{text}"
            );
        }
    }
}
