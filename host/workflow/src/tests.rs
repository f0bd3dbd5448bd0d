//! Parsing and validation: what a good file becomes, and where each mistake is reported;
//! then fan-out routing and joins ([`Workflow::advance`]) on parsed workflows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use super::parse::DEFAULT_MAX_STEPS;
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

#[test]
fn parses_a_full_file() {
    let wf = parse(CHAIN).unwrap();
    assert_eq!(wf.name, "chain");
    assert_eq!(wf.start, "n1");
    assert_eq!(wf.max_steps, 50);
    assert_eq!(wf.reducer("count"), Reducer::Add);
    assert_eq!(wf.reducer("log"), Reducer::Append);
    assert_eq!(wf.reducer("other"), Reducer::Replace);

    let n1 = &wf.nodes["n1"];
    assert_eq!(n1.plugin, "counter");
    assert_eq!(
        n1.config,
        json!({"at": "1979-05-27T07:32:00Z", "by": 2, "nested": {"list": [1, 2.5, "x"]}})
    );
    assert_eq!(n1.edge, Edge::Next(vec![Target::Node("check".into())]));

    let check = &wf.nodes["check"];
    assert_eq!(
        check.edge,
        Edge::Routes(vec![Target::Node("n1".into()), Target::End])
    );

    let n2 = &wf.nodes["n2"];
    assert_eq!(n2.plugin, "n2", "plugin defaults to the node's name");
    assert_eq!(n2.config, json!({}));
    assert_eq!(n2.edge, Edge::Next(vec![Target::End]));

    assert_eq!(wf.plugins(), ["counter", "n2", "router"]);
}

#[test]
fn defaults() {
    let wf = parse("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap();
    assert_eq!(wf.max_steps, DEFAULT_MAX_STEPS);
    assert!(wf.reducers.is_empty());
    assert!(wf.warnings("wf.toml").is_empty());
}

#[test]
fn inline_nodes_table() {
    let wf = parse("name = \"x\"\nstart = \"a\"\nnodes = { a = { next = \"end\" } }\n").unwrap();
    assert_eq!(wf.nodes["a"].edge, Edge::Next(vec![Target::End]));
}

#[test]
fn reducer_names_round_trip() {
    for r in Reducer::ALL {
        assert_eq!(r.to_string().parse::<Reducer>(), Ok(r));
    }
    assert_eq!(
        "sum".parse::<Reducer>().unwrap_err().to_string(),
        "unknown reducer \"sum\"; valid reducers are: replace, append, merge, add"
    );
}

#[test]
fn syntax_error() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:3:9: "), "{e}");
}

#[test]
fn unknown_key_in_node() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n  nxet = 1\n");
    assert_eq!(
        e,
        "wf.toml:5:3: unknown field `nxet`, expected one of `plugin`, `config`, `next`, `routes`, `after`, `retry`, `timeout`, `memory`, `fuel`, `max_state`, `max_log`, `allow_http`, `reuse`"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_step = 3\n[nodes.a]\nnext = \"end\"\n");
    assert!(
        e.starts_with("wf.toml:3:1: unknown field `max_step`"),
        "{e}"
    );
}

#[test]
fn wrong_type() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = 3\n");
    assert!(
        e.starts_with("wf.toml:4:8: invalid type: integer `3`"),
        "{e}"
    );
}

#[test]
fn missing_name() {
    let e = parse("start = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap_err();
    // The whole file is at fault: no source excerpt.
    assert_eq!(e.to_string(), "wf.toml:1:1: missing field `name`");
}

#[test]
fn empty_name() {
    let e = error("name = \" \"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(e, "wf.toml:1:8: name must not be empty");
}

#[test]
fn max_steps_zero() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_steps = 0\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:13: max_steps must be at least 1 (it bounds the steps of a run), got 0"
    );
}

#[test]
fn edge_to_missing_node() {
    let text = CHAIN.replace("next = \"check\"", "next = \"n4\"");
    assert_eq!(
        error(&text),
        "wf.toml:12:8: node \"n1\" has next = \"n4\", but there is no node \"n4\" (nodes: check, n1, n2)"
    );
}

#[test]
fn missing_start_node() {
    let text = CHAIN.replace("start = \"n1\"", "start = \"n0\"");
    assert_eq!(
        error(&text),
        "wf.toml:2:9: start = \"n0\", but there is no node \"n0\" (nodes: check, n1, n2)"
    );
    let text = CHAIN.replace("start = \"n1\"", "start = \"end\"");
    assert!(error(&text).starts_with("wf.toml:2:9: "));
}

#[test]
fn route_to_missing_node() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[\"n1\", \"n9\"]");
    assert_eq!(
        error(&text),
        "wf.toml:16:17: node \"check\" has route \"n9\", but there is no node \"n9\" (nodes: check, n1, n2)"
    );
}

#[test]
fn duplicate_route() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[\"end\", \"n1\", \"end\"]");
    assert_eq!(
        error(&text),
        "wf.toml:16:24: node \"check\" lists route \"end\" twice"
    );
}

#[test]
fn empty_routes() {
    let text = CHAIN.replace("[\"n1\", \"end\"]", "[]");
    assert_eq!(
        error(&text),
        "wf.toml:16:10: node \"check\" has routes = [], but it needs at least one route"
    );
}

#[test]
fn bad_reducer_name() {
    let text = CHAIN.replace("count = \"add\"", "count = \"sum\"");
    assert_eq!(
        error(&text),
        "wf.toml:6:9: state key \"count\" has reducer \"sum\", but valid reducers are: replace, append, merge, add"
    );
}

#[test]
fn node_with_no_edge() {
    let text = CHAIN.replace("next = \"end\"", "");
    let e = error(&text);
    assert!(
        e.starts_with("wf.toml:18:1: node \"n2\" has no edge: add next"),
        "{e}"
    );
}

