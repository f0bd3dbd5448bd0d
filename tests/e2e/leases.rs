//! Who may call a node, and what the call is told: a call replayed after a
//! crash sees the next attempt number; a host that stalls past its lease
//! does nothing more for the run once it wakes (its call in flight is
//! stopped), and the node's lease epoch, its fencing token, grows on every
//! takeover.
//!
//! The node here is `hostile` in `report` mode: it makes its side effects
//! visible as HTTP requests to a [`Witness`] server the test runs (`/start`,
//! then `/end`), which records them in arrival order and can hold a request
//! unanswered, so that the test knows a call is in flight and keeps it there.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};

use serde_json::json;

use crate::fixtures::{DEADLINE, Env, wait_for};

/// One request a node made: `/<mark>?thread=..&step=..&attempt=..&epoch=..`.
#[derive(Debug, Clone)]
struct Request {
    /// Arrival order among all the requests the witness got.
    seq: usize,
    /// `start` or `end`.
    mark: String,
    thread: String,
    step: u64,
    attempt: u64,
    epoch: u64,
}

#[derive(Default)]
struct Seen {
    requests: Vec<Request>,
    /// Connections of held requests, by `seq`, until the witness drops them.
    held: HashMap<usize, TcpStream>,
}

/// A local HTTP server that records every request it gets and answers it at
/// once, unless `hold` says to keep it unanswered.
struct Witness {
    port: u16,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl Witness {
    fn start(hold: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the witness");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let hold = Arc::new(hold);
        {
            let seen = seen.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (seen, hold) = (seen.clone(), hold.clone());
                    std::thread::spawn(move || answer(stream, &seen, &*hold));
                }
            });
        }
        Witness { port, seen }
    }

    /// Every request so far, in arrival order.
    fn requests(&self) -> Vec<Request> {
        self.seen.0.lock().unwrap().requests.clone()
    }

    /// Answer the held request `seq` now.
    fn release(&self, seq: usize) {
        let stream = self.seen.0.lock().unwrap().held.remove(&seq);
        let mut stream = stream.unwrap_or_else(|| panic!("request {seq} is not held"));
        stream.write_all(OK).expect("answer the held request");
    }

    /// Wait (bounded by [`DEADLINE`]) for the first request after the first
    /// `after` that `matches`.
    fn wait(&self, what: &str, after: usize, matches: impl Fn(&Request) -> bool) -> Request {
        let (lock, arrived) = &*self.seen;
        let seen = lock.lock().unwrap();
        let (seen, timeout) = arrived
            .wait_timeout_while(seen, DEADLINE, |seen| {
                !seen.requests.iter().skip(after).any(&matches)
            })
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "gave up after {DEADLINE:?} waiting for {what}; requests: {:?}",
            seen.requests
        );
        seen.requests
            .iter()
            .skip(after)
            .find(|r| matches(r))
            .cloned()
            .unwrap()
    }
}

/// Read one request from `stream`, record it, and answer it (or hold it).
fn answer(stream: TcpStream, seen: &(Mutex<Seen>, Condvar), hold: &dyn Fn(&Request) -> bool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut head = String::new();
    if reader.read_line(&mut head).is_err() {
        return;
    }
    // The rest of the head, up to the empty line (a GET has no body).
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: HashMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let number = |key: &str| params.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
    let (lock, arrived) = seen;
    let mut seen = lock.lock().unwrap();
    let request = Request {
        seq: seen.requests.len(),
        mark: path.trim_start_matches('/').to_string(),
        thread: params.get("thread").unwrap_or(&"").to_string(),
        step: number("step"),
        attempt: number("attempt"),
        epoch: number("epoch"),
    };
    seen.requests.push(request.clone());
    arrived.notify_all();
    if hold(&request) {
        seen.held.insert(request.seq, stream);
        return;
    }
    drop(seen);
    let mut stream = stream;
    let _ = stream.write_all(OK);
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

fn report_workflow(env: &Env, port: u16) -> String {
    env.workflow(
        "report.toml",
        &format!(
            r#"
name = "report"
start = "effect"
[nodes.effect]
plugin = "hostile"
config = {{ mode = "report", port = {port} }}
allow_http = ["127.0.0.1:{port}"]
next = "end"
"#
        ),
    )
}

#[test]
fn a_call_replayed_after_a_crash_sees_the_next_attempt() {
    // The calls of attempts 1 and 2 never get an answer: they are in flight
    // when their process is killed.
    let witness = Witness::start(|r| r.attempt < 3);
    let env = Env::new(&["hostile"]);
    let workflow = report_workflow(&env, witness.port);

    let mut seen = 0;
    let mut process = env.spawn(&["run", &workflow, "--thread", "crashy"]);
    for attempt in 1..=3 {
        let call = witness.wait("a call to start", seen, |r| r.mark == "start");
        assert_eq!(
            (call.thread.as_str(), call.step, call.attempt),
            ("crashy", 1, attempt),
            "call {attempt} after {} kills: {call:?}",
            attempt - 1
        );
        seen = call.seq + 1;
        if attempt < 3 {
            drop(process); // SIGKILL while the node is in its call
            process = env.spawn(&["resume", "crashy"]);
        }
    }
    let exit = process.wait_exit("the third attempt to complete the run");
    assert!(exit.success(), "{exit}");
    assert_eq!(env.state("crashy"), json!({"attempt": 3}));
    let marks: Vec<(String, u64)> = witness
        .requests()
        .into_iter()
        .map(|r| (r.mark, r.attempt))
        .collect();
    let expected = [("start", 1), ("start", 2), ("start", 3), ("end", 3)];
    assert_eq!(
        marks,
        expected.map(|(m, a)| (m.to_string(), a)),
        "the side effects"
    );
}

/// Send `signal` to the process `pid`.
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on the pid of a child the test has not reaped.
    let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(sent, 0, "send signal {signal} to {pid}");
}

