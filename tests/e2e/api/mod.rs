//! The HTTP API of a real `savepoint serve`: every route's happy path, the
//! JSON errors of bad requests, what a web page on another site can do
//! (nothing), tokens, listen addresses, and slow or idle clients; every route's
//! refusal of what it does not take (`params`), run search and tags
//! (`search`), the dashboard's pages over the daemon (`dashboard`), the event
//! streams (`events`), and schemathesis against the OpenAPI document (`schema`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use crate::fixtures::{DEADLINE, Daemon, Env};

mod auth;
mod connections;
mod dashboard;
mod errors;
mod events;
mod guards;
mod listen;
mod metrics;
mod params;
mod routes;
mod schema;
mod search;
mod travel;

pub(super) const ASK: &str = r#"
name = "ask"
start = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "ok?" } }
next = "end"
"#;

pub(super) const NAP: &str = r#"
name = "nap"
start = "nap"
[nodes.nap]
plugin = "echo"
config = { sleep_ms = 60000 }
next = "end"
"#;

pub(super) const BUSY: &str = r#"
name = "busy"
start = "hot"
[nodes.hot]
plugin = "spin"
next = "end"
"#;

/// A daemon whose workflows folder holds `chain`, `ask`, `nap` and `busy`.
pub(super) fn daemon(env: &Env) -> Daemon {
    let chain =
        std::fs::read_to_string(crate::fixtures::repo_root().join("examples/workflows/chain.toml"))
            .unwrap();
    env.daemon_workflow("chain", &chain);
    env.daemon_workflow("ask", ASK);
    env.daemon_workflow("nap", NAP);
    env.daemon_workflow("busy", BUSY);
    env.serve(&["--workers", "4"])
}

pub(super) fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("not an array: {other}"),
    }
}

pub(super) fn names(items: &[Value], key: &str) -> Vec<String> {
    let mut names: Vec<String> = items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Send `bytes` and read until the server closes the connection (or DEADLINE):
/// for requests no client library sends (half a head, a body shorter than its
/// `Content-Length`), and to see the answer's bytes as they are on the wire.
pub(super) fn send_and_read(addr: SocketAddr, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.write_all(bytes)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}
