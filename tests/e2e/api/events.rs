//! Live events on a real daemon: a run's Server-Sent Events stream dropped mid-run and
//! resumed with `Last-Event-ID` (complete, in order, no duplicates), every run's stream
//! filtered by workflow, and `watch` and `logs --follow`, which read the database
//! without a daemon. Each test waits for events, never for time.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::{ASK, array};
use crate::fixtures::{DEADLINE, Env};

/// One message of a stream.
#[derive(Debug, Clone)]
struct Message {
    id: String,
    event: String,
    data: Value,
}

/// A Server-Sent Events stream being read.
struct Stream {
    lines: BufReader<Box<dyn Read + Send>>,
}

impl Stream {
    /// `GET path` with `Accept: text/event-stream` (and `Last-Event-ID`).
    fn open(addr: SocketAddr, path: &str, last_event_id: Option<&str>) -> Stream {
        let mut request = ureq::http::Request::builder()
            .uri(format!("http://{addr}{path}"))
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(DEADLINE))
            .build()
            .into();
        let response = agent
            .run(request.body(()).unwrap())
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(response.status(), 200, "GET {path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "GET {path}"
        );
        let reader: Box<dyn Read + Send> = Box::new(response.into_body().into_reader());
        Stream {
            lines: BufReader::new(reader),
        }
    }

    /// The next message (comments skipped); `None` when the stream ended.
    fn next(&mut self) -> Option<Message> {
        let (mut id, mut event, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).expect("read the stream") == 0 {
                assert!(id.is_none() && data.is_none(), "a message cut short");
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if let (Some(id), Some(event), Some(data)) = (id.take(), event.take(), data.take())
                {
                    return Some(Message { id, event, data });
                }
                continue;
            }
            match line.split_once(':') {
                Some(("", _)) => {} // a comment: keep-alive
                Some(("id", value)) => id = Some(value.trim_start().to_owned()),
                Some(("event", value)) => event = Some(value.trim_start().to_owned()),
                Some(("data", value)) => {
                    data = Some(serde_json::from_str(value.trim_start()).expect("JSON data"))
                }
                _ => panic!("not a line of a stream: {line:?}"),
            }
        }
    }

    /// Messages up to and including the first that `stop` accepts.
    fn until(&mut self, stop: impl Fn(&Message) -> bool) -> Vec<Message> {
        let mut got = Vec::new();
        loop {
            let message = self.next().expect("the stream goes on");
            let done = stop(&message);
            got.push(message);
            if done {
                return got;
            }
        }
    }

    /// Every message until the stream ends.
    fn rest(&mut self) -> Vec<Message> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

/// a -> ask (interrupts) -> b -> c -> end, each an `echo` that logs.
const RELAY: &str = r#"
name = "relay"
start = "a"
[nodes.a]
plugin = "echo"
next = "ask"
[nodes.ask]
plugin = "echo"
config = { interrupt = { question = "go on?" } }
next = "b"
[nodes.b]
plugin = "echo"
next = "c"
[nodes.c]
plugin = "echo"
next = "end"
"#;

/// `loop.toml` going round 40 times: 80 steps.
fn long_loop() -> String {
    let text =
        std::fs::read_to_string(crate::fixtures::repo_root().join("examples/workflows/loop.toml"))
            .unwrap();
    text.replace("below = 5", "below = 40")
}

fn env_and_daemon() -> (Env, crate::fixtures::Daemon) {
    let env = Env::new(&["counter", "router", "echo"]);
    env.daemon_workflow("relay", RELAY);
    env.daemon_workflow("long", &long_loop());
    env.daemon_workflow("ask", ASK);
    let daemon = env.serve(&["--workers", "4"]);
    (env, daemon)
}

/// A run's whole event list, from the JSON page.
fn events_page(daemon: &crate::fixtures::Daemon, thread: &str) -> Vec<Value> {
    array(
        daemon
            .get(&format!("/runs/{thread}/events?limit=10000"))
            .json()["entries"]
            .clone(),
    )
}

/// The event ids and log lines of `messages`, checked: each kind's ids strictly grow
/// (no duplicates, in order), and each message's `E-L` id is where the stream is after it.
fn split(messages: &[Message]) -> (Vec<u64>, Vec<String>) {
    let (mut events, mut logs, mut log_ids) = (Vec::new(), Vec::new(), Vec::new());
    for message in messages {
        let (e, l) = message.id.split_once('-').expect("an E-L id");
        let (e, l): (u64, u64) = (e.parse().unwrap(), l.parse().unwrap());
        if message.event == "log" {
            log_ids.push(message.data["id"].as_u64().unwrap());
            assert_eq!(l, *log_ids.last().unwrap(), "{message:?}");
            logs.push(message.data["message"].as_str().unwrap().to_owned());
        } else {
            events.push(message.data["id"].as_u64().unwrap());
            assert_eq!(e, *events.last().unwrap(), "{message:?}");
        }
    }
    for ids in [&events, &log_ids] {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in order, once: {ids:?}"
        );
    }
    (events, logs)
}