#[test]
fn a_host_that_stalls_past_its_lease_does_nothing_more_for_the_run() {
    const LEASE: &str = "3s";
    // The first call (lease epoch 1, daemon A) is held in its first side
    // effect until the test lets it go; everything else is answered at once.
    let witness = Witness::start(|r| r.mark == "start" && r.epoch == 1);
    let env = Env::new(&["hostile"]);
    let port = witness.port;
    let workflow = env.daemon_workflow(
        "report",
        &format!(
            r#"
name = "report"
start = "effect"
[nodes.effect]
plugin = "hostile"
config = {{ mode = "report", port = {port} }}
allow_http = ["127.0.0.1:{port}"]
next = "end"
"#
        ),
    );
    // A logs its run events (RUST_LOG), so it says when it lost the run.
    let a = env.serve_with(&["--lease", LEASE, "--workers", "2"], |command| {
        command.env("RUST_LOG", "warn,savepoint_runtime::events=info");
    });
    env.ok(&["start", &workflow, "--thread", "stall"]);
    let first = witness.wait("A's call to start", 0, |r| r.mark == "start");
    assert_eq!((first.epoch, first.attempt), (1, 1), "{first:?}");
    let b = env.serve(&["--lease", LEASE, "--workers", "2"]);

    // A stalls with its call in flight; past the lease, B takes the run over.
    signal(a.pid(), libc::SIGSTOP);
    let taken = witness.wait("B's call to start", first.seq + 1, |r| r.mark == "start");
    b.wait_run("stall", "completed by B", |s| s["status"] == "completed");
    // A's side effect gets its answer while A is still stopped, so A's node
    // could go on at the instant A wakes.
    witness.release(first.seq);
    signal(a.pid(), libc::SIGCONT);
    let stopped = wait_for("A to stop its call", DEADLINE, || {
        let late: Vec<Request> = witness
            .requests()
            .into_iter()
            .filter(|r| r.epoch == first.epoch && r.seq > first.seq)
            .collect();
        if !late.is_empty() {
            return Ok(late);
        }
        if a.stderr().contains("could not renew its lease") {
            return Ok(late);
        }
        Err(format!("{:?}", witness.requests()))
    });
    assert!(
        stopped.is_empty(),
        "A's call went on after B's call of the same step started ({taken:?}): {stopped:?}"
    );
    // And A's log says so: the run's lease was lost (its lease expired, or B
    // holds it now).
    wait_for("A to log that it lost the run", DEADLINE, || {
        let stderr = a.stderr();
        match stderr
            .lines()
            .any(|l| l.contains("run lease lost") && l.contains("thread=stall"))
        {
            true => Ok(()),
            false => Err(stderr),
        }
    });

    // B's call came after A's lost one, under a later lease.
    assert_eq!(
        (taken.thread.as_str(), taken.step),
        ("stall", 1),
        "{taken:?}"
    );
    assert!(taken.epoch > first.epoch, "{taken:?} after {first:?}");
    assert_eq!(taken.attempt, 2, "A's lost call counts: {taken:?}");
    assert_eq!(env.state("stall"), json!({"attempt": 2}));
    let history = env.history("stall");
    assert_eq!(history.len(), 1, "{history:?}");
    let status = env.status("stall");
    assert_eq!(status["lease_epoch"], taken.epoch, "{status}");
}
