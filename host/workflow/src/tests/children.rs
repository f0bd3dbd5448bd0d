//! Sub-workflow nodes: what their keys become, and the mistakes refused.

use super::*;

const PARENT: &str = r#"name = "parent"
start = "sub"

[nodes.sub]
workflow = "chain.toml"
input = { count = "start" }
output = { count = "count" }
id = "{thread}/order-{step}"
next = "bump"

[nodes.bump]
plugin = "counter"
next = "end"
"#;

#[test]
fn a_sub_workflow_node_has_no_plugin() {
    let wf = parse(PARENT).unwrap();
    let sub = &wf.nodes["sub"];
    let child = sub.workflow.as_ref().unwrap();
    assert_eq!(child.path, "chain.toml");
    assert_eq!(
        child.input,
        Some(BTreeMap::from([("count".into(), "start".into())]))
    );
    assert_eq!(child.id.as_deref(), Some("{thread}/order-{step}"));
    assert_eq!(sub.plugin, "");
    assert_eq!(wf.plugins(), ["counter"]);
    assert!(
        wf.missing_plugins("wf.toml", "plugins", &["counter".into()])
            .is_empty()
    );
    let children: Vec<&str> = wf.children().map(|(node, _)| node).collect();
    assert_eq!(children, ["sub"]);
}

#[test]
fn mappings_are_optional() {
    let wf =
        parse("name = \"p\"\nstart = \"a\"\n[nodes.a]\nworkflow = \"c.toml\"\nnext = \"end\"\n")
            .unwrap();
    let child = wf.nodes["a"].workflow.clone().unwrap();
    assert_eq!((child.input, child.output, child.id), (None, None, None));
}

#[test]
fn sub_workflow_mistakes_name_the_node() {
    let cases = [
        (
            "workflow = \"c.toml\"\nplugin = \"x\"",
            "wf.toml:5:10: node \"a\" has both plugin and workflow: a node calls a plugin or runs a child workflow, not both",
        ),
        (
            "workflow = \"c.toml\"\nconfig = { a = 1 }",
            "wf.toml:5:10: node \"a\" runs a child workflow, so it has no config (a key of a plugin node)",
        ),
        (
            "input = { a = \"b\" }",
            "wf.toml:4:9: node \"a\" has input, but only a sub-workflow node (one with workflow = \"FILE\") has one",
        ),
        (
            "workflow = \"c.toml\"\nid = \"{thread}/{run}\"",
            "wf.toml:5:6: node \"a\" has id = \"{thread}/{run}\", but {run} is not one of {thread}, {step}, {node}, {index}, {branch}",
        ),
        (
            "workflow = \"\"",
            "wf.toml:4:12: node \"a\" has workflow = \"\"; name a workflow file",
        ),
        (
            "workflow = \"c.toml\"\noutput = [\"x\"]",
            "wf.toml:5:10: invalid type: sequence, expected a map",
        ),
    ];
    for (keys, expected) in cases {
        let text = format!("name = \"p\"\nstart = \"a\"\n[nodes.a]\n{keys}\nnext = \"end\"\n");
        assert_eq!(error(&text), expected, "for:\n{text}");
    }
}
