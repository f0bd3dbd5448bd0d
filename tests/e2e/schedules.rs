//! Schedules (issue 18): `savepoint schedule add|list|pause|resume|remove` and what
//! they refuse, a workflow file's `[schedule]` table in `validate` and `schedule add`,
//! `serve` starting one run per due time (threads `NAME@TIME`), and a `serve` killed
//! while a schedule fires: after restarts, every due time has exactly one run. (Two
//! hosts on one Postgres: `postgres/schedules.rs`.)

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Env, Messages, ONCE, now_ms, parse_time, wait_for};

/// The schedule's spec as `--json` shows it.
fn schedule(env: &Env, name: &str) -> Value {
    let list = env.json(&["schedule", "list", "--json"]);
    list["schedules"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no schedule {name} in {list}"))
        .clone()
}

/// A time as threads and `--json` write it (RFC 3339, UTC, with or without
/// milliseconds), in unix ms.
pub fn time_ms(text: &str) -> i64 {
    match text.contains('.') {
        true => parse_time(text),
        false => parse_time(&text.replace('Z', ".000Z")),
    }
}

/// The runs schedule `name` started, by due time (from their threads `NAME@TIME`),
/// each with its status.
pub fn scheduled_runs(env: &Env, name: &str) -> BTreeMap<i64, (String, String)> {
    let tag = format!("schedule={name}");
    let page = env.json(&["runs", "--tag", &tag, "--limit", "10000", "--json"]);
    let mut runs = BTreeMap::new();
    for run in page["runs"].as_array().expect("runs") {
        let thread = run["thread"].as_str().expect("thread").to_string();
        let due = thread
            .strip_prefix(&format!("{name}@"))
            .unwrap_or_else(|| panic!("a run tagged {tag} has thread {thread}"));
        let status = run["status"].as_str().expect("status").to_string();
        let previous = runs.insert(time_ms(due), (thread.clone(), status));
        assert!(
            previous.is_none(),
            "two runs for one due time: {thread} and {previous:?}"
        );
    }
    runs
}

/// Every due time of an `every` schedule from its first to `last` (inclusive) has
/// exactly one run, and there is none other.
pub fn assert_one_run_per_due_time(
    runs: &BTreeMap<i64, (String, String)>,
    schedule: &Value,
    last: i64,
) {
    let created = time_ms(schedule["created_at"].as_str().unwrap());
    let every = schedule["spec"]["every_ms"]
        .as_i64()
        .expect("an every schedule");
    let expected: Vec<i64> = (1..)
        .map(|k| created + k * every)
        .take_while(|due| *due <= last)
        .collect();
    let got: Vec<i64> = runs.keys().copied().collect();
    let missing: Vec<&i64> = expected
        .iter()
        .filter(|due| !runs.contains_key(due))
        .collect();
    let extra: Vec<&i64> = got.iter().filter(|due| !expected.contains(due)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "due times {}..={last} every {every} ms: without a run {missing:?}, runs off the \
         schedule {extra:?} (runs: {runs:?})",
        created + every
    );
}

#[test]
fn schedules_are_added_listed_paused_resumed_and_removed() {
    let env = Env::new(&["counter"]);
    let once = env.workflow("once.toml", ONCE);
    let mut said = Messages::new();

    let (code, _, stderr) = env.exit(&[
        "schedule",
        "add",
        "nightly",
        &once,
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Paris",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    said.add(
        "schedule add nightly once.toml --cron ... --tz Europe/Paris",
        &stderr,
    );
    let tick = env.json(&[
        "schedule",
        "add",
        "tick",
        &once,
        "--every",
        "1h",
        "--input",
        r#"{"count": 5}"#,
        "--catch-up",
        "all",
        "--json",
    ]);
    assert_eq!(
        tick["spec"],
        json!({"kind": "every", "every_ms": 3_600_000})
    );
    assert_eq!(
        (&tick["catch_up"], &tick["input"], &tick["paused"]),
        (&json!("all"), &json!({"count": 5}), &json!(false))
    );
    assert_eq!(
        time_ms(tick["next_due"].as_str().unwrap()) - time_ms(tick["created_at"].as_str().unwrap()),
        3_600_000
    );
    let nightly = schedule(&env, "nightly");
    assert_eq!(
        nightly["spec"],
        json!({"kind": "cron", "expr": "30 2 * * *", "tz": "Europe/Paris"})
    );
    assert_eq!(
        (
            &nightly["catch_up"],
            &nightly["workflow"],
            &nightly["last_fired"]
        ),
        (&json!("none"), &json!("once"), &Value::Null)
    );
    said.add("schedule list", &env.ok(&["schedule", "list"]));

    let stderr = env.exits(0, &["schedule", "pause", "nightly"]);
    said.add("schedule pause nightly", &stderr);
    assert_eq!(schedule(&env, "nightly")["paused"], true);
    said.add("schedule list (paused)", &env.ok(&["schedule", "list"]));
    let stderr = env.exits(0, &["schedule", "resume", "nightly"]);
    said.add("schedule resume nightly", &stderr);
    assert_eq!(schedule(&env, "nightly")["paused"], false);
    let stderr = env.exits(0, &["schedule", "remove", "tick"]);
    said.add("schedule remove tick", &stderr);
    let names: Vec<Value> = env.json(&["schedule", "list", "--json"])["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("nightly")]);

    // What is refused, and the exit code of each.
    let refusals: [(i32, &str, &[&str]); 11] = [
        (
            6,
            "the name is taken",
            &["schedule", "add", "nightly", &once, "--every", "1m"],
        ),
        (
            5,
            "pause an unknown schedule",
            &["schedule", "pause", "nope"],
        ),
        (
            5,
            "remove an unknown schedule",
            &["schedule", "remove", "nope"],
        ),
        (
            2,
            "a bad minute field",
            &["schedule", "add", "a", &once, "--cron", "*/61 * * * *"],
        ),
        (
            2,
            "a bad hour field",
            &["schedule", "add", "a", &once, "--cron", "0 25 * * *"],
        ),
        (
            2,
            "a bad day-of-week field",
            &["schedule", "add", "a", &once, "--cron", "0 9 * * funday"],
        ),
        (
            2,
            "three fields",
            &["schedule", "add", "a", &once, "--cron", "* * *"],
        ),
        (
            2,
            "an unknown time zone",
            &[
                "schedule",
                "add",
                "a",
                &once,
                "--cron",
                "0 9 * * *",
                "--tz",
                "Europe/Pariss",
            ],
        ),
        (
            2,
            "a period under a second",
            &["schedule", "add", "a", &once, "--every", "500ms"],
        ),
        (
            2,
            "a bad name",
            &["schedule", "add", "a b", &once, "--every", "1m"],
        ),
        (
            2,
            "no --cron, no --every, no [schedule]",
            &["schedule", "add", "a", &once],
        ),
    ];
    for (code, what, args) in refusals {
        let stderr = env.exits(code, args);
        said.add(&format!("{what} (exit {code})"), &stderr);
    }
    let json = env.exit(&["schedule", "pause", "nope", "--json"]).1;
    said.add("pause an unknown schedule --json", &json);
    said.check("schedules.txt");
    // Nothing refused was stored.
    assert_eq!(
        env.json(&["schedule", "list", "--json"])["schedules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// A workflow with a `[schedule]` table whose cron has a bad hour field.
const BAD_CRON: &str = r#"
name = "once"
start = "count"

[schedule]
cron = "0 25 * * *"
catch_up = "sometimes"

[nodes.count]
plugin = "counter"
next = "end"
"#;

#[test]
fn a_workflow_s_schedule_table_is_validated_and_taken_by_schedule_add() {
    let env = Env::new(&["counter"]);
    let bad = env.workflow("bad.toml", BAD_CRON);
    let mut said = Messages::new();
    said.add("validate bad.toml", &env.exits(2, &["validate", &bad]));
    let json = env.exit(&["validate", &bad, "--json"]).1;
    said.add("validate bad.toml --json", &json);
    said.add(
        "schedule add a bad.toml",
        &env.exits(2, &["schedule", "add", "a", &bad]),
    );
    said.check("schedule-table.txt");

    let good = env.workflow(
        "good.toml",
        &format!(
            "{ONCE}\n[schedule]\nevery = \"2h\"\ncatch_up = \"last\"\ninput = {{ count = 3 }}\n"
        ),
    );
    env.ok(&["validate", &good]);
    let added = env.json(&["schedule", "add", "hourly", &good, "--json"]);
    assert_eq!(
        (&added["spec"], &added["catch_up"], &added["input"]),
        (
            &json!({"kind": "every", "every_ms": 7_200_000}),
            &json!("last"),
            &json!({"count": 3})
        )
    );
    // Flags win over the table.
    let replaced = env.json(&[
        "schedule",
        "add",
        "hourly",
        &good,
        "--cron",
        "0 * * * *",
        "--catch-up",
        "none",
        "--replace",
        "--json",
    ]);
    assert_eq!(
        (
            &replaced["spec"]["expr"],
            &replaced["catch_up"],
            &replaced["input"]
        ),
        (&json!("0 * * * *"), &json!("none"), &json!({"count": 3}))
    );
    // A run of the file ignores the table.
    assert_eq!(env.json(&["run", &good, "--json"])["status"], "completed");
}

#[test]
fn serve_starts_one_run_per_due_time_of_an_every_second_schedule() {
    let env = Env::new(&["counter"]);
    let once = env.workflow("once.toml", ONCE);
    let _daemon = env.serve(&[]);
    env.ok(&["schedule", "add", "tick", &once, "--every", "1s"]);
    let runs = wait_for("three completed runs of schedule tick", DEADLINE, || {
        let runs = scheduled_runs(&env, "tick");
        let done = runs.values().filter(|(_, s)| s == "completed").count();
        match done >= 3 {
            true => Ok(runs),
            false => Err(format!("{runs:?}")),
        }
    });
    let tick = schedule(&env, "tick");
    let created = time_ms(tick["created_at"].as_str().unwrap());
    for (due, (thread, status)) in runs.iter().filter(|(_, (_, s))| s == "completed") {
        assert_eq!((due - created) % 1000, 0, "{thread} is not a due time");
        assert!(*due > created, "{thread} is before the schedule");
        assert_eq!(env.state(thread)["count"], 1, "{thread} ({status})");
        assert_eq!(env.status(thread)["tags"], json!({"schedule": "tick"}));
    }
    let last = tick["last_fired"].as_str().expect("fired");
    assert!(time_ms(last) >= *runs.keys().next().unwrap());
}

/// `serve` is SIGKILLed three times at a varying moment just after a run of an
/// every-second schedule was created (so often while it fires: creating the due
/// time's run, then moving the schedule on), and restarted, once at once and twice
/// after a downtime longer than the 5 s a due time stays on time (so that the missed
/// due times are caught up, `--catch-up all`). Then every due time from the first to the
/// last fired has exactly one run, and every run completes.
#[test]
fn a_serve_killed_while_a_schedule_fires_leaves_each_due_time_one_run() {
    let env = Env::new(&["counter"]);
    let once = env.workflow("once.toml", ONCE);
    env.ok(&[
        "schedule",
        "add",
        "tick",
        &once,
        "--every",
        "1s",
        "--catch-up",
        "all",
    ]);
    // The downtime before each restart: a deliberate outage, not a wait for an event.
    let downtimes = [
        Duration::ZERO,
        Duration::from_millis(6_500),
        Duration::from_secs(7),
    ];
    for (kill, downtime) in downtimes.into_iter().enumerate() {
        let mut daemon = env.serve(&[]);
        let before = scheduled_runs(&env, "tick").len();
        wait_for("a new run of schedule tick", DEADLINE, || {
            let now = scheduled_runs(&env, "tick").len();
            match now > before {
                true => Ok(()),
                false => Err(format!("{now} runs")),
            }
        });
        // 0 to 900 ms after it: somewhere in the next firing, or between two.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(u64::from(nanos % 10) * 100));
        daemon.kill();
        let runs = scheduled_runs(&env, "tick").len();
        eprintln!("kill {kill}: {runs} runs; down for {downtime:?}");
        std::thread::sleep(downtime);
    }
    let restarted = now_ms();
    let mut daemon = env.serve(&[]);
    // Caught up, and fired on time since the restart.
    wait_for("schedule tick to fire after the restart", DEADLINE, || {
        let tick = schedule(&env, "tick");
        match tick["last_fired"].as_str().map(time_ms) {
            Some(last) if last > restarted => Ok(()),
            other => Err(format!("last fired {other:?}")),
        }
    });
    env.ok(&["schedule", "pause", "tick"]);
    wait_for("every run of schedule tick to complete", DEADLINE, || {
        let runs = scheduled_runs(&env, "tick");
        match runs.values().all(|(_, status)| status == "completed") {
            true => Ok(()),
            false => Err(format!("{runs:?}")),
        }
    });
    daemon.terminate();
    let tick = schedule(&env, "tick");
    let last = time_ms(tick["last_fired"].as_str().unwrap());
    let runs = scheduled_runs(&env, "tick");
    assert_one_run_per_due_time(&runs, &tick, last);
    for (thread, status) in runs.values() {
        assert_eq!(status, "completed", "{thread}");
        assert_eq!(env.state(thread)["count"], 1, "{thread}: one step, once");
    }
}

/// The same through the API of a running `serve`: `POST /schedules` (a workflow of its
/// folder), `GET /schedules[/{name}]`, pause, resume, `DELETE`, and what it refuses, in
/// the API's words (no CLI flag in them).
#[test]
fn the_api_adds_lists_pauses_resumes_and_removes_schedules() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow("once", ONCE);
    let daemon = env.serve(&[]);
    let body = json!({"name": "nightly", "workflow": "once", "cron": "30 2 * * *",
                      "tz": "Europe/Paris", "catch_up": "last", "input": {"count": 2}});
    let added = daemon.post("/schedules", &body);
    assert_eq!(added.status, 201, "{}", added.body);
    let added = added.json();
    assert_eq!(
        (&added["spec"], &added["catch_up"], &added["input"]),
        (
            &json!({"kind": "cron", "expr": "30 2 * * *", "tz": "Europe/Paris"}),
            &json!("last"),
            &json!({"count": 2})
        )
    );
    assert_eq!(daemon.get("/schedules/nightly").json(), added);
    assert_eq!(
        daemon.get("/schedules").json(),
        json!({"schedules": [added]})
    );
    let paused = daemon.post("/schedules/nightly/pause", &json!({})).json();
    assert_eq!(paused["paused"], true);
    assert_eq!(schedule(&env, "nightly")["paused"], true, "the CLI sees it");
    let resumed = daemon.post("/schedules/nightly/resume", &json!({})).json();
    assert_eq!(resumed["paused"], false);

    let mut said = Messages::new();
    let refusals = [
        (
            "the name is taken",
            json!({"name": "nightly", "workflow": "once", "every": "1m"}),
        ),
        (
            "a bad minute field",
            json!({"name": "a", "workflow": "once", "cron": "*/61 * * * *"}),
        ),
        (
            "an unknown time zone",
            json!({"name": "a", "workflow": "once", "cron": "0 9 * * *", "tz": "Mars/Olympus"}),
        ),
        (
            "a period under a second",
            json!({"name": "a", "workflow": "once", "every": "10ms"}),
        ),
        (
            "no cron, no every, no [schedule]",
            json!({"name": "a", "workflow": "once"}),
        ),
        (
            "an unknown workflow",
            json!({"name": "a", "workflow": "nope", "every": "1m"}),
        ),
    ];
    for (what, body) in refusals {
        let reply = daemon.post("/schedules", &body);
        said.add(
            &format!("POST /schedules, {what}: {}", reply.status),
            &reply.body,
        );
    }
    let removed = http_delete(&daemon, "/schedules/nightly");
    assert_eq!(removed, json!({"name": "nightly", "removed": true}));
    let gone = daemon.get("/schedules/nightly");
    said.add(
        &format!("GET /schedules/nightly, removed: {}", gone.status),
        &gone.body,
    );
    said.check("api-schedules.txt");
    assert_eq!(daemon.get("/schedules").json(), json!({"schedules": []}));
}

fn http_delete(daemon: &crate::fixtures::Daemon, path: &str) -> Value {
    let reply = crate::fixtures::http(daemon.addr(), "DELETE", path, None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}
