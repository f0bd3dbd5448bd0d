//! A Postgres database that cannot be used says which and why: one that does not answer
//! (every command stops at once with exit 7; `serve` waits for it), a wrong password, a
//! database that is not there, one that is not savepoint's, a newer schema, and an empty
//! schema, which a command that only reads finds no database in (as a missing file).
//! Messages show the URL with its password as `***`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use crate::fixtures::{
    DEADLINE, Db, Env, Messages, fresh_schema_url, repo_root, test_server, wait_for,
};

/// A workflow of one node.
const ONE_NODE: &str =
    "name = \"one\"\nstart = \"a\"\n[nodes.a]\nplugin = \"echo\"\nnext = \"end\"\n";

/// `text` with the name of `url`'s schema (new in every test run) as `t_SCHEMA`.
fn without_schema(text: &str, url: &str) -> String {
    let schema = url.rsplit("%3D").next().expect("a URL with a schema");
    text.replace(schema, "t_SCHEMA")
}

/// A loopback port nothing listens on (one the kernel just handed out and took back).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// An environment whose commands use `url` (in `SAVEPOINT_DB`), whatever the pass.
fn env_on(url: &str) -> Env {
    Env::with_db(&["echo"], Db::Url(url.to_string()))
}

#[test]
fn a_database_that_does_not_answer_stops_every_command_with_exit_7() {
    let url = format!(
        "postgres://savepoint:s3cret@127.0.0.1:{}/savepoint",
        free_port()
    );
    let env = env_on(&url);
    let workflow = env.workflow("one.toml", ONE_NODE);
    let mut messages = Messages::new();
    for args in [
        vec!["start", workflow.as_str(), "--thread", "t1"],
        vec!["run", workflow.as_str(), "--thread", "t1"],
        vec!["status", "t1"],
        vec!["runs"],
        vec!["history", "t1"],
        vec!["gc"],
    ] {
        let stderr = env.exits(7, &args);
        assert!(!stderr.contains("s3cret"), "{stderr}");
        messages.add(&args.join(" "), &stderr);
    }
    messages.check("postgres-unreachable.txt");
}

#[test]
fn serve_waits_for_its_database_and_starts_when_it_answers() {
    let port = free_port();
    let server_dir = tempfile::tempdir().expect("a temp dir");
    // The database `postgres`, which the server has from its first start on (scripts/pg
    // creates `savepoint` once it accepts connections, a moment too late for a host that
    // tries every 500 ms).
    let url = format!("postgres://savepoint@127.0.0.1:{port}/postgres");
    let env = env_on(&url);
    env.workflows_dir();
    let mut serve = Serve::start(env.command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workflows",
        "workflows",
    ]));
    let first = serve.line_with("trying again in");
    let _server = PgServer::start_on(server_dir.path(), port);
    serve.line_with("savepoint serve: listening on http://");
    let mut messages = Messages::new();
    messages.add("serve before its database answers (first attempt)", &first);
    messages.check("postgres-serve-waits.txt");
    // It serves: a run started now completes.
    let workflow = env.workflow("one.toml", ONE_NODE);
    env.ok(&["start", &workflow, "--thread", "after-wait"]);
    env.wait_status("after-wait", "completed", |s| s["status"] == "completed");
}

#[test]
fn a_wrong_password_a_missing_database_and_a_foreign_one_are_refused() {
    let server_dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let server = PgServer::start_on(server_dir.path(), port);
    server.require_passwords("right-one");
    let base = format!("127.0.0.1:{port}");
    let mut messages = Messages::new();

    let wrong = env_on(&format!("postgres://savepoint:wrong-one@{base}/savepoint"));
    let stderr = wrong.exits(7, &["status", "t1"]);
    assert!(!stderr.contains("wrong-one"), "{stderr}");
    messages.add("status with a wrong password", &stderr);
    let stderr = wrong.exits(7, &["runs"]);
    messages.add("runs with a wrong password", &stderr);
    let none = env_on(&format!("postgres://savepoint@{base}/savepoint"));
    messages.add(
        "status without the password",
        &none.exits(7, &["status", "t1"]),
    );

    let missing = env_on(&format!("postgres://savepoint:right-one@{base}/nosuchdb"));
    messages.add(
        "status on a database that does not exist",
        &missing.exits(7, &["status", "t1"]),
    );

    let foreign = fresh_schema_url(&format!("postgres://savepoint:right-one@{base}/savepoint"));
    server.sql(
        &foreign,
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT)",
    );
    let env = env_on(&foreign);
    let workflow = env.workflow("one.toml", ONE_NODE);
    let (code, _, stderr) = env.exit(&["run", &workflow, "--thread", "t1"]);
    messages.add(
        &format!("run on a schema that is not savepoint's (exit {code:?})"),
        &without_schema(&stderr, &foreign),
    );
    let (code, _, stderr) = env.exit(&["status", "t1"]);
    messages.add(
        &format!("status on a schema that is not savepoint's (exit {code:?})"),
        &without_schema(&stderr, &foreign),
    );
    assert_eq!(
        psql(&foreign, TABLES).expect("list the schema's tables"),
        ["customers"],
        "savepoint wrote nothing into a database that is not its own"
    );

    let newer = fresh_schema_url(&format!("postgres://savepoint:right-one@{base}/savepoint"));
    server.sql(
        &newer,
        "CREATE TABLE savepoint_schema (version BIGINT PRIMARY KEY); \
         INSERT INTO savepoint_schema VALUES (999)",
    );
    let (code, _, stderr) = env_on(&newer).exit(&["status", "t1"]);
    messages.add(
        &format!("status on a newer savepoint's schema (exit {code:?})"),
        &without_schema(&stderr, &newer),
    );
    messages.check("postgres-refused.txt");
}

