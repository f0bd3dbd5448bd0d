//! The API speaks its own words: no file of `api/` names the store, the runtime, the
//! plugin host, the workflow crate, or the server's adapter and JSON views (which know
//! the store's records). `backend.rs` converts; this keeps it the only place that does.

use std::path::{Path, PathBuf};

/// What `api/` must not name in its code (comments may).
const BELOW: &[&str] = &[
    "savepoint_store",
    "savepoint_runtime",
    "savepoint_plugin",
    "savepoint_workflow",
    "crate::backend",
    "crate::view",
];

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The lines of `source` outside comments that name a crate or module of [`BELOW`].
fn naming_below(source: &str) -> Vec<String> {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .filter(|code| BELOW.iter().any(|name| code.contains(name)))
        .map(|code| code.trim().to_string())
        .collect()
}

#[test]
fn the_api_names_nothing_below_it() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = Vec::new();
    rust_files(&api, &mut files);
    assert!(files.len() > 5, "{files:?}");
    let mut named = Vec::new();
    // This file names them to look for them.
    let this = Path::new(file!()).file_name();
    files.retain(|file| file.file_name() != this);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for line in naming_below(&source) {
            named.push(format!("{}: {line}", file.display()));
        }
    }
    assert!(
        named.is_empty(),
        "api/ names a layer below it (give the API its own word, and convert in \
         backend.rs):\n{}",
        named.join("\n")
    );
}

#[test]
fn the_check_reads_code_not_comments() {
    let source = "//! See `crate::backend`.\nuse savepoint_store::RunStatus;\nlet x = 1; // savepoint_runtime\n";
    assert_eq!(naming_below(source), ["use savepoint_store::RunStatus;"]);
}
