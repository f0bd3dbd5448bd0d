//! `hostile`: a node that misbehaves, one way per `mode`, so the tests can
//! check that the host contains it: the run fails (or the node only sees a
//! refusal), the other runs and the host process carry on.
//!
//! Config: `mode` (required), and for some modes `port`, `bytes`, `lines`, `ms`,
//! `fail`, `secret`, `via` or `who`:
//!
//! - `"ok"`: behave, return `{"ok": true}`.
//! - `"loop"`: busy-loop forever (a `timeout` or a `fuel` budget must stop it).
//! - `"recursion"`: recurse without end (a stack overflow trap).
//! - `"memory"`: allocate and touch 16 MiB chunks forever (the `memory`
//!   limit must stop it).
//! - `"abort"`: `std::process::abort()` (a trap).
//! - `"huge_state"`: return an update holding a string of `bytes` bytes
//!   (default 100 MiB), over any sensible `max_state`.
//! - `"log_flood"`: log `lines` lines (default 1,000,000), then return `{}`.
//! - `"read_passwd"`: read `/etc/passwd`; return `{"read": <bytes>}` if that
//!   worked, `{"denied": "<the error>"}` if not.
//! - `"list_root"`: list `/`; `{"listed": <entries>}` or `{"denied": "..."}`.
//! - `"env"`: return `{"home": <$HOME or null>, "vars": <how many variables>,
//!   "args": <how many arguments>}`.
//! - `"socket"`: open a TCP connection to `127.0.0.1:<port>`; return
//!   `{"connected": "<peer>"}` or `{"denied": "..."}`.
//! - `"sleep_forever"`: sleep for `ms` milliseconds (default `u64::MAX`),
//!   updating `{"slept": true}`.
//! - `"interrupt_forever"`: interrupt with a deadline of `ms` milliseconds
//!   (default `u64::MAX`) and the payload `{"question": "forever?"}`.
//! - `"report"`: a side effect the test can watch: `GET
//!   http://127.0.0.1:<port>/start?<call>`, then `GET .../end?<call>` once
//!   that answered, then return `{"attempt": <ctx.attempt>}`. `<call>` is
//!   `thread=..&step=..&attempt=..&epoch=<ctx.lease_epoch>` (the workflow
//!   must allow the port), then `&who=<who>` when the config has a `who`: a
//!   node cannot see its host, so a test that runs several names each one in
//!   its environment (`who = "${env:NAME}"`).
//! - `"huge_interrupt"`: interrupt with a payload (a JSON string) of `bytes`
//!   bytes (default 100 MiB).
//! - `"huge_fatal"`: fail (fatal) with a message of `bytes` bytes.
//! - `"huge_retryable"`: fail (retryable) with a message of `bytes` bytes.
//! - `"huge_goto"`: return `{}` and a goto target of `bytes` bytes.
//! - `"empty_log_flood"`: log `lines` empty lines (default 1,000,000), then
//!   return `{}`, or with `fail = true` fail (fatal).
//! - `"secret_leak"`: put the config's `secret` everywhere a node can: log
//!   it, print it to stdout and stderr, then as `via` says: `"goto"` (a
//!   route containing it), `"interrupt"` (a payload holding it in a key, a
//!   string and, when it is digits, a number), `"fatal"` (a message of
//!   `bytes` bytes in all, with the secret across the host's 4 KiB cut).
//! - `"huge_sleep"`: sleep 1 ms with an update holding a string of `bytes`
//!   bytes.
//! - `"escapes"`: log, print to stdout and stderr, and return in its update
//!   (`ESCAPES` under `"text"`) terminal escape sequences, bidi and
//!   zero-width characters.
//! - `"escapes_fail"`: log them, then fail (fatal) with them in the message.
//! - `"big_int"`: return `{"big": 123456789012345678901234567890, "small": 1}`
//!   (an integer beyond 64 bits, as raw JSON text).
//! - `"big_states"`: a loop of `steps` steps (default 60) with a big state:
//!   return `{"big": <bytes x's>, "n": n + 1}` (`n` from the state, 0 at first)
//!   and go to the route named like the node itself until `n + 1` reaches
//!   `steps`, then to `end`. `big` is the same each step, so the database
//!   stores it once while every whole state in the history holds it.
//! - `"secret_pieces"`: put the config's `secret` (ASCII) in the log as
//!   other code would quote it: the config in Rust `{:?}` form, JSON-encoded,
//!   its first half ending a line, its second half starting one; then fail
//!   (fatal) with it `{:?}`-escaped and cut off before `...`, as an excerpt
//!   cut at a length limit is.
//! - `"long_log"`: log one line of `bytes` x's, then the line `after`, then
//!   return `{}`.

use std::hint::black_box;
use std::time::Duration;

