//! Hostile plugins: nodes that loop, recurse, hoard memory, abort, return
//! garbage or a huge state, flood the log, or snoop on files, the environment
//! and the network; and broken files dropped into the plugins folder.
//!
//! Each case runs in a `serve` daemon next to a well-behaved run (a traced
//! chain of counters) started at the same time. The hostile run fails at its
//! node with a message that names the node and the cause, or (for the
//! sandbox) the node only sees a refusal; nothing partial is stored (the
//! history holds the committed steps only, the state is unchanged, no pending
//! write); the good run completes with every node run once; and the daemon
//! still answers `GET /health`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::{Value, json};

use crate::fixtures::{
    DEADLINE, Daemon, Env, Messages, POLL, assert_ran_once, guest, proc_status_kib, traced_chain,
};

/// Nodes of the good run; each sleeps [`GOOD_DELAY_MS`], so the good run is
/// still going while the hostile node misbehaves.
const GOOD_NODES: usize = 6;
const GOOD_DELAY_MS: u64 = 40;

/// A daemon whose workflows folder holds `good` (a traced chain of counters),
/// `bad` (a counter `first`, then the hostile node, then `end`) and, when the
/// `hostile` plugin is there, `warm` (one well-behaved `hostile` node).
struct Arena {
    env: Env,
    daemon: Daemon,
}

impl Arena {
    /// `table` is the body of the hostile node's table (`plugin`, `config`,
    /// limits), without `next`.
    fn new(plugins: &[&str], node: &str, table: &str) -> Arena {
        let env = Env::new(plugins);
        env.daemon_workflow("good", &traced_chain("good", GOOD_NODES, |_| GOOD_DELAY_MS));
        env.daemon_workflow(
            "bad",
            &format!(
                "name = \"bad\"\nstart = \"first\"\n\
                 [nodes.first]\nplugin = \"counter\"\nnext = \"{node}\"\n\
                 [nodes.{node}]\n{table}\nnext = \"end\"\n"
            ),
        );
        if plugins.contains(&"hostile") {
            env.daemon_workflow(
                "warm",
                "name = \"warm\"\nstart = \"w\"\n\
                 [nodes.w]\nplugin = \"hostile\"\nconfig = { mode = \"ok\" }\nnext = \"end\"\n",
            );
        }
        let daemon = env.serve(&["--workers", "4"]);
        Arena { env, daemon }
    }

    fn start(&self, workflow: &str, thread: &str) {
        let created = self
            .daemon
            .post("/runs", &json!({"workflow": workflow, "thread": thread}));
        assert_eq!(
            created.status, 201,
            "POST /runs for workflow {workflow}: {created:?}"
        );
    }

    /// Wait until run `thread` stopped (completed, failed, cancelled,
    /// interrupted); its status.
    fn wait_end(&self, thread: &str) -> Value {
        self.daemon.wait_run(thread, "to stop", |s| {
            !matches!(
                s["status"].as_str(),
                Some("pending" | "running" | "retrying" | "sleeping")
            )
        })
    }

    /// Start the hostile run `bad`, then the good run `good`; wait for both.
    /// Checks the good run and the daemon's health; returns the status of the
    /// hostile run.
    fn play(&self) -> Value {
        self.start("bad", "bad");
        self.start("good", "good");
        let bad = self.wait_end("bad");
        self.check_good("good");
        bad
    }

    /// The good run `thread` completed, every node once, in order.
    fn check_good(&self, thread: &str) {
        let good = self.wait_end(thread);
        assert_eq!(
            good["status"], "completed",
            "the well-behaved run next to the hostile one: {good}"
        );
        assert_ran_once(
            thread,
            GOOD_NODES,
            &self.env.state(thread),
            &self.env.history(thread),
        );
        self.assert_serving();
    }

    fn assert_serving(&self) {
        let health = self.daemon.get("/health");
        assert_eq!(health.status, 200, "GET /health: {health:?}");
        assert_eq!(health.json()["status"], "ok", "GET /health: {health:?}");
    }

