//! `savepoint serve`: sleeps that outlive the daemon, cancellation of a busy
//! node, SIGKILL of the daemon under load, two daemons on one database, and
//! a clean shutdown on SIGTERM.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Daemon, Env, Messages, assert_ran_once, traced_chain, wait_for};

/// `GET /runs` (or `?status=...`) as an array.
fn runs(daemon: &Daemon, query: &str) -> Vec<Value> {
    let response = daemon.get(&format!("/runs{query}"));
    assert_eq!(response.status, 200, "{response:?}");
    match response.json()["runs"].take() {
        Value::Array(runs) => runs,
        other => panic!("GET /runs has no array of runs: {other}"),
    }
}

/// `runs --json` through the CLI, straight from the database.
fn cli_runs(env: &Env) -> Vec<Value> {
    match env.json(&["runs", "--json"])["runs"].take() {
        Value::Array(runs) => runs,
        other => panic!("runs --json has no array of runs: {other}"),
    }
}

fn total_steps(runs: &[Value]) -> u64 {
    runs.iter().map(|r| r["step"].as_u64().unwrap()).sum()
}

fn count_by_status(runs: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for run in runs {
        *counts
            .entry(run["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

/// Wait until the daemon has burnt at least `cpu` of CPU time since `from`.
fn wait_busy(daemon: &Daemon, from: Duration, cpu: Duration, what: &str) {
    wait_for(what, DEADLINE, || {
        let used = daemon.cpu_time().saturating_sub(from);
        if used >= cpu {
            Ok(())
        } else {
            Err(format!("{used:?} of CPU"))
        }
    });
}

/// Wait until the daemon is idle: it used less than a tenth of a core over
/// a whole second.
fn wait_idle(daemon: &Daemon, what: &str) {
    let mut window = (Instant::now(), daemon.cpu_time());
    wait_for(what, DEADLINE, || {
        let (now, cpu) = (Instant::now(), daemon.cpu_time());
        let (elapsed, used) = (now - window.0, cpu.saturating_sub(window.1));
        if elapsed < Duration::from_secs(1) {
            return Err(format!("measuring ({used:?} of CPU in {elapsed:?})"));
        }
        if used * 10 < elapsed {
            return Ok(());
        }
        window = (now, cpu);
        Err(format!("{used:?} of CPU in {elapsed:?}"))
    });
}

#[test]
fn a_sleep_survives_a_daemon_restart() {
    let env = Env::new(&["poll"]);
    let workflow = env.daemon_workflow(
        "poll",
        r#"
name = "poll"
start = "look"
[nodes.look]
plugin = "poll"
config = { every_ms = 1000, until_wakes = 2 }
next = "end"
"#,
    );
    let mut first = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "nap"]);
    let sleeping = env.wait_status("nap", "asleep", |s| s["status"] == "sleeping");
    assert_eq!(sleeping["step"], 1, "{sleeping}");
    assert_eq!(sleeping["wakes"], 1, "{sleeping}");
    let wake_at = sleeping["wake_at"].as_str().expect("wake_at").to_string();
    first.kill();

    // The sleep is in the database: a new daemon wakes the run on time.
    let second = env.serve(&["--workers", "2"]);
    let done = second.wait_run("nap", "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(env.state("nap"), json!({"polls": 2, "replied": true}));
    let history = env.history("nap");
    let steps: Vec<u64> = history
        .iter()
        .map(|c| c["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, vec![3, 2, 1], "{history:?}");
    let woke = history[1]["created_at"].as_str().unwrap();
    assert!(
        woke >= wake_at.as_str(),
        "woke at {woke}, before it was due at {wake_at}"
    );
    assert_eq!(history[1]["state"], json!({"polls": 2}));
}

const BUSY: &str = r#"
name = "busy"
start = "warm"
[nodes.warm]
plugin = "counter"
next = "hot"
[nodes.hot]
plugin = "spin"
next = "end"
"#;

#[test]
fn cancel_stops_a_busy_node_and_keeps_the_history() {
    let env = Env::new(&["counter", "spin"]);
    let workflow = env.daemon_workflow("busy", BUSY);
    let daemon = env.serve(&["--workers", "2"]);
    let idle_cpu = daemon.cpu_time();
    env.ok(&["start", &workflow, "--thread", "busy"]);
    let spinning = env.wait_status("busy", "spinning in node hot", |s| {
        s["step"] == 1 && s["status"] == "running"
    });
    assert_eq!(spinning["next"], json!(["hot"]), "{spinning}");
    assert_eq!(spinning["lease_owner"], daemon.owner(), "{spinning}");
    wait_busy(
        &daemon,
        idle_cpu,
        Duration::from_millis(300),
        "the daemon to spin",
    );

    let cancelled = env.json(&["cancel", "busy", "--json"]);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // The daemon notices, abandons the node and lets go of the run.
    let released = env.wait_status("busy", "released by the daemon", |s| {
        s["lease_owner"].is_null()
    });
    assert_eq!(released["status"], "cancelled", "{released}");
    assert_eq!(released["step"], 1, "{released}");
    wait_idle(&daemon, "the spinning node to stop burning CPU");

    let history = env.history("busy");
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["node"], "warm");
    assert_eq!(env.state("busy"), json!({"count": 1}));
    let mut said = Messages::new();
    said.add("savepoint cancel busy", &env.fails(&["cancel", "busy"]));
    said.add("savepoint resume busy", &env.fails(&["resume", "busy"]));
    said.check("cancelled-run.txt");
    assert_eq!(env.status("busy")["status"], "cancelled");
}

#[test]
fn cancelling_a_finished_or_unknown_run_is_refused() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    env.ok(&["run", &workflow, "--thread", "done", "-q"]);
    let mut said = Messages::new();
    said.add("savepoint cancel done", &env.fails(&["cancel", "done"]));
    assert_eq!(env.status("done")["status"], "completed");
    said.add("savepoint cancel nobody", &env.fails(&["cancel", "nobody"]));
    said.check("cancel-refused.txt");
}

/// Pseudo-random numbers seeded from the OS: each run of the suite kills at
/// other moments. The seed is printed, so a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("E2E_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| RandomState::new().hash_one(std::process::id()));
        eprintln!("crash_recovery_under_load: E2E_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn crash_recovery_under_load() {
    const RUNS: usize = 100;
    const NODES: usize = 10;
    const TOTAL: u64 = (RUNS * NODES) as u64;
    let started = Instant::now();
    let env = Env::new(&["counter"]);
    env.daemon_workflow(
        "traced",
        &traced_chain("traced", NODES, |i| 20 + (i as u64 * 7) % 31),
    );
    let mut rng = Rng::new();
    // Kill four times, once in each quarter of the work.
    let thresholds: Vec<u64> = (0..4)
        .map(|q| TOTAL * q / 4 + 50 + rng.below(TOTAL / 4 - 100))
        .collect();
    eprintln!("crash_recovery_under_load: kill at {thresholds:?} committed steps");

    let serve = |env: &Env| env.serve(&["--workers", "8"]);
    let mut daemon = serve(&env);
    let threads: Vec<String> = (0..RUNS).map(|i| format!("load-{i:03}")).collect();
    for thread in &threads {
        let response = daemon.post("/runs", &json!({"workflow": "traced", "thread": thread}));
        assert_eq!(response.status, 201, "{response:?}");
    }

    let mut kills = 0;
    for threshold in &thresholds {
        let seen = wait_for(&format!("{threshold} committed steps"), DEADLINE, || {
            let total = total_steps(&runs(&daemon, ""));
            if total >= *threshold {
                Ok(total)
            } else {
                Err(format!("{total}"))
            }
        });
        if seen >= TOTAL {
            break;
        }
        daemon.kill();
        kills += 1;

        // What was committed survived; no run was lost or failed.
        let after = cli_runs(&env);
        assert_eq!(after.len(), RUNS, "no run lost after kill {kills}");
        let statuses = count_by_status(&after);
        assert!(
            statuses
                .keys()
                .all(|s| ["pending", "running", "completed"].contains(&s.as_str())),
            "after kill {kills}: {statuses:?}"
        );
        let committed = total_steps(&after);
        assert!(
            committed >= seen,
            "after kill {kills}: {committed} steps committed, {seen} were seen before"
        );
        eprintln!("kill {kills} at {committed} committed steps: {statuses:?}");
        daemon = serve(&env);
    }
    assert!(kills >= 3, "killed the daemon only {kills} times");

    let completed = wait_for("every run to complete", Duration::from_secs(45), || {
        let all = runs(&daemon, "");
        let statuses = count_by_status(&all);
        if statuses.get("completed") == Some(&RUNS) {
            Ok(all)
        } else {
            Err(format!("{statuses:?}"))
        }
    });
    let mut listed: Vec<String> = completed
        .iter()
        .map(|r| r["thread"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, threads, "exactly the runs we started");

    for thread in &threads {
        let state = daemon.get(&format!("/runs/{thread}/state")).json();
        let history = daemon.get(&format!("/runs/{thread}/history")).json()["entries"].clone();
        assert_ran_once(thread, NODES, &state, history.as_array().unwrap());
    }
    // Logs are written with the checkpoint: one line per committed step.
    for thread in threads.iter().step_by(9) {
        let logs = env.logs(thread);
        let steps: Vec<u64> = logs.iter().map(|l| l["step"].as_u64().unwrap()).collect();
        assert_eq!(
            steps,
            (1..=NODES as u64).collect::<Vec<_>>(),
            "thread {thread}: {logs:?}"
        );
    }
    eprintln!(
        "crash_recovery_under_load: {kills} kills, {:?}",
        started.elapsed()
    );
}

#[test]
fn two_daemons_share_one_database() {
    const RUNS: usize = 40;
    const NODES: usize = 10;
    let env = Env::new(&["counter"]);
    // 100 ms a node: every run takes a second or more, so both daemons are
    // seen holding runs even on a loaded machine.
    let workflow = env.daemon_workflow("traced", &traced_chain("traced", NODES, |_| 100));
    // Every run waits before the daemons start: started one by one, they would
    // finish as fast as they come, and the second daemon might never be needed.
    let threads: Vec<String> = (0..RUNS).map(|i| format!("shared-{i:02}")).collect();
    for thread in &threads {
        env.ok(&["start", &workflow, "--thread", thread]);
    }
    // Each daemon drives at most 10 runs at once, so both have to work.
    let one = env.serve(&["--workers", "8", "--max-runs", "10"]);
    let two = env.serve(&["--workers", "8", "--max-runs", "10"]);
    assert_ne!(one.owner(), two.owner());

    // Watch who holds the leases while the runs go on.
    let mut owners = BTreeMap::<String, usize>::new();
    wait_for("every run to complete", DEADLINE, || {
        let mut done = 0;
        for thread in &threads {
            let status = one.get(&format!("/runs/{thread}")).json();
            if let Some(owner) = status["lease_owner"].as_str() {
                *owners.entry(owner.to_string()).or_default() += 1;
            }
            if status["status"] == "completed" {
                done += 1;
            }
        }
        if done == RUNS {
            Ok(())
        } else {
            Err(format!("{done} of {RUNS} completed"))
        }
    });
    assert!(
        owners.contains_key(one.owner()) && owners.contains_key(two.owner()),
        "both daemons executed runs: {owners:?}"
    );
    assert!(
        owners.keys().all(|o| o == one.owner() || o == two.owner()),
        "{owners:?}"
    );

    for thread in &threads {
        // Read through the other daemon: both serve the same database.
        let state = two.get(&format!("/runs/{thread}/state")).json();
        let history = one.get(&format!("/runs/{thread}/history")).json()["entries"].clone();
        assert_ran_once(thread, NODES, &state, history.as_array().unwrap());
    }
    let completed = runs(&two, "?status=completed");
    assert_eq!(completed.len(), RUNS);
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_another_finishes_its_runs() {
    const RUNS: usize = 6;
    const NODES: usize = 10;
    let env = Env::new(&["counter"]);
    let workflow = env.daemon_workflow("slow", &traced_chain("slow", NODES, |_| 100));
    let mut first = env.serve(&["--workers", "8"]);
    let threads: Vec<String> = (0..RUNS).map(|i| format!("slow-{i}")).collect();
    for thread in &threads {
        env.ok(&["start", &workflow, "--thread", thread]);
    }
    wait_for("some progress", DEADLINE, || {
        let total = total_steps(&runs(&first, ""));
        if total >= 6 {
            Ok(())
        } else {
            Err(format!("{total} steps"))
        }
    });
    let exit = first.terminate();
    assert!(exit.success(), "serve exits 0 on SIGTERM: {exit}");
    let stderr = first.stderr();
    assert!(stderr.contains("shutting down"), "{stderr}");

    // Nothing was left leased, nothing failed; the steps in flight were
    // abandoned and run again by the next daemon.
    let mut unfinished = 0;
    for thread in &threads {
        let status = env.status(thread);
        assert_eq!(status["lease_owner"], Value::Null, "{status}");
        assert!(
            ["pending", "running", "completed"].contains(&status["status"].as_str().unwrap()),
            "{status}"
        );
        if status["status"] != "completed" {
            unfinished += 1;
        }
    }
    assert!(unfinished > 0, "SIGTERM came before the runs finished");
    let second = env.serve(&["--workers", "8"]);
    for thread in &threads {
        second.wait_run(thread, "completed", |s| s["status"] == "completed");
        assert_ran_once(thread, NODES, &env.state(thread), &env.history(thread));
    }
}

#[test]
fn a_cancelled_sleeping_run_is_never_woken() {
    let env = Env::new(&["echo", "counter"]);
    let workflow = env.daemon_workflow(
        "nap",
        r#"
name = "nap"
start = "nap"
[nodes.nap]
plugin = "echo"
config = { sleep_ms = 1000 }
next = "after"
[nodes.after]
plugin = "counter"
next = "end"
"#,
    );
    let daemon = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "sleeper"]);
    let asleep = env.wait_status("sleeper", "asleep", |s| s["status"] == "sleeping");
    let cancelled = env.json(&["cancel", "sleeper", "--json"]);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["wake_at"], Value::Null, "{cancelled}");

    // A second run that sleeps as long, started later, is a barrier: once
    // the daemon has woken it, it has passed the sleeper's wake-up time.
    env.ok(&["start", &workflow, "--thread", "barrier"]);
    let barrier = env.wait_status("barrier", "asleep", |s| s["status"] == "sleeping");
    assert!(
        barrier["wake_at"].as_str() > asleep["wake_at"].as_str(),
        "{barrier} / {asleep}"
    );
    daemon.wait_run("barrier", "completed", |s| s["status"] == "completed");

    let status = env.status("sleeper");
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(status["step"], 1, "{status}");
    assert_eq!(env.history("sleeper").len(), 1);
    assert_eq!(env.state("sleeper"), json!({"slept": true}));
}

#[test]
fn a_surviving_daemon_takes_over_the_runs_of_a_killed_one_at_once() {
    const RUNS: usize = 30;
    const NODES: usize = 10;
    let env = Env::new(&["counter"]);
    // 100 ms a node: a run is in progress for a second or more, so the probe
    // below sees the victim holding runs even on a loaded machine.
    let workflow = env.daemon_workflow("traced", &traced_chain("traced", NODES, |_| 100));
    // Every run waits before the daemons start, so the victim has runs in
    // progress when it is killed (started one by one, they could all be done).
    let threads: Vec<String> = (0..RUNS).map(|i| format!("take-{i:02}")).collect();
    for thread in &threads {
        env.ok(&["start", &workflow, "--thread", thread]);
    }
    // Leases of 30 s: a takeover that waited for the dead daemon's leases
    // to expire would take that long, far from what a takeover at once takes.
    let serve = ["--lease", "30s", "--workers", "8", "--max-runs", "10"];
    let mut victim = env.serve(&serve);
    let survivor = env.serve(&serve);
    // Kill the victim while it holds leases on runs in progress.
    let victim_owner = victim.owner().to_string();
    let held = wait_for("the victim to hold runs in progress", DEADLINE, || {
        let held: Vec<String> = threads
            .iter()
            .filter(|t| {
                let s = survivor.get(&format!("/runs/{t}")).json();
                s["lease_owner"] == victim_owner.as_str() && s["step"].as_u64() > Some(0)
            })
            .cloned()
            .collect();
        if held.len() >= 3 {
            Ok(held)
        } else {
            Err(format!("{held:?}"))
        }
    });
    victim.kill();
    let killed = Instant::now();

    // A lease lasts 30 s, but the victim ran on this machine and is gone:
    // its runs are taken over at once, not when their leases expire.
    wait_for("every run to complete", DEADLINE, || {
        let done = runs(&survivor, "?status=completed").len();
        if done == RUNS {
            Ok(())
        } else {
            Err(format!("{done} of {RUNS} completed"))
        }
    });
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "the runs of the dead daemon ({held:?}) waited {took:?}"
    );
    for thread in &threads {
        let state = survivor.get(&format!("/runs/{thread}/state")).json();
        let history = survivor.get(&format!("/runs/{thread}/history")).json()["entries"].clone();
        assert_ran_once(thread, NODES, &state, history.as_array().unwrap());
    }
}

#[test]
fn a_started_run_is_driven_by_resume_when_no_daemon_runs() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let thread = env.ok(&["start", &workflow, "--input", r#"{"count":1}"#]);
    let thread = thread.trim();
    assert!(!thread.is_empty());
    let pending = env.status(thread);
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["step"], 0, "{pending}");
    let stderr = env.fails(&["run", &workflow, "--thread", thread]);
    assert!(stderr.contains("already exists"), "{stderr}");
    let stderr = env.fails(&["start", &workflow, "--thread", thread]);
    assert!(stderr.contains("already exists"), "{stderr}");
    let listed = env.json(&["runs", "--status", "pending", "--json"]);
    assert_eq!(listed["runs"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["runs"][0]["thread"], thread, "{listed}");
    env.ok(&["resume", thread, "-q"]);
    assert_eq!(env.state(thread), json!({"count": 11}));
    assert_eq!(env.status(thread)["status"], "completed");
}

#[test]
fn cancel_stops_a_foreground_run_in_another_process() {
    let env = Env::new(&["counter", "spin"]);
    let workflow = env.workflow("busy.toml", BUSY);
    let mut run = env.spawn(&["run", &workflow, "--thread", "busy"]);
    let spinning = env.wait_status("busy", "spinning in node hot", |s| {
        s["step"] == 1 && s["status"] == "running"
    });
    let owner = spinning["lease_owner"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        owner.contains(&format!(":{}:", run.pid())),
        "the run process holds the lease: {spinning}"
    );

    // Nobody else may execute it meanwhile.
    let stderr = env.fails(&["resume", "busy"]);
    assert!(
        stderr.contains("is being executed by") && stderr.contains(&owner),
        "{stderr}"
    );

    env.ok(&["cancel", "busy"]);
    let exit = run.wait_exit("savepoint run to stop after cancel");
    assert_eq!(exit.code(), Some(4), "run exits 4 when cancelled: {exit}");
    let status = env.status("busy");
    assert_eq!(status["status"], "cancelled", "{status}");
    assert_eq!(status["lease_owner"], Value::Null, "{status}");
    assert_eq!(env.history("busy").len(), 1);
}

#[test]
fn a_retry_wait_survives_a_daemon_restart() {
    let env = Env::new(&["fail"]);
    let workflow = env.daemon_workflow(
        "flaky",
        r#"
name = "flaky"
start = "f"
[nodes.f]
plugin = "fail"
config = { kind = "retryable", message = "flaky", attempts = 2 }
retry = { attempts = 3, backoff = "fixed", initial = "1s" }
next = "end"
"#,
    );
    let mut first = env.serve(&["--workers", "2"]);
    env.ok(&["start", &workflow, "--thread", "flaky"]);
    let retrying = env.wait_status("flaky", "waiting to retry", |s| s["status"] == "retrying");
    assert_eq!(retrying["attempt"], 1, "{retrying}");
    first.kill();

    // The attempt count is durable: the next daemon makes attempts 2 and 3.
    let second = env.serve(&["--workers", "2"]);
    let done = second.wait_run("flaky", "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(env.state("flaky"), json!({"recovered_at": 3}));
}
