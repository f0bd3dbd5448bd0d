//! What an outside tester found in round 2: the API refuses what the CLI refuses, reads
//! what the CLI reads, and errors carry the code and details a script needs.

use serde_json::{Value, json};

use crate::fixtures::{Env, golden};

const SMALL: &str = "name = \"small\"\nstart = \"ask\"\nmax_state = \"1KiB\"\n\
                     [nodes.ask]\nplugin = \"echo\"\nnext = \"end\"\n";

/// `POST /runs` caps the input at the workflow's max_state, as `run` and `start` do.
#[test]
fn post_runs_refuses_an_input_over_max_state_as_the_cli_does() {
    let env = Env::new(&["echo"]);
    let path = env.daemon_workflow("small", SMALL);
    let big = json!({"pad": "x".repeat(2000)});
    let stderr = env.exits(
        2,
        &["start", &path, "--thread", "t", "--input", &big.to_string()],
    );
    golden("start-input-over-max-state.txt", &stderr);

    let daemon = env.serve(&[]);
    let refused = daemon.post(
        "/runs",
        &json!({"workflow": "small", "thread": "t", "input": big}),
    );
    let message = refused.error(400);
    assert_eq!(refused.code(), "usage");
    assert_eq!(
        message,
        "field \"input\" is larger than 1 KiB (1024 bytes), the workflow's max_state; raise \
         max_state in the workflow file for a larger state"
    );
    assert_eq!(daemon.get("/runs/t").status, 404, "no run was created");
    let fits = daemon.post(
        "/runs",
        &json!({"workflow": "small", "thread": "t", "input": {"a": 1}}),
    );
    assert_eq!(fits.status, 201, "{fits:?}");
}

/// `GET /runs/{id}/state?step=N` is `state ID --step N`.
#[test]
fn the_state_after_a_step_is_read_through_the_api_as_with_the_cli() {
    let env = Env::new(&["echo"]);
    let path = env.daemon_workflow("small", SMALL);
    env.ok(&[
        "run",
        &path,
        "--thread",
        "t",
        "--input",
        r#"{"a": 1}"#,
        "-q",
    ]);
    let daemon = env.serve(&[]);

    let input = daemon.get("/runs/t/state?step=0");
    assert_eq!(input.status, 200, "{input:?}");
    assert_eq!(
        input.json(),
        env.json(&["state", "t", "--step", "0", "--json"])
    );
    assert_eq!(input.json(), json!({"a": 1}));
    let last = daemon.get("/runs/t/state?step=1");
    assert_eq!(last.json(), daemon.get("/runs/t/state").json());

    let missing = daemon.get("/runs/t/state?step=99");
    let message = missing.error(404);
    assert_eq!(missing.code(), "not_found");
    assert_eq!(
        missing.json()["error"]["details"],
        json!({"thread": "t", "step": 99})
    );
    let (code, stdout, _) = env.exit(&["state", "t", "--step", "99", "--json"]);
    assert_eq!(code, Some(5), "{stdout}");
    let cli: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cli["error"]["message"], message.as_str());
    assert_eq!(cli["error"]["details"], json!({"thread": "t", "step": 99}));

    for query in ["step=-1", "step=one", "step=", "steps=1", "step=0&step=1"] {
        let refused = daemon.get(&format!("/runs/t/state?{query}"));
        refused.error(400);
        assert_eq!(refused.code(), "usage", "{query}");
    }
}

/// The error object of a failed `--json` command that exits with `code`.
fn error_of(env: &Env, code: i32, args: &[&str]) -> Value {
    let (actual, stdout, stderr) = env.exit(args);
    assert_eq!(actual, Some(code), "savepoint {args:?}: {stdout}{stderr}");
    let body: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    body["error"].clone()
}

/// What the environment refuses is exit 7, what the command line names wrongly exit 2:
/// neither is "no such run" (5).
#[test]
fn unwritable_folders_are_the_environment_and_a_missing_bundle_is_usage() {
    let env = Env::new(&["counter"]);
    let once = "name = \"once\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n";
    let file = env.workflow("once.toml", once);
    env.ok(&["run", &file, "--thread", "c1", "-q"]);

    let error = error_of(
        &env,
        7,
        &[
            "new",
            "node",
            "x",
            "--lang",
            "rust",
            "--dir",
            "/proc/nope",
            "--json",
        ],
    );
    assert_eq!(error["code"], "environment", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("cannot create /proc/nope: "),
        "{message}"
    );
    assert!(!message.contains(".savepoint-new"), "{message}");

    let error = error_of(&env, 7, &["export", "c1", "-o", "/proc/nope/x", "--json"]);
    assert_eq!(error["code"], "environment", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("/proc/nope/x"),
        "{error}"
    );

    let error = error_of(&env, 2, &["import", "nofile", "--json"]);
    assert_eq!(error["code"], "usage", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("nofile"),
        "{error}"
    );
}

