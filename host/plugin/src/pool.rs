//! Instance slots, the memory budget, and idle warm instances.
//!
//! Every live instance (a call's, a `describe()`'s, or a warm one waiting for
//! the next call of its node) holds a [`Room`]: one slot of a fixed number,
//! the size of the engine's instance pool, and a reservation of its node's
//! whole `memory` limit from the [`MemoryBudget`]. A call that finds no room
//! waits for it instead of failing, and first drops idle warm instances to
//! make room. Warm instances wait in an [`Idle`] list keyed by what makes them
//! interchangeable (plugin digest, compiler, node name and limits), newest last, bounded
//! per key and in all, and dropped after [`IDLE_FOR`] unused. Generic over
//! the instance type, so the bookkeeping is tested without wasmtime, and over
//! time: the caller says what time it is.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CallLimits;
use super::budget::{MemoryBudget, MemoryUse, OverBudget, Reservation};

/// The right to hold one live instance; dropping it frees the slot.
pub type Slot = OwnedSemaphorePermit;

/// What a live instance holds: a slot and its memory reservation; dropping it
/// frees both.
#[derive(Debug)]
pub struct Room {
    _slot: Slot,
    _memory: Reservation,
}

/// Warm instances of one key kept idle at most (a node called by more runs at
/// once than this instantiates the others fresh).
pub const IDLE_PER_KEY: usize = 8;
/// Warm instances kept idle at most, all keys together; beyond it the least
/// recently used one is dropped.
pub const IDLE_TOTAL: usize = 64;
/// An idle warm instance unused this long is dropped: 8 idle instances held
/// 1.96 GB 30 s after their runs ended, and a node called less often than this
/// gains little from a warm instance.
pub const IDLE_FOR: Duration = Duration::from_secs(30);
/// An instance whose linear memory grew past this is never kept warm (it
/// would hold that memory while idle); the next call gets a fresh one.
pub const WARM_MEMORY: usize = 64 << 20;

/// What makes two warm instances interchangeable: the same component and code, the same
/// node of a workflow, the same limits (memory, fuel, state size, HTTP grants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmKey {
    pub digest: String,
    /// Whose code the instance runs: after the swap to Cranelift's code, Winch's
    /// warm instances are not taken.
    pub compiler: super::engine::Compiler,
    pub node: String,
    pub limits: CallLimits,
}

/// The slots, the memory budget and the idle warm instances (`T`: an instance
/// that owns its [`Room`]).
#[derive(Debug)]
pub struct Instances<T> {
    slots: Arc<Semaphore>,
    budget: MemoryBudget,
    idle: Mutex<Idle<T>>,
    per_key: usize,
    total: usize,
}

#[derive(Debug)]
struct Idle<T> {
    /// Oldest first, each with the time it went idle.
    entries: VecDeque<(WarmKey, T, Instant)>,
    /// Calls waiting for room: while there are any, an instance that could
    /// go idle is dropped instead, so its room goes to them.
    waiting: usize,
}

impl<T> Instances<T> {
    /// `slots` live instances at most, whose memory limits together fit in
    /// `budget`; at most `per_key` idle instances of one key and `total` of
    /// all keys.
    pub fn new(slots: usize, per_key: usize, total: usize, budget: MemoryBudget) -> Instances<T> {
        Instances {
            slots: Arc::new(Semaphore::new(slots)),
            budget,
            idle: Mutex::new(Idle {
                entries: VecDeque::new(),
                waiting: 0,
            }),
            per_key,
            total,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Idle<T>> {
        // The critical sections never panic half-way; a poisoned lock holds a
        // consistent list.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The memory budget's size and use.
    pub fn memory(&self) -> MemoryUse {
        self.budget.usage()
    }

    /// The budget in bytes, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget.total()
    }

    /// Room for a new instance whose memory may grow to `memory` bytes: the
    /// reservation first (free budget, else budget taken from idle warm
    /// instances, least recently used first, else the next budget freed),
    /// then a slot the same way. Nobody holds a slot while waiting for
    /// memory, so the two waits never deadlock. Refused at once when `memory`
    /// is more than the whole budget.
    pub async fn room(&self, memory: u64) -> Result<Room, OverBudget> {
        let mut waiting = None;
        let reservation = loop {
            if let Some(reservation) = self.budget.try_reserve(memory)? {
                break reservation;
            }
            if !self.drop_idle(&mut waiting) {
                break self.budget.reserve(memory).await?;
            }
        };
        let slot = loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                break slot;
            }
            if !self.drop_idle(&mut waiting) {
                break self
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the slot semaphore is never closed");
            }
        };
        Ok(Room {
            _slot: slot,
            _memory: reservation,
        })
    }

