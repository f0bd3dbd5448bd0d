//! Winch first, Cranelift later: the code a plugin runs, and its swap.
//!
//! A component of [`WINCH_FROM`](super::engine::WINCH_FROM) bytes or more is
//! first compiled by Winch (a second or so for an interpreter component,
//! where Cranelift takes 10 to 25 s), and its plugin runs that code at once.
//! Its Cranelift compile is queued for the [`Optimizer`]: one background
//! thread, one compile at a time, on threads at nice 19. Linux's scheduler
//! gives a nice-19 thread a weight of 15 against 1,024 for a nice-0 one: next
//! to a busy step thread it gets about 1.5% of the core, so steps keep about
//! 98.5% of the CPU while it runs (and it gets every idle cycle). The
//! `SCHED_IDLE` class (weight 3) would starve it on a machine that is never
//! idle, keeping Winch's code for good. It starts [`OPTIMIZE_AFTER`] after it is queued, so that a short
//! command (`savepoint plugins`, `validate`, a quick `run`) exits before it
//! spends the CPU and the memory (a Cranelift compile of the Python component
//! takes over a gigabyte) on code it would never run: `serve` and long runs
//! get it. When it is done, the code is cached and swapped into the plugin's
//! [`CodeSlot`]: calls that start afterwards instantiate the Cranelift code;
//! calls in flight (and warm instances, whose key names the compiler) finish
//! on Winch's. A host that finds Cranelift's code cached never uses Winch.
//!
//! Generic over the code, so the swap and the queue are tested without
//! compiling anything.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use super::engine::Compiler;

/// What a call instantiates: code, and the compiler that made it.
pub trait Tiered {
    fn compiler(&self) -> Compiler;
}

/// The code one version of a plugin runs now, swapped once from Winch's to
/// Cranelift's; and how many calls each ran, which is how a test (or an
/// operator, in the log) sees that the swap took.
#[derive(Debug)]
pub struct CodeSlot<C> {
    code: RwLock<Arc<C>>,
    calls: [AtomicU64; 2],
    swapped: tokio::sync::Notify,
}

fn index(compiler: Compiler) -> usize {
    match compiler {
        Compiler::Winch => 0,
        Compiler::Cranelift => 1,
    }
}

impl<C: Tiered> CodeSlot<C> {
    pub fn new(code: C) -> CodeSlot<C> {
        CodeSlot {
            code: RwLock::new(Arc::new(code)),
            calls: Default::default(),
            swapped: tokio::sync::Notify::new(),
        }
    }

    /// The code for a call that starts now (counted as one call of it).
    pub fn for_call(&self) -> Arc<C> {
        let code = self.current();
        self.calls[index(code.compiler())].fetch_add(1, Ordering::Relaxed);
        code
    }

    /// The code new calls get now.
    pub fn current(&self) -> Arc<C> {
        self.code
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls started on `compiler`'s code so far.
    pub fn calls(&self, compiler: Compiler) -> u64 {
        self.calls[index(compiler)].load(Ordering::Relaxed)
    }

    /// Later calls get `code`.
    pub fn swap(&self, code: C) {
        *self.code.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(code);
        self.swapped.notify_waiters();
    }

    /// Wait until the code is `compiler`'s.
    pub async fn until(&self, compiler: Compiler) {
        loop {
            let swapped = self.swapped.notified();
            if self.current().compiler() == compiler {
                return;
            }
            swapped.await;
        }
    }
}

/// The slots of the plugins that run Winch's code, by digest, so that every
/// load of one version shares one slot (and one swap); and the digests whose
/// Cranelift compile is queued or running.
#[derive(Debug)]
pub struct Slots<C> {
    slots: Mutex<HashMap<String, Weak<CodeSlot<C>>>>,
    queued: Mutex<HashSet<String>>,
}

impl<C> Default for Slots<C> {
    fn default() -> Self {
        Slots {
            slots: Mutex::default(),
            queued: Mutex::default(),
        }
    }
}

/// What [`Slots::slot`] found or made.
pub enum Slotted<C> {
    /// A slot of this version in use: its code may be Cranelift's already.
    Shared(Arc<CodeSlot<C>>),
    /// A new slot with the code given; `optimize`: whether its Cranelift
    /// compile is to be queued (it is not queued or running already).
    New {
        slot: Arc<CodeSlot<C>>,
        optimize: bool,
    },
}

impl<C: Tiered> Slots<C> {
    /// The slot of version `digest`: the one in use if any, else a new one with
    /// `code` (made only then), remembered while in use when it holds Winch's code.
    pub fn slot(&self, digest: &str, code: impl FnOnce() -> C) -> Slotted<C> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(digest).and_then(Weak::upgrade) {
            return Slotted::Shared(slot);
        }
        let slot = Arc::new(CodeSlot::new(code()));
        if slot.current().compiler() == Compiler::Cranelift {
            slots.remove(digest);
            return Slotted::New {
                slot,
                optimize: false,
            };
        }
        slots.retain(|_, slot| slot.strong_count() > 0);
        slots.insert(digest.to_owned(), Arc::downgrade(&slot));
        let optimize = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest.to_owned());
        Slotted::New { slot, optimize }
    }

    /// The slot of `digest` in use, if any.
    pub fn get(&self, digest: &str) -> Option<Arc<CodeSlot<C>>> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.get(digest).and_then(Weak::upgrade)
    }

    /// Cranelift's compile of `digest` is over (done or failed); with `code`,
    /// the slot in use (if any) gets it.
    pub fn optimized(&self, digest: &str, code: Option<C>) {
        if let Some(code) = code
            && let Some(slot) = self.get(digest)
        {
            slot.swap(code);
        }
        self.queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(digest);
    }
}

