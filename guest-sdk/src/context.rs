//! What the host tells a node about the call it is making.

use serde::de::DeserializeOwned;

use crate::Failure;

/// The call a node's [`run`](crate::Node::run) answers.
///
/// Most calls are first calls: `resume` is `None`, `interrupt_timed_out` is
/// false and `wakes` is 0. The other fields say why the node runs again:
///
/// | the node returned | it runs again when | with |
/// |---|---|---|
/// | [`Outcome::sleep`](crate::Outcome::sleep) | the sleep is over | `wakes` one higher |
/// | [`Outcome::interrupt`](crate::Outcome::interrupt) | someone answers (`savepoint resume ID --input JSON`) | `resume` set to the answer |
/// | [`Outcome::interrupt_for`](crate::Outcome::interrupt_for) | someone answers, or the deadline passes | `resume`, or `interrupt_timed_out` |
/// | a [`Failure::Retryable`](crate::Failure::Retryable) | the retry policy tries again | `attempt` one higher |
/// | [`Outcome::wait_signal`](crate::Outcome::wait_signal) | the signal comes, or the deadline passes | `signal`, or `interrupt_timed_out` |
///
/// A call made for a [send](crate::Outcome::send) has `send_index` set, and the
/// send's input as its state.
#[derive(Debug, Clone)]
pub struct Context<C> {
    /// The run (thread) id: the save slot this call belongs to.
    pub thread: String,
    /// The name of this node in the workflow file (`[nodes.<name>]`).
    pub node: String,
    /// The step this call will commit, counted from 1. A replayed step keeps
    /// its number.
    pub step: u64,
    /// Which attempt at this step this is, counted from 1. It grows when the
    /// step is retried after a failure, replayed by `savepoint resume`, or
    /// called again after its process crashed or lost the run during the
    /// call (a call that may have started counts).
    pub attempt: u32,
    /// The node's `config` from the workflow file.
    pub config: C,
    /// The value the run was resumed with (`savepoint resume ID --input
    /// JSON`) when this call answers an [interrupt](crate::Outcome::interrupt);
    /// `None` otherwise. [`resume_as`](Self::resume_as) reads it as a type.
    pub resume: Option<serde_json::Value>,
    /// True when this call follows an
    /// [interrupt with a deadline](crate::Outcome::interrupt_for) that
    /// passed before anyone answered; [`resume`](Self::resume) is then
    /// `None`. The node decides what silence means: take a default, escalate,
    /// or interrupt again.
    pub interrupt_timed_out: bool,
    /// How many times in a row this node has put the run to
    /// [sleep](crate::Outcome::sleep) and been woken again: 0 on a first
    /// call, 1 after the first wake-up, 2 after the second, and so on. A
    /// poller uses it to count its looks and to give up after a while.
    pub wakes: u32,
    /// `<thread>/<step>/<node>`: the same for every attempt at this step and
    /// different for every other step. Pass it to outside systems so that a
    /// side effect repeated by a retry or a crash happens only once.
    pub idempotency_key: String,
    /// The run's lease epoch, a fencing token: it grows every time the run
    /// passes to another process (a takeover after a crash or a stall), and
    /// is the same for every call made under one lease. Send it with writes
    /// to outside systems and have them refuse a write whose epoch is lower
    /// than one they have seen: then a call of a process that stalled past
    /// its lease (the host stops such a call at its next host call, but a
    /// request already sent can arrive late) cannot overwrite what its
    /// successor wrote. 0 outside a run.
    pub lease_epoch: u64,
    /// The signal this call receives, when the node
    /// [waited for one](crate::Outcome::wait_signal) and it came: the oldest of
    /// that name in the run's mailbox. It counts as received once this call
    /// returns an outcome (a failure leaves it for the retry). `None` otherwise,
    /// and when the wait's deadline passed first
    /// ([`interrupt_timed_out`](Self::interrupt_timed_out) is then true).
    pub signal: Option<Signal>,
    /// For a call made for a [send](crate::Outcome::send): its place among the
    /// sends of the step before (the sending nodes' lists one after the other),
    /// counted from 0. `None` for an ordinary call.
    pub send_index: Option<u32>,
}

