//! Resources across runs: plugin files too large to load (compile bombs),
//! plugin files that are not files (FIFOs, devices, kernel files), and the
//! memory of node instances across runs.
//!
//! A plugin file is untrusted input: one larger than `--max-component-size`
//! (default 64 MiB) is refused with an error naming the file, its size and
//! the flag, before it is read, by every command that loads plugins and by a
//! running daemon's plugins-folder watcher.
//!
//! `serve --max-memory` is a budget for the linear memories of all node
//! instances together: a call reserves its node's whole `memory` limit and
//! waits for room, `GET /health` shows it, and a warm instance whose memory
//! grew past 64 MiB is not kept.
//!
//! The daemon's slots (`--max-runs`) are shared fairly among workflows: runs
//! of one workflow that sleep inside the guest never keep another workflow's
//! runs waiting while they hold more than their share.

use serde_json::{Value, json};

use crate::fixtures::{DEADLINE, Daemon, Env, Messages, golden, proc_status_kib, wait_for};

/// The `plugins --json` entry of plugin `name`.
fn entry(plugins: &Value, name: &str) -> Value {
    plugins
        .as_array()
        .expect("plugins --json is an array")
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("plugins --json lists {name}: {plugins}"))
}

/// A sparse file of 3 GiB named `plugins/<name>.wasm` (as `truncate -s 3G`):
/// it costs no disk, and reading it whole would cost 3 GiB of memory.
fn sparse_3_gib(env: &Env, name: &str) {
    let file = std::fs::File::create(env.plugins().join(format!("{name}.wasm")))
        .expect("create the sparse file");
    file.set_len(3 << 30).expect("make it 3 GiB");
}

/// A component's size in an error message, replaced by `<SIZE>` (the built
/// guest's size changes with the toolchain).
fn without_size(message: &str) -> String {
    let (before, after) = message
        .split_once(" is ")
        .unwrap_or_else(|| panic!("no size in {message:?}"));
    let (_, rest) = after
        .split_once(" bytes,")
        .unwrap_or_else(|| panic!("no size in {message:?}"));
    format!("{before} is <SIZE> bytes,{rest}")
}

#[test]
fn a_sparse_3_gib_plugin_file_is_refused_before_it_is_read() {
    let env = Env::new(&["counter"]);
    sparse_3_gib(&env, "bomb");
    let plugins = env.json(&["plugins", "--json"]);
    assert_eq!(entry(&plugins, "counter")["ok"], true, "{plugins}");
    let bomb = entry(&plugins, "bomb");
    assert_eq!(bomb["ok"], false, "{bomb}");
    assert_eq!(
        bomb["digest"],
        Value::Null,
        "never read, never digested: {bomb}"
    );
    let mut messages = format!("plugins --json: {}\n", bomb["error"].as_str().unwrap());

    // A run of a workflow that names it fails at once, naming the file.
    let workflow = env.workflow(
        "bomb.toml",
        "name = \"bomb\"\nstart = \"b\"\n[nodes.b]\nplugin = \"bomb\"\nnext = \"end\"\n",
    );
    let stderr = env.fails(&["run", &workflow, "--thread", "bomb"]);
    messages.push_str(&format!("run: {stderr}"));
    golden("component-too-large.txt", &messages);
}

#[test]
fn a_sparse_3_gib_file_dropped_into_a_running_daemon_is_refused_unread() {
    let env = Env::new(&["counter"]);
    let daemon = env.serve(&[]);
    sparse_3_gib(&env, "bomb");
    // The watcher reports it ...
    wait_for("the watcher to report bomb.wasm", DEADLINE, || {
        let log = daemon.stderr();
        match log.lines().find(|l| l.contains("bomb.wasm")) {
            Some(line) => Ok(line.to_string()),
            None => Err(log),
        }
    });
    let log = daemon.stderr();
    let line = log.lines().find(|l| l.contains("bomb.wasm")).unwrap();
    let mut said = Messages::new();
    said.add("savepoint serve", line);
    // ... and so does GET /plugins.
    let plugins = daemon.get("/plugins").json();
    let bomb = entry(&plugins, "bomb");
    assert_eq!(bomb["ok"], false, "{bomb}");
    said.add("GET /plugins", bomb["error"].as_str().unwrap());
    said.check("sparse-component-bomb.txt");
    // Nothing was read whole: the daemon never held anything like 3 GiB.
    let peak_kib = proc_status_kib(daemon.pid(), "VmHWM");
    assert!(
        peak_kib < 1 << 20,
        "the daemon's peak memory is {peak_kib} KiB: the file was read"
    );
    assert_eq!(daemon.get("/health").status, 200);
}

