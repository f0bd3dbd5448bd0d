//! Node-call slots (`serve --workers N`) shared fairly among workflows.
//!
//! A call takes a slot for as long as it runs. While a slot is free a call takes it at
//! once; when calls wait, a slot that frees goes to the waiting call whose workflow has
//! the fewest calls in flight (the one that came first among those), not simply to the
//! call that waited longest. So a backlog of one workflow's calls (nodes that sleep or
//! loop inside the guest until their timeout) never keeps another workflow's call
//! waiting behind all of it: it gets the next slot that frees.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The slots; cheap to share.
#[derive(Debug)]
pub struct Slots {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Calls in flight per workflow (absent: none).
    busy: HashMap<Arc<str>, usize>,
    /// Calls waiting for a slot, in arrival order.
    waiting: VecDeque<(Arc<str>, oneshot::Sender<()>)>,
}

/// A slot held by a call of `workflow`; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    workflow: Arc<str>,
}

impl Slots {
    pub fn new(slots: usize) -> Arc<Slots> {
        Arc::new(Slots {
            state: Mutex::new(State {
                free: slots,
                busy: HashMap::new(),
                waiting: VecDeque::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step; a panic elsewhere
        // cannot leave it half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a call of `workflow`, at once if one is free and nobody waits, else
    /// when the fair share says it is this call's turn. Cancel-safe: a call dropped while
    /// it waits takes nothing (a slot handed to it just then is passed on).
    pub async fn acquire(self: &Arc<Self>, workflow: &Arc<str>) -> Slot {
        let receiver = {
            let mut state = self.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                *state.busy.entry(workflow.clone()).or_default() += 1;
                return self.slot(workflow);
            }
            let (sender, receiver) = oneshot::channel();
            state.waiting.push_back((workflow.clone(), sender));
            receiver
        };
        let mut waiting = Waiting {
            slots: self.clone(),
            workflow: workflow.clone(),
            receiver,
            done: false,
        };
        // The sender lives in the queue until a slot is handed over: it is never
        // dropped unsent while this future waits.
        let _ = (&mut waiting.receiver).await;
        waiting.done = true;
        self.slot(workflow)
    }

    fn slot(self: &Arc<Self>, workflow: &Arc<str>) -> Slot {
        Slot {
            slots: self.clone(),
            workflow: workflow.clone(),
        }
    }

    /// `workflow`'s call gave its slot back: hand it to the fairest waiting call, or
    /// keep it free.
    fn release(&self, workflow: &Arc<str>) {
        let mut state = self.lock();
        if let Some(count) = state.busy.get_mut(workflow) {
            *count -= 1;
            if *count == 0 {
                state.busy.remove(workflow);
            }
        }
        loop {
            state.waiting.retain(|(_, sender)| !sender.is_closed());
            let busy = |w: &Arc<str>| state.busy.get(w).copied().unwrap_or(0);
            let Some(turn) = (0..state.waiting.len()).min_by_key(|&i| busy(&state.waiting[i].0))
            else {
                state.free += 1;
                return;
            };
            let (next, sender) = state.waiting.remove(turn).expect("index from the queue");
            *state.busy.entry(next.clone()).or_default() += 1;
            if sender.send(()).is_ok() {
                return;
            }
            // Cancelled between the check and the send: undo, try the next one.
            if let Some(count) = state.busy.get_mut(&next) {
                *count -= 1;
                if *count == 0 {
                    state.busy.remove(&next);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(&self.workflow);
    }
}

/// A call waiting for a slot; if it is dropped after a slot was handed to it, the slot
/// goes back.
struct Waiting {
    slots: Arc<Slots>,
    workflow: Arc<str>,
    receiver: oneshot::Receiver<()>,
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.receiver.close();
        if self.receiver.try_recv().is_ok() {
            self.slots.release(&self.workflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn name(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    /// Polls `future` once: `Some` if it finished.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(value) => Some(value),
            Poll::Pending => None,
        }
    }

    #[test]
    fn a_freed_slot_goes_to_the_workflow_with_the_fewest_calls_in_flight() {
        let slots = Slots::new(2);
        let (slow, fast) = (name("slow"), name("fast"));
        let first = poll_once(pin!(slots.acquire(&slow))).unwrap();
        let _second = poll_once(pin!(slots.acquire(&slow))).unwrap();
        // Three more slow calls queue, then one fast call behind them.
        let mut slow_3 = pin!(slots.acquire(&slow));
        let mut slow_4 = pin!(slots.acquire(&slow));
        let mut fast_1 = pin!(slots.acquire(&fast));
        assert!(poll_once(slow_3.as_mut()).is_none());
        assert!(poll_once(slow_4.as_mut()).is_none());
        assert!(poll_once(fast_1.as_mut()).is_none());

        // The first slot that frees goes to the fast call, ahead of the older slow ones.
        drop(first);
        assert!(poll_once(slow_3.as_mut()).is_none());
        let fast_slot = poll_once(fast_1.as_mut()).expect("fast gets the freed slot");
        // Then the slow calls, in arrival order.
        drop(fast_slot);
        assert!(poll_once(slow_4.as_mut()).is_none());
        assert!(poll_once(slow_3.as_mut()).is_some());
    }

    #[test]
    fn a_call_cancelled_while_it_waits_takes_no_slot() {
        let slots = Slots::new(1);
        let a = name("a");
        let held = poll_once(pin!(slots.acquire(&a))).unwrap();
        {
            let mut cancelled = pin!(slots.acquire(&a));
            assert!(poll_once(cancelled.as_mut()).is_none());
        }
        let mut next = pin!(slots.acquire(&a));
        assert!(poll_once(next.as_mut()).is_none());
        drop(held);
        let slot = poll_once(next.as_mut()).expect("the slot skips the cancelled call");
        drop(slot);
        // Everything is free again.
        assert!(poll_once(pin!(slots.acquire(&a))).is_some());
        assert_eq!(slots.lock().free, 1);
        assert!(slots.lock().busy.is_empty());
    }

    #[test]
    fn a_slot_handed_to_a_call_that_is_then_dropped_goes_back() {
        let slots = Slots::new(1);
        let a = name("a");
        let held = poll_once(pin!(slots.acquire(&a))).unwrap();
        {
            let mut waiter = pin!(slots.acquire(&a));
            assert!(poll_once(waiter.as_mut()).is_none());
            // The slot is handed over, but the waiter is dropped before it looks.
            drop(held);
        }
        assert_eq!(slots.lock().free, 1);
        assert!(slots.lock().busy.is_empty());
    }
}
