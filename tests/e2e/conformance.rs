//! The conformance suite: the same checks against the `counter` node of every
//! language (the contract is `guest-sdk/CONFORMANCE.md`), and against the node
//! that `savepoint new node` makes in every language, built outside the checkout
//! with its own `build.sh` (the template contract: the same keys, defaults, schema
//! and errors). A language that fails one fails CI.

use serde_json::{Value, json};

use crate::fixtures::{Env, Lang, golden, lang_guest, template_guest};

/// A scratch environment whose `plugins/counter.wasm` is `lang`'s counter.
fn env(lang: Lang) -> Env {
    let env = Env::new(&[]);
    env.add_plugin("counter", &lang_guest(lang, "counter"));
    env
}

/// A workflow of one counter node `a` with `config`, then `end`.
fn one_node(env: &Env, config: &str, extra: &str) -> String {
    env.workflow(
        "one.toml",
        &format!(
            "name = \"one\"\nstart = \"a\"\n{extra}\n[nodes.a]\nplugin = \"counter\"\nconfig = {config}\nnext = \"end\"\n"
        ),
    )
}

fn state_round_trip(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, r#"{ mode = "echo" }"#, "");
    let payload = json!({
        "text": "Zoë 🚀 日本語 \"quoted\" \\ back\nslash\ttab \u{1}",
        "nested": {"list": [1, [2, [3, {"deep": null}]]], "empty_obj": {}, "empty_list": []},
        "big": 9007199254740991_i64,
        "negative": -42,
        "float": -3.5,
        "tiny": 1.5e-7,
        "bools": [true, false],
    });
    let input = json!({"count": 0, "payload": payload}).to_string();
    env.ok(&["run", &workflow, "--thread", "rt", "--input", &input]);
    let state = env.state("rt");
    assert!(
        same_json(&state["echo"], &payload),
        "{lang:?}: the state survives the round trip: {} != {payload}",
        state["echo"]
    );
    assert_eq!(state["count"], 1);
}

/// Equal JSON values, numbers compared by value: the host keeps a number as the node
/// wrote it (every digit of a big integer), and languages spell floats differently
/// (Python writes `1.5e-07` for `1.5e-7`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || x.as_i64().zip(y.as_i64()).is_some_and(|(x, y)| x == y)
                || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn update_merge(lang: Lang) {
    let env = env(lang);
    let workflow = env.workflow(
        "merge.toml",
        r#"
name = "merge"
start = "a"
[state]
trace = "append"
[nodes.a]
plugin = "counter"
config = { by = 2, trace = true }
next = "b"
[nodes.b]
plugin = "counter"
config = { by = 3, trace = true }
next = "end"
"#,
    );
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "m",
        "--input",
        r#"{"count":10,"keep":"me"}"#,
    ]);
    assert_eq!(
        env.state("m"),
        json!({"count": 15, "keep": "me", "trace": ["a", "b"]})
    );
}

fn goto_routing(lang: Lang) {
    let env = env(lang);
    let workflow = env.workflow(
        "goto.toml",
        r#"
name = "goto"
start = "a"
[nodes.a]
plugin = "counter"
config = { mode = "goto", goto = "c" }
routes = ["b", "c"]
[nodes.b]
plugin = "counter"
next = "end"
[nodes.c]
plugin = "counter"
config = { by = 10 }
next = "end"
"#,
    );
    env.ok(&["run", &workflow, "--thread", "g"]);
    let nodes: Vec<Value> = env.history("g").iter().map(|c| c["node"].clone()).collect();
    assert_eq!(nodes, vec![json!("c"), json!("a")]);
    assert_eq!(env.state("g")["count"], 11);
}

fn interrupt_and_resume(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, r#"{ mode = "interrupt", question = "ok, Zoë?" }"#, "");
    env.exits(3, &["run", &workflow, "--thread", "i"]);
    let status = env.status("i");
    assert_eq!(status["status"], "interrupted", "{status}");
    assert_eq!(status["waiting_for"], json!({"question": "ok, Zoë?"}));
    let answer = json!({"ok": 1, "who": "Zoë"});
    env.ok(&["resume", "i", "--input", &answer.to_string()]);
    let state = env.state("i");
    assert_eq!(state["answer"], answer, "{lang:?}: the node saw the input");
    assert_eq!(state["count"], 1);
}

fn sleep_then_wake(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, r#"{ mode = "sleep", sleep_ms = 100 }"#, "");
    env.exits(3, &["run", &workflow, "--thread", "s"]);
    let status = env.status("s");
    assert_eq!(status["status"], "sleeping", "{status}");
    assert_eq!(env.state("s")["slept"], true);
    env.ok(&["resume", "s"]);
    let state = env.state("s");
    assert_eq!(state["wakes"], 1, "{state}");
    assert_eq!(state["count"], 1);
}