use savepoint_sdk::{Context, Failure, Node, Outcome, export_node, log};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Ok,
    Loop,
    Recursion,
    Memory,
    Abort,
    HugeState,
    LogFlood,
    ReadPasswd,
    ListRoot,
    Env,
    Socket,
    SleepForever,
    InterruptForever,
    Report,
    HugeInterrupt,
    HugeFatal,
    HugeRetryable,
    HugeGoto,
    EmptyLogFlood,
    SecretLeak,
    HugeSleep,
    /// Terminal escapes in logs, stdout, stderr and the update.
    Escapes,
    /// Terminal escapes in logs and a fatal failure's message.
    EscapesFail,
    /// An integer beyond 64 bits in the update.
    BigInt,
    /// A loop whose every state holds a big string.
    BigStates,
    /// The secret escaped and cut off, in the log and a failure message.
    SecretPieces,
    /// One log line of `bytes` bytes, then a short one.
    LongLog,
}

/// An OSC that sets the window title, a CSI that clears the screen, a C1 CSI,
/// a right-to-left override and a zero-width space.
const ESCAPES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m red \u{202e}evil\u{200b}";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
    #[serde(default)]
    port: u16,
    #[serde(default = "default_bytes")]
    bytes: usize,
    #[serde(default = "default_lines")]
    lines: u64,
    #[serde(default = "default_ms")]
    ms: u64,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    via: String,
    #[serde(default = "default_steps")]
    steps: u64,
    #[serde(default)]
    who: String,
}

fn default_bytes() -> usize {
    100 << 20
}

fn default_lines() -> u64 {
    1_000_000
}

fn default_ms() -> u64 {
    u64::MAX
}

fn default_steps() -> u64 {
    60
}

struct Hostile;

impl Node for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Misbehaves as its `mode` says: loops, recurses, hoards memory, aborts, floods, snoops (a test node).";
    type Config = Config;
    type State = Value;

    fn run(ctx: &Context<Config>, state: Value) -> Result<Outcome, Failure> {
        let config = &ctx.config;
        log::info!("{}: mode {:?}", ctx.node, config.mode);
        Ok(match config.mode {
            Mode::Ok => Outcome::update(json!({ "ok": true })),
            Mode::Loop => spin_forever(),
            Mode::Recursion => {
                let depth = dive(black_box(0));
                Outcome::update(json!({ "depth": depth }))
            }
            Mode::Memory => hoard(),
            Mode::Abort => std::process::abort(),
            Mode::HugeState => Outcome::update_raw(huge_update(config.bytes)),
            Mode::LogFlood => {
                for i in 0..config.lines {
                    log::info!("flood line {i}: all work and no play makes jack a dull boy");
                }
                Outcome::empty()
            }
            Mode::ReadPasswd => Outcome::update(match std::fs::read("/etc/passwd") {
                Ok(bytes) => json!({ "read": bytes.len() }),
                Err(e) => json!({ "denied": e.to_string() }),
            }),
            Mode::ListRoot => Outcome::update(match std::fs::read_dir("/") {
                Ok(entries) => json!({ "listed": entries.count() }),
                Err(e) => json!({ "denied": e.to_string() }),
            }),
            Mode::Env => Outcome::update(json!({
                "home": std::env::var("HOME").ok(),
                "vars": std::env::vars_os().count(),
                "args": std::env::args_os().count(),
            })),
            Mode::Socket => Outcome::update(
                match std::net::TcpStream::connect(("127.0.0.1", config.port)) {
                    Ok(stream) => json!({
                        "connected": stream.peer_addr().map(|a| a.to_string()).unwrap_or_default()
                    }),
                    Err(e) => json!({ "denied": e.to_string() }),
                },
            ),
            Mode::SleepForever => {
                Outcome::sleep(Duration::from_millis(config.ms), json!({ "slept": true }))
            }
            Mode::InterruptForever => Outcome::interrupt_for(
                json!({ "question": "forever?" }),
                Duration::from_millis(config.ms),
            ),
            Mode::Report => {
                let mut call = format!(
                    "thread={}&step={}&attempt={}&epoch={}",
                    ctx.thread, ctx.step, ctx.attempt, ctx.lease_epoch
                );
                if !config.who.is_empty() {
                    call.push_str(&format!("&who={}", config.who));
                }
                for mark in ["start", "end"] {
                    let url = format!("http://127.0.0.1:{}/{mark}?{call}", config.port);
                    http_get(&url).map_err(|e| Failure::retryable(format!("GET {url}: {e}")))?;
                }
                Outcome::update(json!({ "attempt": ctx.attempt }))
            }
            Mode::HugeInterrupt => Outcome::interrupt("x".repeat(config.bytes)),
            Mode::HugeFatal => return Err(Failure::fatal("x".repeat(config.bytes))),
            Mode::HugeRetryable => return Err(Failure::retryable("x".repeat(config.bytes))),
            Mode::HugeGoto => Outcome::empty().goto("x".repeat(config.bytes)),
            Mode::EmptyLogFlood => {
                for _ in 0..config.lines {
                    log::info!("");
                }
                if config.fail {
                    return Err(Failure::fatal("failed after the flood"));
                }
                Outcome::empty()
            }
            Mode::SecretLeak => return leak(&config.secret, &config.via, config.bytes),
            Mode::HugeSleep => Outcome::sleep(
                Duration::from_millis(1),
                json!({ "big": "x".repeat(config.bytes) }),
            ),
            Mode::Escapes => {
                log::info!("log {ESCAPES}");
                println!("stdout {ESCAPES}");
                eprintln!("stderr {ESCAPES}");
                Outcome::update(json!({ "text": ESCAPES }))
            }
            Mode::EscapesFail => {
                log::info!("log {ESCAPES}");
                return Err(Failure::fatal(format!("fatal {ESCAPES}")));
            }
            Mode::BigInt => {
                Outcome::update_raw(r#"{"big": 123456789012345678901234567890, "small": 1}"#)
            }
            Mode::BigStates => {
                let n = state.get("n").and_then(Value::as_u64).unwrap_or(0) + 1;
                let route = if n < config.steps {
                    ctx.node.as_str()
                } else {
                    "end"
                };
                let mut update = huge_update(config.bytes);
                update.truncate(update.len() - 1);
                update.push_str(&format!(", \"n\": {n}}}"));
                Outcome::update_raw(update).goto(route)
            }
            Mode::SecretPieces => return pieces(config),
            Mode::LongLog => {
                log::info!("{}", "x".repeat(config.bytes));
                log::info!("after");
                Outcome::update(json!({}))
            }
        })
    }
}

