//! [`decide`] with plain values: one test per rule, then the order between
//! rules when branches disagree.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;

/// `a` fans out to `b` and `c`; `d` joins them. `b` and `c` may be retried
/// (fixed delays of 2 s and 5 s, no jitter); `c` chooses its route.
const FAN: &str = r#"name = "fan"
start = "a"
max_steps = 10

[state]
log = "append"
count = "add"

[nodes.a]
next = ["b", "c"]

[nodes.b]
next = "d"
retry = { attempts = 3, backoff = "fixed", initial = "2s", jitter = 0 }

[nodes.c]
routes = ["d", "end"]
retry = { attempts = 3, backoff = "fixed", initial = "5s", jitter = 0 }

[nodes.d]
after = ["b", "c"]
next = "end"
"#;

const NOW: i64 = 1_000_000;

fn fan() -> Workflow {
    Workflow::parse("fan.toml", FAN).unwrap()
}

fn names(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| n.to_string()).collect()
}

/// The plain values of a run's position, owned, so a test can change one.
struct Run {
    step: u64,
    nodes: Vec<String>,
    state: Map<String, Value>,
    joins: BTreeMap<String, BTreeSet<String>>,
    kept: Vec<PendingWrite>,
    attempt: u32,
    retry_base: u32,
    wakes: u32,
    send_inputs: BTreeMap<String, Value>,
}

impl Run {
    /// Step 2 of a fresh attempt at `nodes`, with a state `{log: [], count: 1}`.
    fn at(nodes: &[&str]) -> Run {
        Run {
            step: 1,
            nodes: names(nodes),
            state: object(json!({"log": [], "count": 1})),
            joins: BTreeMap::new(),
            kept: Vec::new(),
            attempt: 0,
            retry_base: 0,
            wakes: 0,
            send_inputs: BTreeMap::new(),
        }
    }

