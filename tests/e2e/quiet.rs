//! No quiet failures: `start` says when no daemon will pick its run up, `serve` says when
//! it has no workflows for `POST /runs`, and commands that only read create nothing.

use serde_json::json;

use crate::fixtures::{Env, ONCE, golden};

#[test]
fn start_says_when_no_daemon_serves_the_database() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("once.toml", ONCE);
    let start = |thread: &str| {
        let (code, stdout, stderr) = env.exit(&["start", &workflow, "--thread", thread]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(stdout, format!("{thread}\n"));
        stderr
    };
    golden("start-without-serve.txt", &start("s-1"));
    assert_eq!(env.status("s-1")["status"], "pending");

    // With a daemon on the database: not a word, and the runs get done.
    let mut daemon = env.serve(&[]);
    assert_eq!(start("s-2"), "");
    for thread in ["s-1", "s-2"] {
        env.wait_status(thread, "completed", |s| s["status"] == "completed");
    }
    // A daemon that stopped retired its record.
    assert!(daemon.terminate().success(), "{}", daemon.stderr());
    golden("start-without-serve-2.txt", &start("s-3"));

    // One killed without a chance to say so is gone all the same: its process is.
    let mut daemon = env.serve(&[]);
    assert_eq!(start("s-4"), "");
    daemon.kill();
    let hint = start("s-5");
    assert!(hint.starts_with("no savepoint serve is running"), "{hint}");
}

#[test]
fn serve_says_when_post_runs_has_no_workflows_folder() {
    let env = Env::new(&["counter"]);
    let daemon = env.serve(&["--workflows", "flows"]);
    let line = daemon
        .stderr()
        .lines()
        .find(|line| !line.contains("listening on"))
        .map(|line| format!("{line}\n"))
        .unwrap_or_default();
    golden("serve-without-workflows.txt", &line);
    let create = json!({"workflow": "once", "thread": "w-1"});
    assert_eq!(daemon.post("/runs", &create).status, 404);

    // Workflow files are read when a run is created: the folder may come later.
    std::fs::create_dir(env.path().join("flows")).unwrap();
    std::fs::write(env.path().join("flows/once.toml"), ONCE).unwrap();
    let created = daemon.post("/runs", &create);
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("w-1", "completed", |s| s["status"] == "completed");

    // An empty folder is reported too.
    let empty = Env::new(&[]);
    let daemon = empty.serve(&[]);
    let line = daemon
        .stderr()
        .lines()
        .find(|line| !line.contains("listening on"))
        .map(|line| format!("{line}\n"))
        .unwrap_or_default();
    golden("serve-with-empty-workflows.txt", &line);
}

#[test]
fn commands_that_only_read_create_nothing() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("once.toml", ONCE);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(env.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // The default cache, beside the database, not the tests' shared one.
    let bare = |args: &[&str]| {
        env.command(args)
            .env_remove("SAVEPOINT_CACHE")
            .output()
            .expect("run savepoint")
    };
    let before = listing();
    let reads: &[&[&str]] = &[
        &["plugins"],
        &["plugins", "--json"],
        &["plugins", "--versions"],
        &["validate", &workflow],
        &["status", "x"],
        &["state", "x"],
        &["history", "x"],
        &["logs", "x"],
        &["runs"],
        &["export", "x"],
        &["gc"],
    ];
    for args in reads {
        bare(args);
        assert_eq!(listing(), before, "savepoint {args:?} created something");
    }
    let plugins = bare(&["plugins", "--json"]);
    let plugins: serde_json::Value = serde_json::from_slice(&plugins.stdout).unwrap();
    assert_eq!(plugins[0]["ok"], true, "{plugins}");

    // A run creates the database, and the cache beside it.
    let run = bare(&["run", &workflow, "--thread", "r"]);
    assert!(run.status.success(), "{run:?}");
    let cache = env.path().join(".savepoint/cache");
    let entries = || std::fs::read_dir(&cache).map_or(0, |dir| dir.count());
    assert!(entries() > 0, "the run cached its compiled code");
    // ... which the readers use from then on.
    let plugins = bare(&["plugins", "--json"]);
    assert!(plugins.status.success(), "{plugins:?}");
}
