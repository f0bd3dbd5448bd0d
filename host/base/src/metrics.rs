//! Timings kept for the metrics of `savepoint serve`: a histogram of durations that
//! the step path records into with a few atomic adds (no lock, no allocation), and
//! that a scrape reads as a [`HistogramSnapshot`]. Each layer keeps its own (the
//! runtime its node calls and commits, the plugin host its compiles); the server turns
//! the snapshots into the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket bounds (seconds) for what a step waits on: a node call or a commit, from
/// tens of microseconds (a small Rust node, a group commit) to the minutes a slow
/// node may take.
pub const STEP_SECONDS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Bucket bounds (seconds) for compiling a component: tens of milliseconds for a small
/// Rust node to a minute for a large interpreter component.
pub const COMPILE_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// A histogram of durations with fixed bucket bounds. Recording is lock-free: one
/// atomic add for the bucket, one for the sum, one for the count. A snapshot taken
/// while others record may be off by the records in flight (each part is exact on its
/// own), which a scrape tolerates.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in seconds, ascending.
    bounds: &'static [f64],
    /// Per bucket (not cumulative), and one more for what exceeds every bound.
    buckets: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// An empty histogram with these upper bounds (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // A handful of bounds: a scan is as quick as a search.
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(&bound, count)| {
                total += count.load(Ordering::Relaxed);
                (bound, total)
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum_seconds: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// A histogram as a scrape reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, observations at or below it): cumulative, as
    /// Prometheus's `le` buckets; `+Inf` is [`HistogramSnapshot::count`].
    pub buckets: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum() {
        let histogram = Histogram::new(&[0.001, 0.01, 1.0]);
        for ms in [0, 1, 5, 10, 2_000] {
            histogram.observe(Duration::from_millis(ms));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.buckets, [(0.001, 2), (0.01, 4), (1.0, 4)]);
        assert_eq!(snapshot.count, 5, "2 s is only in +Inf");
        assert!((snapshot.sum_seconds - 2.016).abs() < 1e-9, "{snapshot:?}");
    }

    #[test]
    fn the_bounds_ascend() {
        for bounds in [STEP_SECONDS, COMPILE_SECONDS] {
            assert!(
                bounds.windows(2).all(|pair| pair[0] < pair[1]),
                "{bounds:?}"
            );
        }
    }
}