    /// Count the caller among the waiting calls (once), and drop the least
    /// recently used idle instance, if any (another call may take what it
    /// frees first: the caller tries again).
    fn drop_idle<'a>(&'a self, waiting: &mut Option<Waiting<'a, T>>) -> bool {
        let evicted = {
            let mut idle = self.lock();
            if waiting.is_none() {
                idle.waiting += 1;
            }
            idle.entries.pop_front()
        };
        if waiting.is_none() {
            *waiting = Some(Waiting(self));
        }
        // Dropped outside the lock.
        evicted.is_some()
    }

    /// The most recently idled warm instance of `key`, if any.
    pub fn take(&self, key: &WarmKey) -> Option<T> {
        let mut idle = self.lock();
        let index = idle.entries.iter().rposition(|(k, _, _)| k == key)?;
        idle.entries.remove(index).map(|(_, instance, _)| instance)
    }

    /// Keep `instance` warm for the next call of `key`, idle from `now`;
    /// returns the instances that no longer fit (maybe `instance` itself), for
    /// the caller to drop outside the lock.
    #[must_use = "drop the evicted instances outside the lock"]
    pub fn put(&self, key: WarmKey, instance: T, now: Instant) -> Vec<T> {
        let mut idle = self.lock();
        if idle.waiting > 0 || self.per_key == 0 || self.total == 0 {
            return vec![instance];
        }
        let mut evicted = Vec::new();
        let same_key = idle.entries.iter().filter(|(k, _, _)| *k == key).count();
        if same_key >= self.per_key
            && let Some(oldest) = idle.entries.iter().position(|(k, _, _)| *k == key)
            && let Some((_, instance, _)) = idle.entries.remove(oldest)
        {
            evicted.push(instance);
        }
        while idle.entries.len() >= self.total {
            match idle.entries.pop_front() {
                Some((_, instance, _)) => evicted.push(instance),
                None => break,
            }
        }
        idle.entries.push_back((key, instance, now));
        evicted
    }

    /// Take out the idle instances unused for [`IDLE_FOR`] or more at `now`,
    /// for the caller to drop outside the lock.
    #[must_use = "drop the expired instances outside the lock"]
    pub fn expire(&self, now: Instant) -> Vec<T> {
        let mut idle = self.lock();
        let (expired, kept) = std::mem::take(&mut idle.entries)
            .into_iter()
            .partition(|(_, _, since)| now.saturating_duration_since(*since) >= IDLE_FOR);
        idle.entries = kept;
        expired
            .into_iter()
            .map(|(_, instance, _)| instance)
            .collect::<Vec<_>>()
    }

    /// Idle warm instances kept now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Counts a call among the waiting ones until it has its room (or gives up).