#[test]
fn a_component_just_over_max_component_size_is_refused() {
    let env = Env::new(&["echo"]);
    let size = std::fs::metadata(env.plugins().join("echo.wasm"))
        .unwrap()
        .len();
    assert!(
        size > 64 << 10,
        "echo.wasm is {size} bytes: the test needs more than 64 KiB"
    );

    // The flag, on the plugins listing: one byte under the file's size is
    // refused, its size is allowed.
    let under = (size - 1).to_string();
    let plugins = env.json(&["--max-component-size", &under, "plugins", "--json"]);
    assert_eq!(
        entry(&plugins, "echo")["ok"],
        false,
        "one byte over: {plugins}"
    );
    let at = size.to_string();
    let plugins = env.json(&["--max-component-size", &at, "plugins", "--json"]);
    assert_eq!(
        entry(&plugins, "echo")["ok"],
        true,
        "exactly the limit: {plugins}"
    );
    let plugins = env.json(&["--max-component-size", "64KiB", "plugins", "--json"]);
    let echo = entry(&plugins, "echo");
    let mut messages = format!(
        "plugins --json: {}\n",
        without_size(echo["error"].as_str().unwrap())
    );

    // The environment variable, on a run.
    let workflow = env.workflow(
        "echo.toml",
        "name = \"echo\"\nstart = \"e\"\n[nodes.e]\nplugin = \"echo\"\nnext = \"end\"\n",
    );
    let output = env
        .command(&["run", &workflow, "--thread", "small"])
        .env("SAVEPOINT_MAX_COMPONENT_SIZE", "64KiB")
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    messages.push_str(&format!("run: {}", without_size(&stderr)));
    golden("component-over-max-size.txt", &messages);

    let output = env
        .command(&["run", &workflow, "--thread", "fits"])
        .env("SAVEPOINT_MAX_COMPONENT_SIZE", &at)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    // A size that does not parse is refused, naming the flag.
    let stderr = env.fails(&["--max-component-size", "64 megs", "plugins"]);
    golden("max-component-size-unparsed.txt", &stderr);
}

const MIB: u64 = 1 << 20;

/// A workflow of one `counter` node that sleeps an hour inside the guest
/// (no CPU), with `memory` as its limit.
fn sleeper(memory: &str) -> String {
    format!(
        "name = \"hold\"\nstart = \"h\"\n[nodes.h]\nplugin = \"counter\"\n\
         config = {{ delay_ms = 3600000 }}\nmemory = \"{memory}\"\ntimeout = \"2h\"\n\
         next = \"end\"\n"
    )
}

/// Wait until `GET /health` reports `memory`.
fn wait_memory(daemon: &Daemon, what: &str, memory: Value) {
    wait_for(what, DEADLINE, || {
        let health = daemon.get("/health").json();
        if health["memory"] == memory {
            Ok(())
        } else {
            Err(health.to_string())
        }
    });
}

