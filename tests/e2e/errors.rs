//! One shape for errors: with `--json` every command that fails prints exactly one
//! object `{"error": {"code", "message", "details"}}` on stdout and nothing else there;
//! without it, `error: MESSAGE` on stderr. Each code has its exit code.

use serde_json::Value;

use crate::fixtures::{Env, golden};

/// Run `args` and render what a script sees: the exit code and stdout, which must be
/// one error object (with `--json`) or empty (then stderr's `error:` line is shown).
fn outcome(env: &Env, args: &[&str]) -> String {
    let (code, stdout, stderr) = env.exit(args);
    let code = code.expect("exited");
    let mut text = format!("$ savepoint {}\nexit {code}\n", args.join(" "));
    if args.contains(&"--json") {
        let error: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON value ({e}): {stdout}"));
        let object = error["error"]
            .as_object()
            .unwrap_or_else(|| panic!("{args:?}: no error object: {stdout}"));
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "details", "message"], "{args:?}: {stdout}");
        assert_eq!(error.as_object().map(|o| o.len()), Some(1), "{stdout}");
        assert!(
            stdout.ends_with('\n') && stdout.lines().count() == 1,
            "{stdout}"
        );
        text.push_str(&stdout);
    } else {
        assert_eq!(stdout, "", "{args:?}: an error prints nothing on stdout");
        let line = stderr
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or_else(|| panic!("{args:?}: no error line: {stderr}"));
        text.push_str(line);
        text.push('\n');
    }
    text
}

#[test]
fn every_command_fails_with_one_json_error_and_its_exit_code() {
    let env = Env::new(&["counter"]);
    let chain = env.example_workflow("chain.toml");
    let mut seen = String::new();
    let mut check = |args: &[&str]| seen.push_str(&outcome(&env, args));

    // No database: every command that reads a run finds none (5), and creates nothing.
    for command in ["status", "state", "history", "logs", "cancel", "resume"] {
        check(&[command, "ghost", "--json"]);
    }
    check(&["export", "ghost", "-o", "ghost.bundle", "--json"]);
    check(&["status", "ghost"]);
    assert!(!env.db_exists(), "reading created a database");
    // A bad flag, an unknown command, a missing argument: usage (2), also as JSON.
    check(&["status", "ghost", "--bogus", "--json"]);
    check(&["statuz", "--json"]);
    check(&["cancel", "--json"]);
    check(&["runs", "--limit", "0", "--json"]);
    check(&["status", "--bogus"]);

    // Bad --input: usage (2), naming --input; a missing @FILE too.
    for input in ["yes", "[1]", "@missing.json"] {
        check(&["run", &chain, "--thread", "t", "--input", input, "--json"]);
    }
    check(&["start", &chain, "--thread", "t", "--input", "yes", "--json"]);
    check(&["run", &chain, "--thread", "t", "--input", "yes"]);
    // A workflow file that is not there (5) or not valid (2, with its problems).
    check(&["run", "nope.toml", "--json"]);
    let bad = env.workflow("bad.toml", "name = \"bad\"\nstart = \"a\"\n");
    check(&["run", &bad, "--json"]);
    check(&["start", &bad, "--json"]);
    check(&["run", "--thread", "bad id!", &chain, "--json"]);

    // A database with runs: an unknown thread is not found (5).
    env.ok(&["run", &chain, "--thread", "done", "--quiet"]);
    for command in ["status", "state", "history", "logs", "cancel", "resume"] {
        check(&[command, "ghost", "--json"]);
    }
    check(&["export", "ghost", "-o", "ghost.bundle", "--json"]);
    check(&["state", "done", "--step", "99", "--json"]);
    // The thread exists (6).
    check(&["run", &chain, "--thread", "done", "--json"]);
    check(&["start", &chain, "--thread", "done", "--json"]);
    check(&["run", &chain, "--thread", "done"]);
    // In no state for that (6): a completed run cancelled or resumed, a cancelled
    // run cancelled again.
    check(&["cancel", "done", "--json"]);
    check(&["resume", "done", "--json"]);
    env.ok(&["start", &chain, "--thread", "queued"]);
    env.ok(&["cancel", "queued"]);
    check(&["cancel", "queued", "--json"]);
    check(&["cancel", "queued"]);
    // Input for a run that is not waiting for any: usage of --input comes first when
    // it does not parse, then the run's state (6).
    check(&["resume", "done", "--input", "yes", "--json"]);
    check(&["resume", "done", "--input", "@missing.json", "--json"]);
    // A bundle that is not one (2).
    std::fs::write(env.path().join("not.bundle"), "hello").unwrap();
    check(&["import", "not.bundle", "--json"]);
    check(&["import", "missing.bundle", "--json"]);

    golden("json-errors.txt", &seen);
}

#[test]
fn runs_without_a_database_is_an_empty_list() {
    let env = Env::new(&[]);
    let none = serde_json::json!({"runs": [], "next_cursor": null});
    assert_eq!(env.json(&["runs", "--json"]), none);
    assert_eq!(env.json(&["runs", "--json", "--status", "failed"]), none);
    assert!(!env.db_exists(), "listing created a database");
}
