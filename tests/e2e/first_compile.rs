//! A plugin's first compile (seconds to tens of seconds for an interpreter
//! component: Python, JavaScript) must not cost a run its lease: `run`,
//! `resume` and `serve` with an empty compile cache and a lease far shorter
//! than the compile still complete the run. And the CLI says, once, that it
//! compiles (a long pause is explained), never for a cache hit.
//!
//! The slow compile is the JavaScript counter (12 MB) under a fresh `--cache`;
//! the lease is the shortest there is (`--lease 2s`: surely valid for 1.6 s).
//! Nothing here measures time: the tests assert that the runs complete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::fixtures::{DEADLINE, Env, Lang, lang_guest, wait_for};

/// How long a test waits for a run that compiles a large component first (a
/// bound, not a measurement: a debug build on a busy machine takes minutes).
const COMPILE_DEADLINE: Duration = Duration::from_secs(600);

/// An environment with the JavaScript counter as plugin `jsc` (and the Rust
/// `approval` node), and a compile cache folder of its own, still empty.
fn cold_env() -> (Env, PathBuf) {
    let env = Env::new(&["approval"]);
    env.add_plugin("jsc", &lang_guest(Lang::Js, "counter"));
    let cache = env.path().join("cold-cache");
    (env, cache)
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temp path")
}

/// How many times `stderr` says it compiles plugin `name`.
fn compiles(stderr: &str, name: &str) -> usize {
    stderr
        .lines()
        .filter(|line| line.contains(&format!("compiling {name}.wasm (")))
        .count()
}

const ONE_NODE: &str = r#"
name = "cold"
start = "count"

[nodes.count]
plugin = "jsc"
next = "end"
"#;

