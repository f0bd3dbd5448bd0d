//! The daemon's view of a failing database (a full disk, say): a lasting failure is
//! reported once, and its end once, however often it is retried, and the scheduler waits
//! longer after each failure in a row instead of hammering the database (and re-running
//! nodes whose steps cannot commit) five times a second.

use std::time::{Duration, Instant};

use super::daemon::POLL;

/// After the database fails, the scheduler waits before it claims runs again: [`POLL`] after
/// the first failure, twice as long after each further one in a row, at most this long.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the daemon's own work found the database to be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// Claiming due runs: small writes.
    Claim,
    /// Driving runs (committing their steps) and renewing their leases.
    Step,
}

/// The database failing, as the daemon sees it: what was reported, and how long to wait
/// before the next claim. A lasting failure is reported once, and its end once, however
/// often it is retried; the wait doubles at each failure in a row, from [`POLL`] to
/// [`MAX_BACKOFF`].
#[derive(Debug, Default)]
pub(super) struct Outage {
    /// The failure reported (the error's message), while it lasts.
    reported: Option<String>,
    /// What failed: a claim that works does not show that steps do (it may still fit on a
    /// nearly full disk when a step's commit does not, and a claim that finds nothing to do
    /// writes nothing); a step that works shows that everything does.
    failing: Option<Work>,
    /// Failures in a row.
    failures: u32,
    /// No claim before this.
    until: Option<Instant>,
}

impl Outage {
    /// Records that `work` failed with `error` at `now`; returns the line to log if that is
    /// news (the first failure, or another error than the one reported).
    pub(super) fn failed(
        &mut self,
        work: Work,
        context: &str,
        error: &str,
        now: Instant,
    ) -> Option<String> {
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(16);
        let wait = POLL.saturating_mul(1 << doublings).min(MAX_BACKOFF);
        self.until = Some(now + wait);
        if self.failing.is_none() || work == Work::Step {
            self.failing = Some(work);
        }
        if self.reported.as_deref() == Some(error) {
            return None;
        }
        self.reported = Some(error.to_owned());
        Some(format!(
            "{context}: {error}; retrying at most every {}s, quietly, until it works again",
            MAX_BACKOFF.as_secs()
        ))
    }

    /// Records that `work` succeeded; returns the line to log if that ends a failure.
    pub(super) fn works(&mut self, work: Work) -> Option<String> {
        if work == Work::Claim && self.failing == Some(Work::Step) {
            return None;
        }
        self.failing = None;
        self.failures = 0;
        self.until = None;
        self.reported
            .take()
            .map(|_| "the database works again; runs continue".to_owned())
    }

    /// How long the scheduler still waits before its next claim, if at all.
    pub(super) fn backoff(&self, now: Instant) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(now))
            .filter(|wait| !wait.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "disk full: cannot write to the database x.db";

    #[test]
    fn a_lasting_failure_is_reported_once_and_waits_longer_each_time() {
        let mut outage = Outage::default();
        let now = Instant::now();
        let mut lines = Vec::new();
        let mut waits = Vec::new();
        for _ in 0..8 {
            lines.extend(outage.failed(Work::Claim, "claiming runs failed", FULL, now));
            waits.push(outage.backoff(now).unwrap().as_millis());
        }
        assert_eq!(
            lines,
            [
                "claiming runs failed: disk full: cannot write to the database x.db; retrying at \
              most every 5s, quietly, until it works again"
            ]
        );
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(outage.backoff(now + MAX_BACKOFF), None);

        // Another error is news; the same one again is not.
        let other = outage.failed(
            Work::Claim,
            "claiming runs failed",
            "database is locked",
            now,
        );
        assert!(other.is_some_and(|line| line.contains("database is locked")));
        assert_eq!(
            outage.failed(
                Work::Claim,
                "claiming runs failed",
                "database is locked",
                now
            ),
            None
        );

        assert_eq!(
            outage.works(Work::Claim).as_deref(),
            Some("the database works again; runs continue")
        );
        assert_eq!(outage.backoff(now), None);
        assert_eq!(outage.works(Work::Claim), None, "reported once");
        let again = outage.failed(Work::Claim, "claiming runs failed", FULL, now);
        assert!(again.is_some(), "a new outage is reported");
        assert_eq!(
            outage.backoff(now),
            Some(POLL),
            "and starts from the first wait"
        );
    }

    #[test]
    fn claims_that_work_do_not_end_a_failure_of_steps() {
        let mut outage = Outage::default();
        let now = Instant::now();
        assert!(
            outage
                .failed(Work::Step, "runs cannot commit", FULL, now)
                .is_some()
        );
        // The claim fits in what is left of the disk; the step's commit does not.
        for _ in 0..5 {
            assert_eq!(outage.works(Work::Claim), None);
            assert_eq!(
                outage.failed(Work::Step, "runs cannot commit", FULL, now),
                None
            );
        }
        assert_eq!(
            outage.backoff(now),
            Some(Duration::from_millis(6400).min(MAX_BACKOFF))
        );
        assert!(outage.works(Work::Step).is_some());
        assert_eq!(outage.backoff(now), None);
    }
}
