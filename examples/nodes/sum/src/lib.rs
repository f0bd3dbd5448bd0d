//! `sum`: adds up the numbers of a list of the state into `total`.
//!
//! Config (every key optional): `list` (string, default `"doubled"`), the key of
//! the list; `into` (string, default `"total"`), the key of the sum.

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    list: String,
    into: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            list: "doubled".to_owned(),
            into: "total".to_owned(),
        }
    }
}

struct Sum;

impl Node for Sum {
    const NAME: &'static str = "sum";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Sums the numbers of the state's list `list` into `into`.";
    type Config = Config;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Config>, state: Map<String, Value>) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        let mut total: i64 = 0;
        let list = state.get(&config.list).and_then(Value::as_array);
        for value in list.into_iter().flatten() {
            let n = value.as_i64().ok_or_else(|| {
                Failure::fatal(format!(
                    "state.{} holds {value}, not an integer",
                    config.list
                ))
            })?;
            total = total
                .checked_add(n)
                .ok_or_else(|| Failure::fatal("the total overflows"))?;
        }
        let mut update = Map::new();
        update.insert(config.into.clone(), json!(total));
        Ok(Outcome::update(update))
    }
}

export_node!(Sum);