    fn position(&self) -> Position<'_> {
        Position {
            step: self.step,
            nodes: &self.nodes,
            state: &self.state,
            joins: &self.joins,
            kept: &self.kept,
            attempt: self.attempt,
            retry_base: self.retry_base,
            wakes: self.wakes,
            send_inputs: &self.send_inputs,
            workflow_path: "fan.toml",
        }
    }

    fn decide(&self, branches: &[(&'static str, Branch)]) -> Decision {
        let branches: BTreeMap<&str, Branch> = branches.iter().cloned().collect();
        decide(&fan(), self.position(), &branches, NOW, 0.5)
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn write(node: &str, update: Value, goto: Option<&str>) -> PendingWrite {
    PendingWrite {
        node: node.to_string(),
        update: object(update),
        goto: goto.map(str::to_string),
        component_digest: format!("sha256:{node}"),
    }
}

fn wrote(node: &str, update: Value) -> Branch {
    Branch::Write {
        write: write(node, update, None),
        sleep: None,
    }
}

fn chose(node: &str, update: Value, goto: &str) -> Branch {
    Branch::Write {
        write: write(node, update, Some(goto)),
        sleep: None,
    }
}

fn slept(node: &str, update: Value, secs: u64) -> Branch {
    Branch::Write {
        write: write(node, update, None),
        sleep: Some(Duration::from_secs(secs)),
    }
}

fn failed(error: &str, retryable: bool) -> Branch {
    Branch::Failed {
        error: error.to_string(),
        retryable,
    }
}

fn interrupted(question: &str, timeout: Option<Duration>) -> Branch {
    Branch::Interrupt {
        payload: json!({ "question": question }),
        timeout,
    }
}

fn setback(decision: Decision) -> SetbackPlan {
    match decision {
        Decision::Setback(plan) => plan,
        other => panic!("expected a setback, got {other:?}"),
    }
}

fn commit(decision: Decision) -> CommitPlan {
    match decision {
        Decision::Commit(plan) => plan,
        other => panic!("expected a commit, got {other:?}"),
    }
}

// Rule 1: a branch that lost the lease.

#[test]
fn an_abandoned_branch_writes_nothing_whatever_the_others_did() {
    let run = Run::at(&["b", "c"]);
    for other in [
        wrote("c", json!({})),
        failed("boom", false),
        interrupted("ok?", None),
    ] {
        let decision = run.decide(&[("b", Branch::Abandoned), ("c", other.clone())]);
        assert_eq!(decision, Decision::Abandon, "with {other:?}");
    }
}

// Rule 2: failures.

#[test]
fn a_failure_without_retries_left_fails_the_run() {
    // `a` has the default policy: one attempt, never retried.
    let plan = setback(Run::at(&["a"]).decide(&[("a", failed("node \"a\" boom", true))]));
    assert_eq!(
        plan,
        SetbackPlan {
            node: "a".into(),
            attempt: 1,
            error: Some(StepError::Said("node \"a\" boom".into())),
            pending: Vec::new(),
            kind: Setback::Failed,
        }
    );
}

#[test]
fn a_retryable_failure_within_its_budget_waits_for_its_delay() {
    let plan = setback(Run::at(&["b"]).decide(&[("b", failed("boom", true))]));
    assert_eq!(
        plan.kind,
        Setback::Retry {
            wake_at_ms: NOW + 2_000
        }
    );
    assert_eq!(plan.attempt, 1);
    assert_eq!(plan.error, Some(StepError::Said("boom".into())));
}

#[test]
fn a_failure_that_is_not_retryable_fails_the_run_despite_its_budget() {
    let plan = setback(Run::at(&["b"]).decide(&[("b", failed("fatal", false))]));
    assert_eq!(plan.kind, Setback::Failed);
}

#[test]
fn the_retry_budget_counts_attempts_since_the_last_resume_by_hand() {
    let mut run = Run::at(&["b"]);
    // Two attempts made: this is the third of three.
    run.attempt = 2;
    let plan = setback(run.decide(&[("b", failed("boom", true))]));
    assert_eq!((plan.kind, plan.attempt), (Setback::Failed, 3));
    // Resumed by hand after the second: this is the first of a fresh three.
    run.retry_base = 2;
    let plan = setback(run.decide(&[("b", failed("boom", true))]));
    assert_eq!(
        plan.kind,
        Setback::Retry {
            wake_at_ms: NOW + 2_000
        }
    );
}

#[test]
fn failed_branches_retry_after_the_longest_delay_only_if_all_may() {
    let run = Run::at(&["b", "c"]);
    let plan = setback(run.decide(&[("b", failed("b", true)), ("c", failed("c", true))]));
    assert_eq!(
        plan.kind,
        Setback::Retry {
            wake_at_ms: NOW + 5_000
        }
    );
    let plan = setback(run.decide(&[("b", failed("b", true)), ("c", failed("c", false))]));
    assert_eq!(plan.kind, Setback::Failed);
}

#[test]
fn a_failure_is_recorded_against_the_first_failed_node_in_step_order() {
    // Not the first by name: the step's order.
    let run = Run::at(&["c", "b"]);
    let plan = setback(run.decide(&[("b", failed("b", true)), ("c", failed("c", true))]));
    assert_eq!(plan.node, "c");
    assert_eq!(plan.error, Some(StepError::Said("c".into())));
}

#[test]
fn a_failure_keeps_the_finished_branches_but_not_a_sleeping_one() {
    let mut run = Run::at(&["a", "b", "c"]);
    run.kept = vec![write("a", json!({"count": 1}), None)];
    let plan = setback(run.decide(&[
        ("b", wrote("b", json!({"count": 2}))),
        ("c", failed("c", true)),
    ]));
    assert_eq!(
        plan.pending,
        vec![
            write("a", json!({"count": 1}), None),
            write("b", json!({"count": 2}), None)
        ]
    );
    let plan = setback(run.decide(&[
        ("b", slept("b", json!({"count": 2}), 60)),
        ("c", failed("c", true)),
    ]));
    assert_eq!(plan.pending, vec![write("a", json!({"count": 1}), None)]);
}

// Rule 3: interrupts.

#[test]
fn an_interrupt_waits_for_an_answer_and_is_not_a_failed_attempt() {
    let mut run = Run::at(&["a"]);
    run.attempt = 1;
    let plan = setback(run.decide(&[("a", interrupted("ok?", Some(Duration::from_secs(30))))]));
    assert_eq!(
        plan,
        SetbackPlan {
            node: "a".into(),
            attempt: 1,
            error: None,
            pending: Vec::new(),
            kind: Setback::Interrupted {
                payload: json!({"question": "ok?"}),
                deadline_ms: Some(NOW + 30_000),
            },
        }
    );
}

#[test]
fn interrupts_ask_the_first_question_until_the_earliest_deadline() {
    let run = Run::at(&["c", "b"]);
    let plan = setback(run.decide(&[
        ("b", interrupted("b?", Some(Duration::from_secs(10)))),
        ("c", interrupted("c?", Some(Duration::from_secs(60)))),
    ]));
    assert_eq!(plan.node, "c");
    assert_eq!(
        plan.kind,
        Setback::Interrupted {
            payload: json!({"question": "c?"}),
            deadline_ms: Some(NOW + 10_000),
        }
    );
}

#[test]
fn an_interrupt_deadline_a_century_off_is_none() {
    let run = Run::at(&["a"]);
    let plan = setback(run.decide(&[("a", interrupted("ok?", Some(LONGEST_WAIT)))]));
    let Setback::Interrupted { deadline_ms, .. } = plan.kind else {
        panic!("{plan:?}");
    };
    assert_eq!(deadline_ms, None);
    let plan = setback(run.decide(&[("a", interrupted("ok?", None))]));
    assert!(matches!(
        plan.kind,
        Setback::Interrupted {
            deadline_ms: None,
            ..
        }
    ));
}

#[test]
fn an_interrupt_keeps_the_finished_branches_but_not_a_sleeping_one() {
    let run = Run::at(&["a", "b", "c"]);
    let plan = setback(run.decide(&[
        ("a", wrote("a", json!({"count": 1}))),
        ("b", slept("b", json!({}), 5)),
        ("c", interrupted("c?", None)),
    ]));
    assert_eq!(plan.pending, vec![write("a", json!({"count": 1}), None)]);
}

// Rule 4: writes.

#[test]
fn writes_merge_in_step_order_and_commit_only_the_changed_keys() {
    let mut run = Run::at(&["c", "b"]);
    run.state = object(json!({"log": [], "count": 1, "other": true}));
    let plan = commit(run.decide(&[
        ("b", wrote("b", json!({"log": ["b"], "count": 0}))),
        ("c", chose("c", json!({"log": ["c"]}), "d")),
    ]));
    assert_eq!(
        Value::Object(plan.state.clone()),
        json!({"log": ["c", "b"], "count": 1, "other": true})
    );
    // `count` got 0 added: unchanged, so not written.
    assert_eq!(Value::Object(plan.changes), json!({"log": ["c", "b"]}));
    assert_eq!(plan.digests, ["sha256:c", "sha256:b"]);
    // Both of the join's nodes routed to it.
    assert_eq!(plan.next, ["d"]);
    assert!(plan.joins.is_empty());
    assert_eq!((plan.then, plan.wakes), (Then::GoOn, 0));
}

#[test]
fn writes_kept_from_an_earlier_attempt_are_merged_as_if_just_made() {
    let mut run = Run::at(&["b", "c"]);
    run.attempt = 1;
    run.kept = vec![write("b", json!({"count": 2}), None)];
    let plan = commit(run.decide(&[("c", chose("c", json!({"count": 3}), "d"))]));
    assert_eq!(plan.state["count"], json!(6));
    assert_eq!(plan.digests, ["sha256:b", "sha256:c"]);
    assert_eq!(plan.next, ["d"]);
}

#[test]
fn the_run_completes_when_no_node_is_left() {
    let plan = commit(Run::at(&["d"]).decide(&[("d", wrote("d", json!({"count": 1})))]));
    assert!(plan.next.is_empty());
    assert_eq!(plan.then, Then::Complete);
    assert_eq!(plan.then.status(), RunStatus::Completed);
}

#[test]
fn an_update_that_cannot_be_merged_fails_the_run_and_is_redacted() {
    let run = Run::at(&["b", "c"]);
    let plan = setback(run.decide(&[
        ("b", wrote("b", json!({"count": "two"}))),
        ("c", chose("c", json!({}), "d")),
    ]));
    assert_eq!(plan.node, "b");
    assert_eq!(plan.kind, Setback::Failed);
    assert_eq!(plan.attempt, 1);
    // Nothing is kept: the step runs again as a whole.
    assert!(plan.pending.is_empty());
    let Some(StepError::QuotesUpdate(message)) = plan.error else {
        panic!("{:?}", plan.error);
    };
    assert!(
        message.starts_with("node \"b\" returned an update that cannot be merged: key \"count\""),
        "{message}"
    );
}

#[test]
fn a_route_that_fails_fails_the_run() {
    let run = Run::at(&["b", "c"]);
    let plan = setback(run.decide(&[
        ("b", wrote("b", json!({}))),
        ("c", chose("c", json!({}), "a")),
    ]));
    assert_eq!(plan.node, "c");
    assert_eq!(plan.kind, Setback::Failed);
    assert!(plan.pending.is_empty());
    assert_eq!(
        plan.error,
        Some(StepError::Said(
            "node \"c\": node \"c\" returned goto \"a\", which is not one of its routes \
             (\"d\", \"end\")"
                .into()
        ))
    );
}

// Rule 5: sleepers.

#[test]
fn a_sleeper_parks_the_run_and_runs_again_first_when_it_wakes() {
    let mut run = Run::at(&["c", "b"]);
    run.wakes = 2;
    let plan = commit(run.decide(&[
        ("b", wrote("b", json!({"count": 1}))),
        ("c", slept("c", json!({"log": ["c"]}), 30)),
    ]));
    // The sleeper's update counts; it is not routed (it runs again).
    assert_eq!(
        Value::Object(plan.changes),
        json!({"log": ["c"], "count": 2})
    );
    assert_eq!(plan.next, ["c"]);
    assert_eq!(
        plan.joins,
        BTreeMap::from([("d".to_string(), BTreeSet::from(["b".to_string()]))])
    );
    assert_eq!(
        plan.then,
        Then::Sleep {
            wake_at_ms: NOW + 30_000
        }
    );
    assert_eq!(plan.then.status(), RunStatus::Sleeping);
    assert_eq!(plan.wakes, 3);
}

#[test]
fn sleepers_sleep_as_long_as_the_longest() {
    let run = Run::at(&["b", "c"]);
    let plan = commit(run.decide(&[
        ("b", slept("b", json!({}), 10)),
        ("c", slept("c", json!({}), 40)),
    ]));
    assert_eq!(plan.next, ["b", "c"]);
    assert_eq!(plan.then.wake_at_ms(), Some(NOW + 40_000));
}

// Before any call: max_steps.

#[test]
fn a_run_at_max_steps_fails_before_its_nodes_are_called() {
    let mut run = Run::at(&["b", "c"]);
    run.step = 9;
    assert_eq!(over_max_steps(&fan(), run.position()), None);
    run.step = 10;
    assert_eq!(
        over_max_steps(&fan(), run.position()),
        Some(SetbackPlan {
            node: "b, c".into(),
            attempt: 1,
            error: Some(StepError::Said(
                "the run reached max_steps = 10 before node \"b\" and node \"c\"; raise \
                 max_steps in the workflow file if the loop is intended"
                    .into()
            )),
            pending: Vec::new(),
            kind: Setback::Failed,
        })
    );
}

// The order between rules.

#[test]
fn a_failure_wins_over_interrupts_writes_and_sleepers() {
    let run = Run::at(&["a", "b", "c", "d"]);
    let plan = setback(run.decide(&[
        ("a", interrupted("a?", None)),
        ("b", wrote("b", json!({}))),
        ("c", slept("c", json!({}), 5)),
        ("d", failed("d", false)),
    ]));
    assert_eq!((plan.node.as_str(), plan.kind), ("d", Setback::Failed));
    assert_eq!(plan.pending, vec![write("b", json!({}), None)]);
}

#[test]
fn an_interrupt_wins_over_writes_and_sleepers() {
    let run = Run::at(&["a", "b", "c"]);
    let plan = setback(run.decide(&[
        ("a", slept("a", json!({}), 5)),
        ("b", wrote("b", json!({"count": "not merged"}))),
        ("c", interrupted("c?", None)),
    ]));
    // The unmergeable update is not looked at: the interrupt decides first.
    assert_eq!(plan.node, "c");
    assert!(matches!(plan.kind, Setback::Interrupted { .. }));
}

#[test]
fn a_merge_failure_wins_over_sleepers() {
    let run = Run::at(&["b", "c"]);
    let plan = setback(run.decide(&[
        ("b", wrote("b", json!({"count": "x"}))),
        ("c", slept("c", json!({}), 5)),
    ]));
    assert_eq!((plan.node.as_str(), plan.kind), ("b", Setback::Failed));
}

mod sends;