#[test]
fn node_with_both_edges() {
    let text = CHAIN.replace("routes = [", "next = \"n1\"\nroutes = [");
    let e = error(&text);
    assert!(
        e.starts_with("wf.toml:17:10: node \"check\" has both next and routes; pick one"),
        "{e}"
    );
}

#[test]
fn end_is_not_a_node_name() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n[nodes.end]\nnext = \"a\"\n",
    );
    assert!(
        e.starts_with("wf.toml:5:8: \"end\" cannot be a node name"),
        "{e}"
    );
}

#[test]
fn bad_node_name() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n[nodes.\"b c\"]\nnext = \"a\"\n",
    );
    assert!(
        e.starts_with("wf.toml:5:8: node name \"b c\" is invalid"),
        "{e}"
    );
}

#[test]
fn plugin_must_be_a_file_stem() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"../evil\"\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:4:10: node \"a\" has plugin = \"../evil\", but a plugin name must be a plain file stem"), "{e}");
}

#[test]
fn no_nodes() {
    assert_eq!(
        error("name = \"x\"\nstart = \"a\"\n"),
        "wf.toml:1:1: workflow has no nodes; add at least one [nodes.NAME] table"
    );
    assert!(
        error("name = \"x\"\nstart = \"a\"\n[nodes]\n")
            .starts_with("wf.toml:3:1: workflow has no nodes")
    );
}

#[test]
fn config_float_json_cannot_hold() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nconfig = { r = [1.0, nan] }\nnext = \"end\"\n",
    );
    assert_eq!(
        e,
        "wf.toml:4:10: node \"a\": config.r[1] is NaN, which JSON cannot represent"
    );
}

#[test]
fn full_display_has_source_and_caret() {
    let text = CHAIN.replace("next = \"check\"", "next = \"n4\"");
    let e = parse(&text).unwrap_err();
    let display = e.to_string();
    let mut lines = display.lines().skip(1);
    assert_eq!(lines.next(), Some("   |"));
    assert_eq!(lines.next(), Some("12 | next = \"n4\""));
    assert_eq!(lines.next(), Some("   |        ^^^^"));
    assert_eq!((e.file.as_str(), e.line, e.col), ("wf.toml", 12, 8));
}

#[test]
fn check_plugins_accepts_available() {
    let wf = parse(CHAIN).unwrap();
    let available = ["counter", "router", "n2", "extra"].map(String::from);
    wf.check_plugins("wf.toml", "plugins", &available).unwrap();
}

#[test]
fn unknown_plugin() {
    let wf = parse(&CHAIN.replace("\"counter\"", "\"countr\"")).unwrap();
    let available = ["router", "counter", "n2"].map(String::from);
    let e = wf
        .check_plugins("wf.toml", "plugins", &available)
        .unwrap_err();
    assert_eq!(
        e.headline(),
        "wf.toml:10:10: node \"n1\" uses plugin \"countr\", but plugins/countr.wasm does not exist (found: counter, n2, router)"
    );
}

#[test]
fn unknown_defaulted_plugin_points_at_header() {
    let wf = parse(CHAIN).unwrap();
    let available = ["counter", "router"].map(String::from);
    let e = wf
        .check_plugins("wf.toml", "plugins/", &available)
        .unwrap_err();
    assert_eq!(
        e.headline(),
        "wf.toml:18:1: node \"n2\" uses plugin \"n2\", but plugins/n2.wasm does not exist (found: counter, router)"
    );
    let e = wf.check_plugins("wf.toml", "p", &[]).unwrap_err();
    assert!(
        e.headline()
            .ends_with("p/counter.wasm does not exist (found: none)")
    );
}

// ---- Retry policies and timeouts ----

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A one-node workflow with `top` after `start` and `node` in `[nodes.a]`.
/// Line 3 holds the first line of `top`; `[nodes.a]` follows it, then `node`.
fn one_node(top: &str, node: &str) -> String {
    format!("name = \"x\"\nstart = \"a\"\n{top}\n[nodes.a]\nnext = \"end\"\n{node}\n")
}

#[test]
fn retry_defaults_to_none_and_timeout_to_five_minutes() {
    let wf = parse(CHAIN).unwrap();
    for node in wf.nodes.values() {
        assert_eq!(node.retry, RetryPolicy::default());
        assert_eq!(node.retry.attempts, 1, "retries are opt-in");
        assert_eq!(
            node.timeout,
            Some(secs(300)),
            "a node never holds a worker forever"
        );
        assert_eq!(node.timeout, Some(crate::DEFAULT_TIMEOUT));
        assert!(node.after.is_empty());
    }
}

#[test]
fn timeout_none_opts_out_for_the_workflow_or_one_node() {
    let node = |text: &str| parse(text).unwrap().nodes["a"].timeout;
    assert_eq!(node(&one_node("timeout = \"none\"", "")), None);
    assert_eq!(node(&one_node("", "timeout = \"none\"")), None);
    // A node's value wins over the workflow's, either way.
    assert_eq!(
        node(&one_node("timeout = \"none\"", "timeout = \"10s\"")),
        Some(secs(10))
    );
    assert_eq!(
        node(&one_node("timeout = \"10s\"", "timeout = \"none\"")),
        None
    );
    assert_eq!(node(&one_node("timeout = \"10s\"", "")), Some(secs(10)));
}

