//! Broken files dropped into a running daemon's plugins folder are reported.

use serde_json::{Value, json};

use super::Arena;
use crate::fixtures::guest;

#[test]
fn broken_files_dropped_into_a_running_daemons_plugins_folder_are_reported() {
    let arena = Arena::new(&["counter"], "alien", "plugin = \"otherworld\"");
    // The good run is going while the files land.
    arena.start("good", "good");
    let env = &arena.env;
    env.write_plugin("empty", b"");
    env.write_plugin("corrupt", b"this is not wasm at all, just text");
    env.write_plugin("core", b"\0asm\x01\0\0\0");
    env.add_plugin("otherworld", &guest("otherworld"));

    let response = arena.daemon.get("/plugins");
    assert_eq!(response.status, 200, "{response:?}");
    let plugins = response.json();
    let entry = |name: &str| -> Value {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("GET /plugins lists {name}: {plugins}"))
    };
    assert_eq!(entry("counter")["ok"], true, "{plugins}");
    for (name, needle) in [
        ("empty", "empty"),
        ("corrupt", "magic bytes"),
        ("core", "core WebAssembly module"),
        (
            "otherworld",
            "does not implement the `node` world of savepoint:node",
        ),
    ] {
        let entry = entry(name);
        assert_eq!(entry["ok"], false, "{entry}");
        let error = entry["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(&format!("{name}.wasm")) && error.contains(needle),
            "{name}: the error names the file and says {needle:?}: {entry}"
        );
    }
    arena.check_good("good");

    // A run whose node uses the component of another world is refused before it
    // exists, naming the node and the file.
    let refused = arena
        .daemon
        .post("/runs", &json!({"workflow": "bad", "thread": "bad"}));
    assert_eq!(refused.status, 400, "{refused:?}");
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "invalid", "{error}");
    let problem = &error["details"]["problems"][0];
    assert_eq!(problem["node"], "alien", "{error}");
    assert!(
        problem["message"]
            .as_str()
            .is_some_and(|m| m.contains("otherworld.wasm") && m.contains("does not implement")),
        "{error}"
    );
    assert_eq!(arena.daemon.get("/runs/bad").status, 404);

    // And a new good run still completes.
    arena.start("good", "good-2");
    arena.check_good("good-2");
}