#[test]
fn a_dropped_stream_resumes_after_last_event_id_without_gaps() {
    let (env, daemon) = env_and_daemon();

    // Dropped while the run is parked, resumed after it went on without us.
    let created = daemon.post("/runs", &json!({"workflow": "relay", "thread": "ev-1"}));
    assert_eq!(created.status, 201, "{created:?}");
    let mut stream = Stream::open(daemon.addr(), "/runs/ev-1/events", None);
    let first = stream.until(|m| m.event == "interrupted");
    drop(stream);
    let answered = daemon.post("/runs/ev-1/resume", &json!({"input": {"go": true}}));
    assert_eq!(answered.status, 200, "{answered:?}");
    let last = first.last().unwrap().id.clone();
    let rest = Stream::open(daemon.addr(), "/runs/ev-1/events", Some(&last)).rest();
    let all: Vec<Message> = first.iter().chain(&rest).cloned().collect();
    let (events, logs) = split(&all);
    let page = events_page(&daemon, "ev-1");
    let ids: Vec<u64> = page.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(events, ids, "every event, in order, once");
    let names: Vec<&str> = all
        .iter()
        .filter(|m| m.event != "log")
        .map(|m| m.event.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "created",
            "step",
            "interrupted",
            "answered",
            "step",
            "step",
            "completed"
        ]
    );
    assert_eq!(
        all.last().unwrap().event,
        "completed",
        "the stream ends after it"
    );
    let logged: Vec<String> = env
        .logs("ev-1")
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logs, logged, "every log line, in order, once");
    // Each data is the event as the page gives it, with the thread.
    let created = &all.iter().find(|m| m.event == "created").unwrap().data;
    assert_eq!(created["thread"], "ev-1");
    assert_eq!(created["event"], "created");
    assert_eq!(*created, {
        let mut event = page[0].clone();
        event["thread"] = json!("ev-1");
        event
    });

    // Dropped while steps commit, mid-run.
    let created = daemon.post("/runs", &json!({"workflow": "long", "thread": "ev-2"}));
    assert_eq!(created.status, 201, "{created:?}");
    let mut stream = Stream::open(daemon.addr(), "/runs/ev-2/events", None);
    let first = stream.until(|m| m.event == "step" && m.data["step"] == 3);
    drop(stream);
    let last = first.last().unwrap().id.clone();
    let rest = Stream::open(daemon.addr(), "/runs/ev-2/events", Some(&last)).rest();
    let all: Vec<Message> = first.iter().chain(&rest).cloned().collect();
    let (events, _) = split(&all);
    let page = events_page(&daemon, "ev-2");
    let ids: Vec<u64> = page.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(events, ids, "every event, in order, once");
    assert_eq!(page.len(), 81, "created and 80 steps");
    assert_eq!(all.last().unwrap().event, "completed");

    // A finished run's stream sends what there is and ends; an unknown run is 404.
    let again = Stream::open(daemon.addr(), "/runs/ev-2/events", None).rest();
    assert_eq!(split(&again).0, ids);
    assert_eq!(daemon.get("/runs/ghost/events").status, 404);
    let bad = crate::fixtures::request(
        daemon.addr(),
        "GET",
        "/runs/ev-2/events",
        &[("Last-Event-ID", "12-x")],
        b"",
    );
    assert!(bad.error(400).contains("Last-Event-ID"), "{bad:?}");
    // An id past the database's newest event was never sent (the outside tester
    // got 200 and silence): refused too, on a run's stream and on every run's.
    for (path, id) in [("/runs/ev-2/events", "99999999-0"), ("/events", "99999999")] {
        let ahead =
            crate::fixtures::request(daemon.addr(), "GET", path, &[("Last-Event-ID", id)], b"");
        let message = ahead.error(400);
        assert!(message.contains("newest event"), "{path}: {ahead:?}");
    }
}