fn retryable_then_fatal(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(
        &env,
        r#"{ mode = "retryable", fail_attempts = 2, message = "not yet" }"#,
        "",
    );
    let workflow_text = std::fs::read_to_string(env.path().join(&workflow)).unwrap();
    let workflow_text = workflow_text.replace(
        "next = \"end\"",
        "next = \"end\"\nretry = { attempts = 3, initial = \"50ms\", backoff = \"fixed\", jitter = 0.0 }",
    );
    let workflow = env.workflow("retry.toml", &workflow_text);
    env.ok(&["run", &workflow, "--thread", "r", "--wait"]);
    assert_eq!(env.state("r")["count"], 1);
    let attempts: Vec<u64> = env
        .logs("r")
        .iter()
        .filter(|l| l["level"] == "info" && l["node"] == "a")
        .filter_map(|l| l["attempt"].as_u64())
        .collect();
    assert_eq!(
        attempts,
        vec![1, 2, 3],
        "{lang:?}: two retryable failures, then success"
    );

    let workflow = env.workflow(
        "fatal.toml",
        "name = \"fatal\"\nstart = \"a\"\nretry = { attempts = 3 }\n[nodes.a]\nplugin = \"counter\"\n\
         config = { mode = \"fatal\", message = \"no way\" }\nnext = \"end\"\n",
    );
    env.exits(1, &["run", &workflow, "--thread", "f"]);
    let status = env.status("f");
    assert_eq!(
        status["status"], "failed",
        "a fatal failure is not retried: {status}"
    );
    assert_eq!(status["attempt"], 1);
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("node \"a\"") && error.contains("fatal") && error.contains("no way"),
        "{error}"
    );
}

fn panic_is_a_failure_naming_the_node(lang: Lang) {
    let env = env(lang);
    let message = format!("boom-{}", lang.folder());
    let workflow = one_node(
        &env,
        &format!(r#"{{ mode = "panic", message = "{message}" }}"#),
        "",
    );
    env.exits(1, &["run", &workflow, "--thread", "p"]);
    let status = env.status("p");
    assert_eq!(status["status"], "failed", "{status}");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("node \"a\""),
        "{lang:?}: names the node: {error}"
    );
    let logs = env.logs("p");
    let said = error.contains(&message)
        || logs
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(&message)));
    assert!(
        said,
        "{lang:?}: the message reaches the error or the log: {error} {logs:?}"
    );
    assert!(
        env.history("p").is_empty(),
        "no checkpoint for the failed step"
    );
}

fn log_reaches_the_run(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, "{}", "");
    env.ok(&["run", &workflow, "--thread", "l"]);
    let logs = env.logs("l");
    assert!(
        logs.iter().any(|l| l["level"] == "info"
            && l["node"] == "a"
            && l["message"].as_str() == Some("a: count call, attempt 1")),
        "{lang:?}: {logs:?}"
    );
}

fn context_is_visible(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, r#"{ mode = "context", by = 2 }"#, "");
    env.ok(&["run", &workflow, "--thread", "ctx-t"]);
    let ctx = env.state("ctx-t")["ctx"].clone();
    assert_eq!(ctx["thread"], "ctx-t", "{ctx}");
    assert_eq!(ctx["node"], "a");
    assert_eq!(ctx["step"], 1);
    assert_eq!(ctx["attempt"], 1);
    assert_eq!(ctx["idempotency_key"], "ctx-t/1/a");
    assert_eq!(ctx["resume"], Value::Null);
    assert_eq!(ctx["interrupt_timed_out"], false);
    assert_eq!(ctx["wakes"], 0);
    // The fencing token: 1 for the run's first holder, never 0 (no lease).
    assert!(ctx["lease_epoch"].as_u64().is_some_and(|e| e >= 1), "{ctx}");
    assert_eq!(ctx["config"]["by"], 2);
    assert_eq!(ctx["config"]["mode"], "context");
    assert_eq!(env.state("ctx-t")["count"], 2);
}