/// A terminal for stdout: (the side the test keeps open, the side the command writes to).
fn terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain calls on a descriptor this function opens and hands over to a File.
    unsafe {
        let main = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(main >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(main), 0);
        assert_eq!(libc::unlockpt(main), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(main, name.as_mut_ptr(), name.len()), 0);
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .unwrap()
            .to_owned();
        let main = std::fs::File::from_raw_fd(main);
        let side = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name)
            .unwrap();
        (main, side)
    }
}

#[test]
fn export_refuses_to_write_a_bundle_to_a_terminal() {
    let env = Env::new(&["counter"]);
    let once = "name = \"once\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n";
    let file = env.workflow("once.toml", once);
    env.ok(&["run", &file, "--thread", "c1", "-q"]);
    let (main, tty) = terminal();
    // Whatever reaches the terminal is read, so that a command writing to it never blocks.
    std::thread::spawn(move || std::io::copy(&mut &main, &mut std::io::sink()));
    let output = env.command(&["export", "c1"]).stdout(tty).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: a bundle is binary: write it with -o FILE or redirect stdout\n"
    );
    // Redirected, it writes the bundle.
    let bundle = env.run(&["export", "c1"]);
    assert!(bundle.status.success() && bundle.stdout.starts_with(b"SQLite format 3\0"));
}

const BUSY: &str =
    "name = \"busy\"\nstart = \"hot\"\n[nodes.hot]\nplugin = \"spin\"\nnext = \"end\"\n";

/// `resume` of a run another process executes: a conflict that says who, the run's
/// status, and what to do.
#[test]
fn resuming_a_run_another_process_executes_names_it_and_says_what_to_do() {
    let env = Env::new(&["spin"]);
    let workflow = env.daemon_workflow("busy", BUSY);
    let daemon = env.serve(&[]);
    env.ok(&["start", &workflow, "--thread", "busy"]);
    env.wait_status("busy", "executed by the daemon", |s| {
        s["status"] == "running" && !s["lease_owner"].is_null()
    });
    let error = error_of(&env, 6, &["resume", "busy", "--json"]);
    assert_eq!(error["code"], "conflict", "{error}");
    assert_eq!(
        error["details"],
        json!({"thread": "busy", "status": "running", "owner": daemon.owner()})
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("savepoint cancel busy"), "{message}");
    env.ok(&["cancel", "busy"]);
}

/// The small things: `--help`'s examples use the tour's files, `status` of a failed run
/// says the way on as `run` does, a 404 for a workflow says when the folder is empty,
/// `new` counts the files `--json` lists and prints the build script's path as given.
#[test]
fn help_status_404_and_new_say_what_is_true() {
    let env = Env::new(&["counter"]);
    let help = env.ok(&["--help"]);
    assert!(!help.contains("examples/"), "{help}");
    assert!(help.contains("savepoint run hello.toml"), "{help}");

    let burn = "name = \"burn\"\nstart = \"a\"\nfuel = 1\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n";
    let file = env.workflow("burn.toml", burn);
    let failed = env.exits(1, &["run", &file, "--thread", "f1"]);
    let hint = failed.lines().last().unwrap();
    assert!(
        hint.starts_with("fix the cause, then `savepoint resume f1`"),
        "{failed}"
    );
    let status = env.ok(&["status", "f1"]);
    assert_eq!(status.lines().last(), Some(hint), "{status}");

    let daemon = env.serve(&[]);
    let missing = daemon.post("/runs", &json!({"workflow": "nope"}));
    assert!(
        missing
            .error(404)
            .ends_with("(no workflow files in workflows)"),
        "{missing:?}"
    );

    let sub = env.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let new = |dir: &str, json: bool| {
        let mut args = vec!["new", "node", "x", "--lang", "c", "--dir", dir];
        if json {
            args.push("--json");
        }
        env.command(&args).current_dir(&sub).output().unwrap()
    };
    let output = new("../y", true);
    assert!(output.status.success(), "{output:?}");
    let listed = serde_json::from_slice::<Value>(&output.stdout).unwrap()["files"]
        .as_array()
        .unwrap()
        .len();
    let output = new("../z", false);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        text.contains(&format!(", {listed} files;")),
        "{listed}: {text}"
    );
    assert!(text.contains("next: ../z/build.sh "), "{text}");
}