#[test]
fn every_runs_stream_sends_what_happens_from_now_filtered_by_workflow() {
    let (_env, daemon) = env_and_daemon();
    let before = daemon.post("/runs", &json!({"workflow": "ask", "thread": "old"}));
    assert_eq!(before.status, 201, "{before:?}");
    daemon.wait_run("old", "interrupted", |s| s["status"] == "interrupted");

    let mut relays = Stream::open(daemon.addr(), "/events?workflow=relay", None);
    let mut every = Stream::open(daemon.addr(), "/events", None);
    // An `ask` run first: every run's stream sends its events before the relay's,
    // the relay stream none of them.
    let other = daemon.post("/runs", &json!({"workflow": "ask", "thread": "other"}));
    assert_eq!(other.status, 201, "{other:?}");
    daemon.wait_run("other", "interrupted", |s| s["status"] == "interrupted");
    let relay = daemon.post("/runs", &json!({"workflow": "relay", "thread": "rel"}));
    assert_eq!(relay.status, 201, "{relay:?}");

    let seen = relays.until(|m| m.event == "interrupted");
    assert!(seen.iter().all(|m| m.data["thread"] == "rel"), "{seen:?}");
    assert_eq!(seen[0].event, "created");
    let ids: Vec<u64> = seen.iter().map(|m| m.id.parse().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        seen.iter()
            .all(|m| m.data["id"] == json!(m.id.parse::<u64>().unwrap()))
    );

    let all = every.until(|m| m.data["thread"] == "rel" && m.event == "interrupted");
    let threads: Vec<&str> = all
        .iter()
        .map(|m| m.data["thread"].as_str().unwrap())
        .collect();
    assert!(!threads.contains(&"old"), "from now on only: {threads:?}");
    let first_rel = threads.iter().position(|t| *t == "rel").unwrap();
    assert!(
        threads[..first_rel].iter().all(|t| *t == "other") && first_rel > 0,
        "{threads:?}"
    );
    assert_eq!(
        all[first_rel..]
            .iter()
            .map(|m| m.id.clone())
            .collect::<Vec<_>>(),
        seen.iter().map(|m| m.id.clone()).collect::<Vec<_>>()
    );

    // Resumed after the last id it got, every run's stream goes on from there.
    let last = seen.last().unwrap().id.clone();
    drop(relays);
    let answered = daemon.post("/runs/rel/resume", &json!({"input": {"go": true}}));
    assert_eq!(answered.status, 200, "{answered:?}");
    let mut resumed = Stream::open(daemon.addr(), "/events?workflow=relay", Some(&last));
    let after = resumed.until(|m| m.event == "completed");
    assert_eq!(after[0].event, "answered", "{after:?}");
}

#[test]
fn watch_and_logs_follow_read_the_database_until_the_run_ends_or_parks() {
    let env = Env::new(&["counter", "router", "echo"]);
    env.daemon_workflow("relay", RELAY);
    let relay = "workflows/relay.toml";

    // Started for a daemon that is not there yet: both wait, then follow it live.
    env.ok(&["start", relay, "--thread", "w-1"]);
    let mut watch = env.command(&["watch", "w-1", "--json"]);
    let watch = watch
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start watch");
    let mut follow = env.command(&["logs", "w-1", "--follow"]);
    let follow = follow
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start logs --follow");
    let daemon = env.serve(&["--workers", "2"]);
    // `watch` stops where the run parks: exit code 3, as `run`'s.
    let watched = watch.wait_with_output().unwrap();
    assert_eq!(watched.status.code(), Some(3), "{watched:?}");
    let lines: Vec<Value> = String::from_utf8(watched.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "step", "interrupted"]);
    assert!(lines.iter().all(|e| e["thread"] == "w-1"));

    // `logs --follow` goes on until the run has finished.
    let answered = daemon.post("/runs/w-1/resume", &json!({"input": {"go": true}}));
    assert_eq!(answered.status, 200, "{answered:?}");
    let followed = follow.wait_with_output().unwrap();
    assert!(followed.status.success(), "{followed:?}");
    let text = String::from_utf8(followed.stdout).unwrap();
    let logged = env.logs("w-1");
    assert_eq!(text.lines().count(), logged.len(), "{text}");
    for (line, log) in text.lines().zip(&logged) {
        assert!(line.ends_with(log["message"].as_str().unwrap()), "{line}");
    }

    // A completed run: its events, then exit 0; a parked one from the start: 3.
    let out = env.ok(&["watch", "w-1"]);
    assert!(out.lines().last().unwrap().contains("completed"), "{out}");
    env.ok(&["start", relay, "--thread", "w-2"]);
    env.wait_status("w-2", "interrupted", |s| s["status"] == "interrupted");
    env.exits(3, &["watch", "w-2"]);
    let cancelled = daemon.post("/runs/w-2/cancel", &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    env.exits(4, &["watch", "w-2"]);
    env.exits(5, &["watch", "ghost"]);
    env.exits(5, &["logs", "ghost", "--follow"]);
}
