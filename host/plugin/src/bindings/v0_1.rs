//! `savepoint:node@0.1.0` (`wit/0.1.0/node.wit`): the first contract, run
//! unchanged. Its calls never see a signal or a send index, and it returns no
//! sends and no signal wait.

use super::{CallError, CallInput, NodeState, Returned, Secrets};

wasmtime::component::bindgen!({
    world: "node",
    path: "../../wit/0.1.0",
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
        Ok(wit::Outcome::Update(update)) => returned.update(&update.state, update.goto, Vec::new()),
        Ok(wit::Outcome::Interrupt(interrupt)) => {
            returned.interrupt(&interrupt.payload, interrupt.timeout_ms)
        }
        Ok(wit::Outcome::Sleep(sleep)) => returned.sleep(sleep.duration_ms, &sleep.state),
    }
}