#[test]
fn an_empty_schema_holds_no_database_for_commands_that_only_read() {
    let url = fresh_schema_url(test_server());
    let env = env_on(&url);
    let mut messages = Messages::new();
    // The test server's URL differs between machines.
    let shown = |stderr: String| stderr.replace(&url, "$URL");
    messages.add(
        "status in an empty schema",
        &shown(env.exits(5, &["status", "t1"])),
    );
    messages.add(
        "history in an empty schema",
        &shown(env.exits(5, &["history", "t1"])),
    );
    assert_eq!(
        env.json(&["runs", "--json"]),
        serde_json::json!({"runs": [], "next_cursor": null})
    );
    messages.check("postgres-empty-schema.txt");
    assert_eq!(
        psql(&url, TABLES).expect("list the schema's tables"),
        Vec::<String>::new(),
        "a command that only reads created nothing"
    );
}

/// A throwaway Postgres server of one test (`scripts/pg start DIR PORT`), stopped when
/// dropped.
struct PgServer {
    dir: std::path::PathBuf,
    url: String,
}

impl PgServer {
    fn start_on(dir: &std::path::Path, port: u16) -> PgServer {
        let url = scripts_pg(&["start", &dir.display().to_string(), &port.to_string()]);
        PgServer {
            dir: dir.to_path_buf(),
            url,
        }
    }

    /// From now on, TCP connections need the password `password` (the Unix socket
    /// stays open without one, for the test's own statements).
    fn require_passwords(&self, password: &str) {
        self.sql(
            &self.url,
            &format!("ALTER ROLE savepoint PASSWORD '{password}'"),
        );
        let hba = self.dir.join("data/pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", hba.display()));
        self.sql(&self.socket_url(), "SELECT pg_reload_conf()");
        // The server reloads its settings on its own time: wait until it asks.
        wait_for("the server to ask for passwords", DEADLINE, || {
            match psql(&self.url, "SELECT 1") {
                Ok(_) => Err("it still lets a connection in without a password".into()),
                Err(_) => Ok(()),
            }
        });
    }

    /// The server's URL through its Unix socket (in its folder), which needs no password.
    fn socket_url(&self) -> String {
        let port = self
            .url
            .rsplit_once(':')
            .map(|(_, p)| p)
            .unwrap_or_default();
        let port = port.split('/').next().unwrap_or(port);
        format!(
            "postgres://savepoint@/savepoint?host={}&port={port}",
            self.dir.display()
        )
    }

    /// Runs `sql` on the database at `url` (on this server, through its socket when `url`
    /// names a schema: its search path is kept).
    fn sql(&self, url: &str, sql: &str) {
        let url = match url.split_once('?') {
            Some((_, query)) if query.contains("search_path") => {
                format!("{}&{query}", self.socket_url())
            }
            _ => self.socket_url(),
        };
        psql(&url, sql).unwrap_or_else(|e| panic!("{sql} on {url}: {e}"));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/pg"))
            .args(["stop", &self.dir.display().to_string()])
            .stdin(Stdio::null())
            .output();
    }
}

/// The tables of the schema a URL works in.
const TABLES: &str = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()";

/// The rows `sql` returns on `url` (one line each, unaligned), or psql's complaint.
fn psql(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let output = Command::new("psql")
        .args([
            url,
            "-X",
            "-w",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// `scripts/pg ARGS...`, which must succeed; returns the last line it printed.
fn scripts_pg(args: &[&str]) -> String {
    let output = Command::new(repo_root().join("scripts/pg"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/pg");
    assert!(
        output.status.success(),
        "scripts/pg {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

/// A `savepoint serve` whose stderr the test reads line by line; killed when dropped.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Serve {
    fn start(mut command: Command) -> Serve {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start savepoint serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Serve {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// The next line that contains `text`; panics with what it said if none comes within
    /// [`DEADLINE`].
    fn line_with(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "savepoint serve said no line with {text:?} ({error}; exit: {:?}); it \
                     said:\n{}",
                    self.child.try_wait(),
                    self.seen
                ),
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
