//! W2, the resume scenario, with the real `savepoint` binary: process 1 runs
//! the chain with node 6 slowed down (`delay_ms = "${env:BENCH_DELAY_MS}"`,
//! 60 s) and is killed with SIGKILL while node 6 runs (once its progress
//! output shows step 5 committed); process 2, `savepoint resume THREAD` with
//! no delay, is timed from spawn to exit. Then the run is checked: completed,
//! `count` 10, process 2 committed exactly steps 6 to 10, and every node ran
//! (logged) exactly once. The database is what `--db` is given: a file, or a
//! Postgres URL.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::chain::{Chain, NODES};

/// How long process 1's node 6 waits: far longer than the scenario.
const SLOW_MS: &str = "60000";
/// The step process 1 is killed after (node 6 is then running).
const KILL_AFTER: u64 = 5;

#[derive(Debug, Default)]
pub struct Resume {
    /// Process 2, spawn to exit, per repetition.
    pub wall: Vec<Duration>,
    /// `savepoint --version`, spawn to exit, per repetition: the bare
    /// process start, for scale.
    pub process_start: Vec<Duration>,
    /// What did not hold, per repetition.
    pub failures: Vec<String>,
}

/// Run the scenario once per database in `dbs` (each fresh: what `--db` is
/// given), in `scratch`, with the Rust counter.
pub fn measure(
    savepoint: &Path,
    counter: &Path,
    chain: &Chain,
    scratch: &Path,
    dbs: &[OsString],
) -> anyhow::Result<Resume> {
    if !savepoint.is_file() {
        bail!(
            "no savepoint binary at {} (build it with `cargo build --release -p savepoint`, \
             pass --savepoint PATH, or --skip-resume)",
            savepoint.display()
        );
    }
    let plugins = scratch.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(counter, plugins.join("counter.wasm"))
        .with_context(|| format!("cannot copy {}", counter.display()))?;
    let workflow = scratch.join("chain-slow-n6.toml");
    std::fs::write(&workflow, chain.with_slow_node6()?)?;
    let bed = Bed {
        savepoint: savepoint.to_path_buf(),
        plugins,
        cache: scratch.join("cache"),
        workflow,
    };

    let mut resume = Resume::default();
    for (rep, db) in (1..).zip(dbs) {
        let thread = format!("resume-{rep}");
        bed.crash(db, &thread)
            .with_context(|| format!("resume repetition {rep}: process 1"))?;
        let (wall, stderr, code) = bed.resume(db, &thread)?;
        resume.wall.push(wall);
        if let Err(failure) = bed.verify(db, &thread, &stderr, code) {
            resume.failures.push(format!("repetition {rep}: {failure}"));
        }

        let started = Instant::now();
        let status = Command::new(savepoint).arg("--version").output()?.status;
        resume.process_start.push(started.elapsed());
        if !status.success() {
            bail!("`{} --version` failed", savepoint.display());
        }
    }
    Ok(resume)
}

struct Bed {
    savepoint: PathBuf,
    plugins: PathBuf,
    cache: PathBuf,
    workflow: PathBuf,
}

impl Bed {
    fn command(&self, db: &OsStr) -> Command {
        let mut command = Command::new(&self.savepoint);
        command
            .arg("--db")
            .arg(db)
            .arg("--plugins")
            .arg(&self.plugins)
            .arg("--cache")
            .arg(&self.cache)
            .stdin(Stdio::null());
        command
    }

    /// Process 1: run until step 5 is committed, then SIGKILL it.
    fn crash(&self, db: &OsStr, thread: &str) -> anyhow::Result<()> {
        let mut child = self
            .command(db)
            .arg("run")
            .arg(&self.workflow)
            .args(["--thread", thread])
            .env("BENCH_DELAY_MS", SLOW_MS)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.savepoint.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (steps, committed) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if steps.send(progress_step(&line)).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let reached = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match committed.recv_timeout(left) {
                Ok(Some(step)) if step >= KILL_AFTER => break Ok(step),
                Ok(_) => {}
                Err(_) => break Err(()),
            }
        };
        // Node 6 sleeps for a minute: give it a moment to be inside it.
        std::thread::sleep(Duration::from_millis(20));
        child.kill()?;
        let status = child.wait()?;
        match reached {
            Ok(KILL_AFTER) => Ok(()),
            Ok(step) => bail!("step {step} committed before the kill (node 6 did not wait)"),
            Err(()) => bail!("no progress line for step {KILL_AFTER} (exit status {status})"),
        }
    }

    /// Process 2: `savepoint resume THREAD --json`, timed from spawn to exit.
    fn resume(&self, db: &OsStr, thread: &str) -> anyhow::Result<(Duration, String, i32)> {
        let mut command = self.command(db);
        command
            .args(["resume", thread, "--json"])
            .env("BENCH_DELAY_MS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let output = command.spawn()?.wait_with_output()?;
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        Ok((wall, stderr, output.status.code().unwrap_or(-1)))
    }

    /// The run completed with count 10, process 2 committed exactly steps 6
    /// to 10, and every node ran once.
    fn verify(&self, db: &OsStr, thread: &str, stderr: &str, code: i32) -> Result<(), String> {
        if code != 0 {
            return Err(format!("resume exited with {code}: {}", stderr.trim()));
        }
        let resumed: Vec<u64> = stderr.lines().filter_map(progress_step).collect();
        let expected: Vec<u64> = (KILL_AFTER + 1..=NODES).collect();
        if resumed != expected {
            return Err(format!(
                "the resume committed steps {resumed:?}, not {expected:?}"
            ));
        }
        let state = self.json(db, &["state", thread, "--json"])?;
        if state.get("count").and_then(Value::as_u64) != Some(NODES) {
            return Err(format!("final state {state}, not count {NODES}"));
        }
        let logs = self.json(db, &["logs", thread, "--json"])?;
        let nodes: Vec<String> = logs["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|line| line.get("node")?.as_str().map(str::to_owned))
            .collect();
        let expected: Vec<String> = (1..=NODES).map(|k| format!("n{k}")).collect();
        if nodes != expected {
            return Err(format!(
                "the nodes that ran (logged) are {nodes:?}, not n1..n10 once each"
            ));
        }
        Ok(())
    }

    fn json(&self, db: &OsStr, args: &[&str]) -> Result<Value, String> {
        let output = self
            .command(db)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "`savepoint {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("`savepoint {}` printed no JSON: {e}", args.join(" ")))
    }
}

/// The step of a progress line (`step    5  n5  sha256:…  0.09 ms  -> n6`).
fn progress_step(line: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    (words.next()? == "step").then_some(())?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(
            progress_step("step    5  n5               sha256:0123  0.09 ms  -> n6"),
            Some(5)
        );
        assert_eq!(progress_step("thread t: running chain.toml"), None);
        assert_eq!(progress_step("step"), None);
    }
}
