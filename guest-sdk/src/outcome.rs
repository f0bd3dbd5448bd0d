//! What a node returns: an [`Outcome`] or a [`Failure`].

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// What a successful step asks the host to do.
///
/// Serialization errors are kept until the step returns, so building an
/// outcome never fails; a value that does not serialize (or an update that is
/// not a JSON object) becomes a fatal failure naming the problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub(crate) kind: Kind,
    pub(crate) goto: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Update(Json),
    Interrupt(Json),
    Sleep { duration: Duration, state: Json },
}

/// JSON text, or why a value could not become the JSON that was asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Json(pub(crate) Result<String, String>);

impl Json {
    fn object(value: impl Serialize, what: &str) -> Json {
        Json(match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(map)) => Ok(serde_json::Value::Object(map).to_string()),
            Ok(other) => Err(format!(
                "the {what} must be a JSON object, not {}",
                json_type(&other)
            )),
            Err(e) => Err(format!("cannot serialize the {what}: {e}")),
        })
    }

    fn any(value: impl Serialize, what: &str) -> Json {
        Json(serde_json::to_string(&value).map_err(|e| format!("cannot serialize the {what}: {e}")))
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Outcome {
    /// Merge `update` into the run's state and move on.
    ///
    /// `update` must serialize to a JSON object: each top-level key is merged
    /// into the state by that key's reducer; absent keys stay as they are.
    /// The next node is the node's `next` edge unless [`goto`](Self::goto)
    /// picks a route.
    pub fn update(update: impl Serialize) -> Outcome {
        Outcome {
            kind: Kind::Update(Json::object(update, "update")),
            goto: None,
        }
    }

    /// An update that changes nothing (`{}`), typically followed by
    /// [`goto`](Self::goto).
    pub fn empty() -> Outcome {
        Outcome {
            kind: Kind::Update(Json(Ok("{}".to_owned()))),
            goto: None,
        }
    }

    /// An update given as JSON text, passed to the host unchecked.
    ///
    /// An escape hatch for a node that already holds the JSON text. The host
    /// rejects text that is not a JSON object and fails the step.
    pub fn update_raw(json: impl Into<String>) -> Outcome {
        Outcome {
            kind: Kind::Update(Json(Ok(json.into()))),
            goto: None,
        }
    }

    /// Take the route `to` (a node name or `end`) after this update.
    ///
    /// The route must be one of the node's `routes` in the workflow file.
    /// Only an update has a route: on an interrupt or a sleep, `goto` makes
    /// the step fail.
    #[must_use]
    pub fn goto(mut self, to: impl Into<String>) -> Outcome {
        self.goto = Some(to.into());
        self
    }

    /// Park the run until a human or another system resumes it with input.
    ///
    /// `payload` (any JSON value) says what the run is waiting for, e.g. the
    /// question to answer. The node then runs again with
    /// [`Context::resume`](crate::Context::resume) set.
    pub fn interrupt(payload: impl Serialize) -> Outcome {
        Outcome {
            kind: Kind::Interrupt(Json::any(payload, "interrupt payload")),
            goto: None,
        }
    }

    /// Commit `update` (a JSON object, as for [`update`](Self::update)), park
    /// the run for `duration`, then run this node again.
    ///
    /// The host counts whole milliseconds.
    pub fn sleep(duration: Duration, update: impl Serialize) -> Outcome {
        Outcome {
            kind: Kind::Sleep {
                duration,
                state: Json::object(update, "sleep update"),
            },
            goto: None,
        }
    }
}

/// Why a step failed. A failure is data: the host records it and the run
/// stays inspectable and resumable.
///
/// Any [`std::error::Error`] converts into a fatal failure, so `?` works in
/// [`Node::run`](crate::Node::run). Use [`ResultExt`] to choose the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A transient problem (an outage, a rate limit): the workflow's retry
    /// policy applies.
    Retryable(String),
    /// A permanent problem: the run fails at this node.
    Fatal(String),
}

impl Failure {
    /// A transient failure: the workflow's retry policy applies.
    pub fn retryable(message: impl Into<String>) -> Failure {
        Failure::Retryable(message.into())
    }

    /// A permanent failure: the run fails at this node.
    pub fn fatal(message: impl Into<String>) -> Failure {
        Failure::Fatal(message.into())
    }

    /// The failure's message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Retryable(message) | Failure::Fatal(message) => message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Retryable(message) => write!(f, "retryable: {message}"),
            Failure::Fatal(message) => write!(f, "fatal: {message}"),
        }
    }
}

// `Failure` is deliberately not an `Error`, so this does not overlap with
// `impl From<T> for T`.
impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Fatal(error.to_string())
    }
}

/// Turn any `Result` whose error displays into a `Result<T, Failure>` of the
/// kind you choose.
///
/// ```
/// use savepoint_sdk::{Failure, ResultExt};
///
/// fn fetch() -> Result<String, std::io::Error> {
///     Err(std::io::Error::other("connection reset"))
/// }
///
/// fn step() -> Result<usize, Failure> {
///     let body = fetch().retryable()?;
///     Ok(body.len())
/// }
///
/// assert_eq!(step(), Err(Failure::retryable("connection reset")));
/// ```
pub trait ResultExt<T> {
    /// The error becomes a [`Failure::Retryable`] with the error's message.
    fn retryable(self) -> Result<T, Failure>;
    /// The error becomes a [`Failure::Fatal`] with the error's message.
    fn fatal(self) -> Result<T, Failure>;
}

impl<T, E: fmt::Display> ResultExt<T> for Result<T, E> {
    fn retryable(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Retryable(e.to_string()))
    }

    fn fatal(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Fatal(e.to_string()))
    }
}
