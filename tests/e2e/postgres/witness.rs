//! The witness of node calls: a local HTTP server that the `hostile` node in
//! `report` mode calls twice per call (`/start`, then `/end`), naming the
//! thread, the step, the attempt, the lease epoch and the host (`who`). It
//! holds each `/start` for a while (the node's "work"), and notices when the
//! caller goes away meanwhile (its host was killed, or stopped the call), so
//! that every call has an interval on the test's own clock:
//! `[start, end]`, or `[start, gone]` for a call cut short.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One call of a node, as the witness saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub thread: String,
    pub step: u64,
    pub attempt: u64,
    pub epoch: u64,
    /// The host incarnation that made the call (the node's `who`).
    pub who: String,
    /// When `/start` arrived.
    pub start: Instant,
    /// When `/end` arrived: the call returned its update.
    pub end: Option<Instant>,
    /// When the caller's connection closed before `/start` was answered.
    pub gone: Option<Instant>,
}

/// What a call says about itself. A call's retry or replay has another
/// attempt, another host's has another epoch; the same host may call a step
/// again with the same key after its commit failed (the database was away).
type Key = (String, u64, u64, u64, String);

#[derive(Default)]
struct Seen {
    calls: Vec<Call>,
    /// The latest call with each key: the one an `/end` belongs to.
    latest: HashMap<Key, usize>,
    /// Requests that made no sense (a bad query, an `/end` without `/start`).
    strange: Vec<String>,
}

/// Whether calls may go on: until the test opens the gate, every `/start`
/// waits unanswered (so the test can create all its runs before any ends).
type Gate = (Mutex<bool>, Condvar);

/// The witness server; it runs until the test process exits.
pub struct Witness {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    gate: Arc<Gate>,
}

impl Witness {
    /// Start a witness that holds every `/start` until [`Witness::open`], then
    /// for `work` before answering it.
    pub fn closed(work: Duration) -> Witness {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the witness");
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        {
            let (seen, gate) = (seen.clone(), gate.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let (seen, gate) = (seen.clone(), gate.clone());
                    std::thread::spawn(move || answer(stream, &seen, &gate, work));
                }
            });
        }
        Witness { port, seen, gate }
    }

    /// Start a witness that holds every `/start` for `work` before answering.
    pub fn start(work: Duration) -> Witness {
        let witness = Witness::closed(work);
        witness.open();
        witness
    }

    /// Let the calls go on.
    pub fn open(&self) {
        let (open, changed) = &*self.gate;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every call so far, in the order their `/start` arrived.
    pub fn calls(&self) -> Vec<Call> {
        self.seen.lock().unwrap().calls.clone()
    }

    /// How many calls have returned (`/end` arrived).
    pub fn ended(&self) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.calls.iter().filter(|c| c.end.is_some()).count()
    }

    /// How many runs have had a call of `step` return.
    pub fn finished(&self, step: u64) -> usize {
        let seen = self.seen.lock().unwrap();
        let threads: HashSet<&str> = seen
            .calls
            .iter()
            .filter(|c| c.step == step && c.end.is_some())
            .map(|c| c.thread.as_str())
            .collect();
        threads.len()
    }

    /// Requests the witness could not make sense of (none, in a sound run).
    pub fn strange(&self) -> Vec<String> {
        self.seen.lock().unwrap().strange.clone()
    }
}