    /// The hostile run failed at `node` (step 2) with an error naming the
    /// node and every needle, and stored nothing of that step.
    fn assert_failed(&self, status: &Value, node: &str, needles: &[&str]) -> String {
        assert_eq!(status["status"], "failed", "the hostile run: {status}");
        let error = status["error"]
            .as_str()
            .unwrap_or_else(|| panic!("a failed run has an error: {status}"))
            .to_string();
        eprintln!("the hostile run failed: {error}");
        assert!(
            error.contains(&format!("node \"{node}\"")),
            "the error names the node {node:?}: {error}"
        );
        for needle in needles {
            assert!(
                error.contains(needle),
                "the error mentions {needle:?}: {error}"
            );
        }
        assert_eq!(status["step"], 1, "{status}");
        assert_eq!(status["next"], json!([node]), "{status}");
        assert_eq!(status["pending_writes"], json!([]), "{status}");
        self.assert_committed(1);
        assert_eq!(
            self.env.state("bad"),
            json!({"count": 1}),
            "state unchanged"
        );
        error
    }

    /// The hostile run completed (its node saw the refusal as a value): two
    /// steps, the second by `node`. Returns the final state.
    fn assert_completed(&self, status: &Value, node: &str) -> Value {
        assert_eq!(status["status"], "completed", "the hostile run: {status}");
        let history = self.assert_committed(2);
        assert_eq!(history[0]["node"], node, "{history:?}");
        let state = self.env.state("bad");
        eprintln!("the hostile run completed: {state}");
        assert_eq!(state["count"], 1, "{state}");
        state
    }

    /// The hostile run's history holds exactly `steps` checkpoints: `first`
    /// then (if 2) the hostile node. Returns it (newest first).
    fn assert_committed(&self, steps: usize) -> Vec<Value> {
        let history = self.env.history("bad");
        let numbers: Vec<u64> = history
            .iter()
            .map(|c| c["step"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=steps as u64).rev().collect();
        assert_eq!(numbers, expected, "committed steps only: {history:?}");
        assert_eq!(history[steps - 1]["node"], "first", "{history:?}");
        history
    }
}

/// The node table of a `hostile` node in `mode`, plus `extra` lines.
fn hostile(mode: &str, extra: &str) -> String {
    format!("plugin = \"hostile\"\nconfig = {{ mode = \"{mode}\" }}\n{extra}")
}

#[test]
fn an_infinite_loop_is_stopped_by_its_timeout() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "spinner",
        &hostile("loop", "timeout = \"1s\""),
    );
    let started = Instant::now();
    let status = arena.play();
    arena.assert_failed(&status, "spinner", &["timed out after 1s"]);
    assert!(
        started.elapsed() < DEADLINE,
        "the timeout stopped the loop: {:?}",
        started.elapsed()
    );
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    // The timeout is only a backstop: fuel must stop the loop first.
    let arena = Arena::new(
        &["counter", "hostile"],
        "burner",
        &hostile("loop", "fuel = 1000000\ntimeout = \"10s\""),
    );
    let status = arena.play();
    arena.assert_failed(&status, "burner", &["out of fuel", "1000000"]);
}

#[test]
fn unbounded_recursion_traps_on_stack_overflow() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "diver",
        &hostile("recursion", "timeout = \"10s\""),
    );
    let status = arena.play();
    let error = arena.assert_failed(&status, "diver", &["trapped"]);
    assert!(
        error.contains("stack"),
        "the trap says the stack overflowed: {error}"
    );
}

#[test]
fn a_memory_bomb_hits_its_memory_limit() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "bomb",
        &hostile("memory", "memory = \"64MiB\"\ntimeout = \"10s\""),
    );
    let rss_before = proc_status_kib(arena.daemon.pid(), "VmRSS");
    let status = arena.play();
    arena.assert_failed(&status, "bomb", &["exceeded its memory limit (64 MiB)"]);
    // The guest could touch at most its 64 MiB; allow as much again for the
    // host's own work meanwhile.
    let peak = proc_status_kib(arena.daemon.pid(), "VmHWM");
    assert!(
        peak.saturating_sub(rss_before) < 128 << 10,
        "the daemon's peak RSS grew from {rss_before} KiB to {peak} KiB"
    );
}