#[test]
fn node_retry_overrides_workflow_retry_key_by_key() {
    let text = r#"name = "x"
start = "a"
timeout = "30s"
retry = { attempts = 5, backoff = "fixed", initial = "2s", max = "1m", jitter = 0.2 }

[nodes.a]
next = "b"
retry = { attempts = 2, max = "10s" }
timeout = "1m30s"

[nodes.b]
next = "c"

[nodes.c]
next = "end"
[nodes.c.retry]
backoff = "exponential"
jitter = 0
"#;
    let wf = parse(text).unwrap();
    let workflow = RetryPolicy {
        attempts: 5,
        backoff: Backoff::Fixed,
        initial: secs(2),
        max: secs(60),
        jitter: 0.2,
    };
    let a = &wf.nodes["a"];
    assert_eq!(
        a.retry,
        RetryPolicy {
            attempts: 2,
            max: secs(10),
            ..workflow
        }
    );
    assert_eq!(a.timeout, Some(secs(90)));
    let b = &wf.nodes["b"];
    assert_eq!(b.retry, workflow);
    assert_eq!(b.timeout, Some(secs(30)));
    let c = &wf.nodes["c"];
    assert_eq!(
        c.retry,
        RetryPolicy {
            backoff: Backoff::Exponential,
            jitter: 0.0,
            ..workflow
        }
    );
}

#[test]
fn node_retry_without_workflow_retry_uses_defaults() {
    let wf = parse(&one_node(
        "",
        "retry = { attempts = 3 }\ntimeout = \"250ms\"",
    ))
    .unwrap();
    let a = &wf.nodes["a"];
    assert_eq!(
        a.retry,
        RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        }
    );
    assert_eq!(
        (
            a.retry.backoff,
            a.retry.initial,
            a.retry.max,
            a.retry.jitter
        ),
        (Backoff::Exponential, secs(1), secs(300), 0.1)
    );
    assert_eq!(a.timeout, Some(Duration::from_millis(250)));
    // An empty table changes nothing; a zero initial delay is allowed.
    let wf = parse(&one_node("retry = {}", "retry = { initial = \"0s\" }")).unwrap();
    assert_eq!(wf.nodes["a"].retry.initial, Duration::ZERO);
}

#[test]
fn retry_attempts_must_be_positive() {
    assert_eq!(
        error(&one_node("retry = { attempts = 0 }", "")),
        "wf.toml:3:22: retry.attempts must be at least 1 (it counts the first try; 1 = no retries), got 0"
    );
    assert_eq!(
        error(&one_node("", "retry = { attempts = -2 }")),
        "wf.toml:6:22: node \"a\": retry.attempts must be at least 1 (it counts the first try; 1 = no retries), got -2"
    );
    assert_eq!(
        error(&one_node("", "retry = { attempts = 5000000000 }")),
        "wf.toml:6:22: node \"a\": retry.attempts must be at most 4294967295, got 5000000000"
    );
}

#[test]
fn retry_jitter_must_be_a_fraction() {
    assert_eq!(
        error(&one_node("", "retry = { jitter = 1.5 }")),
        "wf.toml:6:20: node \"a\": retry.jitter must be between 0 and 1 (the fraction by which a delay may vary), got 1.5"
    );
    assert_eq!(
        error(&one_node("retry = { jitter = -0.1 }", "")),
        "wf.toml:3:20: retry.jitter must be between 0 and 1 (the fraction by which a delay may vary), got -0.1"
    );
    assert!(
        error(&one_node("retry = { jitter = nan }", ""))
            .starts_with("wf.toml:3:20: retry.jitter must be between 0 and 1")
    );
}

#[test]
fn retry_backoff_must_be_known() {
    assert_eq!(
        error(&one_node("", "retry = { backoff = \"linear\" }")),
        "wf.toml:6:21: node \"a\": retry.backoff is \"linear\", but valid backoffs are: exponential, fixed"
    );
}

