//! `split`: fan-out. Sends one call of node `to` per element of the state's list
//! `items`, each with the input `{"item": <element>}`; the sent calls run in the
//! next step, in parallel, and their updates merge in the order of the list.
//!
//! Config (every key optional):
//!
//! - `to` (string, default `"double"`): the node to send each element to.
//! - `items` (string, default `"items"`): the key of the list in the state.
//!
//! The update is `{"sent": <number of sends>}`. A missing list sends nothing (the
//! run then follows `split`'s own `next` edge); a value that is not a list is a
//! fatal failure.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    to: String,
    items: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            to: "double".to_owned(),
            items: "items".to_owned(),
        }
    }
}

struct Split;

impl Node for Split {
    const NAME: &'static str = "split";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Sends one call of node `to` per element of the state's list `items` (fan-out).";
    type Config = Config;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Config>, state: Map<String, Value>) -> Result<Outcome, Failure> {
        sends(&ctx.config, &state)
    }
}

fn sends(config: &Config, state: &Map<String, Value>) -> Result<Outcome, Failure> {
    let items = match state.get(&config.items) {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(Failure::fatal(format!(
                "state.{} must be a list, not {other}",
                config.items
            )));
        }
    };
    log::info!("sending {} call(s) of {}", items.len(), config.to);
    let update = Outcome::update(json!({ "sent": items.len() }));
    Ok(items.iter().fold(update, |outcome, item| {
        outcome.send(config.to.clone(), json!({ "item": item }))
    }))
}

export_node!(Split);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_send_per_element_in_order() {
        let state = json!({"items": [1, 2]});
        let outcome = sends(&Config::default(), state.as_object().unwrap());
        let expected = Outcome::update(json!({"sent": 2}))
            .send("double", json!({"item": 1}))
            .send("double", json!({"item": 2}));
        assert_eq!(outcome, Ok(expected));
    }

    #[test]
    fn a_list_that_is_not_one_is_fatal() {
        let state = json!({"items": 3});
        let outcome = sends(&Config::default(), state.as_object().unwrap());
        assert_eq!(
            outcome,
            Err(Failure::fatal("state.items must be a list, not 3"))
        );
    }
}