#[test]
fn serve_keeps_the_memory_limits_of_live_calls_within_max_memory() {
    let env = Env::new(&["counter"]);
    env.daemon_workflow("hold", &sleeper("40MiB"));
    env.daemon_workflow("big", &sleeper("128MiB").replace("\"hold\"", "\"big\""));
    let daemon = env.serve(&["--max-memory", "64MiB"]);
    let budget = 64 * MIB;
    let health = daemon.get("/health").json();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["memory"],
        json!({"budget": budget, "reserved": 0, "waiting": 0}),
        "{health}"
    );

    // One call of 40 MiB fits; a second one waits for room.
    let start = |thread: &str, workflow: &str| {
        let created = daemon.post("/runs", &json!({"workflow": workflow, "thread": thread}));
        assert_eq!(created.status, 201, "{created:?}");
    };
    start("one", "hold");
    wait_memory(
        &daemon,
        "the first call to reserve 40 MiB",
        json!({"budget": budget, "reserved": 40 * MIB, "waiting": 0}),
    );
    start("two", "hold");
    wait_memory(
        &daemon,
        "the second call to wait for room",
        json!({"budget": budget, "reserved": 40 * MIB, "waiting": 1}),
    );
    assert_eq!(daemon.get("/runs/two").json()["step"], 0);

    // When the first call ends (cancelled), the second gets its room.
    let cancelled = daemon.post("/runs/one/cancel", &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    wait_memory(
        &daemon,
        "the second call to get the first one's room",
        json!({"budget": budget, "reserved": 40 * MIB, "waiting": 0}),
    );

    // A node whose limit alone is more than the budget fails, naming it.
    start("big", "big");
    let failed = daemon.wait_run("big", "to fail", |s| s["status"] == "failed");
    golden(
        "memory-over-budget.txt",
        &format!("{}\n", failed["error"].as_str().unwrap()),
    );
    assert_eq!(daemon.get("/runs/two").json()["status"], "running");
}

/// A loop of 3 calls of one `warm` node (`reuse = true`) that keeps
/// `hold_mib` MiB more on each call; the call counts the instances saw.
fn warm_loop_holding(env: &Env, thread: &str, hold_mib: u64) -> Value {
    let workflow = env.workflow(
        "warm.toml",
        &format!(
            "name = \"warm\"\nstart = \"w\"\n[state]\nseen = \"append\"\n\
             [nodes.w]\nplugin = \"warm\"\nconfig = {{ loops = 3, hold_mib = {hold_mib} }}\n\
             routes = [\"w\", \"end\"]\nreuse = true\n"
        ),
    );
    env.ok(&["run", &workflow, "--thread", thread]);
    env.state(thread)["seen"].clone()
}

#[test]
fn a_warm_instance_whose_memory_grew_past_64_mib_is_not_kept() {
    let env = Env::new(&["warm"]);
    assert_eq!(
        warm_loop_holding(&env, "small", 4),
        json!([1, 2, 3]),
        "a small instance is kept warm"
    );
    assert_eq!(
        warm_loop_holding(&env, "large", 80),
        json!([1, 1, 1]),
        "an instance of more than 64 MiB is dropped after each call"
    );
}

