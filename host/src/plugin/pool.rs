//! Instance slots and idle warm instances.
//!
//! Every live instance (a call's, a `describe()`'s, or a warm one waiting for
//! the next call of its node) holds one [`Slot`] of a fixed number, the size of
//! the engine's instance pool: a call that finds every slot taken waits for one
//! instead of failing, and first drops idle warm instances to make room. Warm
//! instances wait in an [`Idle`] list keyed by what makes them interchangeable
//! (plugin digest, node name and limits), newest last, bounded per key and in
//! all. Generic over the instance type, so the bookkeeping is tested without
//! wasmtime.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CallLimits;

/// The right to hold one live instance; dropping it frees the slot.
pub type Slot = OwnedSemaphorePermit;

/// Warm instances of one key kept idle at most (a node called by more runs at
/// once than this instantiates the others fresh).
pub const IDLE_PER_KEY: usize = 8;
/// Warm instances kept idle at most, all keys together; beyond it the least
/// recently used one is dropped.
pub const IDLE_TOTAL: usize = 64;

/// What makes two warm instances interchangeable: the same component, the same
/// node of a workflow, the same limits (memory, fuel, state size, HTTP grants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmKey {
    pub digest: String,
    pub node: String,
    pub limits: CallLimits,
}

/// The slots and the idle warm instances (`T`: an instance that owns its slot).
#[derive(Debug)]
pub struct Instances<T> {
    slots: Arc<Semaphore>,
    idle: Mutex<Idle<T>>,
    per_key: usize,
    total: usize,
}

#[derive(Debug)]
struct Idle<T> {
    /// Oldest first.
    entries: VecDeque<(WarmKey, T)>,
    /// Calls waiting for a slot: while there are any, an instance that could
    /// go idle is dropped instead, so its slot goes to them.
    waiting: usize,
}

impl<T> Instances<T> {
    /// `slots` live instances at most; at most `per_key` idle instances of one
    /// key and `total` of all keys.
    pub fn new(slots: usize, per_key: usize, total: usize) -> Instances<T> {
        Instances {
            slots: Arc::new(Semaphore::new(slots)),
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

    /// A slot for a new instance: a free one, else one taken from an idle
    /// warm instance (the least recently used), else the next one freed.
    pub async fn slot(&self) -> Slot {
        let mut waiting = None;
        loop {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return slot;
            }
            let evicted = {
                let mut idle = self.lock();
                if waiting.is_none() {
                    idle.waiting += 1;
                }
                idle.entries.pop_front()
            };
            if waiting.is_none() {
                waiting = Some(Waiting(self));
            }
            match evicted {
                // Dropping it frees its slot; try again (another call may
                // have taken it first).
                Some(instance) => drop(instance),
                None => break,
            }
        }
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed")
    }

    /// The most recently idled warm instance of `key`, if any.
    pub fn take(&self, key: &WarmKey) -> Option<T> {
        let mut idle = self.lock();
        let index = idle.entries.iter().rposition(|(k, _)| k == key)?;
        idle.entries.remove(index).map(|(_, instance)| instance)
    }

    /// Keep `instance` warm for the next call of `key`; returns the instances
    /// that no longer fit (maybe `instance` itself), for the caller to drop
    /// outside the lock.
    #[must_use = "drop the evicted instances outside the lock"]
    pub fn put(&self, key: WarmKey, instance: T) -> Vec<T> {
        let mut idle = self.lock();
        if idle.waiting > 0 || self.per_key == 0 || self.total == 0 {
            return vec![instance];
        }
        let mut evicted = Vec::new();
        let same_key = idle.entries.iter().filter(|(k, _)| *k == key).count();
        if same_key >= self.per_key
            && let Some(oldest) = idle.entries.iter().position(|(k, _)| *k == key)
            && let Some((_, instance)) = idle.entries.remove(oldest)
        {
            evicted.push(instance);
        }
        while idle.entries.len() >= self.total {
            match idle.entries.pop_front() {
                Some((_, instance)) => evicted.push(instance),
                None => break,
            }
        }
        idle.entries.push_back((key, instance));
        evicted
    }

    /// Idle warm instances kept now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Counts a call among the waiting ones until it has its slot (or gives up).
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

    /// An instance that owns its slot (or, to test the accounting, none),
    /// named for the assertions.
    #[derive(Debug)]
    struct Fake {
        name: &'static str,
        _slot: Option<Slot>,
    }

    fn key(node: &str) -> WarmKey {
        WarmKey {
            digest: "sha256:00".to_string(),
            node: node.to_string(),
            limits: CallLimits::default(),
        }
    }

    async fn fake(instances: &Instances<Fake>, name: &'static str) -> Fake {
        Fake {
            name,
            _slot: Some(instances.slot().await),
        }
    }

    fn names(evicted: Vec<Fake>) -> Vec<&'static str> {
        evicted.iter().map(|f| f.name).collect()
    }

