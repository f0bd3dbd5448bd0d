//! The `bindgen!` of each version of the WIT contract the host runs (`v0_1.rs`:
//! `wit/0.1.0/node.wit`; `v0_2.rs`: `wit/node.wit`), and the conversions between
//! their generated types and ours. Nothing outside this folder names a generated
//! type: a component is linked as the newest version whose world it implements
//! ([`NodePre::new`]), and a call gives and takes our types ([`Node::run`]).

use std::time::Duration;

use serde_json::Value;
use wasmtime::component::{InstancePre, Linker};
use wasmtime::{AsContextMut, Store};

use super::output::{self, Secrets};
use super::sandbox::NodeState;
use super::{CallError, CallInput, LogLevel, NodeInfo, Outcome, Send};

mod v0_1;
mod v0_2;

/// A version of the `savepoint:node` world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WitVersion {
    /// The first contract: update, interrupt, sleep.
    V0_1,
    /// Adds fan-out (`update.sends`, `context.send-index`) and named signals
    /// (`outcome.wait-signal`, `context.signal`).
    V0_2,
}

impl WitVersion {
    /// Every version the host runs, newest first.
    pub const ALL: [WitVersion; 2] = [WitVersion::V0_2, WitVersion::V0_1];

    /// `0.2.0`, as the package is versioned.
    pub fn as_str(self) -> &'static str {
        match self {
            WitVersion::V0_1 => "0.1.0",
            WitVersion::V0_2 => "0.2.0",
        }
    }
}

impl std::fmt::Display for WitVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Link the host's functions of every world version (each version's `host`
/// interface is its own instance name, so they sit side by side).
pub fn add_to_linker(linker: &mut Linker<NodeState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    v0_1::Node::add_to_linker::<_, HasSelf<NodeState>>(linker, |s| s)?;
    v0_2::Node::add_to_linker::<_, HasSelf<NodeState>>(linker, |s| s)?;
    Ok(())
}

/// A linked component of one of the world's versions, ready to instantiate.
pub enum NodePre {
    V0_1(v0_1::NodePre<NodeState>),
    V0_2(v0_2::NodePre<NodeState>),
}

impl Clone for NodePre {
    fn clone(&self) -> NodePre {
        match self {
            NodePre::V0_1(pre) => NodePre::V0_1(pre.clone()),
            NodePre::V0_2(pre) => NodePre::V0_2(pre.clone()),
        }
    }
}

/// An instance of a node, of its world's version.
pub enum Node {
    V0_1(v0_1::Node),
    V0_2(v0_2::Node),
}

impl NodePre {
    /// The component's exports as the newest version whose world they match:
    /// 0.2.0, else 0.1.0. `Err` (of the newest version) when neither matches.
    pub fn new(pre: InstancePre<NodeState>) -> wasmtime::Result<NodePre> {
        match v0_2::NodePre::new(pre.clone()) {
            Ok(node) => Ok(NodePre::V0_2(node)),
            Err(newest) => match v0_1::NodePre::new(pre) {
                Ok(node) => Ok(NodePre::V0_1(node)),
                Err(_) => Err(newest),
            },
        }
    }

    pub fn version(&self) -> WitVersion {
        match self {
            NodePre::V0_1(_) => WitVersion::V0_1,
            NodePre::V0_2(_) => WitVersion::V0_2,
        }
    }

    pub async fn instantiate_async(&self, store: &mut Store<NodeState>) -> wasmtime::Result<Node> {
        // (Boxed: the generated futures are deep, and a step's calls are many.)
        Ok(match self {
            NodePre::V0_1(pre) => Node::V0_1(Box::pin(pre.instantiate_async(store)).await?),
            NodePre::V0_2(pre) => Node::V0_2(Box::pin(pre.instantiate_async(store)).await?),
        })
    }
}

impl Node {
    /// Call `run` with `input` and `state`: the trap, or what it returned as our
    /// types (see [`Returned`]).
    #[allow(clippy::ptr_arg)] // The generated `call_run` takes `&String`.
    pub async fn run(
        &self,
        store: impl AsContextMut<Data = NodeState> + std::marker::Send,
        input: &CallInput,
        state: &String,
    ) -> wasmtime::Result<Result<Outcome, CallError>> {
        let (max_state, secrets) = (input.limits.max_state, &input.secrets);
        Ok(match self {
            Node::V0_1(node) => {
                let ctx = v0_1::context(input);
                let returned = Box::pin(node.call_run(store, &ctx, state)).await?;
                v0_1::outcome(returned, max_state, secrets)
            }
            Node::V0_2(node) => {
                let ctx = v0_2::context(input);
                let returned = Box::pin(node.call_run(store, &ctx, state)).await?;
                v0_2::outcome(returned, max_state, secrets)
            }
        })
    }

    /// Call `describe`: the trap, or its answer as our type (see [`node_info`]).
    pub async fn describe(
        &self,
        store: impl AsContextMut<Data = NodeState> + std::marker::Send,
    ) -> wasmtime::Result<Result<NodeInfo, String>> {
        Ok(match self {
            Node::V0_1(node) => {
                let info = Box::pin(node.call_describe(store)).await?;
                node_info(
                    info.name,
                    info.version,
                    info.description,
                    info.config_schema,
                )
            }
            Node::V0_2(node) => {
                let info = Box::pin(node.call_describe(store)).await?;
                node_info(
                    info.name,
                    info.version,
                    info.description,
                    info.config_schema,
                )
            }
        })
    }
}