/// `secret_leak`: the secret in the log, on stdout and stderr, and in what
/// the node returns, as `via` says.
fn leak(secret: &str, via: &str, bytes: usize) -> Result<Outcome, Failure> {
    log::info!("the secret is {secret}");
    println!("stdout: {secret}");
    eprintln!("stderr: {secret}");
    match via {
        "goto" => Ok(Outcome::empty().goto(format!("route-{secret}"))),
        "interrupt" => {
            let mut payload = json!({ secret: "key", "value": format!("token {secret}") });
            if let Ok(number) = secret.parse::<u64>() {
                payload["number"] = json!(number);
            }
            Ok(Outcome::interrupt(payload))
        }
        "fatal" => {
            // The secret starts a few bytes before 4 KiB, where the host cuts.
            let mut message = "x".repeat(4090);
            message.push_str(secret);
            message.push_str(&"y".repeat(bytes.saturating_sub(message.len())));
            Err(Failure::fatal(message))
        }
        other => Err(Failure::fatal(format!("unknown via {other:?}"))),
    }
}

/// `secret_pieces`: the secret escaped and cut off, as other code quotes it.
fn pieces(config: &Config) -> Result<Outcome, Failure> {
    let secret = config.secret.as_str();
    let half = secret.len() / 2;
    log::info!("debug: {config:?}");
    log::info!("json: {}", json!({ "token": secret }));
    log::info!("first half: {}", &secret[..half]);
    log::info!("{} :second half", &secret[half..]);
    let quoted = format!("{secret:?}");
    let cut = &quoted[..quoted.len() - 3];
    Err(Failure::fatal(format!(
        "cannot read {cut}... ({} bytes)",
        quoted.len()
    )))
}

/// A loop with no way out; `black_box` keeps it from being optimized away.
fn spin_forever() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = black_box(turns.wrapping_add(1));
    }
}

/// Recursion whose base case is never reached. The work after the call (and
/// `black_box`) keeps the compiler from turning it into a loop.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let below = dive(black_box(depth + 1));
    black_box(below).wrapping_mul(3).wrapping_add(depth)
}

/// Allocate 16 MiB chunks and write to every page of each, forever; an
/// allocation the host refuses ends it (Rust aborts on allocation failure).
fn hoard() -> ! {
    const CHUNK: usize = 16 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for page in chunk.chunks_mut(4096) {
            page[0] = 1;
        }
        chunks.push(black_box(chunk));
        log::info!("holding {} MiB", chunks.len() * 16);
    }
}

/// `{"big": "xxxx..."}` with `bytes` x's, built in place (one allocation).
fn huge_update(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    text.push_str("{\"big\": \"");
    text.extend(std::iter::repeat_n('x', bytes));
    text.push_str("\"}");
    text
}

export_node!(Hostile);

/// GET `url` (`http://host:port/path`) through `wasi:http`; the body as text.
fn http_get(url: &str) -> Result<String, String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;

    let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method")?;
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let body = request.body().map_err(|()| "request body")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken")?
        .map_err(|e| format!("{e:?}"))?;
    let incoming = response.consume().map_err(|()| "response body")?;
    let stream = incoming.stream().map_err(|()| "response stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => return Err(e.to_debug_string()),
        }
    }
    drop(stream);
    drop(IncomingBody::finish(incoming));
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
