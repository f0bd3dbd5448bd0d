//! Time travel through the API of a real daemon: the state at a step, a fork (and a
//! fork with an edit) run to completion beside its source, an edit `as_node` that
//! changes where a completed run goes and a resume that continues it, a replay in
//! place from a step with the superseded branch in `history?all=1`, the diff of each
//! step, the run's events, and deletes (a finished run; an unfinished one only with
//! `force`).

use serde_json::{Value, json};

use super::{array, daemon};
use crate::fixtures::{Env, http};

/// The `entries` of a page.
fn entries(page: Value) -> Vec<Value> {
    array(page["entries"].clone())
}

fn steps(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e["step"].as_u64().unwrap())
        .collect()
}

#[test]
fn fork_update_replay_and_delete_through_the_api() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    let created = daemon.post(
        "/runs",
        &json!({"workflow": "chain", "thread": "tt", "input": {"count": 0}}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("tt", "completed", |s| s["status"] == "completed");

    // The state after a step, on the run's current branch; 0 is the input.
    assert_eq!(
        daemon.get("/runs/tt/state?step=0").json(),
        json!({"count": 0})
    );
    assert_eq!(
        daemon.get("/runs/tt/state?step=3").json(),
        json!({"count": 3})
    );
    assert_eq!(daemon.get("/runs/tt/state").json(), json!({"count": 10}));
    let missing = daemon.get("/runs/tt/state?step=11");
    assert_eq!(missing.status, 404, "{missing:?}");

    // A fork after step 3 runs to completion on its own; one with an edit too.
    let forked = daemon.post("/runs/tt/fork", &json!({"step": 3, "thread": "tt-a"}));
    assert_eq!(forked.status, 201, "{forked:?}");
    assert_eq!(forked.json()["thread"], "tt-a");
    let edited = daemon.post(
        "/runs/tt/fork",
        &json!({"step": 3, "thread": "tt-b", "update": {"count": 100}}),
    );
    assert_eq!(edited.status, 201, "{edited:?}");
    daemon.wait_run("tt-a", "completed", |s| s["status"] == "completed");
    daemon.wait_run("tt-b", "completed", |s| s["status"] == "completed");
    assert_eq!(daemon.get("/runs/tt-a/state").json(), json!({"count": 10}));
    assert_eq!(daemon.get("/runs/tt-b/state").json(), json!({"count": 107}));
    // The fork's first checkpoint points to the source's.
    let source = entries(daemon.get("/runs/tt/history?limit=1000").json());
    let at_three = source.iter().find(|e| e["step"] == 3).unwrap();
    let fork = entries(daemon.get("/runs/tt-a/history?limit=1000").json());
    let first = fork.last().unwrap();
    assert_eq!(first["parent"], at_three["checkpoint"], "{first}");
    // The source did not move.
    assert_eq!(daemon.get("/runs/tt/state").json(), json!({"count": 10}));
    let taken = daemon.post("/runs/tt/fork", &json!({"step": 3, "thread": "tt-a"}));
    assert!(!taken.error(409).is_empty());

    // An edit of the completed run as node n9: it goes on with n10 when resumed.
    let updated = daemon.post(
        "/runs/tt/update",
        &json!({"values": {"count": 50}, "as_node": "n9"}),
    );
    assert_eq!(updated.status, 200, "{updated:?}");
    let updated = updated.json();
    assert_eq!(updated["status"], "completed", "{updated}");
    assert_eq!(updated["next"], json!(["n10"]), "{updated}");
    assert_eq!(updated["step"], 11, "{updated}");
    let unknown = daemon.post(
        "/runs/tt/update",
        &json!({"values": {"count": 1}, "as_node": "n99"}),
    );
    assert_eq!(unknown.status, 400, "{unknown:?}");
    let resumed = daemon.post("/runs/tt/resume", &json!({}));
    assert_eq!(resumed.status, 200, "{resumed:?}");
    let done = daemon.wait_run("tt", "completed after n10", |s| {
        s["status"] == "completed" && s["step"] == 12
    });
    assert_eq!(done["next"], json!([]), "{done}");
    assert_eq!(daemon.get("/runs/tt/state").json(), json!({"count": 51}));

    // Replay in place from step 5: the later checkpoints stay, superseded.
    let replayed = daemon.post("/runs/tt/resume", &json!({"from_step": 5}));
    assert_eq!(replayed.status, 200, "{replayed:?}");
    let again = daemon.wait_run("tt", "completed after the replay", |s| {
        s["status"] == "completed" && s["branch"] == 1
    });
    assert_eq!(again["step"], 10, "{again}");
    assert_eq!(daemon.get("/runs/tt/state").json(), json!({"count": 10}));
    let current = entries(daemon.get("/runs/tt/history?limit=1000").json());
    assert_eq!(steps(&current), (1..=10).rev().collect::<Vec<u64>>());
    assert!(
        current.iter().all(|e| e["superseded"] == false),
        "{current:?}"
    );
    let all = entries(daemon.get("/runs/tt/history?limit=1000&all=1").json());
    let superseded: Vec<&Value> = all.iter().filter(|e| e["superseded"] == true).collect();
    assert_eq!(
        superseded
            .iter()
            .map(|e| e["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (6..=12).rev().collect::<Vec<u64>>(),
        "{all:?}"
    );
    assert!(
        superseded.iter().all(|e| e["branch"] == 0),
        "{superseded:?}"
    );
    // `state?step=` reads the current branch: 7 after the replay is 7 again.
    assert_eq!(
        daemon.get("/runs/tt/state?step=7").json(),
        json!({"count": 7})
    );

    // Each step's change as a JSON Patch.
    let diffs = entries(daemon.get("/runs/tt/history?diff=1&limit=2").json());
    assert_eq!(
        diffs[0]["diff"],
        json!([{"op": "replace", "path": "/count", "value": 10}]),
        "{diffs:?}"
    );

    // Events: created, steps, the edit, the replay.
    let events = entries(daemon.get("/runs/tt/events?limit=10000").json());
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"created"), "{kinds:?}");
    for kind in ["step", "edited", "replayed"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let edit = events.iter().find(|e| e["event"] == "edited").unwrap();
    assert_eq!(edit["as_node"], "n9", "{edit}");
    assert!(edit["by"].as_str().unwrap().starts_with("api"), "{edit}");
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let page = daemon.get("/runs/tt/events?limit=2").json();
    assert_eq!(entries(page.clone()).len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = entries(
        daemon
            .get(&format!("/runs/tt/events?limit=2&cursor={cursor}"))
            .json(),
    );
    assert_eq!(next[0]["id"], events[2]["id"]);
    let forked_event = entries(daemon.get("/runs/tt-a/events?limit=1000").json());
    assert!(
        forked_event
            .iter()
            .any(|e| e["event"] == "forked" && e["from"] == "tt"),
        "{forked_event:?}"
    );

    // Delete: a finished run goes, with its history; its thread can be used again.
    let deleted = http(daemon.addr(), "DELETE", "/runs/tt-a", None);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(deleted.json()["thread"], "tt-a");
    assert!(deleted.json()["deleted"]["checkpoints"].as_u64().unwrap() > 0);
    assert_eq!(daemon.get("/runs/tt-a").status, 404);
    assert_eq!(daemon.get("/runs/tt-a/history").status, 404);
    // The other runs that shared its values still read them.
    assert_eq!(daemon.get("/runs/tt-b/state").json(), json!({"count": 107}));
    assert_eq!(
        daemon.get("/runs/tt/state?step=3").json(),
        json!({"count": 3})
    );
    let reused = daemon.post(
        "/runs",
        &json!({"workflow": "chain", "thread": "tt-a", "input": {"count": 1}}),
    );
    assert_eq!(reused.status, 201, "{reused:?}");
    daemon.wait_run("tt-a", "completed", |s| s["status"] == "completed");

    // An unfinished run only with force.
    let asked = daemon.post("/runs", &json!({"workflow": "ask", "thread": "tt-ask"}));
    assert_eq!(asked.status, 201, "{asked:?}");
    daemon.wait_run("tt-ask", "interrupted", |s| s["status"] == "interrupted");
    let refused = http(daemon.addr(), "DELETE", "/runs/tt-ask", None);
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(daemon.get("/runs/tt-ask").status, 200);
    let forced = http(daemon.addr(), "DELETE", "/runs/tt-ask?force=1", None);
    assert_eq!(forced.status, 200, "{forced:?}");
    assert_eq!(daemon.get("/runs/tt-ask").status, 404);
    let gone = http(daemon.addr(), "DELETE", "/runs/tt-ask", None);
    assert_eq!(gone.status, 404, "{gone:?}");
}