#[test]
fn retry_durations_must_parse() {
    assert_eq!(
        error(&one_node("retry = { initial = \"5 minutes\" }", "")),
        "wf.toml:3:21: retry.initial: invalid duration \"5 minutes\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    assert_eq!(
        error(&one_node("", "retry = { max = \"1h30\" }")),
        "wf.toml:6:17: node \"a\": retry.max: invalid duration \"1h30\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    let e = error(&one_node("", "retry = { max = 30 }"));
    assert!(
        e.starts_with(
            "wf.toml:6:17: invalid type: integer `30`, expected a duration string such as \"30s\""
        ),
        "{e}"
    );
}

#[test]
fn retry_rejects_unknown_keys() {
    let e = error(&one_node("", "retry = { attempts = 2, tries = 3 }"));
    assert_eq!(
        e,
        "wf.toml:6:25: unknown field `tries`, expected one of `attempts`, `backoff`, `initial`, `max`, `jitter`"
    );
    let e = error(&one_node("[retry]\nattempts = 2\ndelay = \"1s\"", ""));
    assert!(e.starts_with("wf.toml:5:1: unknown field `delay`"), "{e}");
}

#[test]
fn retry_initial_must_not_exceed_max() {
    assert_eq!(
        error(&one_node("retry = { initial = \"10m\" }", "")),
        "wf.toml:3:21: retry.initial (10m) must not be longer than retry.max (5m, the default)"
    );
    assert_eq!(
        error(&one_node(
            "retry = { max = \"10s\" }",
            "retry = { initial = \"1m\" }"
        )),
        "wf.toml:6:21: node \"a\": retry.initial (1m) must not be longer than retry.max (10s, from the workflow's retry)"
    );
    assert_eq!(
        error(&one_node("", "retry = { max = \"500ms\" }")),
        "wf.toml:6:17: node \"a\": retry.initial (1s, the default) must not be longer than retry.max (500ms)"
    );
    assert_eq!(
        error(&one_node(
            "retry = { initial = \"2s\" }",
            "retry = { max = \"1s\" }"
        )),
        "wf.toml:6:17: node \"a\": retry.initial (2s, from the workflow's retry) must not be longer than retry.max (1s)"
    );
    // Both set in one table: the later key is at fault.
    assert_eq!(
        error(&one_node(
            "",
            "retry = { max = \"1s\", initial = \"1m30s\" }"
        )),
        "wf.toml:6:33: node \"a\": retry.initial (1m30s) must not be longer than retry.max (1s)"
    );
}

#[test]
fn timeout_must_be_a_positive_duration() {
    assert_eq!(
        error(&one_node("timeout = \"0s\"", "")),
        "wf.toml:3:11: timeout must be longer than 0 (\"none\" for no limit)"
    );
    assert_eq!(
        error(&one_node("", "timeout = \"0ms\"")),
        "wf.toml:6:11: node \"a\": timeout must be longer than 0 (\"none\" for no limit)"
    );
    assert_eq!(
        error(&one_node("", "timeout = \"30 s\"")),
        "wf.toml:6:11: node \"a\": timeout: invalid duration \"30 s\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    let e = error(&one_node("timeout = 30", ""));
    assert!(
        e.starts_with("wf.toml:3:11: invalid type: integer `30`"),
        "{e}"
    );
}

// ---- Warm instances: reuse ----

#[test]
fn reuse_defaults_to_false_and_is_per_node() {
    let workflow = parse(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"b\"\nreuse = true\n\
         [nodes.b]\nnext = \"c\"\nreuse = false\n[nodes.c]\nnext = \"end\"\n",
    )
    .unwrap();
    let reuse: Vec<bool> = workflow.nodes.values().map(|n| n.reuse).collect();
    assert_eq!(reuse, [true, false, false]);
}

#[test]
fn reuse_must_be_a_boolean() {
    assert_eq!(
        error(&one_node("", "reuse = \"yes\"")),
        "wf.toml:6:9: node \"a\": reuse must be true or false (true keeps the node's instance \
         warm between calls), got \"yes\""
    );
    assert_eq!(
        error(&one_node("", "reuse = 1")),
        "wf.toml:6:9: node \"a\": reuse must be true or false (true keeps the node's instance \
         warm between calls), got 1"
    );
}

#[test]
fn reuse_is_not_a_workflow_wide_key() {
    let e = error(&one_node("reuse = true", ""));
    assert!(e.starts_with("wf.toml:3:1: unknown field `reuse`"), "{e}");
}

// ---- Limits: memory, fuel, max_state, allow_http ----

const MIB: u64 = 1024 * 1024;

fn grant(host: &str, port: Option<u16>) -> HttpGrant {
    HttpGrant {
        host: host.to_owned(),
        port,
    }
}

#[test]
fn limits_default() {
    let wf = parse(CHAIN).unwrap();
    for node in wf.nodes.values() {
        assert_eq!(node.limits, Limits::default());
        assert_eq!(node.limits.memory, 256 * MIB);
        assert_eq!(node.limits.fuel, None);
        assert_eq!(node.limits.max_state, 4 * MIB);
        assert!(node.limits.allow_http.is_empty());
    }
}

#[test]
fn node_limits_override_workflow_limits_key_by_key() {
    let text = r#"name = "x"
start = "a"
memory = "64MiB"
fuel = 1_000_000
max_state = "1MiB"
allow_http = ["127.0.0.1", "api.example.com:8443"]

[nodes.a]
next = "b"
memory = "1GiB"
allow_http = []

[nodes.b]
next = "c"
fuel = 5
max_state = 2048

[nodes.c]
next = "end"
memory = 2097152
allow_http = ["[::1]:8080"]
"#;
    let wf = parse(text).unwrap();
    let workflow = Limits {
        memory: 64 * MIB,
        fuel: Some(1_000_000),
        max_state: MIB,
        max_log: MaxLog::DEFAULT,
        allow_http: vec![
            grant("127.0.0.1", None),
            grant("api.example.com", Some(8443)),
        ],
    };
    assert_eq!(
        wf.nodes["a"].limits,
        Limits {
            memory: 1024 * MIB,
            allow_http: vec![],
            ..workflow.clone()
        }
    );
    assert_eq!(
        wf.nodes["b"].limits,
        Limits {
            fuel: Some(5),
            max_state: 2048,
            ..workflow.clone()
        }
    );
    assert_eq!(
        wf.nodes["c"].limits,
        Limits {
            memory: 2 * MIB,
            allow_http: vec![grant("[::1]", Some(8080))],
            ..workflow
        }
    );
    assert!(wf.nodes["b"].limits.allows_http("API.example.com", 8443));
    assert!(!wf.nodes["a"].limits.allows_http("127.0.0.1", 80));
}

#[test]
fn node_limits_without_workflow_limits_use_defaults() {
    let wf = parse(&one_node("", "fuel = 7\nallow_http = [\"localhost:3000\"]")).unwrap();
    assert_eq!(
        wf.nodes["a"].limits,
        Limits {
            fuel: Some(7),
            allow_http: vec![grant("localhost", Some(3000))],
            ..Limits::default()
        }
    );
    // The bounds themselves are allowed.
    let wf = parse(&one_node(
        "memory = \"1MiB\"\nmax_state = \"1KiB\"",
        "memory = \"4GiB\"",
    ))
    .unwrap();
    assert_eq!(wf.nodes["a"].limits.memory, 4 * 1024 * MIB);
    assert_eq!(wf.nodes["a"].limits.max_state, 1024);
}

#[test]
fn memory_errors() {
    let cases = [
        (
            "memory = \"64 megs\"",
            "",
            "wf.toml:3:10: memory: invalid size \"64 megs\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\"",
        ),
        (
            "",
            "memory = \"64mb\"",
            "wf.toml:6:10: node \"a\": memory: invalid size \"64mb\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\"",
        ),
        (
            "",
            "memory = \"512KiB\"",
            "wf.toml:6:10: node \"a\": memory must be between 1MiB and 4GiB, got 512KiB",
        ),
        (
            "memory = \"1MB\"",
            "",
            "wf.toml:3:10: memory must be between 1MiB and 4GiB, got 1MB",
        ),
        (
            "",
            "memory = \"5GiB\"",
            "wf.toml:6:10: node \"a\": memory must be between 1MiB and 4GiB, got 5GiB",
        ),
        (
            "",
            "memory = 4294967297",
            "wf.toml:6:10: node \"a\": memory must be between 1MiB and 4GiB, got 4294967297B",
        ),
        (
            "",
            "memory = 0",
            "wf.toml:6:10: node \"a\": memory must be between 1MiB and 4GiB, got 0B",
        ),
        (
            "memory = -1",
            "",
            "wf.toml:3:10: memory: invalid size -1: a size cannot be negative",
        ),
        (
            "",
            "memory = \"99999999999999999999GiB\"",
            "wf.toml:6:10: node \"a\": memory: invalid size \"99999999999999999999GiB\": too large",
        ),
    ];
    for (top, node, expected) in cases {
        assert_eq!(error(&one_node(top, node)), expected, "{top} / {node}");
    }
    let e = error(&one_node("", "memory = 1.5"));
    assert!(
        e.starts_with(
            "wf.toml:6:10: invalid type: floating point `1.5`, expected a size such as \"64MiB\", or a number of bytes"
        ),
        "{e}"
    );
}

#[test]
fn fuel_errors() {
    assert_eq!(
        error(&one_node("fuel = 0", "")),
        "wf.toml:3:8: fuel must be at least 1 (the instructions one call may run; remove it for no limit), got 0"
    );
    assert_eq!(
        error(&one_node("", "fuel = -10")),
        "wf.toml:6:8: node \"a\": fuel must be at least 1 (the instructions one call may run; remove it for no limit), got -10"
    );
    let e = error(&one_node("", "fuel = \"1000\""));
    assert!(
        e.starts_with("wf.toml:6:8: invalid type: string \"1000\""),
        "{e}"
    );
}

#[test]
fn max_state_errors() {
    assert_eq!(
        error(&one_node("max_state = \"1000B\"", "")),
        "wf.toml:3:13: max_state must be at least 1KiB, got 1KB"
    );
    assert_eq!(
        error(&one_node("", "max_state = 0")),
        "wf.toml:6:13: node \"a\": max_state must be at least 1KiB, got 0B"
    );
    assert_eq!(
        error(&one_node("", "max_state = \"4 MiB\"")),
        "wf.toml:6:13: node \"a\": max_state: invalid size \"4 MiB\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
    );
}

#[test]
fn max_log_keys_override_the_workflow_s_one_by_one() {
    let wf = parse(&one_node(
        "max_log = { lines = 100, bytes = \"64KiB\" }",
        "max_log = { lines = 0 }",
    ))
    .unwrap();
    assert_eq!(
        wf.nodes["a"].limits.max_log,
        MaxLog {
            lines: 0,
            bytes: 64 * 1024
        }
    );
    let wf = parse(&one_node("", "max_log = { bytes = 4096 }")).unwrap();
    assert_eq!(
        wf.nodes["a"].limits.max_log,
        MaxLog {
            lines: 10_000,
            bytes: 4096
        }
    );
}

#[test]
fn max_log_errors() {
    assert_eq!(
        error(&one_node("", "max_log = { lines = -1 }")),
        "wf.toml:6:21: node \"a\": max_log.lines must be 0 or more (the log lines one call keeps), got -1"
    );
    assert_eq!(
        error(&one_node("max_log = { bytes = \"1 MiB\" }", "")),
        "wf.toml:3:21: max_log.bytes: invalid size \"1 MiB\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
    );
    assert!(
        error(&one_node("", "max_log = { line = 5 }"))
            .contains("unknown field `line`, expected `lines` or `bytes`"),
    );
}

#[test]
fn allow_http_errors() {
    let cases = [
        (
            "allow_http = [\"http://x\"]",
            "",
            "wf.toml:3:15: allow_http entry \"http://x\" must be a host and an optional port, not a URL: write \"x\"",
        ),
        (
            "",
            "allow_http = [\"127.0.0.1\", \"https://api.example.com:8443/v1\"]",
            "wf.toml:6:28: node \"a\": allow_http entry \"https://api.example.com:8443/v1\" must be a host and an optional port, not a URL: write \"api.example.com:8443\"",
        ),
        (
            "",
            "allow_http = [\"x:0\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"x:0\" is invalid: port \"0\" must be a number from 1 to 65535",
        ),
        (
            "",
            "allow_http = [\"Example.com\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"Example.com\" is invalid: write the host in lowercase, \"example.com\"",
        ),
        (
            "allow_http = [\"::1\"]",
            "",
            "wf.toml:3:15: allow_http entry \"::1\" is invalid: write an IPv6 address in brackets, e.g. \"[::1]\" or \"[::1]:8080\"",
        ),
        (
            "",
            "allow_http = [\"\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"\" is empty; write a host such as \"api.example.com\" or \"127.0.0.1:8080\"",
        ),
        (
            "",
            "allow_http = [\"x\", \"y:80\", \"x\"]",
            "wf.toml:6:28: node \"a\": allow_http lists \"x\" twice",
        ),
        (
            "",
            "allow_http = [\"[::1]\", \"[0::1]\"]",
            "wf.toml:6:24: node \"a\": allow_http lists \"[::1]\" twice",
        ),
    ];
    for (top, node, expected) in cases {
        assert_eq!(error(&one_node(top, node)), expected, "{top} / {node}");
    }
    let e = error(&one_node("", "allow_http = \"x\""));
    assert!(
        e.starts_with("wf.toml:6:14: invalid type: string \"x\""),
        "{e}"
    );
    let e = error(&one_node("", "allow_http = [\"x\", 80]"));
    assert!(
        e.starts_with("wf.toml:6:20: invalid type: integer `80`"),
        "{e}"
    );
}

#[test]
fn workflow_limit_errors_come_before_node_ones() {
    // Both are wrong: the top level is validated first.
    let e = error(&one_node("fuel = 0", "memory = \"1KiB\""));
    assert!(e.starts_with("wf.toml:3:8: fuel must be at least 1"), "{e}");
}

// ---- Fan-out and joins ----

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

#[test]
fn parses_fan_out_and_join() {
    let wf = diamond();
    assert_eq!(wf.nodes["a"].edge, Edge::Next(vec![node("b"), node("c")]));
    assert_eq!(wf.nodes["d"].after, ["b", "c"]);
    assert!(wf.nodes["b"].after.is_empty());
    assert!(wf.warnings("wf.toml").is_empty());
    // A one-element list is the same as the string; ["end"] too.
    let wf = parse(&DIAMOND.replace("next = \"d\"", "next = [\"d\"]")).unwrap();
    assert_eq!(wf.nodes["b"].edge, Edge::Next(vec![node("d")]));
    let wf = parse(&DIAMOND.replace("next = \"end\"", "next = [\"end\"]")).unwrap();
    assert_eq!(wf.nodes["d"].edge, Edge::Next(vec![Target::End]));
}

#[test]
fn fan_out_list_errors() {
    let cases = [
        (
            "[]",
            "wf.toml:5:8: node \"a\" has next = [], but it needs at least one target (use next = \"end\" to finish the run)",
        ),
        (
            "[\"b\", \"c\", \"b\"]",
            "wf.toml:5:19: node \"a\" lists next \"b\" twice",
        ),
        (
            "[\"b\", \"zz\"]",
            "wf.toml:5:14: node \"a\" has next \"zz\", but there is no node \"zz\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"end\"]",
            "wf.toml:5:14: node \"a\" lists \"end\" among several next nodes; a list runs every node in it in parallel, so it can only name nodes (a branch ends when its own next is \"end\")",
        ),
        (
            "[\"end\", \"end\"]",
            "wf.toml:5:9: node \"a\" lists \"end\" among several next nodes; a list runs every node in it in parallel, so it can only name nodes (a branch ends when its own next is \"end\")",
        ),
        (
            "[\"b\", \"c\", \"c\"]",
            "wf.toml:5:19: node \"a\" lists next \"c\" twice",
        ),
    ];
    for (list, expected) in cases {
        let text = DIAMOND.replace("next = [\"b\", \"c\"]", &format!("next = {list}"));
        assert_eq!(error(&text), expected, "next = {list}");
    }
    let e = error(&DIAMOND.replace("next = [\"b\", \"c\"]", "next = [\"b\", 3]"));
    assert!(
        e.starts_with("wf.toml:5:14: invalid type: integer `3`"),
        "{e}"
    );
    let e = error(&DIAMOND.replace("next = [\"b\", \"c\"]", "next = { b = 1 }"));
    assert!(
        e.starts_with(
            "wf.toml:5:8: invalid type: map, expected a node name, \"end\", or a list of node names"
        ),
        "{e}"
    );
}

#[test]
fn after_list_errors() {
    let cases = [
        (
            "[]",
            "wf.toml:14:9: node \"d\" has after = [], but a join needs at least one node to wait for (remove after for a node that runs as soon as it is reached)",
        ),
        (
            "[\"b\", \"c\", \"b\"]",
            "wf.toml:14:20: node \"d\" lists \"b\" in after twice",
        ),
        (
            "[\"b\", \"zz\"]",
            "wf.toml:14:15: node \"d\" lists \"zz\" in after, but there is no node \"zz\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"end\"]",
            "wf.toml:14:15: node \"d\" lists \"end\" in after, but there is no node \"end\" (nodes: a, b, c, d)",
        ),
        (
            "[\"b\", \"c\", \"d\"]",
            "wf.toml:14:20: node \"d\" cannot wait for itself (after)",
        ),
    ];
    for (list, expected) in cases {
        let text = DIAMOND.replace("after = [\"b\", \"c\"]", &format!("after = {list}"));
        assert_eq!(error(&text), expected, "after = {list}");
    }
}

#[test]
fn start_node_cannot_join() {
    let text = DIAMOND.replace("start = \"a\"", "start = \"d\"");
    assert_eq!(
        error(&text),
        "wf.toml:14:9: node \"d\" is the start node, so it cannot have after: the run begins there without waiting"
    );
}

#[test]
fn after_entry_needs_an_edge_to_the_join() {
    // a is listed, but a's edge goes to b and c, not d.
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"b\", \"a\", \"c\"]");
    assert_eq!(
        error(&text),
        "wf.toml:14:15: node \"d\" lists \"a\" in after, but \"a\" has no edge to \"d\"; add \"d\" to the next or routes of \"a\""
    );
}

#[test]
fn every_edge_into_a_join_must_be_listed() {
    // c routes to d, but d waits only for b: c's edge is the mistake.
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"b\"]");
    assert_eq!(
        error(&text),
        "wf.toml:11:11: node \"c\" has an edge to \"d\", but \"d\" is a join reached only from the nodes in its after (\"b\"); add \"c\" to that list, or remove this edge"
    );
    // A fan-out list entry is located too.
    let text = DIAMOND.replace("next = [\"b\", \"c\"]", "next = [\"b\", \"c\", \"d\"]");
    assert_eq!(
        error(&text),
        "wf.toml:5:19: node \"a\" has an edge to \"d\", but \"d\" is a join reached only from the nodes in its after (\"b\", \"c\"); add \"a\" to that list, or remove this edge"
    );
}