struct Waiting<'a, T>(&'a Instances<T>);

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        self.0.lock().waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// An instance that owns its room (or, to test the accounting, none),
    /// named for the assertions.
    #[derive(Debug)]
    struct Fake {
        name: &'static str,
        _room: Option<Room>,
    }

    fn key(node: &str) -> WarmKey {
        WarmKey {
            digest: "sha256:00".to_string(),
            compiler: crate::engine::Compiler::Cranelift,
            node: node.to_string(),
            limits: CallLimits::default(),
        }
    }

    /// Instances without a memory budget.
    fn instances(slots: usize, per_key: usize, total: usize) -> Instances<Fake> {
        Instances::new(slots, per_key, total, MemoryBudget::new(None))
    }

    async fn fake(instances: &Instances<Fake>, name: &'static str) -> Fake {
        sized(instances, name, 64 * MIB).await
    }

    async fn sized(instances: &Instances<Fake>, name: &'static str, memory: u64) -> Fake {
        Fake {
            name,
            _room: Some(instances.room(memory).await.expect("fits the budget")),
        }
    }

    fn names(evicted: Vec<Fake>) -> Vec<&'static str> {
        evicted.iter().map(|f| f.name).collect()
    }

    fn waiting(instances: &Instances<Fake>) -> usize {
        instances.lock().waiting
    }

    #[tokio::test]
    async fn a_warm_instance_is_taken_by_its_own_key_only() {
        let instances = instances(4, 2, 4);
        let now = Instant::now();
        let a = fake(&instances, "a").await;
        assert!(instances.put(key("n"), a, now).is_empty());
        assert!(instances.take(&key("other")).is_none());
        let mut limits = CallLimits::default();
        limits.memory /= 2;
        let other_limits = WarmKey { limits, ..key("n") };
        assert!(
            instances.take(&other_limits).is_none(),
            "limits are part of the key"
        );
        let other_digest = WarmKey {
            digest: "sha256:11".to_string(),
            ..key("n")
        };
        assert!(instances.take(&other_digest).is_none());
        assert_eq!(instances.take(&key("n")).map(|f| f.name), Some("a"));
        assert!(instances.take(&key("n")).is_none(), "taken once");
    }

    #[tokio::test]
    async fn idle_instances_are_bounded_per_key_and_in_all() {
        let instances = instances(8, 2, 3);
        let now = Instant::now();
        for name in ["a1", "a2"] {
            let f = fake(&instances, name).await;
            assert!(instances.put(key("a"), f, now).is_empty());
        }
        let a3 = fake(&instances, "a3").await;
        assert_eq!(
            names(instances.put(key("a"), a3, now)),
            ["a1"],
            "oldest of the key"
        );
        let b1 = fake(&instances, "b1").await;
        assert!(instances.put(key("b"), b1, now).is_empty());
        let c1 = fake(&instances, "c1").await;
        assert_eq!(
            names(instances.put(key("c"), c1, now)),
            ["a2"],
            "oldest of all"
        );
        assert_eq!(instances.idle(), 3);
        // Newest first within a key.
        assert_eq!(instances.take(&key("a")).map(|f| f.name), Some("a3"));
    }

    #[tokio::test]
    async fn idle_instances_are_dropped_after_idle_for() {
        let instances = instances(8, 4, 8);
        let start = Instant::now();
        let a = fake(&instances, "a").await;
        assert!(instances.put(key("n"), a, start).is_empty());
        let later = start + Duration::from_secs(10);
        let b = fake(&instances, "b").await;
        assert!(instances.put(key("n"), b, later).is_empty());

        let just_before = start + IDLE_FOR - Duration::from_millis(1);
        assert!(instances.expire(just_before).is_empty());
        assert_eq!(names(instances.expire(start + IDLE_FOR)), ["a"]);
        assert_eq!(instances.idle(), 1, "b has been idle 20 s only");
        assert_eq!(names(instances.expire(later + IDLE_FOR)), ["b"]);
        assert_eq!(instances.idle(), 0);
        // Their rooms are free again: all 8 slots can be taken at once.
        let mut all = Vec::new();
        for _ in 0..8 {
            all.push(
                instances
                    .slots
                    .clone()
                    .try_acquire_owned()
                    .expect("a free slot"),
            );
        }
    }

    #[tokio::test]
    async fn a_full_pool_hands_over_the_slot_of_an_idle_instance() {
        let instances = instances(2, 2, 2);
        let busy = fake(&instances, "busy").await;
        let warm = fake(&instances, "warm").await;
        assert!(instances.put(key("n"), warm, Instant::now()).is_empty());
        // Both slots are taken, one by an idle instance: it makes room.
        let fresh = tokio::time::timeout(Duration::from_secs(5), fake(&instances, "fresh"))
            .await
            .expect("an idle instance gives up its slot");
        assert_eq!(instances.idle(), 0);
        drop((busy, fresh));
    }

    #[tokio::test]
    async fn a_call_waits_for_a_busy_slot_and_gets_the_next_one_freed() {
        let instances = Arc::new(instances(1, 2, 2));
        let busy = fake(&instances, "busy").await;
        let waiter = {
            let instances = instances.clone();
            tokio::spawn(async move { fake(&instances, "next").await.name })
        };
        // The waiter registers before the busy call ends: wait until it does
        // (no sleep: yield until the count says so).
        while waiting(&instances) == 0 {
            tokio::task::yield_now().await;
        }
        // The busy instance ends its call successfully and would go idle; a
        // call is waiting, so it is dropped and its slot handed over.
        assert_eq!(
            names(instances.put(key("n"), busy, Instant::now())),
            ["busy"]
        );
        let next = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed slot")
            .unwrap();
        assert_eq!(next, "next");
        assert_eq!(waiting(&instances), 0);
    }

    #[tokio::test]
    async fn a_waiting_call_is_counted_once_however_many_idle_instances_it_drops() {
        let instances = Arc::new(instances(1, 4, 4));
        let busy = fake(&instances, "busy").await;
        // Idle instances that hold no room: dropping them frees nothing, so
        // the call drops them all, then waits.
        for name in ["x", "y", "z"] {
            let roomless = Fake { name, _room: None };
            assert!(instances.put(key("n"), roomless, Instant::now()).is_empty());
        }
        let waiter = {
            let instances = instances.clone();
            tokio::spawn(async move { fake(&instances, "next").await.name })
        };
        while waiting(&instances) == 0 || instances.idle() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(waiting(&instances), 1);
        drop(busy);
        let next = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed slot")
            .unwrap();
        assert_eq!(next, "next");
        assert_eq!(waiting(&instances), 0);
    }

    #[tokio::test]
    async fn live_instances_never_reserve_more_than_the_memory_budget() {
        let instances = Arc::new(Instances::new(8, 4, 4, MemoryBudget::new(Some(100 * MIB))));
        let a = sized(&instances, "a", 60 * MIB).await;
        // A slot is free, memory is not: the call waits for memory.
        let waiter = {
            let instances = instances.clone();
            tokio::spawn(async move { sized(&instances, "b", 60 * MIB).await })
        };
        while instances.memory().waiting == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            instances.memory(),
            MemoryUse {
                budget: Some(100 * MIB),
                reserved: 60 * MIB,
                waiting: 1
            }
        );
        // An instance that ends its call would go idle: a call waits, so it
        // is dropped and its memory handed over.
        assert_eq!(names(instances.put(key("n"), a, Instant::now())), ["a"]);
        let b = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed memory")
            .unwrap();
        assert_eq!(b.name, "b");
        assert_eq!(instances.memory().reserved, 60 * MIB);
        assert_eq!(instances.memory().waiting, 0);
        drop(b);
        assert_eq!(instances.memory().reserved, 0);
    }

    #[tokio::test]
    async fn an_idle_instance_gives_up_its_memory_to_a_new_call() {
        let instances = Instances::new(8, 4, 4, MemoryBudget::new(Some(100 * MIB)));
        let warm = sized(&instances, "warm", 60 * MIB).await;
        assert!(instances.put(key("n"), warm, Instant::now()).is_empty());
        let fresh =
            tokio::time::timeout(Duration::from_secs(5), sized(&instances, "fresh", 60 * MIB))
                .await
                .expect("the idle instance is dropped to make room");
        assert_eq!(instances.idle(), 0);
        assert_eq!(instances.memory().reserved, 60 * MIB);
        drop(fresh);
    }

    #[tokio::test]
    async fn a_limit_over_the_whole_budget_is_refused() {
        let instances: Instances<Fake> = Instances::new(8, 4, 4, MemoryBudget::new(Some(64 * MIB)));
        let refused = instances.room(65 * MIB).await.unwrap_err();
        assert_eq!(refused, OverBudget { budget: 64 * MIB });
        assert_eq!(instances.memory().waiting, 0);
        assert_eq!(waiting(&instances), 0);
    }

    #[tokio::test]
    async fn no_idle_instances_are_kept_when_the_bounds_are_zero() {
        let instances = instances(1, 0, 0);
        let a = fake(&instances, "a").await;
        assert_eq!(names(instances.put(key("n"), a, Instant::now())), ["a"]);
        assert!(instances.take(&key("n")).is_none());
    }
}
