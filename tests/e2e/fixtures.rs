//! Test fixtures: the guest components (compiled once per test run), a
//! scratch folder per test with its own database and plugins folder, and
//! helpers to drive the `savepoint` binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Every guest component the tests use.
const GUESTS: &[&str] = &[
    "counter",
    "router",
    "trap",
    "badjson",
    "fail",
    "otherworld",
    "echo",
    "spin",
    "approval",
    "poll",
    "hostile",
    "fetch",
    "warm",
    "describer",
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("host/cli/ is two folders down")
        .to_path_buf()
}

/// The target directory the `savepoint` binary under test was built into.
pub fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_savepoint"));
    // <target>/<profile>/savepoint
    bin.parent()
        .and_then(Path::parent)
        .expect("binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// The folder of compiled guest components; built on first use (once per
/// test binary run) with the same target directory as the host.
fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(cargo);
        command
            .current_dir(repo_root())
            .args([
                "build",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--profile",
                "guest",
            ])
            .arg("--target-dir")
            .arg(target_dir());
        for guest in GUESTS {
            command.args(["-p", guest]);
        }
        let status = command.status().expect("run cargo to build the guests");
        assert!(status.success(), "building the guest components failed");
        target_dir().join("wasm32-wasip2").join("guest")
    })
}

/// The path of a built guest component.
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "guest {name} was not built: {}",
        path.display()
    );
    path
}

