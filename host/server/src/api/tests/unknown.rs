//! Nothing a client sends is silently ignored: every route refuses a query parameter it
//! does not take, every route with a body a field it does not take, and every read a
//! body; each refusal names what was refused and lists what the route takes. The walk
//! covers the routes of the API's doc table (`api/mod.rs`), so a route added there
//! without a case here fails.

use axum::http::{Method, StatusCode};

use super::{FakeBackend, app, get, post_json, request, send};

/// A route, a request to it that succeeds, and what it accepts.
struct Route {
    method: Method,
    path: &'static str,
    /// A body the route accepts (`None`: a read, which takes none).
    body: Option<&'static str>,
    /// The `expected ...` list of an unknown query parameter.
    params: &'static str,
    /// The `expected ...` list of an unknown body field.
    fields: &'static str,
}

const NONE: &str = "this route takes none";
const EMPTY_BODY: &str = "the body must be empty or {}";

fn routes() -> Vec<Route> {
    let route = |method, path, body, params, fields| Route {
        method,
        path,
        body,
        params,
        fields,
    };
    vec![
        route(Method::GET, "/health", None, NONE, ""),
        route(Method::GET, "/metrics", None, NONE, ""),
        route(
            Method::POST,
            "/runs",
            Some(r#"{"workflow": "chain", "thread": "new"}"#),
            NONE,
            r#"expected "workflow", "thread", "input" or "tags""#,
        ),
        route(
            Method::POST,
            "/runs/batch",
            Some(r#"{"workflow": "chain", "runs": [{"thread": "new"}]}"#),
            NONE,
            r#"expected "workflow" or "runs""#,
        ),
        route(
            Method::GET,
            "/runs",
            None,
            r#"expected "status", "workflow", "tag", "since", "thread", "parent", "limit" or "cursor""#,
            "",
        ),
        route(Method::GET, "/runs/job-1", None, NONE, ""),
        route(
            Method::DELETE,
            "/runs/job-1",
            Some("{}"),
            r#"expected "force""#,
            EMPTY_BODY,
        ),
        route(
            Method::GET,
            "/runs/job-1/state",
            None,
            r#"expected "step""#,
            "",
        ),
        route(
            Method::GET,
            "/runs/job-1/history",
            None,
            r#"expected "limit", "cursor", "states", "diff" or "all""#,
            "",
        ),
        route(
            Method::GET,
            "/runs/job-1/logs",
            None,
            r#"expected "limit" or "cursor""#,
            "",
        ),
        route(
            Method::GET,
            "/runs/job-1/events",
            None,
            r#"expected "limit" or "cursor""#,
            "",
        ),
        route(
            Method::POST,
            "/runs/job-1/resume",
            Some("{}"),
            NONE,
            r#"expected "input", "upgrade" or "from_step""#,
        ),
        route(
            Method::POST,
            "/runs/job-1/cancel",
            Some("{}"),
            NONE,
            EMPTY_BODY,
        ),
        route(
            Method::GET,
            "/runs/job-1/signals",
            None,
            r#"expected "limit""#,
            "",
        ),
        route(
            Method::POST,
            "/runs/job-1/signals/go",
            Some("{}"),
            NONE,
            r#"expected "data""#,
        ),
        route(Method::GET, "/schedules", None, NONE, ""),
        route(
            Method::POST,
            "/schedules",
            Some(r#"{"name": "go", "workflow": "chain", "every": "1h"}"#),
            NONE,
            r#"expected "name", "workflow", "cron", "every", "tz", "input", "catch_up" or "replace""#,
        ),
        route(Method::GET, "/schedules/go", None, NONE, ""),
        route(
            Method::DELETE,
            "/schedules/go",
            Some("{}"),
            NONE,
            EMPTY_BODY,
        ),
        route(
            Method::POST,
            "/schedules/go/pause",
            Some("{}"),
            NONE,
            EMPTY_BODY,
        ),
        route(
            Method::POST,
            "/schedules/go/resume",
            Some("{}"),
            NONE,
            EMPTY_BODY,
        ),
        route(
            Method::POST,
            "/runs/job-1/fork",
            Some(r#"{"step": 1, "thread": "job-2"}"#),
            NONE,
            r#"expected "step", "thread", "update" or "as_node""#,
        ),
        route(
            Method::POST,
            "/runs/job-1/update",
            Some(r#"{"values": {"a": 1}}"#),
            NONE,
            r#"expected "values" or "as_node""#,
        ),
        route(Method::GET, "/events", None, r#"expected "workflow""#, ""),
        route(Method::GET, "/workflows", None, NONE, ""),
        route(Method::GET, "/plugins", None, NONE, ""),
        route(Method::GET, "/openapi.json", None, NONE, ""),
    ]
}

fn send_to(
    route: &Route,
    query: &str,
    body: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let uri = format!("{}{query}", route.path);
    match body {
        Some(body) => request(
            route.method.clone(),
            &uri,
            Some("application/json"),
            axum::body::Body::from(body.to_string()),
        ),
        None => get(&uri),
    }
}

/// `{"a": 1}` with one more field: `{"a": 1, "bogus": 1}`.
fn with_bogus_field(body: &str) -> String {
    let inner = body
        .trim()
        .strip_prefix('{')
        .and_then(|body| body.strip_suffix('}'))
        .expect("a JSON object")
        .trim();
    if inner.is_empty() {
        r#"{"bogus": 1}"#.to_string()
    } else {
        format!(r#"{{{inner}, "bogus": 1}}"#)
    }
}

#[tokio::test]
async fn every_route_refuses_what_it_does_not_take_and_names_it() {
    for route in routes() {
        let what = format!("{} {}", route.method, route.path);
        let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
        // What the route takes works.
        let ok = send(&app, send_to(&route, "", route.body)).await;
        assert!(ok.status.is_success(), "{what}: {} {}", ok.status, ok.body);
        let calls = backend.calls.lock().unwrap().len();

        let reply = send(&app, send_to(&route, "?bogus=1", route.body)).await;
        assert_eq!(
            reply.error(StatusCode::BAD_REQUEST),
            format!("unknown query parameter \"bogus\" ({})", route.params),
            "{what}"
        );
        match route.body {
            Some(body) => {
                let reply = send(&app, send_to(&route, "", Some(&with_bogus_field(body)))).await;
                assert_eq!(
                    reply.error(StatusCode::BAD_REQUEST),
                    format!(
                        "unknown field \"bogus\" in the request body ({})",
                        route.fields
                    ),
                    "{what}"
                );
            }
            None => {
                let body = request(
                    route.method.clone(),
                    route.path,
                    Some("application/json"),
                    axum::body::Body::from(r#"{"status": "failed"}"#),
                );
                let reply = send(&app, body).await;
                assert_eq!(
                    reply.error(StatusCode::BAD_REQUEST),
                    format!(
                        "GET {} takes no request body: its parameters go in the query string",
                        route.path
                    ),
                );
            }
        }
        assert_eq!(
            backend.calls.lock().unwrap().len(),
            calls,
            "{what}: a refused request reaches no backend"
        );
    }
}

/// The walk above covers every route of the API's doc table.
#[test]
fn the_walk_covers_every_documented_route() {
    let doc = include_str!("../mod.rs");
    let mut documented: Vec<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|cell| cell.split('`').next())
        .map(|route| {
            let route = route.split('?').next().unwrap();
            route.replace("{id}", "job-1").replace("{name}", "go")
        })
        .collect();
    documented.sort();
    let mut walked: Vec<String> = routes()
        .iter()
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    walked.sort();
    assert_eq!(walked, documented);
}

#[tokio::test]
async fn a_post_route_refuses_a_query_string_before_its_body() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
    let reply = send(&app, post_json("/runs/job-1/cancel?force=true", "")).await;
    assert_eq!(
        reply.error(StatusCode::BAD_REQUEST),
        "unknown query parameter \"force\" (this route takes none)"
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}
