//! Sends (fan-out) in [`decide`]: what they make of the next step, how their
//! branches merge and route, what is kept on a setback, and the sends refused.

use super::*;

/// `split` (and `more`) map `double` over a list; `double` appends to `doubled`,
/// then `join` runs once. `max_fanout` is 3 so that going over is cheap to write.
const FANOUT: &str = r#"name = "fanout"
start = "split"
max_fanout = 3

[state]
doubled = "append"

[nodes.split]
routes = ["double", "join"]

[nodes.more]
routes = ["double", "join"]

[nodes.double]
next = "join"
retry = { attempts = 2, backoff = "fixed", initial = "1s", jitter = 0 }

[nodes.join]
next = "end"
"#;

fn fanout() -> Workflow {
    Workflow::parse("fanout.toml", FANOUT).unwrap()
}

fn decide_in(workflow: &Workflow, run: &Run, branches: &[(&'static str, Branch)]) -> Decision {
    let branches: BTreeMap<&str, Branch> = branches.iter().cloned().collect();
    let mut at = run.position();
    at.workflow_path = "examples/fanout.toml";
    decide(workflow, at, &branches, NOW, 0.5)
}

fn sent(node: &str, update: Value, goto: Option<&str>, items: &[i64]) -> Branch {
    Branch::Fanout {
        write: write(node, update, goto),
        sends: items
            .iter()
            .map(|i| SendCall {
                node: "double".into(),
                input: object(json!({ "item": i })),
            })
            .collect(),
    }
}

fn inputs(pairs: &[(&str, i64)]) -> BTreeMap<String, Value> {
    pairs
        .iter()
        .map(|(branch, item)| (branch.to_string(), json!({ "item": item })))
        .collect()
}

#[test]
fn sends_are_the_next_steps_branches_with_their_inputs_and_the_goto_is_not_followed() {
    let run = Run::at(&["split"]);
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[(
            "split",
            sent("split", json!({"count": 1}), Some("join"), &[1, 2, 3]),
        )],
    ));
    assert_eq!(plan.next, names(&["double#0", "double#1", "double#2"]));
    assert_eq!(
        plan.send_inputs,
        inputs(&[("double#0", 1), ("double#1", 2), ("double#2", 3)])
    );
    assert_eq!(
        plan.state["count"],
        json!(1),
        "the sender's update is merged"
    );
    assert_eq!(plan.then, Then::GoOn);
}

#[test]
fn the_index_counts_every_send_of_the_step_in_the_steps_order() {
    let run = Run::at(&["split", "more"]);
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[
            ("more", sent("more", json!({}), None, &[30])),
            ("split", sent("split", json!({}), None, &[10, 20])),
        ],
    ));
    assert_eq!(plan.next, names(&["double#0", "double#1", "double#2"]));
    assert_eq!(
        plan.send_inputs,
        inputs(&[("double#0", 10), ("double#1", 20), ("double#2", 30)])
    );
}

#[test]
fn no_sends_follow_the_edges() {
    let run = Run::at(&["split"]);
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[("split", chose("split", json!({}), "join"))],
    ));
    assert_eq!(plan.next, names(&["join"]));
    assert!(plan.send_inputs.is_empty());
}

#[test]
fn send_branches_merge_in_send_order_and_the_join_after_them_runs_once() {
    let mut run = Run::at(&["double#0", "double#1", "double#2"]);
    run.send_inputs = inputs(&[("double#0", 1), ("double#1", 2), ("double#2", 3)]);
    // Answers in another order than the sends'.
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[
            ("double#2", wrote("double#2", json!({"doubled": [6]}))),
            ("double#0", wrote("double#0", json!({"doubled": [2]}))),
            ("double#1", wrote("double#1", json!({"doubled": [4]}))),
        ],
    ));
    assert_eq!(plan.state["doubled"], json!([2, 4, 6]));
    assert_eq!(plan.next, names(&["join"]));
    assert!(plan.send_inputs.is_empty(), "no send is left");
}

