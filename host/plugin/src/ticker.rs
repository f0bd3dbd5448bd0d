//! The epoch ticker of each engine. A guest yields to the executor, and a timeout can stop
//! it, only when the engine's epoch ticks; but ticking costs a thread wake-up every
//! [`EPOCH_TICK`], so an idle `serve` (a million parked runs, no call in flight) would pay
//! for it all day. So the tickers tick only while some guest code may run: every
//! execution of guest code holds a [`Running`] guard, and the tickers sleep while none is
//! held.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch ticks while guest code runs: the granularity of timeouts, and how
/// often a busy guest yields to the async executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How often an idle ticker looks whether its engine was dropped (then its thread ends).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How many executions of guest code are under way, in every engine of the process.
static RUNNING: Mutex<usize> = Mutex::new(0);
/// Wakes the idle tickers when the first execution starts.
static STARTED: Condvar = Condvar::new();

/// Held while guest code may run (instantiation, `describe()`, `run()`): the tickers tick.
#[derive(Debug)]
pub(crate) struct Running(());

impl Running {
    pub(crate) fn start() -> Running {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running += 1;
        if *running == 1 {
            STARTED.notify_all();
        }
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
    }
}

/// Tick `engine`'s epoch while guest code runs, until the engine is dropped.
pub(crate) fn start(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("savepoint-epoch".into())
        .spawn(move || {
            loop {
                let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
                while *running == 0 {
                    if weak.upgrade().is_none() {
                        return;
                    }
                    running = STARTED
                        .wait_timeout(running, IDLE_CHECK)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                drop(running);
                let Some(engine) = weak.upgrade() else {
                    return;
                };
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
