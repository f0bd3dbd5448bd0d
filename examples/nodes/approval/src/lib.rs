//! `approval`: a human in the loop. The node asks a question, the run parks
//! until someone answers, and the answer picks the route.
//!
//! How a review goes:
//!
//! 1. **First call** (no `ctx.resume`): the node interrupts with the payload
//!
//!    ```json
//!    {"question": "Approve publishing Hello, world?",
//!     "expects": {"approved": "bool", "comment": "string?"}}
//!    ```
//!
//!    (with a deadline when `timeout_ms` is set). Nothing is committed; the
//!    run parks and `savepoint status ID` shows the payload.
//! 2. **Answered** (`savepoint resume ID --input '{"approved": true,
//!    "comment": "ship it"}'`): the node runs again with `ctx.resume` set,
//!    returns the update `{"approved": true, "comment": "ship it",
//!    "timed_out": false}` and goes to `on_approve` (or `on_reject` when
//!    `approved` is false). `comment` is optional (`null` when absent).
//! 3. **A bad answer** (not an object, `approved` missing or not a boolean,
//!    an unknown key): the node asks again, with the same payload plus
//!    `"error"` saying what was wrong: a typo costs a second try, not the run.
//! 4. **No answer in time** (only with `timeout_ms`): the node runs again with
//!    `ctx.interrupt_timed_out` set, returns `{"approved": false, "comment":
//!    null, "timed_out": true}` and goes to `on_timeout` (default: where a
//!    rejection goes).
//!
//! Config (every key optional):
//!
//! - `question` (string, default `"Approve publishing {title}?"`): the
//!   question; `{title}` is replaced by the state's `title` (a string), or by
//!   `this draft` when the state has none.
//! - `on_approve` (string): the route to take when approved.
//! - `on_reject` (string): the route to take when rejected.
//! - `on_timeout` (string, default `on_reject`): the route to take when
//!   nobody answered within `timeout_ms`.
//! - `timeout_ms` (integer): how long to wait for an answer; without it the
//!   run waits forever.
//!
//! A route that is not set follows the node's `next` edge instead. With
//! `routes` in the workflow file, set the routes the node may take, e.g.
//!
//! ```toml
//! [nodes.review]
//! plugin = "approval"
//! config = { on_approve = "publish", on_reject = "end", timeout_ms = 86_400_000 }
//! routes = ["publish", "end"]
//! ```

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    question: String,
    on_approve: Option<String>,
    on_reject: Option<String>,
    on_timeout: Option<String>,
    timeout_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            question: "Approve publishing {title}?".to_owned(),
            on_approve: None,
            on_reject: None,
            on_timeout: None,
            timeout_ms: None,
        }
    }
}

/// The part of the state this node reads.
#[derive(Debug, Deserialize)]
struct State {
    #[serde(default)]
    title: Option<String>,
}

/// What a human answers (`savepoint resume ID --input JSON`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    approved: bool,
    #[serde(default)]
    comment: Option<String>,
}

struct Approval;

impl Node for Approval {
    const NAME: &'static str = "approval";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Asks a human to approve (an interrupt), then goes to \
                                       `on_approve` or `on_reject`; `on_timeout` past `timeout_ms`.";
    type Config = Config;
    type State = State;

    fn run(ctx: &Context<Config>, state: State) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        let node = &ctx.node;

        if ctx.interrupt_timed_out {
            let route = config.on_timeout.as_ref().or(config.on_reject.as_ref());
            log::warn!(
                "{node}: nobody answered within {} ms; going to {}",
                config.timeout_ms.unwrap_or_default(),
                route.map_or("the next node", String::as_str)
            );
            return Ok(decision(false, None, true, route));
        }

        let Some(answer) = &ctx.resume else {
            log::info!("{node}: asking for approval");
            return Ok(ask(ctx, &state, None));
        };
        match Answer::deserialize(answer) {
            Ok(Answer { approved, comment }) => {
                let (verdict, route) = if approved {
                    ("approved", &config.on_approve)
                } else {
                    ("rejected", &config.on_reject)
                };
                log::info!("{node}: {verdict} (attempt {})", ctx.attempt);
                Ok(decision(approved, comment, false, route.as_ref()))
            }
            Err(e) => {
                let error = format!("cannot read the answer {answer}: {e}");
                log::warn!("{node}: {error}; asking again");
                Ok(ask(ctx, &state, Some(error)))
            }
        }
    }
}

/// Interrupt with the question, and with what was wrong with the last answer.
fn ask(ctx: &Context<Config>, state: &State, error: Option<String>) -> Outcome {
    let title = state.title.as_deref().unwrap_or("this draft");
    let mut payload = json!({
        "question": ctx.config.question.replace("{title}", title),
        "expects": {"approved": "bool", "comment": "string?"},
    });
    if let Some(error) = error {
        payload["error"] = Value::String(error);
    }
    match ctx.config.timeout_ms {
        None => Outcome::interrupt(payload),
        Some(ms) => Outcome::interrupt_for(payload, Duration::from_millis(ms)),
    }
}

