//! The CI check of the benchmark command: `savepoint-bench --json` runs every
//! scenario on a tiny workload and prints one JSON object with exactly the
//! keys bench/README.md documents. Nothing here is timed: benchmarks never
//! run as timed assertions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The keys the issue names: they must be measured (numbers), not null.
const REQUIRED: [&str; 10] = [
    "w1_seq_100b_steps_per_s",
    "w1_seq_100b_wal_pages_per_step",
    "w1_seq_100b_commits_per_step",
    "w1_conc100_100b_steps_per_s",
    "w1_seq_cpu_us_per_step",
    "w1_conc100_cpu_us_per_step",
    "floor_commits_per_s",
    "w1_bytes_per_step_100kb",
    "resume_ms",
    "rust_step_overhead_us_p50",
];

const LANGS: [&str; 4] = ["rust", "python", "js", "c"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// `<target>/<profile>/`, where the bench binary under test was built.
fn profile_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_savepoint-bench"))
        .parent()
        .expect("the binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// The Rust counter, built like the end-to-end tests build their guests.
fn rust_counter() -> PathBuf {
    let target = profile_dir()
        .parent()
        .expect("<target>/<profile>/")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
            "-p",
            "counter",
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo to build the counter");
    assert!(status.success(), "building the counter component failed");
    target.join("wasm32-wasip2/guest/counter.wasm")
}

/// Every key of the tables of the "JSON keys" section of bench/README.md,
/// with `LANG_` expanded to each language.
fn documented_keys() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo_root().join("bench/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("JSON keys"))
        .expect("bench/README.md has a \"JSON keys\" section");
    let mut keys = BTreeSet::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let key = &rest[..rest.find('`').expect("a closing backtick")];
        match key.strip_prefix("LANG_") {
            Some(tail) => keys.extend(LANGS.iter().map(|lang| format!("{lang}_{tail}"))),
            None => {
                keys.insert(key.to_owned());
            }
        }
    }
    keys
}

/// `savepoint-bench --json` on a tiny workload with `args`: its JSON object
/// (checked against the documented keys), and whether the `savepoint` binary
/// was there for the scenarios that run it.
fn run_bench(args: &[&str], env: &[(&str, String)]) -> (serde_json::Map<String, Value>, bool) {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(rust_counter(), plugins.path().join("counter.wasm")).unwrap();
    let scratch = tempfile::tempdir().unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_savepoint-bench"));
    command
        .args(["--json", "--runs", "2", "--conc", "3", "--rounds", "1"])
        .args(["--langs", "rust", "--lang-runs", "2", "--resume-reps", "1"])
        .args(args)
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dir")
        .arg(scratch.path())
        .envs(env.iter().map(|(k, v)| (k, v)));
    // The resume and hosts scenarios need the `savepoint` binary: `cargo test
    // --workspace` builds it beside this one (the host's end-to-end tests
    // need it); run alone, this test may find none and skips them.
    let savepoint = profile_dir().join("savepoint");
    let binary = savepoint.is_file();
    if binary {
        command.arg("--savepoint").arg(&savepoint);
    } else {
        eprintln!("no {}: the resume scenario is skipped", savepoint.display());
        command.arg("--skip-resume");
    }
    let output = command.output().expect("run savepoint-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "savepoint-bench failed:\n{stderr}");

    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}); stderr:\n{stderr}"));
    let object = json.as_object().expect("a JSON object").clone();
    let printed: BTreeSet<String> = object.keys().cloned().collect();
    let documented = documented_keys();
    let undocumented: Vec<&String> = printed.difference(&documented).collect();
    let missing: Vec<&String> = documented.difference(&printed).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "printed but not documented in bench/README.md: {undocumented:?}; \
         documented but not printed: {missing:?}"
    );
    assert_eq!(object["failures"], serde_json::json!([]), "{stderr}");
    (object, binary)
}