/// A scratch folder with `savepoint.db`, a `plugins/` folder and workflow
/// files; every command runs with it as the working directory.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// An environment whose plugins folder holds the named guests.
    pub fn new(plugins: &[&str]) -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("create a temp dir"),
        };
        std::fs::create_dir_all(env.plugins()).expect("create plugins/");
        for name in plugins {
            env.add_plugin(name, &guest(name));
        }
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("savepoint.db")
    }

    /// Copy a component into the plugins folder as `<name>.wasm`.
    pub fn add_plugin(&self, name: &str, from: &Path) {
        std::fs::copy(from, self.plugins().join(format!("{name}.wasm"))).expect("copy plugin");
    }

    /// Write raw bytes as `plugins/<name>.wasm`.
    pub fn write_plugin(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.plugins().join(format!("{name}.wasm")), bytes).expect("write plugin");
    }

    /// Write a workflow file into the scratch folder; returns its relative name.
    pub fn workflow(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path().join(name), text).expect("write workflow");
        name.to_string()
    }

    /// Copy one of `examples/workflows/` into the scratch folder.
    pub fn example_workflow(&self, name: &str) -> String {
        let text = std::fs::read_to_string(repo_root().join("examples/workflows").join(name))
            .expect("read example workflow");
        self.workflow(name, &text)
    }

    /// A `savepoint` command in this environment. The compile cache is shared
    /// by all tests (it is keyed by digest), so each component compiles once;
    /// a test that runs `gc` gives it a `--cache` of its own (gc prunes it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_savepoint"));
        command
            .current_dir(self.path())
            .env_remove("SAVEPOINT_DB")
            .env_remove("SAVEPOINT_PLUGINS")
            .env("SAVEPOINT_CACHE", target_dir().join("e2e-compile-cache"))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run savepoint")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "savepoint {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Run and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "savepoint {args:?} should have failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stderr).expect("utf-8 stderr")
    }

    /// Run a command that prints JSON and parse it.
    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("savepoint {args:?} printed invalid JSON ({e}): {stdout}"))
    }

    pub fn status(&self, thread: &str) -> Value {
        self.json(&["status", thread, "--json"])
    }

    pub fn state(&self, thread: &str) -> Value {
        self.json(&["state", thread, "--json"])
    }

    /// Every checkpoint of a run, newest first, with whole states: all pages of
    /// `history --states --json`.
    pub fn history(&self, thread: &str) -> Vec<Value> {
        self.pages(&["history", thread, "--states", "--json", "--limit", "1000"])
    }

    /// Every line of `logs --json` of a run (all pages).
    pub fn logs(&self, thread: &str) -> Vec<Value> {
        self.pages(&["logs", thread, "--json", "--limit", "10000"])
    }

    /// The entries of every page of a paged command (`history`, `logs`), following
    /// `next_cursor`.
    pub fn pages(&self, args: &[&str]) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut all = args.to_vec();
            if let Some(cursor) = &cursor {
                all.extend(["--cursor", cursor]);
            }
            let page = self.json(&all);
            match &page["entries"] {
                Value::Array(items) => entries.extend(items.iter().cloned()),
                other => panic!("savepoint {all:?}: no entries array but {other}"),
            }
            match &page["next_cursor"] {
                Value::Null => return entries,
                Value::String(next) => cursor = Some(next.clone()),
                other => panic!("savepoint {all:?}: next_cursor is {other}"),
            }
        }
    }

    /// Run a command and return its exit code (`None` when killed by a
    /// signal), stdout and stderr, whatever the outcome.
    pub fn exit(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let output = self.run(args);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Run a command that must exit with `code`; returns its stderr.
    pub fn exits(&self, code: i32, args: &[&str]) -> String {
        let (actual, stdout, stderr) = self.exit(args);
        assert_eq!(
            actual,
            Some(code),
            "savepoint {args:?} should exit with {code}:\nstdout: {stdout}\nstderr: {stderr}"
        );
        stderr
    }

    /// Poll `status --json` until `done` holds (a missing run or database
    /// counts as not yet); panics after [`DEADLINE`] with the last status.
    pub fn wait_status(&self, thread: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("thread {thread}: {what}"), DEADLINE, || {
            let (code, stdout, stderr) = self.exit(&["status", thread, "--json"]);
            if code != Some(0) {
                return Err(format!("status failed: {stderr}"));
            }
            let status: Value =
                serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))?;
            if done(&status) {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        })
    }

    /// Start a command in the background (output discarded); it is killed
    /// when the returned guard is dropped.
    pub fn spawn(&self, args: &[&str]) -> KillOnDrop {
        KillOnDrop(Some(
            self.command(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start savepoint"),
        ))
    }

    /// The folder `serve --workflows` reads (`workflows/`, created on demand).
    pub fn workflows_dir(&self) -> PathBuf {
        let dir = self.path().join("workflows");
        std::fs::create_dir_all(&dir).expect("create workflows/");
        dir
    }

    /// Write `workflows/<name>.toml` for the daemon; returns its path relative
    /// to the scratch folder (for `run` and `start`).
    pub fn daemon_workflow(&self, name: &str, text: &str) -> String {
        std::fs::write(self.workflows_dir().join(format!("{name}.toml")), text)
            .expect("write workflow");
        format!("workflows/{name}.toml")
    }

    /// Start `savepoint serve` on a free loopback port (unless `args` has a
    /// `--listen`) with `workflows/` as its workflows folder (unless `args`
    /// has a `--workflows`), plus `args`; returns once it listens.
    pub fn serve(&self, args: &[&str]) -> Daemon {
        self.serve_with(args, |_| {})
    }

    /// [`Env::serve`], with the command changed by `configure` first (e.g. to
    /// give the daemon fewer file descriptors).
    pub fn serve_with(&self, args: &[&str], configure: impl FnOnce(&mut Command)) -> Daemon {
        let mut all = vec!["serve"];
        if !args.contains(&"--workflows") {
            self.workflows_dir();
            all.extend(["--workflows", "workflows"]);
        }
        if !args.contains(&"--listen") {
            all.extend(["--listen", "127.0.0.1:0"]);
        }
        all.extend_from_slice(args);
        let mut command = self.command(&all);
        configure(&mut command);
        let mut child = KillOnDrop(Some(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start savepoint serve"),
        ));
        let stderr = child
            .0
            .as_mut()
            .unwrap()
            .stderr
            .take()
            .expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        {
            let log = log.clone();
            // Drain stderr for the daemon's whole life, so it never blocks on
            // a full pipe; the text is printed if the test fails.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                    let _ = lines_tx.send(line);
                }
            });
        }
        let started = Instant::now();
        let prefix = "savepoint serve: listening on http://";
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let line = match lines_rx.recv_timeout(left) {
                Ok(line) => line,
                Err(error) => {
                    let exit = child.0.as_mut().unwrap().try_wait();
                    panic!(
                        "savepoint serve did not report its address ({error}; exit: {exit:?}):\n{}",
                        log.lock().unwrap()
                    );
                }
            };
            let Some(rest) = line.strip_prefix(prefix) else {
                continue;
            };
            let (addr, owner) = rest.split_once(' ').unwrap_or((rest, ""));
            let addr: SocketAddr = addr
                .parse()
                .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
            let owner = owner
                .trim()
                .strip_prefix("(owner ")
                .and_then(|o| o.strip_suffix(')'))
                .unwrap_or_else(|| panic!("no owner in {line:?}"))
                .to_string();
            return Daemon {
                child: child.0.take(),
                addr,
                owner,
                log,
            };
        }
    }
}

