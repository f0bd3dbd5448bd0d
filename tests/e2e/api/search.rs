//! Run search and tags, through the API of a real daemon and the CLI on the same
//! database: filters combine (a thread prefix too), a cursor pages, tags show in
//! `status`, and a bad tag is refused naming where it came from.

use serde_json::{Value, json};

use super::{array, daemon};
use crate::fixtures::{Env, Messages};

/// The threads of a listing's page, in its order.
fn threads(page: &Value) -> Vec<String> {
    array(page["runs"].clone())
        .iter()
        .map(|run| run["thread"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn runs_are_found_by_status_workflow_tags_and_time_and_paged() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    // Six runs, oldest first: chain runs complete, ask runs wait for an answer.
    let runs = [
        (
            "s1",
            "chain",
            json!({"customer": "acme", "priority": "high"}),
        ),
        ("s2", "ask", json!({"customer": "acme"})),
        ("s3", "chain", json!({"customer": "globex"})),
        ("s4", "ask", json!({"customer": "acme", "priority": "high"})),
        ("s5", "chain", json!({"customer": "acme"})),
        ("s6", "ask", json!({})),
    ];
    for (thread, workflow, tags) in &runs {
        let created = daemon.post(
            "/runs",
            &json!({"workflow": workflow, "thread": thread, "tags": tags}),
        );
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(created.json()["tags"], *tags, "{created:?}");
    }
    for (thread, workflow, _) in &runs {
        let parked = if *workflow == "chain" {
            "completed"
        } else {
            "interrupted"
        };
        daemon.wait_run(thread, parked, |s| s["status"] == parked);
    }

    // Newest created first; every filter given must hold.
    let all = daemon.get("/runs").json();
    assert_eq!(threads(&all), ["s6", "s5", "s4", "s3", "s2", "s1"]);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(all["runs"][0]["tags"], json!({}), "{all}");
    assert!(all["runs"][0]["created_at"].is_string(), "{all}");
    let cases = [
        ("?tag=customer=acme", vec!["s5", "s4", "s2", "s1"]),
        ("?tag=customer=acme&tag=priority=high", vec!["s4", "s1"]),
        ("?status=interrupted&tag=customer=acme", vec!["s4", "s2"]),
        ("?workflow=chain", vec!["s5", "s3", "s1"]),
        ("?workflow=chain&tag=priority=high", vec!["s1"]),
        ("?workflow=ask&status=completed", vec![]),
        ("?tag=customer=initech", vec![]),
        ("?since=1h&status=completed", vec!["s5", "s3", "s1"]),
        ("?thread=s", vec!["s6", "s5", "s4", "s3", "s2", "s1"]),
        ("?thread=s4", vec!["s4"]),
        ("?thread=s&status=interrupted", vec!["s6", "s4", "s2"]),
        ("?thread=S", vec![]),
    ];
    for (query, expected) in &cases {
        let page = daemon.get(&format!("/runs{query}")).json();
        assert_eq!(threads(&page), *expected, "GET /runs{query}");
        // The CLI lists the same.
        let mut args = vec!["runs", "--json"];
        for pair in query.trim_start_matches('?').split('&') {
            let (name, value) = pair.split_once('=').unwrap();
            args.extend([
                match name {
                    "tag" => "--tag",
                    "status" => "--status",
                    "workflow" => "--workflow",
                    "since" => "--since",
                    "thread" => "--thread",
                    other => panic!("{other}"),
                },
                value,
            ]);
        }
        assert_eq!(threads(&env.json(&args)), *expected, "{args:?}");
    }

    // Pages of two, through the cursor, cover the listing once.
    let mut seen = Vec::new();
    let mut query = "/runs?limit=2&tag=customer=acme".to_string();
    loop {
        let page = daemon.get(&query).json();
        seen.extend(threads(&page));
        match &page["next_cursor"] {
            Value::String(cursor) => {
                query = format!("/runs?limit=2&tag=customer=acme&cursor={cursor}")
            }
            Value::Null => break,
            other => panic!("next_cursor {other}"),
        }
    }
    assert_eq!(seen, ["s5", "s4", "s2", "s1"]);
    // A run created meanwhile does not shift the pages after the first.
    let first = daemon.get("/runs?limit=2").json();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let created = daemon.post("/runs", &json!({"workflow": "ask", "thread": "s7"}));
    assert_eq!(created.status, 201, "{created:?}");
    let second = daemon.get(&format!("/runs?limit=2&cursor={cursor}")).json();
    assert_eq!(threads(&second), ["s4", "s3"]);
    // The CLI says how to get the next page.
    let (code, _, stderr) = env.exit(&[
        "runs",
        "--limit",
        "2",
        "--tag",
        "customer=acme",
        "--thread",
        "s",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.starts_with("more: savepoint runs ")
            && stderr.contains("--tag customer=acme --thread s --limit 2 --cursor "),
        "{stderr}"
    );
    let next: Vec<&str> = stderr.split_whitespace().collect();
    let cursor = next.last().unwrap();
    let page = env.json(&[
        "runs",
        "--json",
        "--limit",
        "2",
        "--tag",
        "customer=acme",
        "--thread",
        "s",
        "--cursor",
        cursor,
    ]);
    assert_eq!(threads(&page), ["s2", "s1"]);

    // Tags show in status, text and JSON.
    assert_eq!(
        daemon.get("/runs/s4").json()["tags"],
        json!({"customer": "acme", "priority": "high"})
    );
    assert_eq!(
        env.status("s4")["tags"],
        json!({"customer": "acme", "priority": "high"})
    );
    let text = env.ok(&["status", "s4"]);
    assert!(
        text.contains("tags:      customer=acme priority=high\n"),
        "{text}"
    );
}

#[test]
fn start_and_run_take_tags_and_refuse_bad_ones_naming_the_flag() {
    let env = Env::new(&["counter"]);
    let chain = env.example_workflow("chain.toml");
    let started = env.json(&[
        "start",
        &chain,
        "--thread",
        "t1",
        "--tag",
        "customer=acme",
        "--tag",
        "note=a=b c",
        "--json",
    ]);
    assert_eq!(
        started["tags"],
        json!({"customer": "acme", "note": "a=b c"})
    );
    env.ok(&[
        "run",
        &chain,
        "--thread",
        "t2",
        "-q",
        "--tag",
        "priority=high",
    ]);
    assert_eq!(env.status("t2")["tags"], json!({"priority": "high"}));
    let found = env.json(&["runs", "--json", "--tag", "priority=high"]);
    assert_eq!(threads(&found), ["t2"]);

    let mut said = Messages::new();
    for args in [
        vec!["start", &chain, "--tag", "customer"],
        vec!["start", &chain, "--tag", "cust omer=acme"],
        vec!["run", &chain, "--tag", "customer="],
        vec!["run", &chain, "--tag", "a=1", "--tag", "a=2"],
        vec!["runs", "--tag", "=x"],
        vec!["runs", "--since", "2days"],
    ] {
        let stderr = env.exits(2, &args);
        said.add(&args.join(" ").replace(&chain, "chain.toml"), &stderr);
    }
    said.check("search-bad-tags.txt");
    // Nothing was created by a refused command.
    assert_eq!(threads(&env.json(&["runs", "--json"])), ["t2", "t1"]);
}