#[test]
fn the_suite_runs_on_a_tiny_workload_and_prints_every_documented_key() {
    let (object, resume) = run_bench(&[], &[]);
    for key in REQUIRED {
        if key == "resume_ms" && !resume {
            continue;
        }
        assert!(object[key].is_number(), "{key} = {}", object[key]);
    }
    if resume {
        assert_eq!(object["resume_ok"], Value::Bool(true));
    }
    assert!(object["pg_floor_commits_per_s"].is_null());
}

/// The keys of the Postgres section the issue names.
const REQUIRED_PG: [&str; 5] = [
    "pg_floor_commits_per_s",
    "pg_w1_seq_100b_steps_per_s",
    "pg_w1_conc100_100b_steps_per_s",
    "pg_resume_ms",
    "pg_two_hosts_conc100_100b_steps_per_s",
];

/// `--backend postgres` on the test server (SAVEPOINT_TEST_PG), or on a
/// throwaway server the bench starts itself (`scripts/pg start`).
#[test]
fn the_postgres_section_runs_on_a_tiny_workload() {
    let env: Vec<(&str, String)> = std::env::var("SAVEPOINT_TEST_PG")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map(|url| ("SAVEPOINT_BENCH_PG", url))
        .into_iter()
        .collect();
    let (object, binary) = run_bench(&["--backend", "postgres", "--pg-floor-secs", "0.2"], &env);
    for key in REQUIRED_PG {
        let needs_binary = key == "pg_resume_ms" || key.contains("hosts");
        if needs_binary && !binary {
            continue;
        }
        assert!(object[key].is_number(), "{key} = {}", object[key]);
    }
    if binary {
        assert_eq!(object["pg_resume_ok"], Value::Bool(true));
        assert_eq!(object["pg_hosts_errors"], serde_json::json!(0));
    }
    assert!(object["w1_seq_100b_steps_per_s"].is_null());
}

/// The search keys of bench/README.md's "Run listings at scale" section, with
/// `LISTING` expanded to each listing of its table.
fn documented_search_keys() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo_root().join("bench/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Run listings at scale"))
        .expect("bench/README.md has a \"Run listings at scale\" section");
    let cell = |line: &str, prefix: &str| {
        let rest = line.strip_prefix(prefix)?;
        Some(rest[..rest.find('`')?].to_owned())
    };
    let listings: Vec<String> = section
        .lines()
        .filter_map(|line| cell(line, "| `"))
        .filter(|name| !name.starts_with("search_"))
        .collect();
    let mut keys = BTreeSet::new();
    for line in section.lines() {
        let Some(key) = cell(line, "| `search_") else {
            continue;
        };
        let key = format!("search_{key}");
        if key.contains("LISTING") {
            for listing in &listings {
                keys.insert(key.replace("LISTING", listing));
            }
        } else {
            keys.insert(key);
        }
    }
    keys
}

/// `--search` on a tiny database: every documented listing is measured on
/// SQLite (a number), the Postgres keys are null, and nothing failed.
#[test]
fn the_search_mode_measures_every_documented_listing() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(rust_counter(), plugins.path().join("counter.wasm")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_savepoint-bench"))
        .args([
            "--search",
            "--json",
            "--search-runs",
            "2000",
            "--search-reps",
            "1",
        ])
        .arg("--plugins")
        .arg(plugins.path())
        .arg("--dir")
        .arg(scratch.path())
        .output()
        .expect("run savepoint-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "savepoint-bench failed:\n{stderr}");
    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}); stderr:\n{stderr}"));
    let keys = documented_search_keys();
    assert!(keys.contains("search_failed_ms"), "{keys:?}");
    for key in &keys {
        assert!(json[key].is_number(), "{key} = {}", json[key]);
        let pg = format!("pg_{key}");
        assert!(json[&pg].is_null(), "{pg} = {}", json[&pg]);
    }
    assert_eq!(json["failures"], serde_json::json!([]), "{stderr}");
}