/// A workflow of one `counter` step.
pub const ONCE: &str = r#"
name = "once"
start = "count"

[nodes.count]
plugin = "counter"
next = "end"
"#;

/// How long a test waits for something it polls for before it fails.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// How often it polls.
pub const POLL: Duration = Duration::from_millis(25);

/// Poll `probe` every [`POLL`] until it returns `Ok`; after `deadline`, panic
/// naming `what` and the last `Err` (what was seen instead).
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if started.elapsed() > deadline => {
                panic!("gave up after {deadline:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("the process is running").id()
    }

    /// Wait (bounded by [`DEADLINE`]) for the process to exit by itself.
    pub fn wait_exit(&mut self, what: &str) -> ExitStatus {
        let child = self.0.as_mut().expect("the process is running");
        let status = wait_for(what, DEADLINE, || match child.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".to_string()),
            Err(e) => Err(format!("wait failed: {e}")),
        });
        self.0 = None;
        status
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running `savepoint serve`. Dropping it SIGKILLs and reaps the process
/// (so a failing test leaves no daemon behind) and, when the test is
/// panicking, prints what the daemon wrote to stderr.
pub struct Daemon {
    child: Option<Child>,
    addr: SocketAddr,
    owner: String,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The lease owner id the daemon announced.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon is running").id()
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the daemon is running");
        child.kill().expect("SIGKILL savepoint serve");
        child.wait().expect("reap savepoint serve");
    }

    /// Send SIGTERM and wait (bounded) for the daemon to exit; returns how.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid();
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "send SIGTERM to {pid}");
        let child = self.child.as_mut().unwrap();
        let status = wait_for(
            "savepoint serve to exit after SIGTERM",
            DEADLINE,
            || match child.try_wait().expect("wait for savepoint serve") {
                Some(status) => Ok(status),
                None => Err("still running".to_string()),
            },
        );
        self.child = None;
        status
    }

    /// CPU time (user + system) the daemon has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid())
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> HttpResponse {
        let body = body.to_string();
        http(
            self.addr,
            "POST",
            path,
            Some(("application/json", body.as_bytes())),
        )
    }

    /// `GET /runs/{thread}` until `done` holds (404 counts as not yet);
    /// panics after [`DEADLINE`] with the last answer.
    pub fn wait_run(&self, thread: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_for(&format!("thread {thread}: {what}"), DEADLINE, || {
            let response = self.get(&format!("/runs/{thread}"));
            if response.status != 200 {
                return Err(format!("{} {}", response.status, response.body));
            }
            let status = response.json();
            if done(&status) {
                Ok(status)
            } else {
                Err(status.to_string())
            }
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- stderr of savepoint serve {} ---\n{}",
                self.addr,
                self.log.lock().unwrap()
            );
        }
    }
}

/// User + system CPU time of a process, from `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The fields after the command name (which may hold spaces) start with
    // the state (field 3); utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').expect("comm in stat") + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`, ...), in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"))
}

/// An HTTP answer: status code, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON (panics, showing the response, if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The message of a JSON error response with status `status`, after checking its
    /// shape: `{"error": {"code", "message", "details"}}`.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "an error is JSON: {self:?}"
        );
        let body = self.json();
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("no error object in {self:?}"));
        let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "details", "message"], "{self:?}");
        match &error["message"] {
            Value::String(message) => message.clone(),
            other => panic!("no error message in {self:?}: {other}"),
        }
    }

    /// The code of a JSON error response (`not_found`, `conflict`, ...).
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One HTTP/1.1 request (`Connection: close`) with an optional body and its
/// content type (`""` sends no Content-Type header). Without a body, a method
/// other than GET and HEAD sends an empty `application/json` body, as the API
/// wants of every POST.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> HttpResponse {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let bytes = match body {
        None if method == "GET" || method == "HEAD" => &[][..],
        None => {
            head.push_str("Content-Type: application/json\r\nContent-Length: 0\r\n");
            &[][..]
        }
        Some((content_type, bytes)) => {
            if !content_type.is_empty() {
                head.push_str(&format!("Content-Type: {content_type}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
            bytes
        }
    };
    head.push_str("\r\n");
    http_raw(addr, &head, bytes)
}

/// Send `head` (the request line and headers, ending with an empty line) and
/// `body` as they are, and read the whole answer.
pub fn http_raw(addr: SocketAddr, head: &str, body: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(body);
    // The server may answer (and close) before reading a body it refuses.
    let _ = stream.write_all(&request);
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        assert!(!raw.is_empty(), "read the answer from {addr}: {e}");
    }
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in the answer: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Decode a chunked body.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body;
        };
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|e| panic!("bad chunk size {size:?}: {e}"));
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
}