#[test]
fn first_join_problem_in_the_file_is_reported() {
    // Two problems: b's edge into d (line 8) and d's after entry "a" (line 14).
    let text = DIAMOND.replace("after = [\"b\", \"c\"]", "after = [\"c\", \"a\"]");
    assert!(error(&text).starts_with("wf.toml:8:8: node \"b\" has an edge to \"d\""));
}

#[test]
fn route_fans_out() {
    let wf = diamond();
    assert_eq!(wf.route("a", None).unwrap(), ["b", "c"]);
    let err = wf.route("a", Some("b")).unwrap_err();
    assert_eq!(
        err,
        RouteError::GotoWithoutRoutes {
            node: "a".into(),
            goto: "b".into(),
            next: vec!["b".into(), "c".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        r#"node "a" returned goto "b", but it declares no routes; its next is ["b", "c"] (all of them run)"#
    );
    assert_eq!(wf.route("b", Some("d")).unwrap(), ["d"]);
    assert_eq!(wf.route("c", Some("d")).unwrap(), ["d"]);
    assert!(wf.route("d", Some("end")).unwrap().is_empty());
}

fn step(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(n, targets)| {
            let targets = targets.iter().map(|t| t.to_string()).collect();
            (n.to_string(), targets)
        })
        .collect()
}

type Joins = BTreeMap<String, BTreeSet<String>>;

fn joins(items: &[(&str, &[&str])]) -> Joins {
    items
        .iter()
        .map(|(n, from)| (n.to_string(), from.iter().map(|f| f.to_string()).collect()))
        .collect()
}

#[test]
fn advance_diamond_in_one_step() {
    let wf = diamond();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["b", "c"])]));
    assert_eq!(next, ["b", "c"]);
    assert!(j.is_empty());
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"]), ("c", &["d"])]));
    assert_eq!(next, ["d"], "d is scheduled once, when both arrived");
    assert!(j.is_empty());
    let (next, j) = wf.advance(&j, &step(&[("d", &[])]));
    assert!(next.is_empty());
    assert!(j.is_empty());
}

