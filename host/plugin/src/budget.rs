//! The memory budget: one amount of linear memory for every live instance of
//! the process together (`savepoint serve --max-memory`).
//!
//! A node's `memory` limit is what one call may grow to, not what it uses, and
//! 24 calls of 240 MiB each took a daemon to 6.35 GB: nothing capped the sum.
//! So an instance reserves its node's whole limit before it is created and
//! holds the reservation until it is dropped; a call that finds too little
//! left waits for room (a weighted semaphore, fair: first come, first served),
//! and the sum of the limits of live instances never exceeds the budget. A
//! node whose limit alone is larger than the budget could never run, and is
//! refused at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The unit of reservation: one WebAssembly page (a limit is rounded up to it).
const PAGE: u64 = 64 << 10;
/// The budget when the machine's memory cannot be read.
pub const FALLBACK_BUDGET: u64 = 4 << 30;

/// The memory budget and the reservations taken from it.
#[derive(Debug)]
pub struct MemoryBudget {
    /// Bytes; `None`: no budget (every reservation succeeds at once).
    total: Option<u64>,
    pages: Arc<Semaphore>,
    /// Bytes granted to reservations. Not the semaphore's count: a waiting
    /// call holds the pages freed so far until it has all it asked for.
    reserved: Arc<AtomicU64>,
    waiting: AtomicUsize,
}

/// A reservation of memory, returned to the budget when dropped.
#[derive(Debug)]
pub struct Reservation {
    /// `None` without a budget.
    granted: Option<(OwnedSemaphorePermit, Arc<AtomicU64>)>,
}

impl Reservation {
    fn unlimited() -> Reservation {
        Reservation { granted: None }
    }

    fn granted(budget: &MemoryBudget, permit: OwnedSemaphorePermit) -> Reservation {
        let bytes = permit.num_permits() as u64 * PAGE;
        budget.reserved.fetch_add(bytes, Ordering::Relaxed);
        Reservation {
            granted: Some((permit, budget.reserved.clone())),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((permit, reserved)) = &self.granted {
            reserved.fetch_sub(permit.num_permits() as u64 * PAGE, Ordering::Relaxed);
        }
    }
}

/// How much of the budget is in use, for `GET /health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes; `None`: no budget.
    pub budget: Option<u64>,
    /// Bytes reserved by live instances (each its node's whole limit).
    pub reserved: u64,
    /// Calls waiting for room.
    pub waiting: usize,
}

/// A node's limit is larger than the whole budget: it could never run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget {
    pub budget: u64,
}

impl MemoryBudget {
    /// A budget of `bytes` (rounded down to whole pages); `None`: no budget.
    pub fn new(bytes: Option<u64>) -> MemoryBudget {
        let pages = match bytes {
            Some(bytes) => usize::try_from(bytes / PAGE)
                .unwrap_or(Semaphore::MAX_PERMITS)
                .min(Semaphore::MAX_PERMITS),
            None => 0,
        };
        MemoryBudget {
            total: bytes.map(|bytes| bytes / PAGE * PAGE),
            pages: Arc::new(Semaphore::new(pages)),
            reserved: Arc::new(AtomicU64::new(0)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The budget in bytes (`None`: none).
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// What is reserved now, and how many calls wait.
    pub fn usage(&self) -> MemoryUse {
        MemoryUse {
            budget: self.total,
            reserved: self.reserved.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    /// The pages of `bytes`, or why it can never be reserved.
    fn pages_of(&self, bytes: u64) -> Result<Option<u32>, OverBudget> {
        let Some(total) = self.total else {
            return Ok(None);
        };
        if bytes > total {
            return Err(OverBudget { budget: total });
        }
        // At most the whole budget, which fits: a limit is at most 4 GiB.
        let pages = bytes.div_ceil(PAGE);
        Ok(Some(
            u32::try_from(pages).map_err(|_| OverBudget { budget: total })?,
        ))
    }

    /// Reserve `bytes` now if there is room; `Ok(None)`: there is not.
    pub fn try_reserve(&self, bytes: u64) -> Result<Option<Reservation>, OverBudget> {
        let Some(pages) = self.pages_of(bytes)? else {
            return Ok(Some(Reservation::unlimited()));
        };
        Ok(self
            .pages
            .clone()
            .try_acquire_many_owned(pages)
            .ok()
            .map(|permit| Reservation::granted(self, permit)))
    }

    /// Reserve `bytes`, waiting (counted in [`MemoryUse::waiting`]) until
    /// there is room; calls are served in the order they asked.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, OverBudget> {
        let Some(pages) = self.pages_of(bytes)? else {
            return Ok(Reservation::unlimited());
        };
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _counted = Counted(&self.waiting);
        let permit = self
            .pages
            .clone()
            .acquire_many_owned(pages)
            .await
            .expect("the budget's semaphore is never closed");
        Ok(Reservation::granted(self, permit))
    }
}

/// Counts a waiting call until it stops waiting (or gives up).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The default budget: half of this machine's memory (or of the cgroup's
/// limit, when it is smaller), else `FALLBACK_BUDGET`.
pub fn default_budget() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let machine = meminfo.as_deref().and_then(mem_total);
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    match (machine, cgroup) {
        (Some(machine), Some(cgroup)) => machine.min(cgroup) / 2,
        (Some(bytes), None) | (None, Some(bytes)) => bytes / 2,
        (None, None) => FALLBACK_BUDGET,
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib = line
        .trim_start_matches("MemTotal:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn reservations_never_exceed_the_budget_and_a_call_waits_for_room() {
        let budget = Arc::new(MemoryBudget::new(Some(100 * MIB)));
        let first = budget.reserve(60 * MIB).await.unwrap();
        assert_eq!(budget.usage().reserved, 60 * MIB);
        assert!(budget.try_reserve(60 * MIB).unwrap().is_none(), "no room");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(60 * MIB).await.map(|_| ()) })
        };
        while budget.usage().waiting == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            budget.usage(),
            MemoryUse {
                budget: Some(100 * MIB),
                reserved: 60 * MIB,
                waiting: 1
            }
        );
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(budget.usage().waiting, 0);
        assert_eq!(budget.usage().reserved, 0, "returned when dropped");
    }

    #[tokio::test]
    async fn a_limit_larger_than_the_whole_budget_is_refused_at_once() {
        let budget = MemoryBudget::new(Some(64 * MIB));
        assert_eq!(
            budget.reserve(65 * MIB).await.unwrap_err(),
            OverBudget { budget: 64 * MIB }
        );
        assert!(
            budget.reserve(64 * MIB).await.is_ok(),
            "the whole budget fits"
        );
    }

    #[tokio::test]
    async fn a_limit_is_rounded_up_to_whole_pages() {
        let budget = MemoryBudget::new(Some(MIB));
        let _one = budget.reserve(1).await.unwrap();
        assert_eq!(budget.usage().reserved, PAGE);
    }

    #[tokio::test]
    async fn without_a_budget_everything_fits() {
        let budget = MemoryBudget::new(None);
        let _a = budget.reserve(4 << 30).await.unwrap();
        let _b = budget.try_reserve(4 << 30).unwrap().unwrap();
        assert_eq!(
            budget.usage(),
            MemoryUse {
                budget: None,
                reserved: 0,
                waiting: 0
            }
        );
    }

    #[test]
    fn the_default_is_half_the_machines_memory() {
        let meminfo = "MemTotal:       24683656 kB\nMemFree:        19364968 kB\n";
        assert_eq!(mem_total(meminfo), Some(24_683_656 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert!(default_budget() > 0);
    }
}
