//! The one `bindgen!` of the WIT contract, and the conversions between its
//! generated types and ours. Nothing outside this file names a generated type.

use std::time::Duration;

use serde_json::Value;

use super::output::{self, Secrets};
use super::{CallError, CallInput, LogLevel};

wasmtime::component::bindgen!({
    world: "node",
    path: "../../wit",
    // The host functions trap once the call's lease has expired.
    imports: { "savepoint:node/host": trappable },
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

/// What `describe()` returned, as our type: at most
/// [`super::NodeInfo::LIMIT`] bytes, and a config schema that is JSON.
pub fn node_info(info: wit::NodeInfo) -> Result<super::NodeInfo, String> {
    let size = info.name.len()
        + info.version.len()
        + info.description.len()
        + info.config_schema.as_ref().map_or(0, String::len);
    if size > super::NodeInfo::LIMIT {
        return Err(format!(
            "returned {size} bytes (name, version, description and config-schema together), \
             over the limit of {}",
            savepoint_base::units::format_size(super::NodeInfo::LIMIT as u64)
        ));
    }
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

/// Turn what `run` returned into our types, at the boundary: every byte the
/// guest returned counts against a limit (updates and interrupt payloads
/// against `max_state`, messages and goto targets are cut to
/// [`output::MESSAGE_LIMIT`]), the JSON it carries is checked, and the
/// node's secrets are redacted from everything but the state.
pub fn outcome(
    result: Result<wit::Outcome, wit::Failure>,
    max_state: usize,
    secrets: &Secrets,
) -> Result<super::Outcome, CallError> {
    match result {
        Err(wit::Failure::Retryable(message)) => {
            Err(CallError::Retryable(output::message(message, secrets)))
        }
        Err(wit::Failure::Fatal(message)) => {
            Err(CallError::Fatal(output::message(message, secrets)))
        }
        Ok(wit::Outcome::Update(update)) => Ok(super::Outcome::Update {
            state: json_object(&update.state, Returned::Update, max_state, secrets)?,
            goto: update.goto.map(|to| output::message(to, secrets)),
        }),
        Ok(wit::Outcome::Interrupt(interrupt)) => Ok(super::Outcome::Interrupt {
            payload: secrets.redact_json(json(
                &interrupt.payload,
                Returned::InterruptPayload,
                max_state,
                secrets,
            )?),
            timeout: interrupt.timeout_ms.map(Duration::from_millis),
        }),
        Ok(wit::Outcome::Sleep(sleep)) => Ok(super::Outcome::Sleep {
            duration: Duration::from_millis(sleep.duration_ms),
            state: json_object(&sleep.state, Returned::SleepUpdate, max_state, secrets)?,
        }),
    }
}

/// Which JSON text of an outcome, for messages.
#[derive(Clone, Copy)]
enum Returned {
    Update,
    SleepUpdate,
    InterruptPayload,
}

impl Returned {
    fn name(self) -> &'static str {
        match self {
            Returned::Update => "an update",
            Returned::SleepUpdate => "a sleep update",
            Returned::InterruptPayload => "an interrupt payload",
        }
    }
}

/// The JSON value of a guest's `text`, no longer than `max_state`.
fn json(
    text: &str,
    what: Returned,
    max_state: usize,
    secrets: &Secrets,
) -> Result<Value, CallError> {
    if text.len() > max_state {
        return Err(CallError::StateTooLarge {
            what: match what {
                Returned::Update => "a state",
                other => other.name(),
            },
            size: text.len(),
            limit: max_state,
        });
    }
    serde_json::from_str(text).map_err(|e| {
        CallError::InvalidOutput(format!(
            "returned {} that is not JSON ({e}): {}",
            what.name(),
            excerpt(text, secrets)
        ))
    })
}

fn json_object(
    text: &str,
    what: Returned,
    max_state: usize,
    secrets: &Secrets,
) -> Result<serde_json::Map<String, Value>, CallError> {
    match json(text, what, max_state, secrets)? {
        Value::Object(map) => Ok(map),
        other => Err(CallError::InvalidOutput(format!(
            "returned {} that is a JSON {}, not an object: {}",
            what.name(),
            json_type(&other),
            excerpt(text, secrets)
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

/// At most 80 characters of a guest's text, redacted, for error messages.
fn excerpt(text: &str, secrets: &Secrets) -> String {
    output::excerpt(text, 80, secrets)
}
