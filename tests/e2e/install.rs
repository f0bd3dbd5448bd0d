//! The installed binary on its own: a copy outside the checkout, run from a folder
//! with no checkout in sight, scaffolds node projects that name no folder of this
//! machine; it prints shell completions and says which commit it was built from.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::fixtures::{installed_command, repo_root};

/// Run the installed binary in `cwd`; require success and return stdout.
fn ok(cwd: &Path, args: &[&str]) -> String {
    let output = installed_command(cwd, args)
        .output()
        .expect("run savepoint");
    assert!(
        output.status.success(),
        "savepoint {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn new_node_works_anywhere_and_names_no_folder_of_this_machine() {
    let work = tempfile::tempdir().unwrap();
    let home = std::env::var("HOME").unwrap_or_default();
    let checkout = repo_root();
    for lang in ["rust", "python", "js", "c"] {
        let name = format!("n-{lang}");
        let printed: Value = serde_json::from_str(&ok(
            work.path(),
            &["new", "node", &name, "--lang", lang, "--json"],
        ))
        .unwrap();
        assert_eq!(printed["dir"], name.as_str());
        let project = work.path().join(&name);
        let build = project.join("build.sh");
        assert!(build.is_file(), "{lang}: no build.sh");
        assert!(
            project.join("vendor/savepoint/wit/node.wit").is_file(),
            "{lang}: the SDK is vendored with its WIT"
        );
        let listed = printed["files"].as_array().unwrap().len();
        let written = files(&project);
        assert_eq!(listed, written.len(), "{lang}: --json lists every file");
        for file in written {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            for absolute in [
                work.path().to_str().unwrap(),
                checkout.to_str().unwrap(),
                home.as_str(),
            ] {
                assert!(
                    absolute.len() < 2 || !text.contains(absolute),
                    "{} names {absolute}",
                    file.display()
                );
            }
            assert!(
                !text.contains("@NAME@") && !text.contains("@SDK@") && !text.contains("@PLUGINS@"),
                "{}: a placeholder is left",
                file.display()
            );
        }
        // The project's README says to run the build from where savepoint runs; every
        // language's build.sh ends with the same line, the folder as the user named it.
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("{name}/build.sh")) && !readme.contains("./build.sh"),
            "{lang}: {readme}"
        );
        let script = std::fs::read_to_string(&build).unwrap();
        let built: Vec<&str> = script
            .lines()
            .filter(|line| line.contains("echo") && !line.contains(">&2"))
            .collect();
        assert_eq!(
            built,
            [format!("echo \"built $plugins/{name}.wasm\"")],
            "{lang}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&build).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{lang}: build.sh is executable");
        }
    }
}

#[test]
fn new_node_refuses_a_folder_that_exists() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("taken")).unwrap();
    let output = installed_command(
        work.path(),
        &["new", "node", "taken", "--lang", "c", "--json"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(6), "a conflict");
    let error: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(error["error"]["code"], "conflict", "{error}");
    assert_eq!(
        std::fs::read_dir(work.path().join("taken"))
            .unwrap()
            .count(),
        0,
        "nothing was written into it"
    );
    let names: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["taken"], "no staging folder is left behind");
}

#[test]
fn completions_for_every_shell() {
    let work = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(work.path(), &["completions", shell]);
        for word in ["savepoint", "validate", "plugins", "max-component-size"] {
            assert!(script.contains(word), "{shell}: {word} is completed");
        }
    }
}

#[test]
fn version_names_the_commit() {
    let work = tempfile::tempdir().unwrap();
    let version = ok(work.path(), &["--version"]);
    let commit = Command::new("git")
        .args(["log", "-1", "--format=%h %cs"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        version.trim(),
        format!("savepoint {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}