#[test]
fn abort_traps_and_names_the_node() {
    let arena = Arena::new(&["counter", "hostile"], "quitter", &hostile("abort", ""));
    let status = arena.play();
    arena.assert_failed(&status, "quitter", &["trapped", "unreachable"]);
}

#[test]
fn invalid_json_fails_the_node() {
    let arena = Arena::new(
        &["counter", "badjson"],
        "garbler",
        "plugin = \"badjson\"\nconfig = { mode = \"not-json\" }",
    );
    let status = arena.play();
    arena.assert_failed(&status, "garbler", &["not JSON"]);
}

#[test]
fn a_100_mib_state_is_refused_by_max_state() {
    let bytes: usize = 100 << 20;
    let arena = Arena::new(
        &["counter", "hostile"],
        "hoarder",
        &hostile(
            "huge_state",
            "memory = \"256MiB\"\nmax_state = \"4MiB\"\ntimeout = \"20s\"",
        ),
    );
    let status = arena.play();
    // `{"big": "` + the x's + `"}`.
    let size = bytes + 11;
    arena.assert_failed(
        &status,
        "hoarder",
        &[&format!(
            "returned a state of {size} bytes, over its max_state of 4 MiB"
        )],
    );
    // Not a byte of it reached the database.
    let stored: u64 = ["savepoint.db", "savepoint.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(arena.env.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    assert!(
        stored < 16 << 20,
        "the database holds {stored} bytes after a refused 100 MiB state"
    );
}

#[test]
fn a_million_log_lines_keep_the_log_and_the_daemon_bounded() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "chatty",
        &hostile("log_flood", "timeout = \"30s\""),
    );
    // Load the plugins first, so the baseline holds their code.
    arena.start("warm", "warm");
    assert_eq!(arena.wait_end("warm")["status"], "completed");
    let pid = arena.daemon.pid();
    let rss_before = proc_status_kib(pid, "VmRSS");

    let started = Instant::now();
    let status = arena.play();
    let took = started.elapsed();
    arena.assert_completed(&status, "chatty");

    let logs = arena.env.logs("bad");
    let chatty: Vec<&Value> = logs.iter().filter(|l| l["node"] == "chatty").collect();
    let bytes: usize = chatty
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().len())
        .sum();
    assert!(
        bytes < 4 << 20,
        "the run's log holds {bytes} bytes in {} lines",
        chatty.len()
    );
    assert!(
        chatty.len() < 1_000_000,
        "the log kept all {} lines",
        chatty.len()
    );
    assert!(
        chatty
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains("dropped"))),
        "the log says lines were dropped: {:?}",
        chatty.last()
    );

    let rss_after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    eprintln!(
        "log flood: {took:?}, {} lines / {bytes} bytes kept; daemon RSS {rss_before} -> \
         {rss_after} KiB (peak {peak} KiB)",
        chatty.len()
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 << 10,
        "the daemon's RSS grew from {rss_before} KiB to {rss_after} KiB (peak {peak} KiB)"
    );
    arena.assert_serving();
}

/// Empty lines cost a row each too: a million of them keep at most
/// `max_log` lines (10,000) plus the line that counts the dropped ones, and
/// the daemon's memory stays flat (before `max_log`, 5,000,000 took 1.27 GB).
#[test]
fn a_million_empty_log_lines_keep_max_log_lines_and_the_daemon_bounded() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "mute",
        &hostile("empty_log_flood", "timeout = \"30s\""),
    );
    arena.start("warm", "warm");
    assert_eq!(arena.wait_end("warm")["status"], "completed");
    let pid = arena.daemon.pid();
    let rss_before = proc_status_kib(pid, "VmRSS");

    let status = arena.play();
    arena.assert_completed(&status, "mute");
    let db = rusqlite::Connection::open(arena.env.db()).unwrap();
    let mute: i64 = db
        .query_row(
            "SELECT count(*) FROM logs WHERE thread = 'bad' AND node = 'mute'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        mute, 10_001,
        "the log of the node that logged 1,000,001 lines"
    );

    let rss_after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    eprintln!("empty log flood: daemon RSS {rss_before} -> {rss_after} KiB (peak {peak} KiB)");
    assert!(
        peak.saturating_sub(rss_before) < 64 << 10,
        "the daemon's peak RSS grew from {rss_before} KiB to {peak} KiB"
    );
    arena.assert_serving();
}

