//! The rules of the host's layers (host/README.md), checked on every `cargo test` so
//! that they stay true:
//!
//! - each host crate depends only on the host crates below it: base < workflow, store,
//!   plugin (which do not know each other) < runtime < server < cli;
//! - `savepoint-workflow` is pure: nothing in its dependency graph is wasmtime, SQLite
//!   or tokio;
//! - only `savepoint-server` (and the CLI, which starts it) serves HTTP: no other crate
//!   has axum in its graph, or hyper among its own dependencies (the plugin host gets
//!   hyper through wasmtime-wasi-http, for the requests nodes send).
//!
//! The graph is `cargo metadata`'s: what `cargo tree` shows, for this platform.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Each host crate and the host crates it may use: those below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("savepoint-base", &[]),
    ("savepoint-workflow", &["savepoint-base"]),
    ("savepoint-store", &["savepoint-base"]),
    ("savepoint-plugin", &["savepoint-base"]),
    (
        "savepoint-runtime",
        &[
            "savepoint-base",
            "savepoint-workflow",
            "savepoint-store",
            "savepoint-plugin",
        ],
    ),
    (
        "savepoint-server",
        &[
            "savepoint-base",
            "savepoint-workflow",
            "savepoint-store",
            "savepoint-plugin",
            "savepoint-runtime",
        ],
    ),
    (
        "savepoint",
        &[
            "savepoint-base",
            "savepoint-workflow",
            "savepoint-store",
            "savepoint-plugin",
            "savepoint-runtime",
            "savepoint-server",
        ],
    ),
];

/// What `savepoint-workflow` must not reach, even through other crates.
const IMPURE: &[&str] = &["wasmtime", "rusqlite", "libsqlite3-sys", "tokio"];

/// The crates that may serve HTTP.
const HTTP_SERVERS: &[&str] = &["savepoint-server", "savepoint"];

/// The dependency graph of the workspace: package name -> its dependencies, each with
/// whether it is a dev-dependency only.
#[derive(Debug, Default)]
struct Graph {
    /// Workspace members under `host/`, by name.
    host: BTreeSet<String>,
    deps: BTreeMap<String, Vec<Dep>>,
}

#[derive(Debug, Clone)]
struct Dep {
    name: String,
    /// Only for the crate's own tests: not part of what it is built from.
    dev_only: bool,
}

impl Graph {
    /// The graph `cargo metadata` resolves for this workspace and platform.
    fn of_workspace() -> Graph {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest)
            .args(["--filter-platform", env!("SAVEPOINT_BUILD_TARGET")])
            // The lock file as the build used it: a test changes no file.
            .arg("--locked")
            .output()
            .expect("run cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
        Graph::from_metadata(&metadata)
    }

    fn from_metadata(metadata: &Value) -> Graph {
        let packages = metadata["packages"].as_array().expect("packages");
        let name_of: BTreeMap<&str, &str> = packages
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let root = metadata["workspace_root"].as_str().expect("workspace_root");
        let host_dir = Path::new(root).join("host");
        let members: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .expect("workspace_members")
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        let host = packages
            .iter()
            .filter(|p| members.contains(p["id"].as_str().unwrap()))
            .filter(|p| Path::new(p["manifest_path"].as_str().unwrap()).starts_with(&host_dir))
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        let mut deps = BTreeMap::new();
        for node in metadata["resolve"]["nodes"].as_array().expect("resolve") {
            let name = name_of[node["id"].as_str().unwrap()];
            let list = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|dep| Dep {
                    name: name_of[dep["pkg"].as_str().unwrap()].to_string(),
                    dev_only: dep["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|kind| kind["kind"] == "dev"),
                })
                .collect();
            // Two versions of one crate share a name: their dependencies together.
            deps.entry(name.to_string())
                .or_insert_with(Vec::new)
                .extend::<Vec<Dep>>(list);
        }
        Graph { host, deps }
    }

    /// The crate's own dependencies, dev-dependencies included.
    fn direct(&self, name: &str) -> impl Iterator<Item = &str> {
        self.deps[name].iter().map(|dep| dep.name.as_str())
    }

    /// Every crate the crate is built from, however far down (no dev-dependencies).
    fn reaches(&self, name: &str) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(next) = todo.pop() {
            for dep in self.deps.get(next).into_iter().flatten() {
                if !dep.dev_only && seen.insert(dep.name.as_str()) {
                    todo.push(&dep.name);
                }
            }
        }
        seen
    }
}

