//! The lease a call runs under, as the process that holds it sees it.
//!
//! A lease is stored in the database with a wall-clock expiry, and another
//! process may take the run over once that time passes. A process that
//! stalls (SIGSTOP, a long pause of the machine, a database that stops
//! answering) cannot renew, and must not go on calling nodes for a run that
//! may already be someone else's. So each held run carries a local,
//! monotonic time until which its lease is surely still ours (the last
//! renewal that succeeded, counted from before it was sent, plus the lease,
//! less a margin); monotonic time keeps running while a process is stopped.
//! A call races that time: it is never started past it, its host functions
//! (`log`, `lease-epoch`, outgoing HTTP) refuse to work past it, and the
//! runtime drops the call (the guest stops at its next epoch tick) when it
//! passes. Its result is discarded.
//!
//! The lease also carries its epoch: a number that grows every time the run
//! changes hands, which nodes pass to outside systems as a fencing token.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::Poll;
use std::time::Instant;

/// The origin of the nanosecond counts a lease keeps (a lock-free `Instant`: every poll of
/// every call and step reads it, so a mutex showed in the profile of 100 runs at once).
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

fn to_nanos(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(*ORIGIN).as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos(nanos: u64) -> Instant {
    let origin = *ORIGIN;
    origin
        .checked_add(std::time::Duration::from_nanos(nanos))
        .unwrap_or(origin)
}

/// A held lease: cheap to clone, shared by the runtime (which extends it on
/// every renewal) and the calls made under it (which check it).
#[derive(Debug, Clone)]
pub struct Lease {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    epoch: u64,
    /// Nanoseconds after [`ORIGIN`]; only grows.
    valid_until: AtomicU64,
}

impl Lease {
    /// A lease of epoch `epoch`, surely valid until `valid_until`.
    pub fn new(epoch: u64, valid_until: Instant) -> Lease {
        Lease {
            inner: Arc::new(Inner {
                epoch,
                valid_until: AtomicU64::new(to_nanos(valid_until)),
            }),
        }
    }

    /// The fencing token: grows every time the run's lease changes hands.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The local time until which the lease is surely valid.
    pub fn valid_until(&self) -> Instant {
        from_nanos(self.inner.valid_until.load(Ordering::Acquire))
    }

    /// A renewal succeeded: the lease is valid until `until` (never moves back).
    ///
    /// An expired lease stays expired: a process that wakes from a stall may renew in the
    /// database (nobody took the run meanwhile) before its calls see the expiry, and a call
    /// that ran past its lease must still be dropped. Says whether the lease was extended.
    pub fn extend(&self, until: Instant) -> bool {
        let until = to_nanos(until);
        self.inner
            .valid_until
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |valid| {
                (to_nanos(Instant::now()) < valid).then_some(valid.max(until))
            })
            .is_ok()
    }

    /// Whether the lease may have passed to someone else by now.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.valid_until()
    }

    /// Resolves once the lease has expired. Every poll reads the clock, so a
    /// process that wakes from a stall sees the expiry at its first poll,
    /// whatever order its timers fire in.
    pub fn expiry(&self) -> impl Future<Output = ()> + Send + '_ {
        let deadline = |until| tokio::time::Instant::from_std(until);
        let mut sleep = Box::pin(tokio::time::sleep_until(deadline(self.valid_until())));
        std::future::poll_fn(move |cx| {
            let until = self.valid_until();
            if Instant::now() >= until {
                return Poll::Ready(());
            }
            if sleep.deadline() != deadline(until) {
                sleep.as_mut().reset(deadline(until));
            }
            // When the sleep fires, the next poll reads the clock again.
            let _ = sleep.as_mut().poll(cx);
            Poll::Pending
        })
    }
}

/// Runs `work` to its end, or until `lease` expires (then `None`, and `work`
/// is dropped: a guest stops at its next yield). Without a lease, `work`
/// just runs.
pub async fn bounded<T>(lease: Option<&Lease>, work: impl Future<Output = T>) -> Option<T> {
    match lease {
        None => Some(work.await),
        Some(lease) => tokio::select! {
            // The lease first: a process that wakes from a stall past it
            // drops the call before the guest can run another instruction.
            biased;
            () = lease.expiry() => None,
            out = work => Some(out),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn expires_when_its_time_passes_unless_extended() {
        let lease = Lease::new(3, Instant::now() + Duration::from_millis(20));
        assert_eq!(lease.epoch(), 3);
        assert!(!lease.expired());
        assert!(lease.extend(Instant::now() + Duration::from_millis(60)));
        // Never moves back.
        assert!(lease.extend(Instant::now()));
        assert!(!lease.expired());
        lease.expiry().await;
        assert!(lease.expired());
        // Once expired, a renewal does not revive it.
        assert!(!lease.extend(Instant::now() + Duration::from_secs(60)));
        assert!(lease.expired());
    }

    #[tokio::test]
    async fn an_expired_lease_is_seen_at_the_first_poll() {
        let lease = Lease::new(1, Instant::now());
        let mut expiry = pin!(lease.expiry());
        let ready = std::future::poll_fn(|cx| Poll::Ready(expiry.as_mut().poll(cx))).await;
        assert_eq!(ready, Poll::Ready(()));
    }
}