#[test]
fn advance_diamond_across_steps() {
    // c is slower: a -> [b, c2]; c2 -> c; b and c reach d in different steps.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = ["b", "c2"]
[nodes.b]
next = "d"
[nodes.c2]
next = "c"
[nodes.c]
next = "d"
[nodes.d]
after = ["c", "b"]
next = "end"
"#;
    let wf = parse(text).unwrap();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["b", "c2"])]));
    assert_eq!(next, ["b", "c2"]);
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"]), ("c2", &["c"])]));
    assert_eq!(next, ["c"], "d waits for c");
    assert_eq!(j, joins(&[("d", &["b"])]));
    let (next, j) = wf.advance(&j, &step(&[("c", &["d"])]));
    assert_eq!(next, ["d"]);
    assert!(j.is_empty());
}

#[test]
fn advance_keeps_joins_when_a_branch_ends_elsewhere() {
    let wf = diamond();
    // c chose "end": d keeps waiting for c; the input map is not modified.
    let before = Joins::new();
    let (next, j) = wf.advance(&before, &step(&[("b", &["d"]), ("c", &[])]));
    assert!(next.is_empty());
    assert_eq!(j, joins(&[("d", &["b"])]));
    assert!(before.is_empty());
    // b arriving again (a loop) changes nothing; c completes the join.
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"])]));
    assert!(next.is_empty());
    assert_eq!(j, joins(&[("d", &["b"])]));
    let (next, j) = wf.advance(&j, &step(&[("c", &["d"])]));
    assert_eq!(next, ["d"]);
    assert!(j.is_empty());
}