/// `fanout` and `item` (WIT 0.2.0): the counter sends one call of `b` per element of
/// `items`, in order; each call sees its element, its send index and its own
/// idempotency key; their updates merge in send order and the join `c` runs once.
fn fanout_sends_one_call_per_item(lang: Lang) {
    let env = env(lang);
    let workflow = env.workflow(
        "fanout.toml",
        r#"
name = "fanout"
start = "a"
[state]
seen = "append"
[nodes.a]
plugin = "counter"
config = { mode = "fanout", goto = "b" }
next = "c"
[nodes.b]
plugin = "counter"
config = { mode = "item" }
next = "c"
[nodes.c]
plugin = "counter"
config = { by = 10 }
next = "end"
"#,
    );
    let items = json!([1, "Zoë 🚀", {"nested": [true, null]}, -2.5]);
    let input = json!({ "items": items }).to_string();
    env.ok(&["run", &workflow, "--thread", "f", "--input", &input]);
    let state = env.state("f");
    let expected: Vec<Value> = items
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, item)| {
            json!({"item": item, "send_index": i, "idempotency_key": format!("f/2/b/{i}")})
        })
        .collect();
    assert!(
        same_json(&state["seen"], &Value::Array(expected.clone())),
        "{lang:?}: one call per item, in send order: {} != {}",
        state["seen"],
        Value::Array(expected)
    );
    assert_eq!(
        state["count"], 11,
        "{lang:?}: a and the join c counted once: {state}"
    );
    let steps: Vec<(Value, Value)> = env
        .history("f")
        .iter()
        .map(|c| (c["step"].clone(), c["node"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (json!(3), json!("c")),
            (json!(2), json!("b#0,b#1,b#2,b#3")),
            (json!(1), json!("a")),
        ],
        "{lang:?}"
    );
    // No items, no sends: `a` follows its own `next` edge.
    env.ok(&["run", &workflow, "--thread", "none", "--input", "{}"]);
    let state = env.state("none");
    assert_eq!(state["count"], 11, "{lang:?}: {state}");
    assert!(state.get("seen").is_none(), "{lang:?}: {state}");
}

/// `signal` (WIT 0.2.0): the counter waits for its signal (the run parks as
/// `waiting`), and runs again with its name and data once it comes; a signal sent
/// before the wait is received too; past the deadline it runs without one.
fn signal_wait_then_merge(lang: Lang) {
    let env = env(lang);
    let workflow = one_node(&env, r#"{ mode = "signal", signal = "go" }"#, "");
    env.exits(3, &["run", &workflow, "--thread", "s"]);
    let status = env.status("s");
    assert_eq!(status["status"], "waiting", "{lang:?}: {status}");
    assert!(env.history("s").is_empty(), "a wait commits nothing");
    let data = json!({"who": "Zoë 🚀", "n": [1, {"deep": null}], "ok": true});
    env.ok(&["signal", "s", "go", "--data", &data.to_string()]);
    env.ok(&["resume", "s"]);
    let state = env.state("s");
    assert_eq!(
        state,
        json!({"count": 1, "signal": {"name": "go", "data": data}, "timed_out": false}),
        "{lang:?}"
    );

    // Sent before the node waits: kept in the mailbox, received at the wait.
    env.ok(&["start", &workflow, "--thread", "early"]);
    env.ok(&["signal", "early", "go"]);
    env.ok(&["resume", "early"]);
    let state = env.state("early");
    assert_eq!(
        state["signal"],
        json!({"name": "go", "data": null}),
        "{lang:?}: a signal sent without data carries null: {state}"
    );

    // No signal by the deadline: the node runs again with none, timed out.
    let workflow = env.workflow(
        "late.toml",
        "name = \"late\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n\
         config = { mode = \"signal\", signal = \"go\", timeout_ms = 100 }\nnext = \"end\"\n",
    );
    env.ok(&["run", &workflow, "--thread", "late", "--wait"]);
    assert_eq!(
        env.state("late"),
        json!({"count": 1, "signal": null, "timed_out": true}),
        "{lang:?}"
    );
}

macro_rules! conformance {
    ($($language:ident => $lang:expr),* $(,)?) => {$(
        mod $language {
            use super::*;
            #[test] fn state_round_trip() { super::state_round_trip($lang) }
            #[test] fn update_merge() { super::update_merge($lang) }
            #[test] fn goto_routing() { super::goto_routing($lang) }
            #[test] fn interrupt_and_resume() { super::interrupt_and_resume($lang) }
            #[test] fn sleep_then_wake() { super::sleep_then_wake($lang) }
            #[test] fn retryable_then_fatal() { super::retryable_then_fatal($lang) }
            #[test] fn panic_is_a_failure_naming_the_node() { super::panic_is_a_failure_naming_the_node($lang) }
            #[test] fn log_reaches_the_run() { super::log_reaches_the_run($lang) }
            #[test] fn context_is_visible() { super::context_is_visible($lang) }
            #[test] fn fanout_sends_one_call_per_item() { super::fanout_sends_one_call_per_item($lang) }
            #[test] fn signal_wait_then_merge() { super::signal_wait_then_merge($lang) }
        }
    )*};
}

conformance! {
    rust => Lang::Rust,
    python => Lang::Python,
    js => Lang::Js,
    c => Lang::C,
}

/// A scratch environment whose `plugins/greet.wasm` is `lang`'s template node, and
/// a workflow `hello.toml` of one node `a` with `config`.
fn template_env(lang: Lang, config: &str) -> (Env, String) {
    let env = Env::new(&[]);
    env.add_plugin("greet", &template_guest(lang));
    let workflow = env.workflow(
        "hello.toml",
        &format!(
            "name = \"hello\"\nstart = \"a\"\n[nodes.a]\nplugin = \"greet\"\nconfig = {config}\nnext = \"end\"\n"
        ),
    );
    (env, workflow)
}

fn template_greets(lang: Lang) {
    let (env, workflow) = template_env(lang, r#"{ greeting = "Hi", delay_ms = 5 }"#);
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "t",
        "--input",
        r#"{"name": "Ada"}"#,
    ]);
    assert_eq!(
        env.state("t"),
        json!({"name": "Ada", "message": "Hi, Ada!"})
    );
    let logs: Vec<(Value, Value)> = env
        .logs("t")
        .iter()
        .map(|l| (l["level"].clone(), l["message"].clone()))
        .collect();
    assert_eq!(
        logs,
        vec![(json!("info"), json!("greeting Ada"))],
        "{lang:?}"
    );
}