/// What `describe()` returned, as our type: at most
/// [`super::NodeInfo::LIMIT`] bytes, and a config schema that is JSON.
fn node_info(
    name: String,
    version: String,
    description: String,
    config_schema: Option<String>,
) -> Result<NodeInfo, String> {
    let size = name.len()
        + version.len()
        + description.len()
        + config_schema.as_ref().map_or(0, String::len);
    if size > super::NodeInfo::LIMIT {
        return Err(format!(
            "returned {size} bytes (name, version, description and config-schema together), \
             over the limit of {}",
            savepoint_base::units::format_size(super::NodeInfo::LIMIT as u64)
        ));
    }
    let config_schema = match config_schema {
        None => None,
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| format!("config-schema is not valid JSON: {e}"))?,
        ),
    };
    Ok(NodeInfo {
        name,
        version,
        description,
        config_schema,
    })
}

/// What a call returned, in the terms both versions share: the conversions of
/// `v0_1.rs` and `v0_2.rs` end here. Every byte the guest returned counts
/// against a limit (an update with its sends' inputs, a sleep update, an
/// interrupt payload against `max_state`; messages, goto targets, node and
/// signal names are cut to [`output::MESSAGE_LIMIT`]), the JSON it carries is
/// checked, and the node's secrets are redacted from everything but the state
/// and the sends' inputs (a send's input is a state).
struct Returned<'a> {
    max_state: usize,
    secrets: &'a Secrets,
}

impl Returned<'_> {
    fn failure(&self, retryable: bool, message: String) -> CallError {
        let message = output::message(message, self.secrets);
        match retryable {
            true => CallError::Retryable(message),
            false => CallError::Fatal(message),
        }
    }

    /// An update and its sends (`(node, input)`; none for 0.1.0).
    fn update(
        &self,
        state: &str,
        goto: Option<String>,
        sends: Vec<(String, String)>,
    ) -> Result<Outcome, CallError> {
        let size = state.len() + sends.iter().map(|(_, input)| input.len()).sum::<usize>();
        if !sends.is_empty() && size > self.max_state {
            return Err(CallError::StateTooLarge {
                what: "an update with its sends' inputs",
                size,
                limit: self.max_state,
            });
        }
        let state = json_object(state, Text::Update, self.max_state, self.secrets)?;
        let mut out = Vec::with_capacity(sends.len());
        for (index, (node, input)) in sends.into_iter().enumerate() {
            let node = output::message(node, self.secrets);
            let input = json_object(&input, Text::SendInput(index), self.max_state, self.secrets)?;
            out.push(Send { node, input });
        }
        Ok(Outcome::Update {
            state,
            goto: goto.map(|to| output::message(to, self.secrets)),
            sends: out,
        })
    }

    fn interrupt(&self, payload: &str, timeout_ms: Option<u64>) -> Result<Outcome, CallError> {
        let payload = json(
            payload,
            Text::InterruptPayload,
            self.max_state,
            self.secrets,
        )?;
        Ok(Outcome::Interrupt {
            payload: self.secrets.redact_json(payload),
            timeout: timeout_ms.map(Duration::from_millis),
        })
    }

    fn sleep(&self, duration_ms: u64, state: &str) -> Result<Outcome, CallError> {
        Ok(Outcome::Sleep {
            duration: Duration::from_millis(duration_ms),
            state: json_object(state, Text::SleepUpdate, self.max_state, self.secrets)?,
        })
    }

    fn wait_signal(&self, name: String, timeout_ms: Option<u64>) -> Result<Outcome, CallError> {
        if name.is_empty() {
            return Err(CallError::InvalidOutput(
                "returned wait-signal with an empty signal name".into(),
            ));
        }
        Ok(Outcome::WaitSignal {
            name: output::message(name, self.secrets),
            timeout: timeout_ms.map(Duration::from_millis),
        })
    }
}

/// The `host` interface of one world version, in the module of its `bindgen!`: every
/// version's `log` and `lease-epoch` are the same functions of [`NodeState`], and its
/// `types` interface has none.
macro_rules! host_interface {
    () => {
        impl savepoint::node::types::Host for NodeState {}

        impl savepoint::node::host::Host for NodeState {
            fn log(
                &mut self,
                level: savepoint::node::host::Level,
                message: String,
            ) -> wasmtime::Result<()> {
                use savepoint::node::host::Level;
                let level = match level {
                    Level::Trace => super::LogLevel::Trace,
                    Level::Debug => super::LogLevel::Debug,
                    Level::Info => super::LogLevel::Info,
                    Level::Warn => super::LogLevel::Warn,
                    Level::Error => super::LogLevel::Error,
                };
                self.log_line(level, message)
            }

            fn lease_epoch(&mut self) -> wasmtime::Result<u64> {
                self.epoch()
            }
        }
    };
}
use host_interface;

/// Which JSON text of an outcome, for messages.
#[derive(Clone, Copy)]
enum Text {
    Update,
    SleepUpdate,
    InterruptPayload,
    /// The input of the send at this index of the update's list.
    SendInput(usize),
}

impl Text {
    fn name(self) -> String {
        match self {
            Text::Update => "an update".into(),
            Text::SleepUpdate => "a sleep update".into(),
            Text::InterruptPayload => "an interrupt payload".into(),
            Text::SendInput(index) => format!("a send input (sends[{index}])"),
        }
    }
}

/// The JSON value of a guest's `text`, no longer than `max_state`.
fn json(text: &str, what: Text, max_state: usize, secrets: &Secrets) -> Result<Value, CallError> {
    if text.len() > max_state {
        return Err(CallError::StateTooLarge {
            what: match what {
                Text::Update => "a state",
                Text::SleepUpdate => "a sleep update",
                Text::InterruptPayload => "an interrupt payload",
                Text::SendInput(_) => "a send input",
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
    what: Text,
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
