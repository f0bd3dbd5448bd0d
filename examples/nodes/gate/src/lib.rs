//! `gate`: waits for a named signal, then merges its data into the state.
//!
//! On its first call the node waits (`wait-signal`): the run parks as `waiting`
//! until `savepoint signal THREAD go --data '{"approved": true}'` delivers the
//! signal (one sent earlier is already in the run's mailbox). The node then runs
//! again with the signal: its data, when an object, is the update (any other
//! value is stored under `signal`), plus `"timed_out": false`. When nobody
//! signals within `timeout_ms`, the update is `{"timed_out": true}`.
//!
//! Config (every key optional): `signal` (string, default `"go"`), `timeout_ms`
//! (integer; without it the run waits forever).

use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    signal: String,
    timeout_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            signal: "go".to_owned(),
            timeout_ms: None,
        }
    }
}

struct Gate;

impl Node for Gate {
    const NAME: &'static str = "gate";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Waits for the signal `signal` (default \"go\") and merges its data into the state.";
    type Config = Config;
    type State = Map<String, Value>;

    fn run(ctx: &Context<Config>, _state: Map<String, Value>) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        match &ctx.signal {
            Some(signal) => {
                log::info!("signal {:?} received", signal.name);
                let mut update = match &signal.data {
                    Value::Object(data) => data.clone(),
                    other => Map::from_iter([("signal".to_owned(), other.clone())]),
                };
                update.insert("timed_out".into(), json!(false));
                Ok(Outcome::update(update))
            }
            None if ctx.interrupt_timed_out => Ok(Outcome::update(json!({ "timed_out": true }))),
            None => {
                let wait = Outcome::wait_signal(config.signal.clone());
                Ok(match config.timeout_ms {
                    Some(ms) => wait.timeout(Duration::from_millis(ms)),
                    None => wait,
                })
            }
        }
    }
}

export_node!(Gate);
