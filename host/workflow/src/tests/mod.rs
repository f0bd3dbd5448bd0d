//! Parsing and validation: what a good file becomes, and where each mistake is reported;
//! then fan-out routing and joins ([`Workflow::advance`]) on parsed workflows. One file
//! per concern; the workflows and helpers they share are here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use super::parse::{DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_FANOUT, DEFAULT_MAX_STEPS};
use super::*;

const CHAIN: &str = r#"name = "chain"
start = "n1"
max_steps = 50

[state]
count = "add"
log = "append"

[nodes.n1]
plugin = "counter"
config = { by = 2, at = 1979-05-27T07:32:00Z, nested = { list = [1, 2.5, "x"] } }
next = "check"

[nodes.check]
plugin = "router"
routes = ["n1", "end"]

[nodes.n2]
next = "end"
"#;

fn parse(text: &str) -> Result<Workflow, WorkflowError> {
    Workflow::parse("wf.toml", text)
}

/// Parses `text`, expecting an error; returns its headline.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.headline(),
    }
}

mod children;
mod file;
mod graph;
mod joins;
mod large;
mod limits;
mod parse_errors;
mod retry;
mod routes;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A one-node workflow with `top` after `start` and `node` in `[nodes.a]`.
/// Line 3 holds the first line of `top`; `[nodes.a]` follows it, then `node`.
fn one_node(top: &str, node: &str) -> String {
    format!("name = \"x\"\nstart = \"a\"\n{top}\n[nodes.a]\nnext = \"end\"\n{node}\n")
}

const MIB: u64 = 1024 * 1024;

fn grant(host: &str, port: Option<u16>) -> HttpGrant {
    HttpGrant {
        host: host.to_owned(),
        port,
    }
}

const DIAMOND: &str = r#"name = "diamond"
start = "a"

[nodes.a]
next = ["b", "c"]

[nodes.b]
next = "d"

[nodes.c]
routes = ["d", "end"]

[nodes.d]
after = ["b", "c"]
next = "end"
"#;

fn diamond() -> Workflow {
    parse(DIAMOND).unwrap()
}

fn node(name: &str) -> Target {
    Target::Node(name.to_owned())
}
