//! The glue that [`export_node!`](crate::export_node) expands to: converts
//! between the generated WIT types and the typed API of this crate.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::__bindings::savepoint::node::types as wit;
use crate::outcome::{Json, Kind};
use crate::{Context, Failure, Node, Outcome};

/// `describe` of the `node` world for `N`.
pub fn describe<N: Node>() -> wit::NodeInfo {
    wit::NodeInfo {
        name: N::NAME.to_owned(),
        version: N::VERSION.to_owned(),
        description: N::DESCRIPTION.to_owned(),
        config_schema: N::config_schema().map(|schema| schema.to_string()),
    }
}

/// `run` of the `node` world for `N`.
pub fn run<N: Node>(ctx: wit::Context, state: wit::Json) -> Result<wit::Outcome, wit::Failure> {
    call::<N>(ctx, &state)
        .and_then(outcome)
        .map_err(|failure| match failure {
            Failure::Retryable(message) => wit::Failure::Retryable(message),
            Failure::Fatal(message) => wit::Failure::Fatal(message),
        })
}

fn call<N: Node>(ctx: wit::Context, state: &str) -> Result<Outcome, Failure> {
    // The config holds the node's resolved secrets: the message gives the
    // parser's error and its position, never the config's text.
    let config: N::Config =
        parse(&ctx.config).map_err(|e| Failure::fatal(format!("cannot read the config: {e}")))?;
    let resume = match ctx.resume {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            Failure::fatal(format!(
                "the resume value is not JSON ({e}): {}",
                excerpt(&text)
            ))
        })?),
    };
    let signal = match ctx.signal {
        None => None,
        Some(signal) => Some(crate::Signal {
            data: serde_json::from_str(&signal.data).map_err(|e| {
                Failure::fatal(format!(
                    "the data of signal {:?} is not JSON ({e}): {}",
                    signal.name,
                    excerpt(&signal.data)
                ))
            })?,
            name: signal.name,
        }),
    };
    let state: N::State = parse(state).map_err(|e| {
        Failure::fatal(format!(
            "cannot read the state as {}: {e}",
            std::any::type_name::<N::State>()
        ))
    })?;
    let ctx = Context {
        thread: ctx.thread,
        node: ctx.node,
        step: ctx.step,
        attempt: ctx.attempt,
        config,
        resume,
        interrupt_timed_out: ctx.interrupt_timed_out,
        wakes: ctx.wakes,
        idempotency_key: ctx.idempotency_key,
        lease_epoch: lease_epoch(),
        signal,
        send_index: ctx.send_index,
    };
    N::run(&ctx, state)
}

/// The lease epoch of the call, from the host (0 outside WebAssembly, in a
/// node's native unit tests).
fn lease_epoch() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return crate::__bindings::savepoint::node::host::lease_epoch();
    #[cfg(not(target_arch = "wasm32"))]
    0
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

fn outcome(outcome: Outcome) -> Result<wit::Outcome, Failure> {
    if let Some(misuse) = outcome.misuse {
        return Err(Failure::Fatal(misuse));
    }
    let text = |json: Json| json.0.map_err(Failure::Fatal);
    let no_goto = |what: &str| match &outcome.goto {
        None => Ok(()),
        Some(to) => Err(Failure::fatal(format!(
            "goto({to:?}) applies only to an update, not to {what}"
        ))),
    };
    match outcome.kind {
        Kind::Update(state) => Ok(wit::Outcome::Update(wit::Update {
            state: text(state)?,
            goto: outcome.goto,
            sends: outcome
                .sends
                .into_iter()
                .map(|(node, input)| {
                    Ok(wit::Send {
                        node,
                        input: text(input)?,
                    })
                })
                .collect::<Result<_, Failure>>()?,
        })),
        Kind::Interrupt { payload, timeout } => {
            no_goto("an interrupt")?;
            Ok(wit::Outcome::Interrupt(wit::Interrupt {
                payload: text(payload)?,
                timeout_ms: timeout.map(millis),
            }))
        }
        Kind::Sleep { duration, state } => {
            no_goto("a sleep")?;
            Ok(wit::Outcome::Sleep(wit::Sleep {
                duration_ms: millis(duration),
                state: text(state)?,
            }))
        }
        Kind::WaitSignal { name, timeout } => {
            no_goto("a signal wait")?;
            Ok(wit::Outcome::WaitSignal(wit::WaitSignal {
                name,
                timeout_ms: timeout.map(millis),
            }))
        }
    }
}

