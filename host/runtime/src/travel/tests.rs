//! What an edit records, with plain values: the merge, the keys it changed, and where
//! the run goes next.

use serde_json::{Map, Value, json};

use super::*;

/// `fetch` goes to `review`, which chooses `publish` or `end`; `fix` goes to `publish`.
const FLOW: &str = r#"name = "flow"
start = "fetch"
max_steps = 10

[state]
notes = "append"
count = "add"

[nodes.fetch]
next = "review"

[nodes.review]
routes = ["publish", "end"]

[nodes.fix]
next = "publish"

[nodes.publish]
next = "end"
"#;

fn flow() -> Workflow {
    Workflow::parse("flow.toml", FLOW).unwrap()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn edit(values: Value, as_node: Option<&str>) -> Edit {
    Edit {
        values: object(values),
        as_node: as_node.map(str::to_string),
    }
}

fn plan(values: Value, as_node: Option<&str>) -> Result<StateEdit, RuntimeError> {
    let state = object(json!({ "notes": ["a"], "count": 2, "title": "x" }));
    let next = vec!["review".to_string()];
    let at = Position {
        thread: "job-1",
        state: &state,
        next: &next,
    };
    plan_edit(&flow(), at, &edit(values, as_node), "cli")
}

#[test]
fn an_edit_merges_with_the_reducers_and_records_only_what_changed() {
    let planned = plan(
        json!({ "notes": ["b"], "count": 3, "title": "x", "new": true }),
        None,
    )
    .unwrap();
    assert_eq!(
        Value::Object(planned.state),
        json!({ "notes": ["a", "b"], "count": 5, "title": "x", "new": true })
    );
    // `title` was given its own value: not a change.
    assert_eq!(
        Value::Object(planned.changes),
        json!({ "notes": ["a", "b"], "count": 5, "new": true })
    );
    assert_eq!(planned.node, UPDATE_NODE);
    assert_eq!(planned.as_node, None);
    assert_eq!(
        planned.next,
        vec!["review"],
        "without a node the next stays"
    );
    assert_eq!(planned.by, "cli");
}

#[test]
fn an_edit_as_a_node_goes_where_that_node_leads() {
    let planned = plan(json!({ "title": "y" }), Some("fix")).unwrap();
    assert_eq!(planned.node, "fix");
    assert_eq!(planned.as_node.as_deref(), Some("fix"));
    assert_eq!(planned.next, vec!["publish"]);
    let last = plan(json!({}), Some("publish")).unwrap();
    assert!(last.next.is_empty(), "a node that ends ends the run");
    assert!(last.changes.is_empty());
}

#[test]
fn an_edit_as_an_unknown_node_names_the_workflows_nodes() {
    let error = plan(json!({ "title": "y" }), Some("nope")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "thread \"job-1\": there is no node \"nope\" in its workflow (nodes: fetch, fix, \
         publish, review)"
    );
    assert_eq!(
        error.details(),
        Some(json!({
            "thread": "job-1",
            "node": "nope",
            "nodes": ["fetch", "fix", "publish", "review"]
        }))
    );
    assert_eq!(error.code(), savepoint_base::error_code::ErrorCode::Usage);
}

#[test]
fn an_edit_cannot_stand_in_for_a_node_that_chooses_its_route() {
    let error = plan(json!({ "title": "y" }), Some("review")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "thread \"job-1\" cannot be edited: node \"review\" chooses one of its routes \
         (\"publish\", \"end\") itself, so an edit cannot be made as it; edit as a node with \
         `next`, or without a node (the run's next node stays)"
    );
}

#[test]
fn an_edit_that_does_not_merge_says_why() {
    let error = plan(json!({ "count": "many" }), None).unwrap_err();
    assert!(matches!(error, RuntimeError::BadEdit { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "thread \"job-1\" cannot be edited: the values cannot be merged into the state: key \
         \"count\" uses reducer add, but the update is a string (\"many\"); add needs numbers"
    );
}