#[test]
fn advance_deduplicates_in_first_occurrence_order() {
    // Ordinary nodes reached twice in a step run once, in order of first arrival.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = ["c", "b"]
[nodes.b]
next = ["e", "d"]
[nodes.c]
next = ["d", "e"]
[nodes.d]
next = "end"
[nodes.e]
next = "end"
"#;
    let wf = parse(text).unwrap();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["c", "b"])]));
    assert_eq!(next, ["c", "b"]);
    let (next, j) = wf.advance(&j, &step(&[("c", &["d", "e"]), ("b", &["e", "d"])]));
    assert_eq!(next, ["d", "e"]);
    assert!(j.is_empty());
    // Unknown names pass through (route never returns them).
    let (next, _) = wf.advance(&j, &step(&[("d", &["zz"])]));
    assert_eq!(next, ["zz"]);
}

// ---- Joins that can never run ----

#[test]
fn join_waiting_for_an_unreachable_node_is_an_error() {
    // c has an edge to d, but nothing leads to c: d would wait for it forever, and
    // the run would complete without running d.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = "d"
[nodes.c]
next = "d"
[nodes.d]
after = ["b", "c"]
next = "end"
"#;
    assert_eq!(
        error(text),
        "wf.toml:10:15: node \"d\" waits for \"c\" (after), but \"c\" can never run (no path \
         from start \"a\" reaches it), so \"d\" would never run and the run would end without \
         it; remove \"c\" from after, or add an edge that reaches \"c\""
    );
    // Reaching c makes it valid.
    let wf = parse(&text.replace("next = \"b\"", "next = [\"b\", \"c\"]")).unwrap();
    assert!(wf.warnings("wf.toml").is_empty());
}

#[test]
fn join_waiting_for_a_node_behind_itself_is_an_error() {
    // c is reached only through d, and d waits for c.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = "d"
[nodes.d]
after = ["b", "c"]
routes = ["c", "end"]
[nodes.c]
next = "d"
"#;
    assert!(
        error(text).starts_with(
            "wf.toml:8:15: node \"d\" waits for \"c\" (after), but \"c\" can never run"
        ),
        "{}",
        error(text)
    );
}

#[test]
fn join_behind_a_dead_join_is_reported_where_it_starts() {
    // d can never run (it waits for the unreachable c); e waits for d and b: the
    // error names d's entry, the first in the file.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "b"
[nodes.b]
next = ["d", "e"]
[nodes.c]
next = "d"
[nodes.d]
after = ["b", "c"]
next = "e"
[nodes.e]
after = ["b", "d"]
next = "end"
"#;
    assert!(error(text).starts_with("wf.toml:10:15: node \"d\" waits for \"c\""));
}