/// Whole milliseconds, rounded down; a duration past `u64::MAX` ms (half a
/// billion years) saturates.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// At most 200 characters of a text, for messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}... ({} bytes)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::NoConfig;

    #[derive(Debug, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Config {
        by: i64,
        mode: String,
    }

    impl Default for Config {
        fn default() -> Self {
            Config {
                by: 1,
                mode: "update".to_owned(),
            }
        }
    }

    #[derive(Deserialize)]
    struct State {
        #[serde(default)]
        count: i64,
    }

    struct Test;

    impl Node for Test {
        const NAME: &'static str = "test";
        const VERSION: &'static str = "1.2.3";
        const DESCRIPTION: &'static str = "A node for tests.";
        type Config = Config;
        type State = State;

        fn config_schema() -> Option<Value> {
            Some(json!({"type": "object"}))
        }

        fn run(ctx: &Context<Config>, state: State) -> Result<Outcome, Failure> {
            let count = state.count + ctx.config.by;
            Ok(match ctx.config.mode.as_str() {
                "update" => Outcome::update(json!({ "count": count })),
                "goto" => Outcome::empty().goto("next"),
                "not-object" => Outcome::update([1, 2]),
                "interrupt" => Outcome::interrupt(json!({ "ask": ctx.node })),
                "interrupt-for" => Outcome::interrupt_for("ask", Duration::from_micros(2_500_999)),
                "interrupt-forever" => Outcome::interrupt_for("ask", Duration::MAX),
                "interrupt-goto" => Outcome::interrupt("x").goto("next"),
                "sleep" => Outcome::sleep(Duration::from_millis(1500), json!({ "count": count })),
                "resume" => Outcome::update(json!({ "resume": ctx.resume_as::<i64>()? })),
                "why" => Outcome::update(json!({
                    "resume": ctx.resume,
                    "timed_out": ctx.interrupt_timed_out,
                    "wakes": ctx.wakes,
                })),
                "fanout" => Outcome::update(json!({ "sent": 2 }))
                    .send("double", json!({ "item": 1 }))
                    .send("double", json!({ "item": 2 })),
                "wait" => Outcome::wait_signal("go").timeout(Duration::from_millis(1500)),
                "signal" => Outcome::update(json!({
                    "signal": ctx.signal.as_ref().map(|s| (&s.name, &s.data)),
                    "send_index": ctx.send_index,
                })),
                "retry" => return Err(Failure::retryable("try again")),
                "question" => return Err("x".parse::<i64>().unwrap_err().into()),
                other => return Err(Failure::fatal(format!("unknown mode {other}"))),
            })
        }
    }

    fn context(config: Value) -> wit::Context {
        wit::Context {
            thread: "t1".to_owned(),
            node: "n1".to_owned(),
            step: 3,
            attempt: 1,
            config: config.to_string(),
            resume: None,
            interrupt_timed_out: false,
            wakes: 0,
            idempotency_key: "t1/3/n1".to_owned(),
            signal: None,
            send_index: None,
        }
    }

    fn update(result: Result<wit::Outcome, wit::Failure>) -> (Value, Option<String>) {
        match result {
            Ok(wit::Outcome::Update(update)) => {
                (serde_json::from_str(&update.state).unwrap(), update.goto)
            }
            other => panic!("expected an update, got {other:?}"),
        }
    }

    fn fatal(result: Result<wit::Outcome, wit::Failure>) -> String {
        match result {
            Err(wit::Failure::Fatal(message)) => message,
            other => panic!("expected a fatal failure, got {other:?}"),
        }
    }

    #[test]
    fn describe_reports_the_constants() {
        let info = describe::<Test>();
        assert_eq!(info.name, "test");
        assert_eq!(info.version, "1.2.3");
        assert_eq!(info.description, "A node for tests.");
        assert_eq!(info.config_schema.as_deref(), Some(r#"{"type":"object"}"#));
    }

    #[test]
    fn update_serializes_the_value() {
        let result = run::<Test>(
            context(json!({"by": 2})),
            r#"{"count": 5, "other": 1}"#.into(),
        );
        assert_eq!(update(result), (json!({"count": 7}), None));
    }

    #[test]
    fn defaults_fill_a_missing_config_and_state() {
        let result = run::<Test>(context(json!({})), "{}".into());
        assert_eq!(update(result), (json!({"count": 1}), None));
    }

    #[test]
    fn goto_names_the_route() {
        let result = run::<Test>(context(json!({"mode": "goto"})), "{}".into());
        assert_eq!(update(result), (json!({}), Some("next".to_owned())));
    }

    #[test]
    fn an_update_that_is_not_an_object_is_fatal() {
        let result = run::<Test>(context(json!({"mode": "not-object"})), "{}".into());
        assert_eq!(
            fatal(result),
            "the update must be a JSON object, not an array"
        );
    }

    #[test]
    fn a_bad_config_is_fatal_and_named() {
        let message = fatal(run::<Test>(context(json!({"bi": 2})), "{}".into()));
        assert!(
            message.starts_with("cannot read the config: unknown field `bi`"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_config_is_not_quoted() {
        // The config may hold a secret (`${env:...}`): the error gives only
        // the parser's message and position.
        let config = json!({"mode": "update", "token": "Zq9SECRETvalue77", "by": "bad"});
        let message = fatal(run::<Test>(context(config), "{}".into()));
        assert!(!message.contains("Zq9"), "{message}");
        assert!(
            message.starts_with("cannot read the config: unknown field `token`"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_state_is_fatal_and_named() {
        let message = fatal(run::<Test>(context(json!({})), r#"{"count": "x"}"#.into()));
        assert!(
            message.starts_with("cannot read the state as savepoint_sdk::export::tests::State: invalid type: string \"x\""),
            "{message}"
        );
    }

    #[test]
    fn sends_go_with_the_update_in_order() {
        let result = run::<Test>(context(json!({"mode": "fanout"})), "{}".into());
        match result {
            Ok(wit::Outcome::Update(update)) => {
                assert_eq!(update.state, r#"{"sent":2}"#);
                let sends: Vec<_> = update
                    .sends
                    .iter()
                    .map(|s| (s.node.as_str(), s.input.as_str()))
                    .collect();
                assert_eq!(
                    sends,
                    [("double", r#"{"item":1}"#), ("double", r#"{"item":2}"#)]
                );
            }
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn a_signal_wait_names_the_signal_and_its_deadline() {
        let result = run::<Test>(context(json!({"mode": "wait"})), "{}".into());
        match result {
            Ok(wit::Outcome::WaitSignal(wait)) => {
                assert_eq!((wait.name.as_str(), wait.timeout_ms), ("go", Some(1500)));
            }
            other => panic!("expected a signal wait, got {other:?}"),
        }
    }

    #[test]
    fn the_signal_and_the_send_index_reach_the_node() {
        let ctx = wit::Context {
            signal: Some(wit::Signal {
                name: "go".to_owned(),
                data: r#"{"by":2}"#.to_owned(),
            }),
            send_index: Some(4),
            ..context(json!({"mode": "signal"}))
        };
        let (state, _) = update(run::<Test>(ctx, "{}".into()));
        assert_eq!(state, json!({"signal": ["go", {"by": 2}], "send_index": 4}));
        let bad = wit::Context {
            signal: Some(wit::Signal {
                name: "go".to_owned(),
                data: "{".to_owned(),
            }),
            ..context(json!({"mode": "signal"}))
        };
        let message = fatal(run::<Test>(bad, "{}".into()));
        assert!(
            message.starts_with("the data of signal \"go\" is not JSON"),
            "{message}"
        );
    }

    #[test]
    fn interrupt_carries_any_json() {
        let result = run::<Test>(context(json!({"mode": "interrupt"})), "{}".into());
        match result {
            Ok(wit::Outcome::Interrupt(interrupt)) => {
                assert_eq!(interrupt.payload, r#"{"ask":"n1"}"#);
                assert_eq!(interrupt.timeout_ms, None);
            }
            other => panic!("expected an interrupt, got {other:?}"),
        }
    }

    #[test]
    fn interrupt_for_counts_whole_milliseconds() {
        let result = run::<Test>(context(json!({"mode": "interrupt-for"})), "{}".into());
        match result {
            Ok(wit::Outcome::Interrupt(interrupt)) => {
                assert_eq!(interrupt.payload, r#""ask""#);
                assert_eq!(interrupt.timeout_ms, Some(2500));
            }
            other => panic!("expected an interrupt, got {other:?}"),
        }
        let result = run::<Test>(context(json!({"mode": "interrupt-forever"})), "{}".into());
        match result {
            Ok(wit::Outcome::Interrupt(interrupt)) => {
                assert_eq!(interrupt.timeout_ms, Some(u64::MAX));
            }
            other => panic!("expected an interrupt, got {other:?}"),
        }
    }

    #[test]
    fn why_the_node_runs_again_reaches_the_context() {
        let result = run::<Test>(context(json!({"mode": "why"})), "{}".into());
        assert_eq!(
            update(result).0,
            json!({"resume": null, "timed_out": false, "wakes": 0})
        );

        let mut ctx = context(json!({"mode": "why"}));
        ctx.interrupt_timed_out = true;
        ctx.wakes = 4;
        assert_eq!(
            update(run::<Test>(ctx, "{}".into())).0,
            json!({"resume": null, "timed_out": true, "wakes": 4})
        );

        let mut ctx = context(json!({"mode": "why"}));
        ctx.resume = Some(r#"{"approved": true}"#.to_owned());
        assert_eq!(
            update(run::<Test>(ctx, "{}".into())).0,
            json!({"resume": {"approved": true}, "timed_out": false, "wakes": 0})
        );
    }

    #[test]
    fn a_resume_value_that_is_not_json_is_fatal() {
        let mut ctx = context(json!({"mode": "why"}));
        ctx.resume = Some("yes".to_owned());
        assert_eq!(
            fatal(run::<Test>(ctx, "{}".into())),
            "the resume value is not JSON (expected value at line 1 column 1): yes"
        );
    }

    #[test]
    fn goto_on_an_interrupt_is_fatal() {
        let result = run::<Test>(context(json!({"mode": "interrupt-goto"})), "{}".into());
        assert_eq!(
            fatal(result),
            r#"goto("next") applies only to an update, not to an interrupt"#
        );
    }

    #[test]
    fn sleep_counts_milliseconds() {
        let result = run::<Test>(context(json!({"mode": "sleep"})), "{}".into());
        match result {
            Ok(wit::Outcome::Sleep(sleep)) => {
                assert_eq!(sleep.duration_ms, 1500);
                assert_eq!(sleep.state, r#"{"count":1}"#);
            }
            other => panic!("expected a sleep, got {other:?}"),
        }
    }

    #[test]
    fn resume_is_parsed() {
        let mut ctx = context(json!({"mode": "resume"}));
        ctx.resume = Some("42".to_owned());
        assert_eq!(
            update(run::<Test>(ctx, "{}".into())).0,
            json!({"resume": 42})
        );

        let mut ctx = context(json!({"mode": "resume"}));
        ctx.resume = Some(r#""x""#.to_owned());
        let message = fatal(run::<Test>(ctx, "{}".into()));
        assert!(
            message.starts_with("cannot read the resume value: invalid type"),
            "{message}"
        );
    }

    #[test]
    fn failures_keep_their_kind() {
        let result = run::<Test>(context(json!({"mode": "retry"})), "{}".into());
        assert!(
            matches!(&result, Err(wit::Failure::Retryable(m)) if m == "try again"),
            "{result:?}"
        );
        let result = run::<Test>(context(json!({"mode": "question"})), "{}".into());
        assert_eq!(fatal(result), "invalid digit found in string");
    }

    #[test]
    fn no_config_rejects_keys() {
        assert!(serde_json::from_str::<NoConfig>("{}").is_ok());
        assert!(serde_json::from_str::<NoConfig>(r#"{"a": 1}"#).is_err());
    }
}