    #[tokio::test]
    async fn a_warm_instance_is_taken_by_its_own_key_only() {
        let instances = Instances::new(4, 2, 4);
        let a = fake(&instances, "a").await;
        assert!(instances.put(key("n"), a).is_empty());
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
        let instances = Instances::new(8, 2, 3);
        for name in ["a1", "a2"] {
            let f = fake(&instances, name).await;
            assert!(instances.put(key("a"), f).is_empty());
        }
        let a3 = fake(&instances, "a3").await;
        assert_eq!(
            names(instances.put(key("a"), a3)),
            ["a1"],
            "oldest of the key"
        );
        let b1 = fake(&instances, "b1").await;
        assert!(instances.put(key("b"), b1).is_empty());
        let c1 = fake(&instances, "c1").await;
        assert_eq!(names(instances.put(key("c"), c1)), ["a2"], "oldest of all");
        assert_eq!(instances.idle(), 3);
        // Newest first within a key.
        assert_eq!(instances.take(&key("a")).map(|f| f.name), Some("a3"));
    }

    #[tokio::test]
    async fn a_full_pool_hands_over_the_slot_of_an_idle_instance() {
        let instances = Instances::new(2, 2, 2);
        let busy = fake(&instances, "busy").await;
        let warm = fake(&instances, "warm").await;
        assert!(instances.put(key("n"), warm).is_empty());
        // Both slots are taken, one by an idle instance: it makes room.
        let fresh = tokio::time::timeout(Duration::from_secs(5), fake(&instances, "fresh"))
            .await
            .expect("an idle instance gives up its slot");
        assert_eq!(instances.idle(), 0);
        drop((busy, fresh));
    }

    #[tokio::test]
    async fn a_call_waits_for_a_busy_slot_and_gets_the_next_one_freed() {
        let instances = Arc::new(Instances::new(1, 2, 2));
        let busy = fake(&instances, "busy").await;
        let waiter = {
            let instances = instances.clone();
            tokio::spawn(async move { fake(&instances, "next").await.name })
        };
        // The waiter registers before the busy call ends: wait until it does
        // (no sleep: yield until the count says so).
        while instances.lock().waiting == 0 {
            tokio::task::yield_now().await;
        }
        // The busy instance ends its call successfully and would go idle; a
        // call is waiting, so it is dropped and its slot handed over.
        assert_eq!(names(instances.put(key("n"), busy)), ["busy"]);
        let next = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed slot")
            .unwrap();
        assert_eq!(next, "next");
        assert_eq!(instances.lock().waiting, 0);
    }

    #[tokio::test]
    async fn a_waiting_call_is_counted_once_however_many_idle_instances_it_drops() {
        let instances = Arc::new(Instances::new(1, 4, 4));
        let busy = fake(&instances, "busy").await;
        // Idle instances that hold no slot: dropping them frees nothing, so
        // the call drops them all, then waits.
        for name in ["x", "y", "z"] {
            let slotless = Fake { name, _slot: None };
            assert!(instances.put(key("n"), slotless).is_empty());
        }
        let waiter = {
            let instances = instances.clone();
            tokio::spawn(async move { fake(&instances, "next").await.name })
        };
        while instances.lock().waiting == 0 || instances.idle() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(instances.lock().waiting, 1);
        drop(busy);
        let next = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter gets the freed slot")
            .unwrap();
        assert_eq!(next, "next");
        assert_eq!(instances.lock().waiting, 0);
    }

    #[tokio::test]
    async fn no_idle_instances_are_kept_when_the_bounds_are_zero() {
        let instances = Instances::new(1, 0, 0);
        let a = fake(&instances, "a").await;
        assert_eq!(names(instances.put(key("n"), a)), ["a"]);
        assert!(instances.take(&key("n")).is_none());
    }
}