#[test]
fn run_completes_when_the_first_compile_outlasts_the_lease() {
    let (env, cache) = cold_env();
    let workflow = env.workflow("cold.toml", ONE_NODE);
    let args = [
        "--cache",
        arg(&cache),
        "--lease",
        "2s",
        "run",
        &workflow,
        "--thread",
        "r1",
        "--json",
    ];
    let (code, stdout, stderr) = env.exit(&args);
    assert_eq!(
        code,
        Some(0),
        "the run completes:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("--json stdout");
    assert_eq!(status["status"], "completed");
    assert_eq!(env.state("r1")["count"], json!(1));
    // Said once, on stderr, before the run starts; stdout is the JSON alone.
    assert_eq!(compiles(&stderr, "jsc"), 1, "stderr: {stderr}");
    let said = stderr.find("compiling jsc.wasm").unwrap();
    let started = stderr.find("thread r1: running").expect("the run starts");
    assert!(said < started, "stderr: {stderr}");
    assert!(stderr.contains("cached in"), "stderr: {stderr}");

    // Cached now: a second run says nothing about compiling.
    let args = ["--cache", arg(&cache), "run", &workflow, "--thread", "r2"];
    let (code, _, stderr) = env.exit(&args);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(compiles(&stderr, "jsc"), 0, "stderr: {stderr}");
}

#[test]
fn resume_completes_when_the_first_compile_outlasts_the_lease() {
    let (env, cache) = cold_env();
    let workflow = env.workflow(
        "ask.toml",
        r#"
name = "ask"
start = "ask"

[nodes.ask]
plugin = "approval"
config = { on_approve = "count", on_reject = "end" }
routes = ["count", "end"]

[nodes.count]
plugin = "jsc"
next = "end"
"#,
    );
    // Parks at the question (with the shared, warm cache).
    env.exits(3, &["run", &workflow, "--thread", "q1"]);
    // The answer continues it in a process whose cache is empty.
    let args = [
        "--cache",
        arg(&cache),
        "--lease",
        "2s",
        "resume",
        "q1",
        "--input",
        r#"{"approved": true}"#,
    ];
    let (code, stdout, stderr) = env.exit(&args);
    assert_eq!(
        code,
        Some(0),
        "the run completes:\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(env.status("q1")["status"], "completed");
    assert_eq!(env.state("q1")["count"], json!(1));
    assert_eq!(compiles(&stderr, "jsc"), 1, "stderr: {stderr}");
}

#[test]
fn serve_completes_a_run_whose_plugin_it_has_not_compiled_yet() {
    let (env, cache) = cold_env();
    let workflow = env.daemon_workflow("cold", ONE_NODE);
    // Created by `start` (its check compiles into the shared cache), then
    // driven by a daemon whose own cache is empty.
    env.ok(&["start", &workflow, "--thread", "s1"]);
    let daemon = env.serve(&["--cache", arg(&cache), "--lease", "2s"]);
    wait_for("thread s1 to complete", COMPILE_DEADLINE, || {
        let status = env.status("s1");
        match status["status"].as_str() {
            Some("completed") => Ok(()),
            _ => Err(status.to_string()),
        }
    });
    assert_eq!(env.state("s1")["count"], json!(1));
    let log = daemon.stderr();
    assert!(!log.contains("could not renew"), "daemon stderr: {log}");
    assert!(
        log.contains("savepoint serve: compiling jsc.wasm ("),
        "daemon stderr: {log}"
    );
}

/// The compile line, with a small (Rust) component: once per version per
/// cache, on stderr (also with `--json`), never for a cache hit, not with
/// `-q`; `validate` and `plugins` say it too.
#[test]
fn a_compile_is_announced_once_and_a_cache_hit_is_not() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow(
        "one.toml",
        "name = \"one\"\nstart = \"c\"\n\n[nodes.c]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    let fresh = |name: &str| env.path().join(name);

    let cache = fresh("cache-a");
    let args = ["--cache", arg(&cache), "validate", &workflow, "--json"];
    let (code, stdout, stderr) = env.exit(&args);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        !stdout.contains("compiling"),
        "stdout is JSON only: {stdout}"
    );
    assert_eq!(compiles(&stderr, "counter"), 1, "stderr: {stderr}");
    for command in [&["plugins"][..], &["run", &workflow]] {
        let mut args = vec!["--cache", arg(&cache)];
        args.extend(command);
        let (code, _, stderr) = env.exit(&args);
        assert_eq!(code, Some(0), "stderr: {stderr}");
        assert_eq!(compiles(&stderr, "counter"), 0, "{command:?}: {stderr}");
    }

    let cache = fresh("cache-b");
    let args = ["--cache", arg(&cache), "run", &workflow, "-q"];
    let (code, _, stderr) = env.exit(&args);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(compiles(&stderr, "counter"), 0, "-q: {stderr}");

    let cache = fresh("cache-c");
    let (code, _, stderr) = env.exit(&["--cache", arg(&cache), "plugins"]);
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert_eq!(compiles(&stderr, "counter"), 1, "stderr: {stderr}");
    assert!(
        stderr.contains("compiling counter.wasm (0.") && stderr.contains(" MB; "),
        "the file and its size: {stderr}"
    );

    // A compile shorter than the notice delay (here: set beyond any compile)
    // goes unsaid; the code is cached all the same.
    let cache = fresh("cache-d");
    let output = env
        .command(&["--cache", arg(&cache), "plugins"])
        .env("SAVEPOINT_COMPILE_NOTICE_MS", "600000")
        .output()
        .expect("run savepoint plugins");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(!stderr.contains("compiling"), "stderr: {stderr}");
    assert_eq!(cwasm(&cache, Code::Cranelift), 1, "cached");
}

/// Which compiler's code a cache file holds (`tier.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Code {
    Winch,
    Cranelift,
}

/// How many entries of `code` the compile cache `dir` holds.
fn cwasm(dir: &Path, code: Code) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| match code {
            Code::Winch => name.ends_with(".winch.cwasm"),
            Code::Cranelift => name.ends_with(".cwasm") && !name.ends_with(".winch.cwasm"),
        })
        .count()
}

