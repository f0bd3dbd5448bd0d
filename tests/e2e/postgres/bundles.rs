//! Run bundles move runs between the backends both ways: a run parked on one
//! (waiting for an answer, or asleep) is exported, imported into the other
//! (another scratch folder, with no plugin files: another machine), and
//! completes there with the history it had, while the original stays as it
//! was.

use serde_json::{Value, json};

use super::cluster::Schema;
use crate::fixtures::{Db, Env};

/// A first step, then a sleep of 2 s (long enough to be still asleep when it
/// arrives in the other database), then a last step.
const NAP: &str = r#"
name = "nap"
start = "first"
[state]
trace = "append"

[nodes.first]
plugin = "counter"
config = { trace = true }
next = "nap"

[nodes.nap]
plugin = "counter"
config = { mode = "sleep", sleep_ms = 2000 }
next = "last"

[nodes.last]
plugin = "counter"
config = { trace = true }
next = "end"
"#;

fn sqlite(plugins: &[&str]) -> Env {
    Env::with_db(plugins, Db::Sqlite)
}

fn postgres(plugins: &[&str], schema: &Schema) -> Env {
    Env::with_db(plugins, Db::Url(schema.url()))
}

/// Export `thread` from `from` and import it into `to`; checks that it
/// arrives as it was: status, state, every checkpoint and every log line.
fn carry(thread: &str, from: &Env, to: &Env) {
    let bundle = from.path().join(format!("{thread}.bundle"));
    let bundle = bundle.display().to_string();
    from.ok(&["export", thread, "-o", &bundle]);
    let imported = to.ok(&["import", &bundle]);
    assert_eq!(imported.trim(), thread);
    assert_eq!(to.status(thread), from.status(thread));
    assert_eq!(to.state(thread), from.state(thread));
    assert_eq!(to.history(thread), from.history(thread));
    assert_eq!(to.logs(thread), from.logs(thread));
}

/// The node of each checkpoint of `thread`, newest first.
fn nodes(env: &Env, thread: &str) -> Vec<String> {
    let node = |c: &Value| c["node"].as_str().expect("node").to_string();
    env.history(thread).iter().map(node).collect()
}

#[test]
fn a_run_waiting_for_an_answer_moves_from_sqlite_to_postgres_and_completes_there() {
    let schema = Schema::fresh();
    let here = sqlite(&["counter", "approval"]);
    let there = postgres(&[], &schema);
    let workflow = here.example_workflow("approval.toml");
    let input = r#"{"title": "Hello"}"#;
    here.exits(
        3,
        &["run", &workflow, "--thread", "post-1", "--input", input],
    );
    assert_eq!(here.status("post-1")["status"], "interrupted");

    carry("post-1", &here, &there);
    let answer = r#"{"approved": true, "comment": "ship it"}"#;
    there.ok(&["resume", "post-1", "--input", answer]);

    assert_eq!(there.status("post-1")["status"], "completed");
    assert_eq!(
        there.state("post-1"),
        json!({"title": "Hello", "count": 2, "trace": ["draft", "publish"],
               "approved": true, "comment": "ship it", "timed_out": false})
    );
    assert_eq!(
        nodes(&there, "post-1"),
        ["publish", "review", "draft"],
        "newest first"
    );
    assert_eq!(
        here.status("post-1")["status"],
        "interrupted",
        "the original waits"
    );
}

#[test]
fn a_sleeping_run_moves_from_postgres_to_sqlite_and_completes_there() {
    let schema = Schema::fresh();
    let here = postgres(&["counter"], &schema);
    let there = sqlite(&[]);
    let workflow = here.workflow("nap.toml", NAP);
    here.exits(3, &["run", &workflow, "--thread", "nap-1"]);
    assert_eq!(here.status("nap-1")["status"], "sleeping");

    carry("nap-1", &here, &there);
    // Resumed before it is due, it waits until then.
    there.ok(&["resume", "nap-1", "--wait"]);

    assert_eq!(there.status("nap-1")["status"], "completed");
    assert_eq!(
        there.state("nap-1"),
        json!({"count": 3, "trace": ["first", "last"], "slept": true, "wakes": 1})
    );
    assert_eq!(
        nodes(&there, "nap-1"),
        ["last", "nap", "nap", "first"],
        "newest first"
    );
    assert_eq!(
        here.status("nap-1")["status"],
        "sleeping",
        "the original sleeps"
    );
}
