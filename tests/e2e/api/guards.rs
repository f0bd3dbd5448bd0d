//! What a client that should not change runs can do (nothing): a web page on
//! another site, a rebound DNS name, a missing or wrong token.

use serde_json::json;

use super::{daemon, send_and_read};
use crate::fixtures::{Daemon, Env, HttpResponse, Messages, golden, http, request};

/// The attack of issue 11: a web page on another site POSTs to the API with a
/// "simple" request (text/plain, no preflight), or reaches it under its own DNS
/// name rebound to 127.0.0.1. None of it changes a run.
#[test]
fn a_web_page_on_another_site_cannot_cancel_or_resume_a_run() {
    let env = Env::new(&["counter", "echo", "spin", "fail"]);
    env.daemon_workflow(
        "fragile",
        r#"
name = "fragile"
start = "f"
[nodes.f]
plugin = "fail"
config = { kind = "fatal", message = "fix me", attempts = 1 }
next = "end"
"#,
    );
    let daemon = daemon(&env);
    let addr = daemon.addr();
    let created = daemon.post("/runs", &json!({"workflow": "nap", "thread": "nap"}));
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("nap", "sleeping", |s| s["status"] == "sleeping");
    let created = daemon.post(
        "/runs",
        &json!({"workflow": "fragile", "thread": "fragile"}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    daemon.wait_run("fragile", "failed", |s| s["status"] == "failed");

    let mut refusals = String::new();
    let mut refused = |what: &str, response: HttpResponse, status: u16| {
        let error = response.error(status);
        refusals.push_str(&format!("{what}: {status} {error}\n"));
    };
    for path in ["/runs/nap/cancel", "/runs/fragile/resume"] {
        // text/plain with an empty body: what <form enctype="text/plain"> or
        // fetch(..., {mode: "no-cors"}) sends.
        let plain = [("Content-Type", "text/plain")];
        refused(
            &format!("{path}, text/plain"),
            request(addr, "POST", path, &plain, b""),
            415,
        );
        refused(
            &format!("{path}, no content type"),
            request(addr, "POST", path, &[], b""),
            415,
        );
        let json_from_elsewhere = [
            ("Content-Type", "application/json"),
            ("Origin", "http://attacker.example"),
        ];
        refused(
            &format!("{path}, foreign Origin"),
            request(addr, "POST", path, &json_from_elsewhere, b"{}"),
            403,
        );
        let host = format!("attacker.example:{}", addr.port());
        let rebound = [
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
        ];
        refused(
            &format!("{path}, rebound Host"),
            request(addr, "POST", path, &rebound, b"{}"),
            421,
        );
    }
    let rebound = [
        ("Host", "attacker.example"),
        ("Content-Type", "application/json"),
    ];
    refused(
        "rebound Host on POST /runs",
        request(addr, "POST", "/runs", &rebound, br#"{"workflow": "chain"}"#),
        421,
    );
    golden(
        "api-cross-site.txt",
        &refusals
            .replace(&addr.to_string(), "ADDR")
            .replace(&format!(":{}", addr.port()), ":PORT"),
    );
    assert_eq!(daemon.get("/runs/nap").json()["status"], "sleeping");
    assert_eq!(daemon.get("/runs/fragile").json()["status"], "failed");
    let runs = daemon.get("/runs").json();
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        2,
        "nothing created: {runs}"
    );

    // The same requests from curl, with the content type, do it.
    let cancelled = daemon.post("/runs/nap/cancel", &json!({}));
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    let resumed = http(addr, "POST", "/runs/fragile/resume", None);
    assert_eq!(resumed.status, 200, "{resumed:?}");
    let host = format!("localhost:{}", addr.port());
    let local = [
        ("Host", host.as_str()),
        ("Content-Type", "application/json"),
    ];
    let created = request(addr, "POST", "/runs", &local, br#"{"workflow": "chain"}"#);
    assert_eq!(created.status, 201, "{created:?}");
}

#[test]
fn with_a_token_every_request_but_health_needs_it() {
    let env = Env::new(&["counter"]);
    let token = "e2e-token-4f1c9a";
    let daemon = daemon_with_token(&env, token);
    let addr = daemon.addr();
    assert!(!daemon.stderr().contains(token), "{}", daemon.stderr());

    assert_eq!(daemon.get("/health").status, 200);
    let error = daemon.get("/runs").error(401);
    golden("api-no-token.txt", &format!("{error}\n"));
    let missing = daemon.post("/runs", &json!({"workflow": "chain"}));
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    let wrong = [("Authorization", "Bearer e2e-token-4f1c9b")];
    request(addr, "GET", "/runs", &wrong, b"").error(401);

    let bearer = format!("Bearer {token}");
    let right = [("Authorization", bearer.as_str())];
    let runs = request(addr, "GET", "/runs", &right, b"");
    assert_eq!(runs.status, 200, "{runs:?}");
    let post = [right[0], ("Content-Type", "application/json")];
    let created = request(
        addr,
        "POST",
        "/runs",
        &post,
        br#"{"workflow": "chain", "thread": "with-token"}"#,
    );
    assert_eq!(created.status, 201, "{created:?}");
    let runs = request(addr, "GET", "/runs", &right, b"").json();
    assert_eq!(runs["runs"][0]["thread"], "with-token", "{runs}");
}

/// A daemon with a token given in SAVEPOINT_TOKEN, and the chain workflow.
fn daemon_with_token(env: &Env, token: &str) -> Daemon {
    let chain =
        std::fs::read_to_string(crate::fixtures::repo_root().join("examples/workflows/chain.toml"))
            .unwrap();
    env.daemon_workflow("chain", &chain);
    let token = token.to_string();
    env.serve_with(&[], move |command| {
        command.env("SAVEPOINT_TOKEN", token);
    })
}

/// The outside tester's smaller findings: a second `Origin` (the first one this
/// server's) let a cancel through; a browser's `Sec-Fetch-Site: cross-site`
/// without an `Origin` was not looked at; an announced 100 MB body got 408 after
/// the body timeout instead of 413 at once.
#[test]
fn two_origins_a_cross_site_fetch_and_an_announced_huge_body_are_refused() {
    let env = Env::new(&[]);
    // The body timeout is far beyond the test's DEADLINE: a 413 must not wait for it.
    let daemon = env.serve(&["--body-timeout", "600s"]);
    let addr = daemon.addr();
    let json = ("Content-Type", "application/json");
    let origin = format!("http://{addr}");
    let two_origins = [json, ("Origin", &origin), ("Origin", "http://evil.com")];
    let cancel = "/runs/job-1/cancel";
    let mut said = Messages::new();
    let error = request(addr, "POST", cancel, &two_origins, b"").error(403);
    said.add("two Origin headers", &error);
    let cross_site = [json, ("Sec-Fetch-Site", "cross-site")];
    let error = request(addr, "POST", cancel, &cross_site, b"").error(403);
    said.add("Sec-Fetch-Site: cross-site", &error);
    // Past the guard, the same request is only a run that does not exist.
    let same_origin = [json, ("Sec-Fetch-Site", "same-origin"), ("Origin", &origin)];
    request(addr, "POST", cancel, &same_origin, b"").error(404);

    let huge = format!(
        "POST /runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000000\r\nConnection: close\r\n\r\n"
    );
    let answer = send_and_read(addr, huge.as_bytes()).expect("answered at once");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{answer}"
    );
    let (_, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    said.add("Content-Length: 100000000", body);
    said.check("api-guards.txt");
}
