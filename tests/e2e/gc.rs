//! `gc`: what no run needs goes, from the database and from the compile cache, with the
//! bytes both take before and after; `--vacuum` shrinks the file, and refuses while a
//! daemon serves the database.

use std::path::Path;

use serde_json::Value;

use crate::fixtures::{Db, Env, Messages, ONCE, file_digest, golden, guest};

/// The counter component with a custom section appended: the same node under another
/// digest, as a rebuilt plugin would be.
fn version(n: u8) -> Vec<u8> {
    let mut bytes = std::fs::read(guest("counter")).unwrap();
    // Section id 0 (custom), 6 bytes: the name "test" (length 4) and one byte.
    bytes.extend([0, 6, 4, b't', b'e', b's', b't', n]);
    bytes
}

/// The file names in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The bytes the files in `dir` take.
fn size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum()
}

/// `args` with the test's own compile cache, `./cache`.
fn cached<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--cache", "cache"]);
    all
}

fn bytes(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a size: {value}"))
}

#[test]
fn gc_prunes_compiled_code_no_version_needs_and_vacuum_shrinks_the_database() {
    let env = Env::new(&[]);
    let workflow = env.workflow("once.toml", ONCE);
    // A cache of its own (see `cached`): the tests' shared one holds what other tests need.
    let cache = env.path().join("cache");
    let ok = |args: &[&str]| env.ok(&cached(args));
    // The plugin replaced three times, a run of each version completed.
    let mut hexes = Vec::new();
    for n in 0..4 {
        env.write_plugin("counter", &version(n));
        let digest = file_digest(&env.plugins().join("counter.wasm"));
        hexes.push(digest.strip_prefix("sha256:").unwrap().to_string());
        ok(&["run", &workflow, "--thread", &format!("r{n}")]);
    }
    // What another wasmtime version left behind.
    let stale = format!("{}-{}.cwasm", hexes[3], "0".repeat(16));
    std::fs::write(cache.join(&stale), vec![0u8; 1000]).unwrap();
    let entries = |hex: &str| files(&cache).iter().filter(|f| f.starts_with(hex)).count();
    for hex in &hexes {
        assert!(entries(hex) >= 2, "{hex}: {:?}", files(&cache));
    }
    let cache_before = size(&cache);

    let report: Value = serde_json::from_str(&ok(&["gc", "--json"])).unwrap();
    // Every run completed: no version is needed in the database any more.
    assert_eq!(report["components"], 4, "{report}");
    // The compiled code of the three old versions and the stale entry are gone; that of
    // the file in the plugins folder stays (the next run would compile it again).
    let left = files(&cache);
    for hex in &hexes[..3] {
        assert_eq!(entries(hex), 0, "{hex}: {left:?}");
    }
    assert!(!left.contains(&stale), "{left:?}");
    assert_eq!(entries(&hexes[3]), 2, "{left:?}");
    assert_eq!(bytes(&report["cache"]["before"]), cache_before, "{report}");
    assert_eq!(bytes(&report["cache"]["after"]), size(&cache), "{report}");
    assert_eq!(
        bytes(&report["compiled"]["bytes"]),
        cache_before - size(&cache),
        "{report}"
    );
    let component = version(0).len() as u64;
    let db = bytes(&report["database"]["after"]);
    assert_eq!(db, env.stored_bytes(), "{report}");
    crate::sqlite_only!("free pages are SQLite's; Postgres reports none", {
        // The file does not shrink by itself: the versions' bytes became free pages
        // (most of them: a later write of the same transaction may reuse a few).
        assert!(
            bytes(&report["database"]["free"]) >= 3 * component,
            "{report}"
        );
    });

    // --vacuum refuses while a daemon serves the database: a conflict (exit 6).
    let mut daemon = env.serve(&cached(&[]));
    let refused = env.exits(6, &cached(&["gc", "--vacuum"]));
    golden(
        "gc-vacuum-while-serving.txt",
        &refused.replace(daemon.owner(), "OWNER"),
    );
    let (code, stdout, _) = env.exit(&cached(&["gc", "--vacuum", "--json"]));
    assert_eq!(code, Some(6), "{stdout}");
    let error: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(error["error"]["code"], "conflict", "{error}");
    assert_eq!(
        error["error"]["details"],
        serde_json::json!({"daemons": [daemon.owner()], "lease_holders": []}),
    );
    assert!(daemon.terminate().success(), "{}", daemon.stderr());

    let vacuumed: Value = serde_json::from_str(&ok(&["gc", "--vacuum", "--json"])).unwrap();
    assert_eq!(vacuumed["vacuumed"], true, "{vacuumed}");
    assert_eq!(vacuumed["database"]["free"], 0, "{vacuumed}");
    let (before, after) = (
        bytes(&vacuumed["database"]["before"]),
        bytes(&vacuumed["database"]["after"]),
    );
    assert!(after < before, "{vacuumed}");
    crate::sqlite_only!("Postgres compresses the stored bytes (TOAST)", {
        assert!(after + 3 * component <= before, "{vacuumed}");
    });
    assert_eq!(after, env.stored_bytes(), "{vacuumed}");
    // Histories stay whole.
    for n in 0..4 {
        assert_eq!(env.state(&format!("r{n}"))["count"], 1);
    }

    // The text says the same; with nothing left to remove, the sizes stay.
    let text = ok(&["gc"]);
    golden("gc.txt", &numbers_as_n(&text));
}

/// `text` with every number written as `N`.
fn numbers_as_n(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

/// gc run where the plugins folder is not (another folder, `--db` elsewhere) cannot tell
/// which compiled code new runs use: it keeps it all, and says so.
#[test]
fn gc_keeps_compiled_code_when_it_cannot_read_the_plugins_folder() {
    let env = Env::new(&["counter"]);
    let workflow = env.workflow("once.toml", ONCE);
    let cache = env.path().join("cache");
    env.ok(&cached(&["run", &workflow, "--thread", "r"]));
    let digest = file_digest(&env.plugins().join("counter.wasm"));
    let hex = digest.strip_prefix("sha256:").unwrap().to_string();
    let entries = || files(&cache).iter().filter(|f| f.starts_with(&hex)).count();
    assert_eq!(entries(), 2, "{:?}", files(&cache));
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    let mut args = vec!["gc", "--cache", "../cache", "--json"];
    if env.database() == &Db::Sqlite {
        // The default, savepoint.db, is relative to the working folder.
        args.extend(["--db", "../savepoint.db"]);
    }
    let output = env.command(&args).current_dir(&elsewhere).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The run completed: its version is gone from the database, its code stays.
    assert_eq!(report["components"], 1, "{report}");
    assert_eq!(entries(), 2, "{report}: {:?}", files(&cache));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let mut said = Messages::new();
    said.add("stderr", &stderr);
    said.add(
        "--json warnings[0]",
        report["warnings"][0].as_str().unwrap(),
    );
    said.check("gc-unreadable-plugins.txt");

    // Told where the plugins are, it prunes what they do not need.
    env.write_plugin("counter", &version(1));
    let report: Value = serde_json::from_str(&env.ok(&cached(&["gc", "--json"]))).unwrap();
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    assert_eq!(entries(), 0, "{report}: {:?}", files(&cache));
}