/// A chain of `nodes` counters `n1 -> ... -> nN -> end` that each add 1 to
/// `count` and append their name to `trace`; node `i` sleeps `delay_ms(i)`.
pub fn traced_chain(name: &str, nodes: usize, delay_ms: impl Fn(usize) -> u64) -> String {
    let mut text = format!("name = \"{name}\"\nstart = \"n1\"\n[state]\ntrace = \"append\"\n");
    for i in 1..=nodes {
        let next = if i == nodes {
            "end".to_string()
        } else {
            format!("n{}", i + 1)
        };
        text.push_str(&format!(
            "[nodes.n{i}]\nplugin = \"counter\"\nconfig = {{ delay_ms = {}, trace = true }}\nnext = \"{next}\"\n",
            delay_ms(i)
        ));
    }
    text
}

/// Check that a finished run of [`traced_chain`] ran every node exactly once:
/// `count` is `nodes`, `trace` is `n1..nN`, and the history (newest first)
/// holds steps N..1, each once, step i by node `ni`.
pub fn assert_ran_once(thread: &str, nodes: usize, state: &Value, history: &[Value]) {
    let trace: Vec<String> = (1..=nodes).map(|i| format!("n{i}")).collect();
    assert_eq!(
        state["trace"],
        serde_json::json!(trace),
        "thread {thread}: every node committed once, in order: {state}"
    );
    assert_eq!(state["count"], nodes as u64, "thread {thread}: {state}");
    let steps: Vec<(u64, String)> = history
        .iter()
        .map(|c| {
            (
                c["step"].as_u64().expect("step"),
                c["node"].as_str().expect("node").to_string(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = (1..=nodes as u64)
        .rev()
        .map(|i| (i, format!("n{i}")))
        .collect();
    assert_eq!(steps, expected, "thread {thread}: history steps");
}

/// `sha256:<hex>` of a file, computed independently of the host.
pub fn file_digest(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("read file");
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `text` without the lines that say a plugin is being compiled (`compiling plugin
/// NAME (...) ...`, after `savepoint serve: ` in a daemon's log).
pub fn without_compile_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| {
            let line = line.strip_prefix("savepoint serve: ").unwrap_or(line);
            !line.starts_with("compiling plugin ")
        })
        .collect()
}

/// Compare `actual` with `tests/e2e/golden/<name>`; with `BLESS=1`, write it. A
/// line that says a plugin is being compiled is left out: whether one is depends on
/// what the shared compile cache holds already (tests run in any order), not on what
/// a golden checks.
pub fn golden(name: &str, actual: &str) {
    let actual = without_compile_lines(actual);
    let path = repo_root().join("tests/e2e/golden").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with BLESS=1 to create it. Actual:\n{actual}",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "output differs from {} (BLESS=1 to accept)",
        path.display()
    );
}

/// Milliseconds since the Unix epoch of a time as the host prints it
/// (`2024-05-01T12:00:00.123Z`).
pub fn parse_time(text: &str) -> i64 {
    let numbers: Vec<i64> = text
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("not a time: {text:?}"))
        .split(['-', 'T', ':', '.'])
        .map(|part| {
            part.parse()
                .unwrap_or_else(|_| panic!("not a time: {text:?}"))
        })
        .collect();
    let [y, m, d, hour, minute, second, millis] = numbers[..] else {
        panic!("not a time: {text:?}");
    };
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The languages nodes can be written in, each with a build path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Rust,
    Python,
    Js,
    C,
}

impl Lang {
    pub fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }
}

/// An example node of `lang` (`examples/<lang>/<name>`, or the Rust crate
/// `examples/nodes/<name>`), built once per test run with the language's
/// build script, and its compiled code put in the shared cache so that tests
/// running side by side do not all compile an interpreter at once.
pub fn lang_guest(lang: Lang, name: &str) -> PathBuf {
    if lang == Lang::Rust {
        return guest(name);
    }
    static BUILT: OnceLock<Mutex<HashMap<(Lang, String), PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&(lang, name.to_string())) {
        return path.clone();
    }
    let out_dir = target_dir().join("polyglot").join(lang.folder());
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}.wasm"));
    let source = repo_root().join("examples").join(lang.folder()).join(name);
    let script = repo_root()
        .join("guest-sdk")
        .join(lang.folder())
        .join("build");
    let output = Command::new(&script)
        .arg(&source)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "building the {} node {name} failed (scripts/test installs the toolchains):\n{}{}",
        lang.folder(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Warm the compile cache once.
    let env = Env::new(&[]);
    env.add_plugin(name, &out);
    env.ok(&["plugins"]);
    built.insert((lang, name.to_string()), out.clone());
    out
}

