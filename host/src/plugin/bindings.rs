//! The one `bindgen!` of the WIT contract, and the conversions between its
//! generated types and ours. Nothing outside this file names a generated type.

use std::time::Duration;

use serde_json::Value;

use super::{CallError, CallInput, LogLevel};

wasmtime::component::bindgen!({
    world: "node",
    path: "../wit",
    exports: { default: async },
});

pub use savepoint::node::host::{Host, Level};
use savepoint::node::types as wit;

/// The `types` interface has no functions: nothing to implement.
impl wit::Host for super::sandbox::NodeState {}

pub fn context(input: &CallInput) -> wit::Context {
    wit::Context {
        thread: input.thread.clone(),
        node: input.node.clone(),
        step: input.step,
        attempt: input.attempt,
        config: input.config.to_string(),
        resume: input.resume.as_ref().map(Value::to_string),
        interrupt_timed_out: input.interrupt_timed_out,
        wakes: input.wakes,
        idempotency_key: input.idempotency_key.clone(),
    }
}

pub fn node_info(info: wit::NodeInfo) -> Result<super::NodeInfo, String> {
    let config_schema = match info.config_schema {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| format!("config-schema is not valid JSON: {e}"))?,
        ),
    };
    Ok(super::NodeInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        config_schema,
    })
}

pub fn level(level: Level) -> LogLevel {
    match level {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    }
}

/// Turn what `run` returned into our types, checking the JSON it carries.
pub fn outcome(
    result: Result<wit::Outcome, wit::Failure>,
    max_state: usize,
) -> Result<super::Outcome, CallError> {
    match result {
        Err(wit::Failure::Retryable(message)) => Err(CallError::Retryable(message)),
        Err(wit::Failure::Fatal(message)) => Err(CallError::Fatal(message)),
        Ok(wit::Outcome::Update(update)) => Ok(super::Outcome::Update {
            state: json_object(&update.state, "update", max_state)?,
            goto: update.goto,
        }),
        Ok(wit::Outcome::Interrupt(interrupt)) => Ok(super::Outcome::Interrupt {
            payload: serde_json::from_str(&interrupt.payload).map_err(|e| {
                CallError::InvalidOutput(format!(
                    "returned an interrupt payload that is not JSON ({e}): {}",
                    excerpt(&interrupt.payload)
                ))
            })?,
            timeout: interrupt.timeout_ms.map(Duration::from_millis),
        }),
        Ok(wit::Outcome::Sleep(sleep)) => Ok(super::Outcome::Sleep {
            duration: Duration::from_millis(sleep.duration_ms),
            state: json_object(&sleep.state, "sleep update", max_state)?,
        }),
    }
}

fn json_object(
    text: &str,
    what: &str,
    max_state: usize,
) -> Result<serde_json::Map<String, Value>, CallError> {
    if text.len() > max_state {
        return Err(CallError::StateTooLarge {
            size: text.len(),
            limit: max_state,
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        CallError::InvalidOutput(format!(
            "returned an {what} that is not JSON ({e}): {}",
            excerpt(text)
        ))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(CallError::InvalidOutput(format!(
            "returned an {what} that is a JSON {}, not an object: {}",
            json_type(&other),
            excerpt(text)
        ))),
    }
}

/// The JSON type name of a value, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// At most 80 characters of a text, for error messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &text[..cut], text.len()),
    }
}
