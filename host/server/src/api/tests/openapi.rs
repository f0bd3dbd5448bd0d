//! `GET /openapi.json` says what the routes do: it has every route of the API's doc
//! table (`api/mod.rs`), and each operation lists exactly the query parameters and body
//! fields that its handler takes, as the handler itself names them when it refuses one
//! it does not take.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{FakeBackend, app, get, request, send};
use crate::api::openapi_document;

/// The document as JSON, as a client reads it.
fn document() -> Value {
    serde_json::to_value(openapi_document()).unwrap()
}

/// Each operation of the document: its method, path and operation object.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase().parse::<Method>().unwrap();
            operations.push((method, path.clone(), operation.clone()));
        }
    }
    operations
}

/// The names in `(expected "a", "b" or "c")`; none in `(this route takes none)` or
/// `(the body must be empty or {})`.
fn expected_names(message: &str) -> BTreeSet<String> {
    let (_, list) = message
        .split_once(" (")
        .unwrap_or_else(|| panic!("{message}"));
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A named schema of the document (`{"$ref": "#/components/schemas/NAME"}`).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[tokio::test]
async fn every_operation_lists_what_its_handler_takes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path, operation) in operations(&doc) {
        let what = format!("{method} {path}");
        let uri = path.replace("{id}", "job-1").replace("{name}", "go");
        let (app, _) = app(FakeBackend::with_runs(&[("job-1", "failed")]));
        let body = &operation["requestBody"]["content"]["application/json"]["schema"];
        let body = (!body.is_null()).then(|| resolve(&doc, body));
        let send_with = |query: &str, body: Option<&Value>| {
            let uri = format!("{uri}{query}");
            match body {
                Some(body) => request(
                    method.clone(),
                    &uri,
                    Some("application/json"),
                    Body::from(body.to_string()),
                ),
                None => get(&uri),
            }
        };
        // The body's example is a request the route takes.
        let example = body.map(|schema| schema["example"].clone());
        let reply = send(&app, send_with("", example.as_ref())).await;
        assert!(
            reply.status.is_success(),
            "{what}: {} {}",
            reply.status,
            reply.body
        );

        let documented: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "query")
            .map(|parameter| parameter["name"].as_str().unwrap().to_string())
            .collect();
        let reply = send(&app, send_with("?bogus=1", example.as_ref())).await;
        let taken = expected_names(reply.error(StatusCode::BAD_REQUEST));
        assert_eq!(documented, taken, "{what}: query parameters");

        if let (Some(schema), Some(Value::Object(example))) = (body, example) {
            let documented: BTreeSet<String> = schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| name.clone())
                .collect();
            let mut bogus = example.clone();
            bogus.insert("bogus".into(), json!(1));
            let reply = send(&app, send_with("", Some(&Value::Object(bogus)))).await;
            let taken = expected_names(reply.error(StatusCode::BAD_REQUEST));
            assert_eq!(documented, taken, "{what}: body fields");
            assert_eq!(
                schema["additionalProperties"], false,
                "{what}: a body takes no other fields"
            );
        }
    }
}

#[test]
fn the_document_has_every_route_of_the_doc_table() {
    let table = include_str!("../mod.rs");
    let mut documented: Vec<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|cell| cell.split('`').next())
        .map(|route| route.split('?').next().unwrap().to_string())
        .collect();
    documented.sort();
    let mut described: Vec<String> = operations(&document())
        .into_iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    described.sort();
    assert_eq!(described, documented);
}

#[test]
fn every_operation_says_its_errors_with_the_one_error_shape() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        let mut expected = vec!["400", "421", "500"];
        // Open to anyone: no token, so no 401.
        if path != "/health" && path != "/metrics" {
            expected.push("401");
        }
        if method != Method::GET {
            expected.extend(["403", "408", "413", "415"]);
        }
        if path.contains("{id}") {
            expected.push("404");
        }
        for status in expected {
            assert!(statuses.contains(&status), "{method} {path}: {statuses:?}");
        }
        for (status, response) in responses {
            if status.starts_with('2') {
                continue;
            }
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path} {status}"
            );
        }
    }
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], json!(["error"]));
    let fields = resolve(&doc, &error["properties"]["error"]);
    assert_eq!(fields["required"], json!(["code", "message", "details"]));
    let codes = resolve(&doc, &fields["properties"]["code"]);
    assert_eq!(
        codes["enum"],
        json!([
            "usage",
            "invalid",
            "not_found",
            "conflict",
            "environment",
            "run_failed",
            "internal"
        ])
    );
    // Every route but /health needs the bearer token or the session cookie.
    assert_eq!(doc["security"], json!([{"bearer": []}, {"session": []}]));
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "savepoint_session");
    assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([{}]));
}

#[test]
fn a_created_run_links_to_every_route_of_a_run() {
    let doc = document();
    let run_routes: BTreeSet<String> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/runs/{id}"))
        .map(|(_, _, operation)| operation["operationId"].as_str().unwrap().to_string())
        .collect();
    assert!(run_routes.contains("run_status"), "{run_routes:?}");
    for path in ["/runs", "/runs/{id}/fork"] {
        let links = doc["paths"][path]["post"]["responses"]["201"]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("POST {path}: no links"));
        let linked: BTreeSet<String> = links.keys().cloned().collect();
        assert_eq!(linked, run_routes, "POST {path}");
        assert_eq!(
            links["run_status"]["parameters"],
            json!({"id": "$response.body#/thread"})
        );
    }
}

#[tokio::test]
async fn the_document_is_served_as_json() {
    let (app, backend) = app(FakeBackend::default());
    let reply = send(&app, get("/openapi.json")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, document());
    assert!(backend.calls.lock().unwrap().is_empty());
}