/// Next to the good plugins, `plugins/` holds `*.wasm` entries that are not
/// plugin files, each of which would block a plain read or be skipped
/// without a word: a FIFO (whose writer, when there is one, never writes),
/// a directory, a link to /dev/zero and a link to a /proc file (a regular
/// file of size 0 whose reads, as /proc/kmsg's, may block).
fn special_files(env: &Env) {
    let plugins = env.plugins();
    let fifo = std::ffi::CString::new(
        plugins
            .join("pipe.wasm")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: mkfifo(3) with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    std::fs::create_dir(plugins.join("folder.wasm")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", plugins.join("zero.wasm")).unwrap();
    std::os::unix::fs::symlink("/proc/version", plugins.join("kernel.wasm")).unwrap();
}

/// The entries [`special_files`] makes.
const SPECIAL: [&str; 4] = ["folder", "kernel", "pipe", "zero"];

#[test]
fn plugin_files_that_are_not_files_are_reported_not_read() {
    let env = Env::new(&["counter"]);
    special_files(&env);
    let plugins = env.json(&["plugins", "--json"]);
    assert_eq!(entry(&plugins, "counter")["ok"], true, "{plugins}");
    let mut messages = String::new();
    for name in SPECIAL {
        let special = entry(&plugins, name);
        assert_eq!(special["ok"], false, "{special}");
        assert_eq!(special["digest"], Value::Null, "never read: {special}");
        messages.push_str(&format!("{}\n", special["error"].as_str().unwrap()));
    }
    golden("not-a-plugin-file.txt", &messages);
    // The text listing says so too, one line each.
    let text = env.ok(&["plugins"]);
    for name in SPECIAL {
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(name)).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(
            lines[0].contains("skipped (a plugin is a regular *.wasm file)"),
            "{text}"
        );
    }
}

#[test]
fn a_running_daemon_reports_special_plugin_files_once_and_carries_on() {
    let env = Env::new(&["counter"]);
    let mut daemon = env.serve(&[]);
    special_files(&env);
    // A writer that never writes: a read of the FIFO would wait for ever.
    // (Read-write, so that opening it does not wait for a reader.)
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.plugins().join("pipe.wasm"))
        .expect("open the FIFO for writing");
    let reported = |log: &str, name: &str| {
        let file = format!("plugins/{name}.wasm");
        log.lines().filter(|l| l.contains(&file)).count()
    };
    wait_for("the watcher to report every special file", DEADLINE, || {
        let log = daemon.stderr();
        match SPECIAL.iter().all(|name| reported(&log, name) > 0) {
            true => Ok(()),
            false => Err(log),
        }
    });
    // A good plugin dropped in afterwards loads: the watcher carries on.
    env.add_plugin("fresh", &crate::fixtures::guest("counter"));
    wait_for("the watcher to load fresh.wasm", DEADLINE, || {
        let log = daemon.stderr();
        match log.contains("plugin fresh: new runs use") {
            true => Ok(()),
            false => Err(log),
        }
    });
    // Several scans later, each special file was reported once.
    let log = daemon.stderr();
    for name in SPECIAL {
        assert_eq!(reported(&log, name), 1, "{name}: {log}");
    }
    assert!(
        log.contains("plugin pipe: plugins/pipe.wasm is a FIFO (named pipe): skipped"),
        "{log}"
    );
    // GET /plugins answers, listing them with their error and fresh as usable.
    let plugins = daemon.get("/plugins").json();
    assert_eq!(entry(&plugins, "fresh")["ok"], true, "{plugins}");
    for name in SPECIAL {
        assert_eq!(entry(&plugins, name)["ok"], false, "{plugins}");
    }
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
    drop(writer);
}