/// `serve` compiles a file dropped into the plugins folder when it sees it,
/// before any run asks for it: an interpreter component with Winch first
/// (its code cached at once), then with Cranelift in the background (cached
/// too, and swapped in).
#[test]
fn serve_compiles_a_dropped_file_before_any_run_asks_for_it() {
    let env = Env::new(&["approval"]);
    let cache = env.path().join("cold-cache");
    let daemon = env.serve(&["--cache", arg(&cache)]);
    // Dropped whole (renamed into place), as a deploy would.
    let staged = env.path().join("jsc.staged");
    std::fs::copy(lang_guest(Lang::Js, "counter"), &staged).unwrap();
    std::fs::rename(&staged, env.plugins().join("jsc.wasm")).unwrap();

    wait_for(
        "Winch's code in the cache",
        COMPILE_DEADLINE,
        || match cwasm(&cache, Code::Winch) {
            1 => Ok(()),
            n => Err(format!("{n} entries; daemon stderr: {}", daemon.stderr())),
        },
    );
    wait_for(
        "Cranelift's code in the cache",
        COMPILE_DEADLINE,
        || match cwasm(&cache, Code::Cranelift) {
            1 => Ok(()),
            n => Err(format!("{n} entries; daemon stderr: {}", daemon.stderr())),
        },
    );
    // Loaded (and described) on Winch's code; the log says so once done, which
    // may be after Cranelift's compile began.
    wait_for("the daemon to serve the new file", DEADLINE, || {
        let log = daemon.stderr();
        match log.contains("plugin jsc: new runs use") {
            true => Ok(()),
            false => Err(log),
        }
    });
    assert!(
        env.sql("SELECT thread FROM runs").unwrap().is_empty(),
        "no run asked for it"
    );
}

/// A `run` that could not renew its lease (here: stopped past it) stops with
/// exit 7 (environment: nobody else need hold the run), says that the run is
/// unharmed and which command continues it; that command does.
#[test]
fn a_lost_lease_says_the_run_is_unharmed_and_how_to_continue_it() {
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let env = Env::new(&["counter"]);
    let workflow = env.workflow(
        "slow.toml",
        r#"
name = "slow"
start = "slow"

[nodes.slow]
plugin = "counter"
config = { delay_ms = "${env:SLOW_MS}" }
next = "end"
"#,
    );
    let mut run = Reaped(
        env.command(&["--lease", "2s", "run", &workflow, "--thread", "lost"])
            .env("SLOW_MS", "600000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start savepoint run"),
    );
    let pid = run.0.id() as libc::pid_t;
    // The lease's expiry in the database (milliseconds since the epoch).
    let expires = || -> Option<i64> {
        let rows = env
            .sql("SELECT lease_expires FROM runs WHERE thread = 'lost'")
            .ok()?;
        rows.into_iter().next()??.parse().ok()
    };
    wait_for("the run to hold its lease", DEADLINE, || {
        expires().ok_or("no lease yet".to_string())
    });
    // SAFETY: kill(2) on our child, not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    wait_for(
        "the stopped run's lease to expire",
        DEADLINE,
        || match expires() {
            Some(at) if at > now_ms() => Err(format!("expires at {at}")),
            _ => Ok(()),
        },
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let exit = run.0.wait().expect("wait for savepoint run");
    assert_eq!(exit.code(), Some(7), "stderr: {stderr}");
    assert!(
        stderr.contains("could not renew its lease") && stderr.contains("the run is unharmed"),
        "stderr: {stderr}"
    );
    assert!(
        // The hint repeats the global options of the command line (`--lease`).
        stderr.contains("(`savepoint --lease 2s resume lost` continues it)"),
        "stderr: {stderr}"
    );
    // And it does.
    let output = env
        .command(&["resume", "lost"])
        .env("SLOW_MS", "0")
        .output()
        .expect("run savepoint resume");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(env.status("lost")["status"], "completed");
}