fn template_defaults(lang: Lang) {
    let (env, workflow) = template_env(lang, "{}");
    env.ok(&["run", &workflow, "--thread", "t"]);
    assert_eq!(
        env.state("t"),
        json!({"message": "Hello, world!"}),
        "{lang:?}"
    );
}

/// A name that is not a string fails the run with one message in every language.
fn template_refuses_a_name_that_is_not_a_string(lang: Lang) {
    let (env, workflow) = template_env(lang, "{}");
    for (thread, name) in [("number", "5"), ("null", "null")] {
        let input = format!(r#"{{"name": {name}}}"#);
        env.exits(
            1,
            &["run", &workflow, "--thread", thread, "--input", &input],
        );
        let status = env.status(thread);
        assert_eq!(status["status"], "failed", "{lang:?}: {status}");
        golden("template-bad-name.txt", status["error"].as_str().unwrap());
    }
}

/// Every template declares the same JSON Schema for its config.
fn template_schema(lang: Lang) {
    let (env, _) = template_env(lang, "{}");
    let plugins = env.json(&["plugins", "--json"]);
    let schema = &plugins[0]["info"]["config_schema"];
    let expected = json!({
        "type": "object",
        "properties": {
            "greeting": {
                "type": "string",
                "default": "Hello",
                "description": "The word to greet with."
            },
            "delay_ms": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "How long to wait before answering, in milliseconds."
            }
        },
        "additionalProperties": false
    });
    assert_eq!(schema, &expected, "{lang:?}: {plugins}");
}

/// A config the declared schema refuses (an unknown key, a negative delay) is
/// refused before the node runs, by `validate` and by `run`, in every language
/// alike: the host checks it against the schema from `describe()`.
fn template_schema_refuses_a_bad_config(lang: Lang) {
    let (env, workflow) = template_env(lang, r#"{ greting = "Hi", delay_ms = -1 }"#);
    let (code, stdout, _) = env.exit(&["validate", &workflow, "--json"]);
    assert_eq!(code, Some(2), "{lang:?}: {stdout}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"]["code"], "invalid", "{lang:?}: {error}");
    let found: Vec<(Value, Value, Value)> = error["error"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["node"].clone(), p["field"].clone(), p["severity"].clone()))
        .collect();
    assert_eq!(
        found,
        vec![
            (json!("a"), json!("config.greting"), json!("error")),
            (json!("a"), json!("config.delay_ms"), json!("error")),
        ],
        "{lang:?}: {error}"
    );
    let run = env.exits(2, &["run", &workflow, "--thread", "t"]);
    golden("template-bad-config.txt", &run);
}

macro_rules! template_conformance {
    ($($language:ident => $lang:expr),* $(,)?) => {$(
        mod $language {
            use super::*;
            #[test] fn greets() { super::template_greets($lang) }
            #[test] fn defaults() { super::template_defaults($lang) }
            #[test] fn refuses_a_name_that_is_not_a_string() { super::template_refuses_a_name_that_is_not_a_string($lang) }
            #[test] fn schema() { super::template_schema($lang) }
            #[test] fn schema_refuses_a_bad_config() { super::template_schema_refuses_a_bad_config($lang) }
        }
    )*};
}

/// `conformance::template::<lang>::*`: the node of `savepoint new node`.
mod template {
    use super::*;
    template_conformance! {
        rust => Lang::Rust,
        python => Lang::Python,
        js => Lang::Js,
        c => Lang::C,
    }
}