/// The statuses of the runs whose thread starts with `prefix`, counted.
fn statuses(daemon: &Daemon, prefix: &str) -> std::collections::BTreeMap<String, usize> {
    let runs = daemon.get("/runs").json();
    let mut counts = std::collections::BTreeMap::new();
    for run in runs["runs"]
        .as_array()
        .expect("GET /runs has an array of runs")
    {
        if run["thread"].as_str().unwrap().starts_with(prefix) {
            *counts
                .entry(run["status"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    counts
}

#[test]
fn a_backlog_of_runs_sleeping_in_the_guest_does_not_starve_another_workflow() {
    let env = Env::new(&["counter"]);
    // Slow: sleeps an hour inside the guest, with no timeout; it can only be
    // cancelled. Fast: returns at once.
    let slow = env.daemon_workflow(
        "slow",
        "name = \"slow\"\nstart = \"s\"\n[nodes.s]\nplugin = \"counter\"\n\
         config = { delay_ms = 3600000 }\ntimeout = \"none\"\nnext = \"end\"\n",
    );
    let fast = env.daemon_workflow(
        "fast",
        "name = \"fast\"\nstart = \"f\"\n[nodes.f]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    // Eight slow runs, then one fast run, wait for a daemon of four slots.
    for i in 1..=8 {
        env.ok(&["start", &slow, "--thread", &format!("slow-{i}")]);
    }
    env.ok(&["start", &fast, "--thread", "fast-1"]);
    let daemon = env.serve(&["--max-runs", "4"]);
    daemon.wait_run("fast-1", "to complete", |s| s["status"] == "completed");
    // The slow runs cannot have finished: they hold the other slots or wait.
    let slow_runs = statuses(&daemon, "slow-");
    assert_eq!(
        slow_runs.values().sum::<usize>(),
        8,
        "no slow run finished: {slow_runs:?}"
    );
    assert!(!slow_runs.contains_key("completed"), "{slow_runs:?}");

    // Once the fast run is done its slot goes to the slow backlog: all four
    // slots hold slow runs. A new fast run waits for a slot...
    wait_for("four slow runs to hold every slot", DEADLINE, || {
        let counts = statuses(&daemon, "slow-");
        match counts.get("running") {
            Some(4) => Ok(()),
            _ => Err(format!("{counts:?}")),
        }
    });
    let created = daemon.post("/runs", &json!({"workflow": "fast", "thread": "fast-2"}));
    assert_eq!(created.status, 201, "{created:?}");
    // ... and gets the next one freed, before the older slow backlog.
    let running = daemon.get("/runs?status=running").json();
    let victim = running["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["thread"].as_str().unwrap().to_string())
        .find(|t| t.starts_with("slow-"))
        .expect("a slow run is running");
    let cancelled = daemon.post(&format!("/runs/{victim}/cancel"), &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    daemon.wait_run("fast-2", "to complete", |s| s["status"] == "completed");
    let slow_runs = statuses(&daemon, "slow-");
    assert_eq!(slow_runs.get("cancelled"), Some(&1), "{slow_runs:?}");
    assert!(!slow_runs.contains_key("completed"), "{slow_runs:?}");
}

/// With the default `--max-runs` every due run is claimed, and the calls wait for one of
/// the `--workers` slots: a freed slot goes to the workflow with the fewest calls in
/// flight, not to the call that waited longest.
#[test]
fn a_freed_worker_goes_to_another_workflow_before_an_older_backlog() {
    let env = Env::new(&["counter"]);
    // Slow: sleeps an hour inside the guest and is stopped by its 10 s timeout (the run
    // fails; no retry). Fast: returns at once.
    let slow = env.daemon_workflow(
        "slow",
        "name = \"slow\"\nstart = \"s\"\n[nodes.s]\nplugin = \"counter\"\n\
         config = { delay_ms = 3600000 }\ntimeout = \"10s\"\nnext = \"end\"\n",
    );
    env.daemon_workflow(
        "fast",
        "name = \"fast\"\nstart = \"f\"\n[nodes.f]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    for i in 1..=8 {
        env.ok(&["start", &slow, "--thread", &format!("slow-{i}")]);
    }
    let daemon = env.serve(&["--workers", "4"]);
    // Every slow run is claimed: four calls hold the four workers, four wait for one.
    wait_for("the eight slow runs to be driven", DEADLINE, || {
        let counts = statuses(&daemon, "slow-");
        match counts.get("running") {
            Some(8) => Ok(()),
            _ => Err(format!("{counts:?}")),
        }
    });
    let created = daemon.post("/runs", &json!({"workflow": "fast", "thread": "fast-1"}));
    assert_eq!(created.status, 201, "{created:?}");
    let done = daemon.wait_run("fast-1", "to complete", |s| s["status"] == "completed");
    let fast_done = done["updated_at"].as_str().unwrap().to_string();
    // The four slow calls that waited get the workers next and time out in turn.
    wait_for("the waiting slow calls to time out too", DEADLINE, || {
        let counts = statuses(&daemon, "slow-");
        match counts.get("failed") {
            Some(n) if *n >= 5 => Ok(()),
            _ => Err(format!("{counts:?}")),
        }
    });
    let runs = daemon.get("/runs").json();
    let mut failed_at: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["thread"].as_str().unwrap().starts_with("slow-") && r["status"] == "failed")
        .map(|r| r["updated_at"].as_str().unwrap())
        .collect();
    failed_at.sort_unstable();
    // The fast call took the first worker that a timed-out slow call freed, ahead of the
    // four older slow calls waiting: it completed before the second round of timeouts.
    // First come first served would have made it wait for a worker of that round.
    assert!(
        fast_done.as_str() < failed_at[4],
        "fast-1 completed at {fast_done}, after the second round of slow failures began: \
         {failed_at:?}"
    );
}
