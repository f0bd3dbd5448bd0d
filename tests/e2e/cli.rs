//! The command line as a user meets it: help, defaults, and errors that say
//! what to do.

use crate::fixtures::{Db, Env, Messages, golden};

#[test]
fn help_teaches_the_commands() {
    let env = Env::new(&[]);
    let help = env.ok(&["--help"]);
    for command in [
        "run", "resume", "status", "state", "history", "plugins", "validate", "export", "import",
        "gc",
    ] {
        assert!(help.contains(command), "--help lists {command}:\n{help}");
    }
    assert!(
        help.contains("SAVEPOINT_DB") && help.contains("SAVEPOINT_PLUGINS"),
        "{help}"
    );
    let run_help = env.ok(&["run", "--help"]);
    assert!(
        run_help.contains("--thread") && run_help.contains("--input"),
        "{run_help}"
    );
}

/// Every page of `--help`, whole, in one golden file: a change to what a user reads
/// first is reviewed there (`SAVEPOINT_BLESS=1` after an intended change).
#[test]
fn every_help_page_is_reviewed() {
    // No SAVEPOINT_DB either (the Postgres pass sets it): help opens no database.
    let env = Env::with_db(&[], Db::Sqlite);
    // clap shows each variable's value from the environment (`[env: NAME=value]`):
    // with none set, the pages read as a new user's shell shows them.
    let help = |args: &[&str]| {
        let mut command = env.command(args);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SAVEPOINT_") {
                command.env_remove(&name);
            }
        }
        command.env_remove("SAVEPOINT_CACHE");
        let output = command.output().expect("run savepoint --help");
        assert!(output.status.success(), "savepoint {args:?}: {output:?}");
        String::from_utf8(output.stdout).expect("utf-8 help")
    };
    let mut said = Messages::new();
    said.add("savepoint --help", &help(&["--help"]));
    for command in [
        "run",
        "start",
        "resume",
        "cancel",
        "status",
        "state",
        "history",
        "logs",
        "runs",
        "plugins",
        "gc",
        "export",
        "import",
        "validate",
        "schedule",
        "schedule add",
        "serve",
        "new",
        "completions",
    ] {
        let mut words: Vec<&str> = command.split(' ').collect();
        words.push("--help");
        said.add(&format!("savepoint {command} --help"), &help(&words));
    }
    said.check("help.txt");
}

#[test]
fn reading_commands_never_create_a_database() {
    let env = Env::new(&[]);
    let stderr = env.fails(&["status", "nope"]);
    golden("no-database.txt", &stderr);
    assert!(!env.db_exists());
}

#[test]
fn unknown_thread_is_named() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    env.ok(&["run", &workflow, "--thread", "real"]);
    let mut said = Messages::new();
    for command in ["status", "state", "history", "resume", "logs"] {
        let stderr = env.fails(&[command, "ghost"]);
        said.add(&format!("savepoint {command} ghost"), &stderr);
    }
    said.check("unknown-thread.txt");
}

#[test]
fn bad_input_json_is_refused_before_anything_is_stored() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let mut said = Messages::new();
    let stderr = env.fails(&["run", &workflow, "--thread", "t", "--input", "{count: 1}"]);
    said.add("--input '{count: 1}'", &stderr);
    let stderr = env.fails(&["run", &workflow, "--thread", "t", "--input", "[1,2]"]);
    said.add("--input '[1,2]'", &stderr);
    said.check("bad-input-json.txt");
    assert!(!env.db_exists() || env.fails(&["status", "t"]).contains("no run"));
}

#[test]
fn flags_and_environment_variables_choose_db_and_plugins() {
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    std::fs::rename(env.plugins(), env.path().join("nodes")).unwrap();
    let output = env
        .command(&["run", &workflow, "--thread", "envs"])
        .env("SAVEPOINT_DB", "other.db")
        .env("SAVEPOINT_PLUGINS", "nodes")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(env.path().join("other.db").exists());
    assert!(!env.db_exists());
    let state = env.ok(&["state", "envs", "--json", "--db", "other.db"]);
    assert_eq!(state.trim(), r#"{"count":10}"#);
}