#[test]
fn wholly_unreachable_join_is_a_warning() {
    // Nothing leads to b, c or d: a dead part of the graph, as before.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = "end"
[nodes.b]
next = ["c", "d"]
[nodes.c]
next = "e"
[nodes.d]
next = "e"
[nodes.e]
after = ["c", "d"]
next = "end"
"#;
    let wf = parse(text).unwrap();
    assert_eq!(route::unreachable(&wf), ["b", "c", "d", "e"]);
}

// ---- Large workflows ----

/// `n` nodes `n0 -> n1 -> ... -> end`, each in its own table.
fn long_chain(n: usize) -> String {
    let mut text = String::from("name = \"long\"\nstart = \"n0\"\n");
    for i in 0..n {
        let next = if i + 1 == n {
            "end".to_owned()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "\n[nodes.n{i}]\nplugin = \"p\"\nnext = \"{next}\"\n"
        ));
    }
    text
}

/// A fan-out of `n` branches from `a`, each routing to the join `z` or to `end`,
/// and `z` waiting for all of them: one node with `n` edges, one with `n` after
/// entries.
fn wide_join(n: usize) -> String {
    let branches: Vec<String> = (0..n).map(|i| format!("\"b{i}\"")).collect();
    let mut text = format!(
        "name = \"wide\"\nstart = \"a\"\n\n[nodes.a]\nnext = [{}]\n\n[nodes.z]\nafter = [{}]\nnext = \"end\"\n",
        branches.join(", "),
        branches.join(", ")
    );
    for i in 0..n {
        text.push_str(&format!(
            "\n[nodes.b{i}]\nplugin = \"p\"\nroutes = [\"z\", \"end\"]\n"
        ));
    }
    text
}

/// Validation is linear in the size of the file. With the quadratic steps it had
/// (locating each node by scanning the text before it, a list lookup per edge
/// into a join), 20,000 nodes took 136 s in a debug build (a chain) and 153 s (a
/// 20,000-way join); these sizes would take many minutes. Linear, both take a
/// few seconds in a debug build.
#[test]
fn large_workflows_validate_in_linear_time() {
    let n = 50_000;
    let wf = parse(&long_chain(n)).unwrap();
    assert_eq!(wf.nodes.len(), n);
    assert!(wf.warnings("wf.toml").is_empty());
    wf.check_plugins("wf.toml", "plugins", &["p".to_owned()])
        .unwrap();
    // Errors found after parsing still point at the line.
    let e = wf.check_plugins("wf.toml", "plugins", &[]).unwrap_err();
    assert_eq!((e.line, e.col), (5, 10), "the first node's plugin: {e}");
    let text = long_chain(n).replace("next = \"end\"", "next = \"nowhere\"");
    let e = parse(&text).unwrap_err();
    assert_eq!((e.line, e.col), (4 * n + 2, 8), "the last node's next: {e}");

    let n = 20_000;
    let wf = parse(&wide_join(n)).unwrap();
    assert_eq!(wf.nodes["z"].after.len(), n);
    assert!(wf.warnings("wf.toml").is_empty());
    // Every branch arriving in one step schedules the join once.
    let completed: Vec<(String, Vec<String>)> = (0..n)
        .map(|i| (format!("b{i}"), vec!["z".to_owned()]))
        .collect();
    let (next, joins) = wf.advance(&BTreeMap::new(), &completed);
    assert_eq!(next, ["z"]);
    assert!(joins.is_empty());
    let (next, _) = wf.advance(
        &BTreeMap::new(),
        &[("a".to_owned(), wf.route("a", None).unwrap())],
    );
    assert_eq!(next.len(), n);
}

/// `parse_all` reports every problem, each naming its node, in the order
/// checked; `parse` reports the first of them.
#[test]
fn parse_all_reports_every_problem_and_parse_the_first() {
    let text = r#"name = ""
start = "a"
max_steps = 0

[nodes.a]
plugin = "counter"
retry = { attempts = 0, backoff = "slow" }
timeout = "soon"
next = ["b", "nowhere", "b"]

[nodes.b]
plugin = "counter"
memory = "1KiB"
routes = []
"#;
    let problems = Workflow::parse_all("wf.toml", text).unwrap_err();
    let found: Vec<(Option<&str>, String)> = problems
        .iter()
        .map(|p| (p.node.as_deref(), p.headline()))
        .collect();
    assert_eq!(
        found,
        vec![
            (None, "wf.toml:1:8: name must not be empty".to_string()),
            (
                None,
                "wf.toml:3:13: max_steps must be at least 1 (it bounds the steps of a run), got 0"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:9:14: node \"a\" has next \"nowhere\", but there is no node \"nowhere\" \
                 (nodes: a, b)"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:9:25: node \"a\" lists next \"b\" twice".to_string()
            ),
            (
                Some("a"),
                "wf.toml:7:22: node \"a\": retry.attempts must be at least 1 (it counts the \
                 first try; 1 = no retries), got 0"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:7:35: node \"a\": retry.backoff is \"slow\", but valid backoffs are: \
                 exponential, fixed"
                    .to_string()
            ),
            (
                Some("a"),
                "wf.toml:8:11: node \"a\": timeout: invalid duration \"soon\": use a number \
                 and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
                    .to_string()
            ),
            (
                Some("b"),
                "wf.toml:14:10: node \"b\" has routes = [], but it needs at least one route"
                    .to_string()
            ),
            (
                Some("b"),
                "wf.toml:13:10: node \"b\": memory must be between 1MiB and 4GiB, got 1KiB"
                    .to_string()
            ),
        ]
    );
    assert_eq!(error(text), found[0].1);
}