#[test]
fn reading_etc_passwd_is_denied() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "snoop",
        &hostile("read_passwd", ""),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "snoop");
    assert!(
        state.get("read").is_none(),
        "the node read the file: {state}"
    );
    assert!(state["denied"].is_string(), "{state}");
}

#[test]
fn listing_the_root_folder_is_denied() {
    let arena = Arena::new(&["counter", "hostile"], "lister", &hostile("list_root", ""));
    let status = arena.play();
    let state = arena.assert_completed(&status, "lister");
    assert!(state.get("listed").is_none(), "the node listed /: {state}");
    assert!(state["denied"].is_string(), "{state}");
}

#[test]
fn no_environment_variable_is_visible() {
    let arena = Arena::new(&["counter", "hostile"], "nosy", &hostile("env", ""));
    let status = arena.play();
    let state = arena.assert_completed(&status, "nosy");
    assert_eq!(state["home"], Value::Null, "$HOME is visible: {state}");
    assert_eq!(
        state["vars"], 0,
        "environment variables are visible: {state}"
    );
    assert_eq!(
        state["args"], 0,
        "the host's arguments are visible: {state}"
    );
}

#[test]
fn a_socket_to_a_local_listener_is_denied() {
    let listener = Untouched::bind();
    let arena = Arena::new(
        &["counter", "hostile"],
        "dialer",
        &format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"socket\", port = {} }}\ntimeout = \"10s\"",
            listener.addr.port()
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "dialer");
    assert!(
        state.get("connected").is_none(),
        "the node connected: {state}"
    );
    assert!(state["denied"].is_string(), "{state}");
    listener.assert_untouched();
}

#[test]
fn http_to_a_host_not_allowed_is_denied_and_the_node_sees_it() {
    let forbidden = Untouched::bind();
    let allowed = Untouched::bind();
    let arena = Arena::new(
        &["counter", "fetch"],
        "peeker",
        &format!(
            "plugin = \"fetch\"\nconfig = {{ url = \"http://{}/secret\" }}\n\
             allow_http = [\"{}\"]\ntimeout = \"10s\"",
            forbidden.addr, allowed.addr
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "peeker");
    let error = state["http_error"]
        .as_str()
        .unwrap_or_else(|| panic!("the node sees an error value: {state}"));
    assert!(
        error.to_ascii_lowercase().contains("denied"),
        "the error says the request was denied: {error}"
    );
    forbidden.assert_untouched();
    allowed.assert_untouched();
}

#[test]
fn http_to_an_allowed_host_succeeds() {
    let server = OneShotServer::start("hello from the test server");
    let arena = Arena::new(
        &["counter", "fetch"],
        "caller",
        &format!(
            "plugin = \"fetch\"\nconfig = {{ url = \"http://{}/hello?x=1\" }}\n\
             allow_http = [\"{}\"]\ntimeout = \"10s\"",
            server.addr, server.addr
        ),
    );
    let status = arena.play();
    let state = arena.assert_completed(&status, "caller");
    assert_eq!(
        (&state["status"], &state["body"]),
        (&json!(200), &json!("hello from the test server")),
        "{state}"
    );
    let request = server.request();
    assert!(
        request.starts_with("GET /hello?x=1 HTTP/1.1\r\n"),
        "the server got: {request:?}"
    );
}

#[test]
fn broken_files_dropped_into_a_running_daemons_plugins_folder_are_reported() {
    let arena = Arena::new(&["counter"], "alien", "plugin = \"otherworld\"");
    // The good run is going while the files land.
    arena.start("good", "good");
    let env = &arena.env;
    env.write_plugin("empty", b"");
    env.write_plugin("corrupt", b"this is not wasm at all, just text");
    env.write_plugin("core", b"\0asm\x01\0\0\0");
    env.add_plugin("otherworld", &guest("otherworld"));

    let response = arena.daemon.get("/plugins");
    assert_eq!(response.status, 200, "{response:?}");
    let plugins = response.json();
    let entry = |name: &str| -> Value {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("GET /plugins lists {name}: {plugins}"))
    };
    assert_eq!(entry("counter")["ok"], true, "{plugins}");
    for (name, needle) in [
        ("empty", "empty"),
        ("corrupt", "magic bytes"),
        ("core", "core WebAssembly module"),
        ("otherworld", "does not implement the savepoint:node"),
    ] {
        let entry = entry(name);
        assert_eq!(entry["ok"], false, "{entry}");
        let error = entry["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("{name}.wasm")) && error.contains(needle),
            "{name}: the error names the file and says {needle:?}: {entry}"
        );
    }
    arena.check_good("good");

    // A run whose node uses the component of another world is refused before it
    // exists, naming the node and the file.
    let refused = arena
        .daemon
        .post("/runs", &json!({"workflow": "bad", "thread": "bad"}));
    assert_eq!(refused.status, 400, "{refused:?}");
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "invalid", "{error}");
    let problem = &error["details"]["problems"][0];
    assert_eq!(problem["node"], "alien", "{error}");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("otherworld.wasm") && m.contains("does not implement")),
        "{error}"
    );
    assert_eq!(arena.daemon.get("/runs/bad").status, 404);

    // And a new good run still completes.
    arena.start("good", "good-2");
    arena.check_good("good-2");
}

