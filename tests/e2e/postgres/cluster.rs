//! What the Postgres-only tests add to the fixtures: a schema of a test's own
//! on the test server, a throwaway Postgres server of a test's own (which the
//! test may stop), and `savepoint serve` hosts that look like separate
//! machines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;

use crate::fixtures::{DEADLINE, Env, drop_schema, fresh_schema_url, repo_root, test_server};

/// A fresh schema on the test server for one test, whatever the pass's
/// backend (several `Env`s and hosts may share it); dropped with everything in
/// it when this is dropped (declare it before them, so it outlives them).
pub struct Schema {
    url: String,
}

impl Schema {
    pub fn fresh() -> Schema {
        Schema {
            url: fresh_schema_url(test_server()),
        }
    }

    /// The URL whose search path is this schema.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        drop_schema(&self.url);
    }
}

/// `scripts/pg ARGS...`, which must succeed; returns its stdout's last line.
fn scripts_pg(args: &[&str]) -> String {
    let script = repo_root().join("scripts/pg");
    let output = Command::new(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "scripts/pg {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A throwaway Postgres server of one test (`scripts/pg start` in a temp
/// dir), stopped and deleted when dropped.
pub struct Server {
    dir: tempfile::TempDir,
    url: String,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let url = scripts_pg(&["start", &dir.path().display().to_string()]);
        Server { dir, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// `pg_ctl stop -m immediate`: every backend killed at once, no
    /// shutdown checkpoint (a crash, as far as the clients can tell).
    pub fn stop_immediately(&self) {
        scripts_pg(&["stop", &self.dir(), "immediate"]);
    }

    /// Start the stopped server again (on the port it had).
    pub fn start_again(&self) {
        let url = scripts_pg(&["start", &self.dir()]);
        assert_eq!(url, self.url, "the server came back at another URL");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/pg"))
            .args(["stop", &self.dir()])
            .stdin(Stdio::null())
            .output();
    }
}

/// A `savepoint serve` on the database of an [`Env`], as if on a machine of its own
/// named `who` (in a UTS namespace with that host name, when this process may
/// make one): so the other hosts cannot see that it died and must wait for
/// its leases to expire, as they would on separate machines. Its nodes see
/// `who` as `SAVEPOINT_TEST_WHO` (the `report` node's `who`).
pub struct Host {
    child: Option<Child>,
    who: String,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Host {
    pub fn start(env: &Env, who: &str, args: &[&str]) -> Host {
        let mut all = vec![
            "serve",
            "--workflows",
            "workflows",
            "--listen",
            "127.0.0.1:0",
        ];
        all.extend_from_slice(args);
        env.workflows_dir();
        let inner = env.command(&all);
        let mut command = match machine_wrapper() {
            Some(wrapper) => {
                let mut command = Command::new(wrapper[0]);
                command
                    .args(&wrapper[1..])
                    .args([
                        "--uts",
                        "--",
                        "sh",
                        "-c",
                        "hostname \"$0\" && exec \"$@\"",
                        who,
                    ])
                    .arg(inner.get_program())
                    .args(inner.get_args());
                command
            }
            None => {
                let mut command = Command::new(inner.get_program());
                command.args(inner.get_args());
                command
            }
        };
        for (name, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        if let Some(dir) = inner.get_current_dir() {
            command.current_dir(dir);
        }
        let mut child = command
            .env("SAVEPOINT_TEST_WHO", who)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start savepoint serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        {
            let log = log.clone();
            // Drain stderr for the host's whole life, so it never blocks on a
            // full pipe; the text is printed if the test fails.
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
        let mut host = Host {
            child: Some(child),
            who: who.to_string(),
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
        };
        let started = Instant::now();
        let prefix = "savepoint serve: listening on http://";
        loop {
            let left = DEADLINE.saturating_sub(started.elapsed());
            let line = lines_rx
                .recv_timeout(left)
                .unwrap_or_else(|error| panic!("host {who} did not report its address ({error})"));
            if let Some(rest) = line.strip_prefix(prefix) {
                let addr = rest.split(' ').next().unwrap_or(rest);
                host.addr = addr
                    .parse()
                    .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
                return host;
            }
        }
    }

    pub fn who(&self) -> &str {
        &self.who
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the process is still running (it has not exited).
    pub fn alive(&mut self) -> bool {
        let child = self.child.as_mut().expect("the host was not killed");
        child.try_wait().expect("wait for the host").is_none()
    }

    /// SIGKILL the host and reap it; returns when it is surely dead.
    pub fn kill(&mut self) -> Instant {
        let mut child = self.child.take().expect("the host runs");
        child.kill().expect("SIGKILL savepoint serve");
        child.wait().expect("reap savepoint serve");
        Instant::now()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- stderr of host {} ({}) ---\n{}",
                self.who,
                self.addr,
                self.log.lock().unwrap()
            );
        }
    }
}

/// How to run a process in a UTS namespace of its own (`unshare`, as root or
/// in a user namespace), or `None` when this machine allows neither: then
/// every host has the same host name, and the others see at once that a
/// killed one died (its pid is gone) instead of waiting for its leases.
fn machine_wrapper() -> Option<&'static [&'static str]> {
    static WRAPPER: OnceLock<Option<&'static [&'static str]>> = OnceLock::new();
    *WRAPPER.get_or_init(|| {
        const WAYS: [&[&str]; 2] = [&["unshare"], &["unshare", "--user", "--map-root-user"]];
        WAYS.into_iter().find(|way| {
            Command::new(way[0])
                .args(&way[1..])
                .args(["--uts", "--", "sh", "-c", "hostname savepoint-test"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}