/// Read one request, record it, and answer it (a `/start` once the gate is
/// open and `work` has passed, unless the caller hangs up first).
fn answer(stream: TcpStream, seen: &Mutex<Seen>, gate: &Gate, work: Duration) {
    let arrived = Instant::now();
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
    if head.is_empty() {
        // The caller went away before it sent its request (its host was
        // killed while it connected): no call reached the witness.
        return;
    }
    let target = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let Some(key) = parse(&target) else {
        seen.lock()
            .unwrap()
            .strange
            .push(format!("unparsable: {head:?}"));
        return;
    };
    let mark = target[1..]
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    match mark.as_str() {
        "start" => {
            {
                let mut seen = seen.lock().unwrap();
                let (thread, step, attempt, epoch, who) = key.clone();
                let index = seen.calls.len();
                seen.calls.push(Call {
                    thread,
                    step,
                    attempt,
                    epoch,
                    who,
                    start: arrived,
                    end: None,
                    gone: None,
                });
                seen.latest.insert(key.clone(), index);
            }
            let (open, changed) = gate;
            drop(
                changed
                    .wait_while(open.lock().unwrap(), |open| !*open)
                    .unwrap(),
            );
            if let Some(gone) = hang_up_within(&stream, work) {
                let mut seen = seen.lock().unwrap();
                let index = seen.latest[&key];
                seen.calls[index].gone = Some(gone);
                return;
            }
        }
        "end" => {
            let mut seen = seen.lock().unwrap();
            match seen.latest.get(&key).copied() {
                Some(index) if seen.calls[index].end.is_none() => {
                    seen.calls[index].end = Some(arrived)
                }
                _ => {
                    seen.strange
                        .push(format!("/end without its /start: {key:?}"));
                }
            }
        }
        _ => {
            seen.lock()
                .unwrap()
                .strange
                .push(format!("unknown mark: {head:?}"));
            return;
        }
    }
    let mut stream = stream;
    let _ = stream.write_all(OK);
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/// Wait up to `work` for the peer to close the connection: `Some(when)` if it
/// did (a read sees the end of the stream, or a reset), `None` if it was
/// still there when `work` was up.
fn hang_up_within(stream: &TcpStream, work: Duration) -> Option<Instant> {
    let until = Instant::now() + work;
    let mut byte = [0u8; 1];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream
            .set_read_timeout(Some(left))
            .expect("set a read timeout");
        match (&*stream).read(&mut byte) {
            Ok(0) => return Some(Instant::now()),
            // A client sends nothing after its request; ignore whatever it does.
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Some(Instant::now()),
        }
    }
}

/// `/<mark>?thread=..&step=..&attempt=..&epoch=..&who=..` as a call's key.
fn parse(target: &str) -> Option<Key> {
    let (_, query) = target.split_once('?')?;
    let params: HashMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let number = |key: &str| params.get(key)?.parse::<u64>().ok();
    Some((
        params.get("thread")?.to_string(),
        number("step")?,
        number("attempt")?,
        number("epoch")?,
        params.get("who")?.to_string(),
    ))
}

/// Check that no two calls of the same step of a run overlapped in time. A
/// call lasts from its `/start` to its `/end`; one that never ended lasts
/// until its caller hung up, or until its host was dead (`deaths`: when each
/// host incarnation, by `who`, was killed and reaped), whichever was first;
/// one with none of these (its host lives, and it stopped between its two
/// requests) may still be going, so any later call of its step overlaps it.
pub fn assert_no_overlap(calls: &[Call], deaths: &HashMap<String, Instant>) {
    let mut by_step: HashMap<(&str, u64), Vec<&Call>> = HashMap::new();
    for call in calls {
        by_step
            .entry((&call.thread, call.step))
            .or_default()
            .push(call);
    }
    let mut overlaps = Vec::new();
    for ((thread, step), mut calls) in by_step {
        calls.sort_by_key(|c| c.start);
        // The latest end of the calls so far (`None`: one may still be going).
        let mut busy: Option<(Option<Instant>, &Call)> = None;
        for call in calls {
            if let Some((until, earlier)) = busy
                && until.is_none_or(|until| until > call.start)
            {
                overlaps.push(format!(
                    "thread {thread} step {step}: {call:?} started while {earlier:?} was going"
                ));
            }
            let until = call.end.or_else(|| {
                [call.gone, deaths.get(&call.who).copied()]
                    .into_iter()
                    .flatten()
                    .min()
            });
            busy = match busy {
                Some((Some(before), _)) if until.is_some_and(|u| u <= before) => busy,
                Some((None, _)) => busy,
                _ => Some((until, call)),
            };
        }
    }
    assert!(
        overlaps.is_empty(),
        "{} calls overlapped another call of their step:\n{}",
        overlaps.len(),
        overlaps.join("\n")
    );
}

/// Check what a call is told about its lease, in the order the calls of a run
/// started: its lease epoch (the fencing token) never goes down, and goes up
/// whenever another host (or another life of one) calls; a step called again
/// in a new epoch sees a higher attempt.
pub fn assert_fenced(calls: &[Call]) {
    let mut by_thread: HashMap<&str, Vec<&Call>> = HashMap::new();
    for call in calls {
        by_thread.entry(&call.thread).or_default().push(call);
    }
    let mut wrong = Vec::new();
    for (thread, mut calls) in by_thread {
        calls.sort_by_key(|c| c.start);
        for pair in calls.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let epoch_ok = if before.who == after.who {
                after.epoch >= before.epoch
            } else {
                after.epoch > before.epoch
            };
            let attempt_ok = before.step != after.step
                || before.epoch == after.epoch
                || after.attempt > before.attempt;
            if !epoch_ok || !attempt_ok {
                wrong.push(format!("thread {thread}: {before:?} then {after:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "calls told the wrong epoch or attempt:\n{}",
        wrong.join("\n")
    );
}