/// A named message delivered to a run (`savepoint signal THREAD NAME --data
/// JSON`).
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// The name it was sent under, e.g. `go`.
    pub name: String,
    /// What it carries (`null` when sent without data).
    pub data: serde_json::Value,
}

impl Signal {
    /// The data as a `T`; a value that does not deserialize is a fatal failure.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        T::deserialize(&self.data).map_err(|e| {
            Failure::fatal(format!(
                "cannot read the data of signal {:?}: {e}",
                self.name
            ))
        })
    }
}

impl<C> Context<C> {
    /// A first call with `config`, for a node's native unit tests: thread
    /// `test`, node `test`, step 1, attempt 1, no resume value, no timed-out
    /// interrupt, no wakes, lease epoch 1, no signal, not a send. Change the
    /// fields a test needs
    /// with struct update syntax:
    ///
    /// ```
    /// use savepoint_sdk::{Context, NoConfig};
    ///
    /// let ctx = Context { wakes: 2, ..Context::for_test(NoConfig {}) };
    /// assert_eq!((ctx.step, ctx.attempt, ctx.wakes), (1, 1, 2));
    /// assert_eq!(ctx.idempotency_key, "test/1/test");
    /// ```
    pub fn for_test(config: C) -> Context<C> {
        Context {
            thread: "test".to_owned(),
            node: "test".to_owned(),
            step: 1,
            attempt: 1,
            config,
            resume: None,
            interrupt_timed_out: false,
            wakes: 0,
            idempotency_key: "test/1/test".to_owned(),
            lease_epoch: 1,
            signal: None,
            send_index: None,
        }
    }

    /// The resume value as a `T`, or `None` when the call does not answer an
    /// interrupt. A value that does not deserialize is a fatal failure; a
    /// node that would rather ask again deserializes
    /// [`resume`](Self::resume) itself and interrupts with the error.
    pub fn resume_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Failure> {
        self.resume
            .as_ref()
            .map(|value| {
                T::deserialize(value)
                    .map_err(|e| Failure::fatal(format!("cannot read the resume value: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn for_test_is_a_first_call() {
        let ctx = Context::for_test(7);
        assert_eq!((ctx.thread.as_str(), ctx.node.as_str()), ("test", "test"));
        assert_eq!((ctx.step, ctx.attempt, ctx.config), (1, 1, 7));
        assert_eq!(ctx.resume, None);
        assert!(!ctx.interrupt_timed_out);
        assert_eq!(ctx.wakes, 0);
        assert_eq!(ctx.idempotency_key, "test/1/test");
        assert_eq!(ctx.lease_epoch, 1);
        assert_eq!((ctx.signal, ctx.send_index), (None, None));
    }

    #[test]
    fn signal_data_as_reads_or_fails() {
        let signal = Signal {
            name: "go".to_owned(),
            data: json!({"by": 2}),
        };
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Go {
            by: i64,
        }
        assert_eq!(signal.data_as::<Go>(), Ok(Go { by: 2 }));
        let failure = signal.data_as::<String>().unwrap_err();
        assert!(
            failure
                .message()
                .starts_with("cannot read the data of signal \"go\": invalid type"),
            "{failure}"
        );
    }

    #[test]
    fn resume_as_reads_or_fails() {
        let ctx = Context::for_test(());
        assert_eq!(ctx.resume_as::<bool>(), Ok(None));

        let ctx = Context {
            resume: Some(json!(true)),
            ..Context::for_test(())
        };
        assert_eq!(ctx.resume_as::<bool>(), Ok(Some(true)));
        let failure = ctx.resume_as::<String>().unwrap_err();
        assert!(
            failure
                .message()
                .starts_with("cannot read the resume value: invalid type: boolean `true`"),
            "{failure}"
        );
    }
}