/// Each broken rule, one line each.
fn broken_rules(graph: &Graph) -> Vec<String> {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut broken = Vec::new();
    for krate in &graph.host {
        let Some(allowed) = layers.get(krate.as_str()) else {
            broken.push(format!(
                "{krate} is a host crate without a layer: add it to LAYERS here and to the \
                 table in host/README.md"
            ));
            continue;
        };
        for dep in graph.direct(krate) {
            if graph.host.contains(dep) && !allowed.contains(&dep) {
                broken.push(format!(
                    "{krate} depends on {dep}, which is not below it (it may use: {})",
                    allowed.join(", ")
                ));
            }
        }
        if !HTTP_SERVERS.contains(&krate.as_str()) {
            if graph.reaches(krate).contains("axum") {
                broken.push(format!(
                    "{krate} depends on axum: only the server serves HTTP"
                ));
            }
            for dep in graph.direct(krate) {
                if ["hyper", "hyper-util"].contains(&dep) {
                    broken.push(format!(
                        "{krate} depends on {dep}: only the server serves HTTP"
                    ));
                }
            }
        }
    }
    let workflow = graph.reaches("savepoint-workflow");
    for impure in IMPURE {
        if workflow.contains(impure) {
            broken.push(format!(
                "savepoint-workflow depends on {impure} (see `cargo tree -p \
                 savepoint-workflow -i {impure}`): it must stay pure"
            ));
        }
    }
    broken
}

#[test]
fn each_host_crate_uses_only_the_crates_below_it_and_workflow_stays_pure() {
    let graph = Graph::of_workspace();
    let names: Vec<&str> = LAYERS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        graph
            .host
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        names.iter().copied().collect::<BTreeSet<_>>(),
        "the host crates"
    );
    let broken = broken_rules(&graph);
    assert!(
        broken.is_empty(),
        "the layering is broken:\n{}",
        broken.join("\n")
    );
}

/// A made-up graph in which each host crate uses every crate it may use.
fn allowed_graph() -> Graph {
    let mut graph = Graph::default();
    for (name, allowed) in LAYERS {
        graph.host.insert(name.to_string());
        let deps = allowed.iter().map(|dep| Dep::new(dep)).collect();
        graph.deps.insert(name.to_string(), deps);
    }
    for name in ["tokio", "axum", "hyper"] {
        graph.deps.insert(name.to_string(), Vec::new());
    }
    graph
}

impl Dep {
    fn new(name: &str) -> Dep {
        Dep {
            name: name.to_string(),
            dev_only: false,
        }
    }
}

/// The check itself fails on each kind of break.
#[test]
fn the_check_finds_every_kind_of_break() {
    let mut graph = allowed_graph();
    assert_eq!(broken_rules(&graph), Vec::<String>::new());
    let mut add = |krate: &str, dep: Dep| graph.deps.get_mut(krate).unwrap().push(dep);
    // store uses workflow; workflow reaches tokio through base; plugin (and so the
    // runtime) reaches axum, and plugin uses hyper.
    add("savepoint-store", Dep::new("savepoint-workflow"));
    add("savepoint-base", Dep::new("tokio"));
    add("savepoint-plugin", Dep::new("axum"));
    add("savepoint-plugin", Dep::new("hyper"));
    // A new host crate without a layer.
    graph.host.insert("savepoint-extra".to_string());
    graph.deps.insert("savepoint-extra".to_string(), Vec::new());
    let broken = broken_rules(&graph);
    let expected = [
        "savepoint-extra is a host crate without a layer",
        "savepoint-plugin depends on axum: only the server serves HTTP",
        "savepoint-plugin depends on hyper: only the server serves HTTP",
        "savepoint-runtime depends on axum: only the server serves HTTP",
        "savepoint-store depends on savepoint-workflow, which is not below it",
        "savepoint-workflow depends on tokio",
    ];
    assert_eq!(broken.len(), expected.len(), "{broken:#?}");
    for (line, start) in broken.iter().zip(expected) {
        assert!(
            line.starts_with(start),
            "{line:?} should start with {start:?}"
        );
    }
}

/// A dev-dependency is not part of what a crate is built from, but it is no way up
/// either.
#[test]
fn dev_dependencies_count_for_the_layers_only() {
    let mut graph = allowed_graph();
    let dev = |name: &str| Dep {
        dev_only: true,
        ..Dep::new(name)
    };
    graph
        .deps
        .get_mut("savepoint-workflow")
        .unwrap()
        .push(dev("tokio"));
    assert_eq!(broken_rules(&graph), Vec::<String>::new());
    graph
        .deps
        .get_mut("savepoint-base")
        .unwrap()
        .push(dev("savepoint-runtime"));
    assert_eq!(broken_rules(&graph).len(), 1, "{:?}", broken_rules(&graph));
}