/// The step number of a progress line (`step    3  n3 ...`), if it is one.
pub fn progress_step(line: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    (words.next()? == "step").then_some(())?;
    words.next()?.parse().ok()
}

/// A copy of the `savepoint` binary in a temporary folder outside the checkout,
/// made once per test run: what a user has after installing it.
pub fn installed_binary() -> &'static Path {
    static BIN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, bin) = BIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let bin = dir.path().join("savepoint");
        std::fs::copy(env!("CARGO_BIN_EXE_savepoint"), &bin).expect("copy the binary");
        (dir, bin)
    });
    bin
}

/// `savepoint` from [`installed_binary`] in `cwd`, with nothing of the test's
/// environment that could lead it to the checkout.
pub fn installed_command(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(installed_binary());
    command
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .env_remove("SAVEPOINT_SDK")
        .env_remove("SAVEPOINT_WIT")
        .env_remove("SAVEPOINT_PLUGINS")
        .env_remove("SAVEPOINT_DB");
    command
}

/// The node that `savepoint new node greet --lang <lang>` makes, built with the
/// project's own `build.sh`, in a temporary folder outside the checkout with the
/// installed binary: once per test run and language (again only when the binary,
/// which holds the templates, is newer than the component). Rust projects share a
/// target folder under the test target folder, as they share one per user.
pub fn template_guest(lang: Lang) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<Lang, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&lang) {
        return path.clone();
    }
    let root = target_dir().join("templates");
    let out = root.join("plugins").join(lang.folder()).join("greet.wasm");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let fresh = match (
        modified(&out),
        modified(Path::new(env!("CARGO_BIN_EXE_savepoint"))),
    ) {
        (Some(component), Some(binary)) => component > binary,
        _ => false,
    };
    if !fresh {
        let work = tempfile::tempdir().expect("create a temp dir");
        let output = installed_command(
            work.path(),
            &["new", "node", "greet", "--lang", lang.folder()],
        )
        .output()
        .expect("run savepoint new");
        assert!(
            output.status.success(),
            "savepoint new node greet --lang {}: {}",
            lang.folder(),
            String::from_utf8_lossy(&output.stderr)
        );
        let output = Command::new(work.path().join("greet/build.sh"))
            .current_dir(work.path())
            .env("SAVEPOINT_PLUGINS", out.parent().unwrap())
            .env("CARGO_TARGET_DIR", root.join("cargo-target"))
            .env("XDG_CACHE_HOME", root.join("cache"))
            .env_remove("SAVEPOINT_WIT")
            .stdin(Stdio::null())
            .output()
            .expect("run build.sh");
        assert!(
            output.status.success(),
            "greet/build.sh of the {} template failed (scripts/test installs the toolchains):\n{}{}",
            lang.folder(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(out.is_file(), "build.sh made no {}", out.display());
        // Every language says the same, once: where the component went, as named.
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let built: Vec<&str> = said.lines().filter(|l| l.starts_with("built ")).collect();
        assert_eq!(
            built,
            [format!("built {}", out.display())],
            "{}: {said}",
            lang.folder()
        );
    }
    // Warm the compile cache once.
    let env = Env::new(&[]);
    env.add_plugin("greet", &out);
    env.ok(&["plugins"]);
    built.insert(lang, out.clone());
    out
}
