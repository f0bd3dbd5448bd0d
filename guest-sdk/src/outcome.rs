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
    /// The sends of an update (fan-out), in order: `(node, input)`.
    pub(crate) sends: Vec<(String, Json)>,
    /// A builder method used where it does not apply (`send` on an interrupt,
    /// `timeout` on an update): the step fails with this message.
    pub(crate) misuse: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Update(Json),
    Interrupt {
        payload: Json,
        timeout: Option<Duration>,
    },
    Sleep {
        duration: Duration,
        state: Json,
    },
    WaitSignal {
        name: String,
        timeout: Option<Duration>,
    },
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
            sends: Vec::new(),
            misuse: None,
        }
    }

    /// An update that changes nothing (`{}`), typically followed by
    /// [`goto`](Self::goto).
    pub fn empty() -> Outcome {
        Outcome {
            kind: Kind::Update(Json(Ok("{}".to_owned()))),
            goto: None,
            sends: Vec::new(),
            misuse: None,
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
            sends: Vec::new(),
            misuse: None,
        }
    }

    /// Also run `node` once in the next step, with `input` (a JSON object) as its
    /// whole state: fan-out, a map over a list known only at run time. Call it
    /// once per send; the sends run in parallel, and their updates merge into
    /// the run's state through the workflow's reducers in the order they were
    /// sent. Each sent node then follows its own edges, so a join after them
    /// runs once, when all have finished. An update with sends does not follow
    /// this node's `next` edge or [`goto`](Self::goto). The sent call sees
    /// [`Context::send_index`](crate::Context::send_index) (its place among the
    /// step's sends) and its own idempotency key.
    ///
    /// `node` must be a node of the workflow (not a join), and a step may make
    /// at most the workflow's `max_fanout` sends (1,000 unless it says):
    /// otherwise the run fails at this node. Only an update sends: on an
    /// interrupt, a sleep or a signal wait, `send` makes the step fail.
    ///
    /// ```
    /// use savepoint_sdk::Outcome;
    /// use serde_json::json;
    ///
    /// let items = [1, 2, 3];
    /// let outcome = items.iter().fold(Outcome::update(json!({ "total": 0 })), |o, item| {
    ///     o.send("double", json!({ "item": item }))
    /// });
    /// # let _ = outcome;
    /// ```
    #[must_use]
    pub fn send(mut self, node: impl Into<String>, input: impl Serialize) -> Outcome {
        let node = node.into();
        if !matches!(self.kind, Kind::Update(_)) {
            self.misuse
                .get_or_insert_with(|| format!("send({node:?}) applies only to an update"));
            return self;
        }
        self.sends.push((node, Json::object(input, "send input")));
        self
    }

    /// Park the run (status `waiting`) until a signal named `name` is in its
    /// mailbox, then run this node again, on the same state, with the signal in
    /// [`Context::signal`](crate::Context::signal). Signals are sent with
    /// `savepoint signal THREAD NAME --data JSON` or `POST
    /// /runs/{id}/signals/{name}`; one sent before the run waits is kept in the
    /// mailbox, and each is received once. Nothing is committed. Add
    /// [`timeout`](Self::timeout) to stop waiting after a while: the node then
    /// runs again with no signal and
    /// [`Context::interrupt_timed_out`](crate::Context::interrupt_timed_out) set.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use savepoint_sdk::{Context, Failure, NoConfig, Outcome};
    /// use serde_json::json;
    ///
    /// fn run(ctx: &Context<NoConfig>) -> Result<Outcome, Failure> {
    ///     match &ctx.signal {
    ///         Some(go) => Ok(Outcome::update(json!({ "go": go.data }))),
    ///         None if ctx.interrupt_timed_out => Ok(Outcome::update(json!({ "go": null }))),
    ///         None => Ok(Outcome::wait_signal("go").timeout(Duration::from_secs(3600))),
    ///     }
    /// }
    ///
    /// let first = Context::for_test(NoConfig {});
    /// assert_eq!(run(&first), Ok(Outcome::wait_signal("go").timeout(Duration::from_secs(3600))));
    /// ```
    pub fn wait_signal(name: impl Into<String>) -> Outcome {
        Outcome {
            kind: Kind::WaitSignal {
                name: name.into(),
                timeout: None,
            },
            goto: None,
            sends: Vec::new(),
            misuse: None,
        }
    }

    /// Stop waiting after `timeout`: for a [signal wait](Self::wait_signal) or an
    /// [interrupt](Self::interrupt) (the same as
    /// [`interrupt_for`](Self::interrupt_for)). The host counts whole
    /// milliseconds (rounded down); 100 years or more is no deadline. On an
    /// update or a sleep it makes the step fail.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Outcome {
        match &mut self.kind {
            Kind::Interrupt { timeout: t, .. } | Kind::WaitSignal { timeout: t, .. } => {
                *t = Some(timeout);
            }
            Kind::Update(_) | Kind::Sleep { .. } => {
                self.misuse.get_or_insert_with(|| {
                    "timeout() applies only to an interrupt or a signal wait".to_owned()
                });
            }
        }
        self
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

    /// Park the run until a human or another system resumes it with input,
    /// however long that takes.
    ///
    /// `payload` (any JSON value) says what the run is waiting for, e.g. the
    /// question to answer; `savepoint status` shows it. Nothing is committed:
    /// when someone answers with `savepoint resume ID --input JSON`, this node
    /// runs again, on the same state, with
    /// [`Context::resume`](crate::Context::resume) set to that input. Use
    /// [`interrupt_for`](Self::interrupt_for) to stop waiting after a while.
    ///
    /// ```
    /// use savepoint_sdk::{Context, Failure, NoConfig, Outcome};
    /// use serde_json::json;
    ///
    /// fn run(ctx: &Context<NoConfig>) -> Result<Outcome, Failure> {
    ///     match ctx.resume_as::<bool>()? {
    ///         None => Ok(Outcome::interrupt(json!({ "question": "Go ahead?" }))),
    ///         Some(yes) => Ok(Outcome::update(json!({ "go": yes }))),
    ///     }
    /// }
    ///
    /// let ctx = Context::for_test(NoConfig {});
    /// assert_eq!(run(&ctx), Ok(Outcome::interrupt(json!({ "question": "Go ahead?" }))));
    ///
    /// let answered = Context { resume: Some(json!(true)), ..Context::for_test(NoConfig {}) };
    /// assert_eq!(run(&answered), Ok(Outcome::update(json!({ "go": true }))));
    /// ```
    pub fn interrupt(payload: impl Serialize) -> Outcome {
        Outcome {
            kind: Kind::Interrupt {
                payload: Json::any(payload, "interrupt payload"),
                timeout: None,
            },
            goto: None,
            sends: Vec::new(),
            misuse: None,
        }
    }

    /// Like [`interrupt`](Self::interrupt), with a deadline: park the run
    /// until someone resumes it with input or `timeout` passes, whichever
    /// comes first.
    ///
    /// An answer in time runs this node again with
    /// [`Context::resume`](crate::Context::resume) set, as for `interrupt`.
    /// Past the deadline the node runs again without input and with
    /// [`Context::interrupt_timed_out`](crate::Context::interrupt_timed_out)
    /// set, so it can decide what silence means (reject, escalate, ask
    /// again). The host counts whole milliseconds (rounded down); a timeout
    /// of 100 years or more is no deadline.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use savepoint_sdk::{Context, Failure, NoConfig, Outcome};
    /// use serde_json::json;
    ///
    /// fn run(ctx: &Context<NoConfig>) -> Result<Outcome, Failure> {
    ///     if ctx.interrupt_timed_out {
    ///         return Ok(Outcome::update(json!({ "go": false })).goto("end"));
    ///     }
    ///     match ctx.resume_as::<bool>()? {
    ///         None => Ok(Outcome::interrupt_for(
    ///             json!({ "question": "Go ahead? (you have an hour)" }),
    ///             Duration::from_secs(60 * 60),
    ///         )),
    ///         Some(yes) => Ok(Outcome::update(json!({ "go": yes }))),
    ///     }
    /// }
    ///
    /// let silence = Context { interrupt_timed_out: true, ..Context::for_test(NoConfig {}) };
    /// assert_eq!(run(&silence), Ok(Outcome::update(json!({ "go": false })).goto("end")));
    /// ```
    pub fn interrupt_for(payload: impl Serialize, timeout: Duration) -> Outcome {
        Outcome {
            kind: Kind::Interrupt {
                payload: Json::any(payload, "interrupt payload"),
                timeout: Some(timeout),
            },
            goto: None,
            sends: Vec::new(),
            misuse: None,
        }
    }

    /// Commit `update` (a JSON object, as for [`update`](Self::update)), park
    /// the run for `duration`, then run this node again.
    ///
    /// Unlike an update, a sleep does not move the run on: after the wake-up
    /// the same node runs again, on the state with `update` merged in, and
    /// with [`Context::wakes`](crate::Context::wakes) one higher (0 on the
    /// first call, 1 after the first wake-up, ...). That is the polling
    /// pattern: "has the user replied yet? No: look again in an hour." Return
    /// an [`update`](Self::update) to stop polling and move on. The host
    /// counts whole milliseconds (rounded down), and sleeps at most 100 years
    /// (a longer `duration` is in effect forever).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use savepoint_sdk::{Context, Failure, NoConfig, Outcome};
    /// use serde_json::json;
    ///
    /// fn run(ctx: &Context<NoConfig>, replied: bool) -> Result<Outcome, Failure> {
    ///     if replied || ctx.wakes >= 24 {
    ///         return Ok(Outcome::update(json!({ "replied": replied })));
    ///     }
    ///     Ok(Outcome::sleep(
    ///         Duration::from_secs(60 * 60),
    ///         json!({ "polls": ctx.wakes + 1 }),
    ///     ))
    /// }
    ///
    /// let third_look = Context { wakes: 2, ..Context::for_test(NoConfig {}) };
    /// assert_eq!(
    ///     run(&third_look, false),
    ///     Ok(Outcome::sleep(Duration::from_secs(60 * 60), json!({ "polls": 3 }))),
    /// );
    /// ```
    pub fn sleep(duration: Duration, update: impl Serialize) -> Outcome {
        Outcome {
            kind: Kind::Sleep {
                duration,
                state: Json::object(update, "sleep update"),
            },
            goto: None,
            sends: Vec::new(),
            misuse: None,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn interrupt_waits_forever_and_interrupt_for_has_a_deadline() {
        let forever = Outcome::interrupt(json!({"q": 1}));
        let hour = Outcome::interrupt_for(json!({"q": 1}), Duration::from_secs(3600));
        assert_eq!(
            forever.kind,
            Kind::Interrupt {
                payload: Json(Ok(r#"{"q":1}"#.to_owned())),
                timeout: None,
            }
        );
        assert_eq!(
            hour.kind,
            Kind::Interrupt {
                payload: Json(Ok(r#"{"q":1}"#.to_owned())),
                timeout: Some(Duration::from_secs(3600)),
            }
        );
        assert_ne!(forever, hour);
        assert_eq!(hour.goto, None);
    }

    #[test]
    fn a_payload_that_does_not_serialize_is_kept_as_the_error() {
        // JSON object keys must be strings.
        let payload = BTreeMap::from([((1, 2), "x")]);
        let outcome = Outcome::interrupt_for(payload, Duration::from_secs(1));
        assert_eq!(
            outcome.kind,
            Kind::Interrupt {
                payload: Json(Err(
                    "cannot serialize the interrupt payload: key must be a string".to_owned()
                )),
                timeout: Some(Duration::from_secs(1)),
            }
        );
    }

    #[test]
    fn sends_keep_their_order_and_apply_only_to_an_update() {
        let outcome = Outcome::update(json!({}))
            .send("double", json!({"item": 1}))
            .send("double", json!({"item": 2}));
        let sent: Vec<_> = outcome
            .sends
            .iter()
            .map(|(node, input)| (node.as_str(), input.0.clone()))
            .collect();
        assert_eq!(
            sent,
            [
                ("double", Ok(r#"{"item":1}"#.to_owned())),
                ("double", Ok(r#"{"item":2}"#.to_owned()))
            ]
        );
        let misused = Outcome::wait_signal("go").send("double", json!({}));
        assert_eq!(
            misused.misuse.as_deref(),
            Some(r#"send("double") applies only to an update"#)
        );
        let not_object = Outcome::update(json!({})).send("double", 7);
        assert_eq!(
            not_object.sends[0].1,
            Json(Err(
                "the send input must be a JSON object, not a number".to_owned()
            ))
        );
    }

    #[test]
    fn a_signal_wait_has_a_timeout_only_when_given() {
        assert_eq!(
            Outcome::wait_signal("go").kind,
            Kind::WaitSignal {
                name: "go".to_owned(),
                timeout: None
            }
        );
        let hour = Outcome::wait_signal("go").timeout(Duration::from_secs(3600));
        assert_eq!(
            hour.kind,
            Kind::WaitSignal {
                name: "go".to_owned(),
                timeout: Some(Duration::from_secs(3600))
            }
        );
        assert_eq!(
            Outcome::interrupt("q").timeout(Duration::from_secs(1)),
            Outcome::interrupt_for("q", Duration::from_secs(1))
        );
        assert!(
            Outcome::empty()
                .timeout(Duration::from_secs(1))
                .misuse
                .is_some()
        );
    }

    #[test]
    fn a_sleep_update_must_be_an_object() {
        let outcome = Outcome::sleep(Duration::from_secs(1), "polls");
        assert_eq!(
            outcome.kind,
            Kind::Sleep {
                duration: Duration::from_secs(1),
                state: Json(Err(
                    "the sleep update must be a JSON object, not a string".to_owned()
                )),
            }
        );
    }
}
