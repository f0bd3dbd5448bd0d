//! `savepoint:node@0.2.0` (`wit/node.wit`): 0.1.0 with fan-out (`update.sends`,
//! `context.send-index`) and named signals (`outcome.wait-signal`,
//! `context.signal`).

use super::{CallError, CallInput, NodeState, Returned, Secrets};

wasmtime::component::bindgen!({
    world: "node",
    path: "../../wit",
    // The host functions trap once the call's lease has expired.
    imports: { "savepoint:node/host": trappable },
    exports: { default: async },
});

use savepoint::node::types as wit;

super::host_interface!();

pub fn context(input: &CallInput) -> wit::Context {
    wit::Context {
        thread: input.thread.clone(),
        node: input.node.clone(),
        step: input.step,
        attempt: input.attempt,
        config: input.config.to_string(),
        resume: input.resume.as_ref().map(|v| v.to_string()),
        interrupt_timed_out: input.interrupt_timed_out,
        wakes: input.wakes,
        idempotency_key: input.idempotency_key.clone(),
        signal: input.signal.as_ref().map(|signal| wit::Signal {
            name: signal.name.clone(),
            data: signal.data.to_string(),
        }),
        send_index: input.send_index,
    }
}

pub fn outcome(
    result: Result<wit::Outcome, wit::Failure>,
    max_state: usize,
    secrets: &Secrets,
) -> Result<super::Outcome, CallError> {
    let returned = Returned { max_state, secrets };
    match result {
        Err(wit::Failure::Retryable(message)) => Err(returned.failure(true, message)),
        Err(wit::Failure::Fatal(message)) => Err(returned.failure(false, message)),
        Ok(wit::Outcome::Update(update)) => {
            let sends = update.sends.into_iter().map(|s| (s.node, s.input));
            returned.update(&update.state, update.goto, sends.collect())
        }
        Ok(wit::Outcome::Interrupt(interrupt)) => {
            returned.interrupt(&interrupt.payload, interrupt.timeout_ms)
        }
        Ok(wit::Outcome::Sleep(sleep)) => returned.sleep(sleep.duration_ms, &sleep.state),
        Ok(wit::Outcome::WaitSignal(wait)) => returned.wait_signal(wait.name, wait.timeout_ms),
    }
}
