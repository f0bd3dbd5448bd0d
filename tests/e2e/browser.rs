//! The dashboard in a real browser: `tests/browser/dashboard.mjs` (Playwright's
//! `playwright-core` driving Debian's chromium) against a `savepoint serve` with a
//! token, whose workflows folder holds `examples/workflows/approval.toml`. It logs
//! in, starts a run, answers its interrupt through the form, forks it from the run
//! page and filters the runs list to the fork; then this test checks the runs it
//! left through the API. Screenshots go to `<target>/browser/<backend>/`.
//!
//! `scripts/test` installs chromium (`apt-get`) and `tests/browser/node_modules`
//! (`npm ci`): `ensure_browser_tools` in `scripts/lib-browser.sh`.
//! `SAVEPOINT_SCREENSHOT_DIR=docs` also writes the README's screenshot of the run
//! page, `docs/dashboard-run.png`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fixtures::{Backend, Daemon, Env, repo_root, request, target_dir};

/// At least 16 printable characters, as `serve --token` wants.
const TOKEN: &str = "browser-test-token-0123456789";

/// Where the test looks for the browser unless `SAVEPOINT_CHROMIUM` names another.
const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn dashboard_in_chromium() {
    let script = repo_root().join("tests/browser/dashboard.mjs");
    require_tools(&script);
    let env = Env::new(&["counter", "approval"]);
    let approval =
        std::fs::read_to_string(repo_root().join("examples/workflows/approval.toml")).unwrap();
    env.daemon_workflow("approval", &approval);
    let daemon = env.serve(&["--token", TOKEN]);
    let artifacts = artifacts_dir();

    let mut node = Command::new("node");
    node.arg(&script)
        .current_dir(script.parent().unwrap())
        .env("SAVEPOINT_URL", format!("http://{}", daemon.addr()))
        .env("SAVEPOINT_TOKEN", TOKEN)
        .env("SAVEPOINT_ARTIFACTS", &artifacts);
    // A folder relative to the checkout (`docs`), wherever cargo runs the test from.
    if let Some(dir) = std::env::var_os("SAVEPOINT_SCREENSHOT_DIR").filter(|d| !d.is_empty()) {
        node.env("SAVEPOINT_SCREENSHOT_DIR", repo_root().join(dir));
    }
    let output = node.output().expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}); screenshots and pages in {}\n{stdout}{stderr}",
        output.status,
        artifacts.display()
    );
    println!("{stdout}screenshots in {}", artifacts.display());

    // What the clicks did, seen through the API: the run answered once with a
    // fitting answer and published; the fork starts after `draft` and waits at
    // `review`.
    let run = get(&daemon, "/runs/hello-post");
    assert_eq!(run["status"], "completed", "{run}");
    let state = get(&daemon, "/runs/hello-post/state");
    assert_eq!(
        state["trace"],
        serde_json::json!(["draft", "publish"]),
        "{state}"
    );
    assert_eq!(state["comment"], "ship it", "{state}");
    let fork = get(&daemon, "/runs/hello-post-fork");
    assert_eq!(fork["status"], "interrupted", "{fork}");
    let fork_state = get(&daemon, "/runs/hello-post-fork/state");
    assert_eq!(
        fork_state["trace"],
        serde_json::json!(["draft"]),
        "{fork_state}"
    );
}

/// Chromium, Node.js and playwright-core, or a failure that says how to get them.
fn require_tools(script: &Path) {
    let chromium = std::env::var("SAVEPOINT_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_string());
    assert!(
        Path::new(&chromium).is_file(),
        "no chromium at {chromium}: scripts/test installs it (apt-get install chromium)"
    );
    let modules = script
        .with_file_name("node_modules")
        .join("playwright-core");
    assert!(
        modules.is_dir(),
        "no {}: scripts/test installs it (npm ci in tests/browser)",
        modules.display()
    );
}

/// `<target>/browser/<backend>/`, emptied: what this run's screenshots are.
fn artifacts_dir() -> PathBuf {
    let backend = match Backend::current() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = target_dir().join("browser").join(backend);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the artifacts folder");
    dir
}

fn get(daemon: &Daemon, path: &str) -> Value {
    let bearer = format!("Bearer {TOKEN}");
    let response = request(
        daemon.addr(),
        "GET",
        path,
        &[("Authorization", bearer.as_str())],
        b"",
    );
    assert_eq!(response.status, 200, "GET {path}: {response:?}");
    response.json()
}
