//! Auth of a daemon with a token, route by route: every route of its OpenAPI document and
//! every page of the dashboard, without a token, with a wrong one and with a session
//! cookie of another token, is refused (401; a page goes to the login page), except the
//! open ones (`/health`, `/metrics`, the login, the assets); the login's cookie and the
//! bearer token let every one through; neither the token nor the cookie is ever printed.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use crate::fixtures::{DEADLINE, Env, HttpResponse, request, wait_for};

const TOKEN: &str = "e2e-auth-token-7d2e";

/// What a route is, for auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Open to anyone.
    Open,
    /// A dashboard page: without a login, a redirect to the login page.
    Page,
    /// Everything else: without auth, 401.
    Api,
}

/// Every route: those of the daemon's OpenAPI document (generated from the handlers;
/// `api::tests::openapi` checks that it has every route of the router's table), then the
/// dashboard's pages and the login, which are HTML. Path parameters are filled in with
/// a run that does not exist, so that a write let through changes nothing.
fn routes(addr: SocketAddr) -> Vec<(String, String, Kind)> {
    let bearer = format!("Bearer {TOKEN}");
    let document = request(
        addr,
        "GET",
        "/openapi.json",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(document.status, 200, "{document:?}");
    let document = document.json();
    let mut routes: Vec<(String, String, Kind)> = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            routes.push((method.to_uppercase(), path.clone(), Kind::Api));
        }
    }
    assert!(
        routes.len() >= 15,
        "too few routes in the document: {routes:?}"
    );
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/ui/runs/{id}"),
        ("GET", "/ui/plugins"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("POST", "/logout"),
        ("GET", "/assets/{file}"),
        ("GET", "/metrics"),
    ] {
        routes.push((method.to_owned(), path.to_owned(), Kind::Api));
    }
    for (_, path, kind) in &mut routes {
        let open = ["/health", "/metrics", "/login", "/logout"].contains(&path.as_str())
            || path.starts_with("/assets/");
        let page = path == "/" || path.starts_with("/ui/");
        *kind = match (open, page) {
            (true, _) => Kind::Open,
            (false, true) => Kind::Page,
            (false, false) => Kind::Api,
        };
        *path = path
            .replace("{id}", "no-such-run")
            .replace("{file}", "no-such-file.css");
    }
    routes.sort();
    routes.dedup();
    routes
}

/// The session cookie of `token`, as the dashboard's contract says.
fn session(token: &str) -> String {
    let digest = Sha256::digest(format!("savepoint-session\0{token}").as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("savepoint_session={hex}")
}

/// `method path` with `headers`; a write sends an empty JSON body, so that only auth
/// can refuse it.
fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut all = headers.to_vec();
    if method != "GET" {
        all.push(("Content-Type", "application/json"));
    }
    if path == "/events" {
        // Every run's event stream never ends: an id it does not send makes it answer
        // 400 instead, once auth let the request through (and 401 before).
        all.push(("Last-Event-ID", "not-an-id"));
    }
    request(addr, method, path, &all, b"")
}

#[test]
fn every_route_but_the_open_ones_needs_the_token_or_the_login() {
    let env = Env::new(&["counter"]);
    let daemon = env.serve_with(&[], |command| {
        command.env("SAVEPOINT_TOKEN", TOKEN);
    });
    let addr = daemon.addr();
    // Printed right after the address the fixture waits for.
    let url = format!("savepoint serve: dashboard: http://{addr}/\n");
    wait_for("the dashboard's URL", DEADLINE, || {
        let said = daemon.stderr();
        if said.contains(&url) {
            Ok(())
        } else {
            Err(said)
        }
    });
    let routes = routes(addr);
    let bearer = format!("Bearer {TOKEN}");
    let wrong_bearer = "Bearer e2e-auth-token-7d2f".to_owned();
    let foreign_cookie = session("another-token-of-16+");

    let refusals: [(&str, Vec<(&str, &str)>); 3] = [
        ("no token", vec![]),
        ("a wrong token", vec![("Authorization", &wrong_bearer)]),
        ("another token's cookie", vec![("Cookie", &foreign_cookie)]),
    ];
    for (what, headers) in &refusals {
        for (method, path, kind) in &routes {
            let answer = call(addr, method, path, headers);
            let seen = format!("{method} {path} with {what}: {answer:?}");
            match kind {
                Kind::Open => assert_ne!(answer.status, 401, "{seen}"),
                Kind::Api => {
                    answer.error(401);
                    assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{seen}");
                }
                Kind::Page => {
                    assert_eq!(answer.status, 303, "{seen}");
                    let login = format!("/login?next={path}");
                    assert_eq!(answer.header("location"), Some(login.as_str()), "{seen}");
                }
            }
        }
    }

    // The login form gives the cookie; it and the bearer token let every route through.
    let form = format!("token={TOKEN}&next=%2Fui%2Fplugins");
    let login = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(login.status, 303, "{login:?}");
    assert_eq!(login.header("location"), Some("/ui/plugins"));
    let set = login.header("set-cookie").expect("the login sets a cookie");
    let cookie = set.split(';').next().unwrap().to_owned();
    assert_eq!(cookie, session(TOKEN));
    for headers in [[("Authorization", bearer.as_str())], [("Cookie", &cookie)]] {
        for (method, path, _) in &routes {
            let answer = call(addr, method, path, &headers);
            let seen = format!("{method} {path} with {:?}: {answer:?}", headers[0].0);
            assert_ne!(answer.status, 401, "{seen}");
            if *path != "/logout" {
                assert_ne!(answer.status, 303, "{seen}");
            }
        }
    }
    let listed = call(addr, "GET", "/runs", &[("Cookie", &cookie)]);
    assert_eq!(listed.status, 200, "{listed:?}");

    let said = daemon.stderr();
    assert!(!said.contains(TOKEN), "{said}");
    assert!(!said.contains(&cookie[18..]), "{said}");
}