/// How long after it is queued a background compile starts.
pub const OPTIMIZE_AFTER: Duration = Duration::from_secs(2);

/// One thread that runs queued jobs one at a time, each no sooner than its
/// delay after it was queued, at nice 19; it starts
/// with the first job and ends when the [`Optimizer`] is dropped.
pub struct Optimizer {
    jobs: Mutex<Option<std::sync::mpsc::Sender<(Instant, Job)>>>,
    delay: Duration,
}

pub type Job = Box<dyn FnOnce() + Send>;

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer::new(OPTIMIZE_AFTER)
    }
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer").finish_non_exhaustive()
    }
}

impl Optimizer {
    /// An optimizer whose jobs start `delay` after they are queued.
    pub fn new(delay: Duration) -> Optimizer {
        Optimizer {
            jobs: Mutex::new(None),
            delay,
        }
    }

    /// Run `job` after the jobs queued before it, on the optimizer's thread.
    pub fn queue(&self, job: Job) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let job = (Instant::now() + self.delay, job);
        let job = match jobs.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return,
                // The thread is gone (a job panicked): start another.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = std::sync::mpsc::channel::<(Instant, Job)>();
        let started = std::thread::Builder::new()
            .name("savepoint-optimize".into())
            .spawn(move || {
                // Cranelift compiles a component's functions in parallel on
                // rayon's threads: a pool of our own, at nice 19 too, so the
                // compile's work never runs at a step's priority.
                let pool = rayon::ThreadPoolBuilder::new()
                    .thread_name(|i| format!("savepoint-optimize-{i}"))
                    .start_handler(|_| low_priority())
                    .build();
                low_priority();
                while let Ok((at, job)) = receiver.recv() {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    match &pool {
                        Ok(pool) => pool.install(job),
                        Err(_) => job(),
                    }
                }
            });
        match started {
            Ok(_) => {
                let _ = sender.send(job);
                *jobs = Some(sender);
            }
            Err(error) => tracing::warn!("cannot start the background compile thread: {error}"),
        }
    }
}