/// A loopback listener that nobody should reach: it is never accepted from,
/// and [`Untouched::assert_untouched`] checks that no connection came.
struct Untouched {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Untouched {
    fn bind() -> Untouched {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        Untouched { listener, addr }
    }

    fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{peer} connected to {}", self.addr),
            Err(e) => panic!("accept on {}: {e}", self.addr),
        }
    }
}

/// An HTTP server on a loopback port that answers one request with 200 and
/// a text body, then stops; it gives up after [`DEADLINE`].
struct OneShotServer {
    addr: SocketAddr,
    thread: JoinHandle<Result<String, String>>,
}

impl OneShotServer {
    fn start(body: &'static str) -> OneShotServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if started.elapsed() > DEADLINE {
                            return Err("no request came".to_string());
                        }
                        std::thread::sleep(POLL);
                    }
                    Err(e) => return Err(format!("accept: {e}")),
                }
            };
            stream.set_nonblocking(false).map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(DEADLINE))
                .map_err(|e| e.to_string())?;
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(response.as_bytes())
                .map_err(|e| format!("write: {e}"))?;
            Ok(String::from_utf8_lossy(&head).into_owned())
        });
        OneShotServer { addr, thread }
    }

    /// The head of the request it answered.
    fn request(self) -> String {
        self.thread
            .join()
            .expect("the server thread panicked")
            .unwrap_or_else(|e| panic!("the test server on {}: {e}", self.addr))
    }
}

/// `${env:NAME}` in a config is resolved when the node is called; the value
/// never reaches the database (failure messages and logs are redacted).
#[test]
fn secrets_from_the_environment_are_resolved_and_never_stored() {
    let env = Env::new(&["counter"]);
    let secret = "s3cr3t-7f1c2a";
    let workflow = env.workflow(
        "secret.toml",
        "name = \"secret\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\n\
         config = { mode = \"fatal\", message = \"token ${env:SP_TEST_SECRET} rejected\" }\nnext = \"end\"\n",
    );
    let output = env
        .command(&["run", &workflow, "--thread", "s"])
        .env("SP_TEST_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let status = env.status("s");
    let mut said = Messages::new();
    said.add("the secret set", status["error"].as_str().unwrap());
    for file in ["savepoint.db", "savepoint.db-wal"] {
        if let Ok(bytes) = std::fs::read(env.path().join(file)) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in {file}"
            );
        }
    }

    // Without the variable, the node is not called and the error says why.
    env.exits(1, &["run", &workflow, "--thread", "unset"]);
    said.add(
        "the secret unset",
        env.status("unset")["error"].as_str().unwrap(),
    );
    said.check("secret-in-config.txt");
}