/// The update that records the decision, and the route it takes.
fn decision(
    approved: bool,
    comment: Option<String>,
    timed_out: bool,
    route: Option<&String>,
) -> Outcome {
    let update = Outcome::update(json!({
        "approved": approved,
        "comment": comment,
        "timed_out": timed_out,
    }));
    match route {
        None => update,
        Some(to) => update.goto(to),
    }
}

export_node!(Approval);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(config: Value) -> Config {
        serde_json::from_value(config).unwrap()
    }

    fn routes() -> Config {
        config(json!({"on_approve": "publish", "on_reject": "end"}))
    }

    fn titled(title: &str) -> State {
        State {
            title: Some(title.to_owned()),
        }
    }

    fn answered(config: Config, answer: Value) -> Context<Config> {
        Context {
            resume: Some(answer),
            ..Context::for_test(config)
        }
    }

    fn question(title: &str) -> Value {
        json!({
            "question": format!("Approve publishing {title}?"),
            "expects": {"approved": "bool", "comment": "string?"},
        })
    }

    #[test]
    fn the_first_call_asks_and_waits_forever() {
        let outcome = Approval::run(&Context::for_test(routes()), titled("Hello"));
        assert_eq!(outcome, Ok(Outcome::interrupt(question("Hello"))));
    }

    #[test]
    fn timeout_ms_sets_a_deadline() {
        let config = config(json!({"timeout_ms": 1500}));
        let outcome = Approval::run(&Context::for_test(config), State { title: None });
        assert_eq!(
            outcome,
            Ok(Outcome::interrupt_for(
                question("this draft"),
                Duration::from_millis(1500)
            ))
        );
    }

    #[test]
    fn the_question_can_be_configured() {
        let config = config(json!({"question": "Send {title} to {title}?"}));
        let Ok(outcome) = Approval::run(&Context::for_test(config), titled("Ada")) else {
            panic!("expected an outcome");
        };
        let mut expected = question("Ada");
        expected["question"] = json!("Send Ada to Ada?");
        assert_eq!(outcome, Outcome::interrupt(expected));
    }

    #[test]
    fn an_approval_takes_on_approve() {
        let ctx = answered(routes(), json!({"approved": true, "comment": "ship it"}));
        assert_eq!(
            Approval::run(&ctx, titled("Hello")),
            Ok(Outcome::update(json!({
                "approved": true,
                "comment": "ship it",
                "timed_out": false,
            }))
            .goto("publish"))
        );
    }

    #[test]
    fn a_rejection_takes_on_reject_and_comment_is_optional() {
        let ctx = answered(routes(), json!({"approved": false}));
        assert_eq!(
            Approval::run(&ctx, titled("Hello")),
            Ok(Outcome::update(json!({
                "approved": false,
                "comment": null,
                "timed_out": false,
            }))
            .goto("end"))
        );
    }

    #[test]
    fn without_routes_the_node_follows_next() {
        let ctx = answered(Config::default(), json!({"approved": true}));
        assert_eq!(
            Approval::run(&ctx, titled("Hello")),
            Ok(Outcome::update(json!({
                "approved": true,
                "comment": null,
                "timed_out": false,
            })))
        );
    }

    #[test]
    fn a_bad_answer_asks_again_with_the_error() {
        for (answer, error) in [
            (
                json!(true),
                "cannot read the answer true: invalid type: boolean `true`, expected struct Answer",
            ),
            (
                json!({"approved": "yes"}),
                r#"cannot read the answer {"approved":"yes"}: invalid type: string "yes", expected a boolean"#,
            ),
            (
                json!({"aproved": true}),
                r#"cannot read the answer {"aproved":true}: unknown field `aproved`, expected `approved` or `comment`"#,
            ),
        ] {
            let config = config(json!({"on_approve": "publish", "timeout_ms": 60000}));
            let outcome = Approval::run(&answered(config, answer), titled("Hello"));
            let mut expected = question("Hello");
            expected["error"] = json!(error);
            assert_eq!(
                outcome,
                Ok(Outcome::interrupt_for(
                    expected,
                    Duration::from_millis(60000)
                ))
            );
        }
    }

    #[test]
    fn a_timeout_rejects_by_default() {
        let ctx = Context {
            interrupt_timed_out: true,
            ..Context::for_test(routes())
        };
        assert_eq!(
            Approval::run(&ctx, titled("Hello")),
            Ok(Outcome::update(json!({
                "approved": false,
                "comment": null,
                "timed_out": true,
            }))
            .goto("end"))
        );
    }

    #[test]
    fn a_timeout_takes_on_timeout_when_set() {
        let config = config(json!({"on_reject": "end", "on_timeout": "escalate"}));
        let ctx = Context {
            interrupt_timed_out: true,
            ..Context::for_test(config)
        };
        assert_eq!(
            Approval::run(&ctx, titled("Hello")),
            Ok(Outcome::update(json!({
                "approved": false,
                "comment": null,
                "timed_out": true,
            }))
            .goto("escalate"))
        );
    }

    #[test]
    fn a_typo_in_the_config_is_an_error() {
        let error = serde_json::from_value::<Config>(json!({"on_aprove": "x"})).unwrap_err();
        assert!(
            error.to_string().starts_with("unknown field `on_aprove`"),
            "{error}"
        );
    }
}
