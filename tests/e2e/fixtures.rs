//! Test fixtures: the guest components (compiled once per test run), a
//! scratch folder per test with its own database and plugins folder, and
//! helpers to drive the `savepoint` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// Every guest component the tests use.
const GUESTS: &[&str] = &[
    "counter",
    "router",
    "trap",
    "badjson",
    "fail",
    "otherworld",
    "echo",
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The target directory the `savepoint` binary under test was built into.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_savepoint"));
    // <target>/<profile>/savepoint
    bin.parent()
        .and_then(Path::parent)
        .expect("binary lives in <target>/<profile>/")
        .to_path_buf()
}

/// The folder of compiled guest components; built on first use (once per
/// test binary run) with the same target directory as the host.
fn guest_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let mut command = Command::new(cargo);
        command
            .current_dir(repo_root())
            .args([
                "build",
                "--quiet",
                "--target",
                "wasm32-wasip2",
                "--profile",
                "guest",
            ])
            .arg("--target-dir")
            .arg(target_dir());
        for guest in GUESTS {
            command.args(["-p", guest]);
        }
        let status = command.status().expect("run cargo to build the guests");
        assert!(status.success(), "building the guest components failed");
        target_dir().join("wasm32-wasip2").join("guest")
    })
}

/// The path of a built guest component.
pub fn guest(name: &str) -> PathBuf {
    let path = guest_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "guest {name} was not built: {}",
        path.display()
    );
    path
}

/// A scratch folder with `savepoint.db`, a `plugins/` folder and workflow
/// files; every command runs with it as the working directory.
pub struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// An environment whose plugins folder holds the named guests.
    pub fn new(plugins: &[&str]) -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("create a temp dir"),
        };
        std::fs::create_dir_all(env.plugins()).expect("create plugins/");
        for name in plugins {
            env.add_plugin(name, &guest(name));
        }
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn plugins(&self) -> PathBuf {
        self.path().join("plugins")
    }

    pub fn db(&self) -> PathBuf {
        self.path().join("savepoint.db")
    }

    /// Copy a component into the plugins folder as `<name>.wasm`.
    pub fn add_plugin(&self, name: &str, from: &Path) {
        std::fs::copy(from, self.plugins().join(format!("{name}.wasm"))).expect("copy plugin");
    }

    /// Write raw bytes as `plugins/<name>.wasm`.
    pub fn write_plugin(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.plugins().join(format!("{name}.wasm")), bytes).expect("write plugin");
    }

    /// Write a workflow file into the scratch folder; returns its relative name.
    pub fn workflow(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path().join(name), text).expect("write workflow");
        name.to_string()
    }

    /// Copy one of `examples/workflows/` into the scratch folder.
    pub fn example_workflow(&self, name: &str) -> String {
        let text = std::fs::read_to_string(repo_root().join("examples/workflows").join(name))
            .expect("read example workflow");
        self.workflow(name, &text)
    }

    /// A `savepoint` command in this environment. The compile cache is shared
    /// by all tests (it is keyed by digest), so each component compiles once.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_savepoint"));
        command
            .current_dir(self.path())
            .env_remove("SAVEPOINT_DB")
            .env_remove("SAVEPOINT_PLUGINS")
            .env("SAVEPOINT_CACHE", target_dir().join("e2e-compile-cache"))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run savepoint")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "savepoint {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 stdout")
    }

    /// Run and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "savepoint {args:?} should have failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stderr).expect("utf-8 stderr")
    }

    /// Run a command that prints JSON and parse it.
    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("savepoint {args:?} printed invalid JSON ({e}): {stdout}"))
    }

    pub fn status(&self, thread: &str) -> Value {
        self.json(&["status", thread, "--json"])
    }

    pub fn state(&self, thread: &str) -> Value {
        self.json(&["state", thread, "--json"])
    }

    pub fn history(&self, thread: &str) -> Vec<Value> {
        match self.json(&["history", thread, "--json"]) {
            Value::Array(items) => items,
            other => panic!("history --json is not an array: {other}"),
        }
    }
}

/// `sha256:<hex>` of a file, computed independently of the host.
pub fn file_digest(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("read file");
    let hash = Sha256::digest(&bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Compare `actual` with `tests/e2e/golden/<name>`; with `BLESS=1`, write it.
pub fn golden(name: &str, actual: &str) {
    let path = repo_root().join("tests/e2e/golden").join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}; run with BLESS=1 to create it. Actual:\n{actual}",
            path.display()
        )
    });
    assert_eq!(
        expected,
        actual,
        "output differs from {} (BLESS=1 to accept)",
        path.display()
    );
}