#[test]
fn finished_sends_are_kept_when_a_sibling_fails_and_a_node_that_sent_is_not() {
    let mut run = Run::at(&["split", "double#0", "double#1"]);
    run.send_inputs = inputs(&[("double#0", 1), ("double#1", 2)]);
    let plan = setback(decide_in(
        &fanout(),
        &run,
        &[
            ("split", sent("split", json!({}), None, &[5])),
            ("double#0", wrote("double#0", json!({"doubled": [2]}))),
            ("double#1", failed("node \"double#1\" boom", true)),
        ],
    ));
    assert_eq!(
        plan.kind,
        Setback::Retry {
            wake_at_ms: NOW + 1_000
        }
    );
    assert_eq!(plan.node, "double#1");
    let kept: Vec<&str> = plan.pending.iter().map(|w| w.node.as_str()).collect();
    assert_eq!(kept, ["double#0"]);
}

#[test]
fn kept_sends_merge_with_the_retried_one_in_send_order() {
    let mut run = Run::at(&["double#0", "double#1"]);
    run.send_inputs = inputs(&[("double#0", 1), ("double#1", 2)]);
    run.kept = vec![write("double#0", json!({"doubled": [2]}), None)];
    run.attempt = 1;
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[("double#1", wrote("double#1", json!({"doubled": [4]})))],
    ));
    assert_eq!(plan.state["doubled"], json!([2, 4]));
    assert_eq!(plan.next, names(&["join"]));
}

#[test]
fn a_sleeping_send_runs_again_with_its_input() {
    let mut run = Run::at(&["double#0", "double#1"]);
    run.send_inputs = inputs(&[("double#0", 1), ("double#1", 2)]);
    let plan = commit(decide_in(
        &fanout(),
        &run,
        &[
            ("double#0", wrote("double#0", json!({"doubled": [2]}))),
            ("double#1", slept("double#1", json!({}), 5)),
        ],
    ));
    assert_eq!(plan.next, names(&["double#1", "join"]));
    assert_eq!(plan.send_inputs, inputs(&[("double#1", 2)]));
}

fn failure(plan: SetbackPlan) -> (String, String) {
    assert_eq!(plan.kind, Setback::Failed);
    match plan.error {
        Some(StepError::Said(error)) => (plan.node, error),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_send_to_an_unknown_node_fails_the_run_at_the_sender() {
    let run = Run::at(&["split"]);
    let branch = Branch::Fanout {
        write: write("split", json!({}), None),
        sends: vec![SendCall {
            node: "dobule".into(),
            input: Map::new(),
        }],
    };
    let plan = setback(decide_in(&fanout(), &run, &[("split", branch)]));
    assert_eq!(
        failure(plan),
        (
            "split".into(),
            "node \"split\" sent to \"dobule\", which the workflow does not have \
             (nodes: double, join, more, split)"
                .into()
        )
    );
}

#[test]
fn more_sends_than_max_fanout_fail_the_run_at_the_sender() {
    let run = Run::at(&["split"]);
    let plan = setback(decide_in(
        &fanout(),
        &run,
        &[("split", sent("split", json!({}), None, &[1, 2, 3, 4]))],
    ));
    assert_eq!(
        failure(plan),
        (
            "split".into(),
            "node \"split\" sent 4 calls, over max_fanout = 3 of the workflow \
             (examples/fanout.toml)"
                .into()
        )
    );

    // The step's sends count together: `more` goes over.
    let run = Run::at(&["split", "more"]);
    let plan = setback(decide_in(
        &fanout(),
        &run,
        &[
            ("split", sent("split", json!({}), None, &[1, 2])),
            ("more", sent("more", json!({}), None, &[3, 4])),
        ],
    ));
    assert_eq!(
        failure(plan),
        (
            "more".into(),
            "node \"more\" sent 2 calls, 4 with the other sends of its step, over \
             max_fanout = 3 of the workflow (examples/fanout.toml)"
                .into()
        )
    );
}

#[test]
fn a_send_to_a_join_is_refused() {
    // In `fan`, `d` joins `b` and `c`.
    let run = Run::at(&["a"]);
    let branch = Branch::Fanout {
        write: write("a", json!({}), None),
        sends: vec![SendCall {
            node: "d".into(),
            input: Map::new(),
        }],
    };
    let plan = setback(decide_in(&fan(), &run, &[("a", branch)]));
    assert_eq!(
        failure(plan),
        (
            "a".into(),
            "node \"a\" sent to \"d\", a join (after = [\"b\", \"c\"]), which runs when those \
             nodes have finished, never by a send"
                .into()
        )
    );
}
