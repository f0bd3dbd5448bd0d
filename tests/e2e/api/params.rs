//! Nothing a client sends is silently ignored, on a real daemon: every route answers
//! 400 to a query parameter it does not take, every route with a body to a field it
//! does not take, every read to a body; each message names what was refused and what
//! the route takes (the golden file lists them all).

use serde_json::json;

use super::daemon;
use crate::fixtures::{Env, Messages, http, request};

/// Every route, with a body it takes (`None`: a read).
const ROUTES: [(&str, &str, Option<&str>); 16] = [
    ("GET", "/health", None),
    ("POST", "/runs", Some(r#"{"workflow": "chain"}"#)),
    ("GET", "/runs", None),
    ("GET", "/runs/p1", None),
    ("DELETE", "/runs/p1", Some("{}")),
    ("GET", "/runs/p1/state", None),
    ("GET", "/runs/p1/history", None),
    ("GET", "/runs/p1/logs", None),
    ("GET", "/runs/p1/events", None),
    ("GET", "/events", None),
    ("POST", "/runs/p1/resume", Some("{}")),
    ("POST", "/runs/p1/cancel", Some("{}")),
    (
        "POST",
        "/runs/p1/fork",
        Some(r#"{"step": 1, "thread": "p2"}"#),
    ),
    ("POST", "/runs/p1/update", Some(r#"{"values": {}}"#)),
    ("GET", "/workflows", None),
    ("GET", "/plugins", None),
];

#[test]
fn every_route_refuses_an_unknown_parameter_field_or_body() {
    let env = Env::new(&["counter", "echo", "spin"]);
    let daemon = daemon(&env);
    let created = daemon.post("/runs", &json!({"workflow": "chain", "thread": "p1"}));
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("p1", "completed", |s| s["status"] == "completed");

    let mut said = Messages::new();
    for (method, path, body) in ROUTES {
        let with_query = format!("{path}?bogus=1");
        let response = match body {
            Some(body) => http(
                daemon.addr(),
                method,
                &with_query,
                Some(("application/json", body.as_bytes())),
            ),
            None => http(daemon.addr(), method, &with_query, None),
        };
        said.add(&format!("{method} {with_query}"), &response.error(400));
        match body {
            Some(body) => {
                let bogus = match body {
                    "{}" => r#"{"bogus": 1}"#.to_string(),
                    body => body.replacen('{', r#"{"bogus": 1, "#, 1),
                };
                let response = http(
                    daemon.addr(),
                    method,
                    path,
                    Some(("application/json", bogus.as_bytes())),
                );
                said.add(&format!("{method} {path} {bogus}"), &response.error(400));
            }
            None => {
                let response = request(
                    daemon.addr(),
                    method,
                    path,
                    &[("Content-Type", "application/json")],
                    br#"{"status": "failed"}"#,
                );
                said.add(
                    &format!("{method} {path} with a body"),
                    &response.error(400),
                );
            }
        }
    }
    said.check("api-unknown-params.txt");
    // None of them changed anything.
    let runs = daemon.get("/runs").json();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(daemon.get("/runs/p1").json()["status"], "completed");
}