/// Put the calling thread at nice 19 (on Linux, `setpriority` with 0 is the
/// calling thread, not the process).
fn low_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: a plain system call on the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Fake(Compiler);

    impl Tiered for Fake {
        fn compiler(&self) -> Compiler {
            self.0
        }
    }

    #[test]
    fn calls_after_the_swap_run_the_new_code_and_calls_in_flight_keep_theirs() {
        let slots = Slots::<Fake>::default();
        let Slotted::New { slot, optimize } = slots.slot("d", || Fake(Compiler::Winch)) else {
            panic!("a new slot");
        };
        assert!(optimize, "its Cranelift compile is queued");
        let in_flight = slot.for_call();
        // A second load of the same version shares the slot and queues nothing.
        let Slotted::Shared(shared) = slots.slot("d", || unreachable!()) else {
            panic!("the slot in use");
        };
        assert!(Arc::ptr_eq(&slot, &shared));

        slots.optimized("d", Some(Fake(Compiler::Cranelift)));
        assert_eq!(in_flight.compiler(), Compiler::Winch, "finishes on Winch");
        assert_eq!(slot.for_call().compiler(), Compiler::Cranelift);
        assert_eq!(shared.for_call().compiler(), Compiler::Cranelift);
        assert_eq!(
            (slot.calls(Compiler::Winch), slot.calls(Compiler::Cranelift)),
            (1, 2)
        );
    }

    #[test]
    fn cranelift_code_is_not_queued_and_a_dropped_slot_is_forgotten() {
        let slots = Slots::<Fake>::default();
        let Slotted::New { optimize, .. } = slots.slot("c", || Fake(Compiler::Cranelift)) else {
            panic!("a new slot");
        };
        assert!(!optimize);
        assert!(slots.get("c").is_none(), "nothing to swap");

        let Slotted::New { slot, .. } = slots.slot("w", || Fake(Compiler::Winch)) else {
            panic!("a new slot");
        };
        drop(slot);
        // Compiled while nobody used it: swaps nothing, and the next load of
        // the version (from Cranelift's cache entry) starts afresh.
        slots.optimized("w", Some(Fake(Compiler::Cranelift)));
        assert!(slots.get("w").is_none());
        let Slotted::New { optimize, .. } = slots.slot("w", || Fake(Compiler::Winch)) else {
            panic!("a new slot");
        };
        assert!(optimize, "queued again: the last compile is over");
    }

    #[tokio::test]
    async fn until_waits_for_the_swap() {
        let slot = Arc::new(CodeSlot::new(Fake(Compiler::Winch)));
        let waiter = {
            let slot = slot.clone();
            tokio::spawn(async move { slot.until(Compiler::Cranelift).await })
        };
        let optimizer = Optimizer::new(Duration::ZERO);
        let swapper = slot.clone();
        optimizer.queue(Box::new(move || swapper.swap(Fake(Compiler::Cranelift))));
        tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
            .await
            .expect("the swap is seen")
            .unwrap();
        assert_eq!(slot.current().compiler(), Compiler::Cranelift);
    }

    #[test]
    fn queued_jobs_run_one_at_a_time_in_order() {
        let optimizer = Optimizer::new(Duration::ZERO);
        let (sender, receiver) = std::sync::mpsc::channel();
        let running = Arc::new(AtomicU64::new(0));
        for n in 0..4 {
            let (sender, running) = (sender.clone(), running.clone());
            optimizer.queue(Box::new(move || {
                let at_once = running.fetch_add(1, Ordering::SeqCst) + 1;
                sender.send((n, at_once)).unwrap();
                running.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        let ran: Vec<_> = (0..4).map(|_| receiver.recv().unwrap()).collect();
        assert_eq!(ran, [(0, 1), (1, 1), (2, 1), (3, 1)]);
    }
}

/// Winch's code under the limits a call runs with: a timeout (epoch
/// interruption, the guest yields at each tick) and a fuel budget, on the
/// test guest that spins (built by the end-to-end tests; skipped without it).
#[cfg(test)]
mod winch {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::{CallError, CallInput, Compiler, PluginHost, Tiering};

    fn spin() -> Option<PathBuf> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        let path = target.join("wasm32-wasip2/guest/spin.wasm");
        path.is_file().then_some(path)
    }

    #[tokio::test]
    async fn winch_code_is_stopped_by_a_timeout_and_by_fuel() {
        let Some(spin) = spin() else {
            eprintln!("skipped: no spin.wasm (cargo test --test e2e builds it)");
            return;
        };
        let host = PluginHost::new(None)
            .unwrap()
            .with_tiering(Tiering::WinchOnly { from: 0 });
        let plugin = host.load(&spin).await.result.expect("spin loads on Winch");
        assert_eq!(plugin.compiler(), Compiler::Winch);

        let mut input = CallInput::new("t", "n", 1);
        input.timeout = Some(Duration::from_millis(200));
        let output =
            tokio::time::timeout(Duration::from_secs(60), plugin.call(&input, "{}".into()))
                .await
                .expect("the timeout stops the guest: it yields at epoch ticks");
        assert_eq!(
            output.result,
            Err(CallError::Timeout(Duration::from_millis(200)))
        );

        let mut input = CallInput::new("t", "n", 1);
        input.limits.fuel = Some(10_000_000);
        let output =
            tokio::time::timeout(Duration::from_secs(60), plugin.call(&input, "{}".into()))
                .await
                .expect("fuel stops the guest");
        assert_eq!(
            output.result,
            Err(CallError::OutOfFuel { fuel: 10_000_000 })
        );
        assert_eq!(plugin.calls_on(Compiler::Winch), 2);
    }
}
