//! Routing a fan-out and advancing joins across steps.

use super::*;

#[test]
fn route_fans_out() {
    let wf = diamond();
    assert_eq!(wf.route("a", None).unwrap(), ["b", "c"]);
    let err = wf.route("a", Some("b")).unwrap_err();
    assert_eq!(
        err,
        RouteError::GotoWithoutRoutes {
            node: "a".into(),
            goto: "b".into(),
            next: vec!["b".into(), "c".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        r#"node "a" returned goto "b", but it declares no routes; its next is ["b", "c"] (all of them run)"#
    );
    assert_eq!(wf.route("b", Some("d")).unwrap(), ["d"]);
    assert_eq!(wf.route("c", Some("d")).unwrap(), ["d"]);
    assert!(wf.route("d", Some("end")).unwrap().is_empty());
}

fn step(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(n, targets)| {
            let targets = targets.iter().map(|t| t.to_string()).collect();
            (n.to_string(), targets)
        })
        .collect()
}

type Joins = BTreeMap<String, BTreeSet<String>>;

fn joins(items: &[(&str, &[&str])]) -> Joins {
    items
        .iter()
        .map(|(n, from)| (n.to_string(), from.iter().map(|f| f.to_string()).collect()))
        .collect()
}

#[test]
fn advance_diamond_in_one_step() {
    let wf = diamond();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["b", "c"])]));
    assert_eq!(next, ["b", "c"]);
    assert!(j.is_empty());
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"]), ("c", &["d"])]));
    assert_eq!(next, ["d"], "d is scheduled once, when both arrived");
    assert!(j.is_empty());
    let (next, j) = wf.advance(&j, &step(&[("d", &[])]));
    assert!(next.is_empty());
    assert!(j.is_empty());
}

#[test]
fn advance_diamond_across_steps() {
    // c is slower: a -> [b, c2]; c2 -> c; b and c reach d in different steps.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = ["b", "c2"]
[nodes.b]
next = "d"
[nodes.c2]
next = "c"
[nodes.c]
next = "d"
[nodes.d]
after = ["c", "b"]
next = "end"
"#;
    let wf = parse(text).unwrap();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["b", "c2"])]));
    assert_eq!(next, ["b", "c2"]);
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"]), ("c2", &["c"])]));
    assert_eq!(next, ["c"], "d waits for c");
    assert_eq!(j, joins(&[("d", &["b"])]));
    let (next, j) = wf.advance(&j, &step(&[("c", &["d"])]));
    assert_eq!(next, ["d"]);
    assert!(j.is_empty());
}

#[test]
fn advance_keeps_joins_when_a_branch_ends_elsewhere() {
    let wf = diamond();
    // c chose "end": d keeps waiting for c; the input map is not modified.
    let before = Joins::new();
    let (next, j) = wf.advance(&before, &step(&[("b", &["d"]), ("c", &[])]));
    assert!(next.is_empty());
    assert_eq!(j, joins(&[("d", &["b"])]));
    assert!(before.is_empty());
    // b arriving again (a loop) changes nothing; c completes the join.
    let (next, j) = wf.advance(&j, &step(&[("b", &["d"])]));
    assert!(next.is_empty());
    assert_eq!(j, joins(&[("d", &["b"])]));
    let (next, j) = wf.advance(&j, &step(&[("c", &["d"])]));
    assert_eq!(next, ["d"]);
    assert!(j.is_empty());
}

#[test]
fn advance_deduplicates_in_first_occurrence_order() {
    // Ordinary nodes reached twice in a step run once, in order of first arrival.
    let text = r#"name = "x"
start = "a"
[nodes.a]
next = ["c", "b"]
[nodes.b]
next = ["e", "d"]
[nodes.c]
next = ["d", "e"]
[nodes.d]
next = "end"
[nodes.e]
next = "end"
"#;
    let wf = parse(text).unwrap();
    let (next, j) = wf.advance(&Joins::new(), &step(&[("a", &["c", "b"])]));
    assert_eq!(next, ["c", "b"]);
    let (next, j) = wf.advance(&j, &step(&[("c", &["d", "e"]), ("b", &["e", "d"])]));
    assert_eq!(next, ["d", "e"]);
    assert!(j.is_empty());
    // Unknown names pass through (route never returns them).
    let (next, _) = wf.advance(&j, &step(&[("d", &["zz"])]));
    assert_eq!(next, ["zz"]);
}
