//! Mistakes in keys, types and values, and how an error is shown.

use super::*;

#[test]
fn syntax_error() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:3:9: "), "{e}");
}

#[test]
fn unknown_key_in_node() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n  nxet = 1\n");
    assert_eq!(
        e,
        "wf.toml:5:3: unknown field `nxet`, expected one of `plugin`, `workflow`, `input`, `output`, `id`, `config`, `next`, `routes`, `after`, `retry`, `timeout`, `memory`, `fuel`, `max_state`, `max_log`, `allow_http`, `reuse`"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_step = 3\n[nodes.a]\nnext = \"end\"\n");
    assert!(
        e.starts_with("wf.toml:3:1: unknown field `max_step`"),
        "{e}"
    );
}

#[test]
fn wrong_type() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = 3\n");
    assert!(
        e.starts_with("wf.toml:4:8: invalid type: integer `3`"),
        "{e}"
    );
}

#[test]
fn missing_name() {
    let e = parse("start = \"a\"\n[nodes.a]\nnext = \"end\"\n").unwrap_err();
    // The whole file is at fault: no source excerpt.
    assert_eq!(e.to_string(), "wf.toml:1:1: missing field `name`");
}

#[test]
fn empty_name() {
    let e = error("name = \" \"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(e, "wf.toml:1:8: name must not be empty");
}

#[test]
fn max_steps_zero() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_steps = 0\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:13: max_steps must be at least 1 (it bounds the steps of a run), got 0"
    );
}

#[test]
fn fanout_limits_zero_or_negative() {
    let e = error("name = \"x\"\nstart = \"a\"\nmax_fanout = 0\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:14: max_fanout must be at least 1 (it bounds the sends of one step), got 0"
    );
    let e = error("name = \"x\"\nstart = \"a\"\nmax_concurrency = -2\n[nodes.a]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:19: max_concurrency must be at least 1 (it bounds the calls of one step \
         that run at once), got -2"
    );
}

/// `#` is kept for the branches of sends (`node#index`).
#[test]
fn hash_in_node_name() {
    let e = error("name = \"x\"\nstart = \"a#1\"\n[nodes.\"a#1\"]\nnext = \"end\"\n");
    assert_eq!(
        e,
        "wf.toml:3:8: node name \"a#1\" is invalid: use only letters, digits, '_' and '-'"
    );
}

#[test]
fn bad_node_name() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"end\"\n[nodes.\"b c\"]\nnext = \"a\"\n",
    );
    assert!(
        e.starts_with("wf.toml:5:8: node name \"b c\" is invalid"),
        "{e}"
    );
}

#[test]
fn plugin_must_be_a_file_stem() {
    let e = error("name = \"x\"\nstart = \"a\"\n[nodes.a]\nplugin = \"../evil\"\nnext = \"end\"\n");
    assert!(e.starts_with("wf.toml:4:10: node \"a\" has plugin = \"../evil\", but a plugin name must be a plain file stem"), "{e}");
}

#[test]
fn no_nodes() {
    assert_eq!(
        error("name = \"x\"\nstart = \"a\"\n"),
        "wf.toml:1:1: workflow has no nodes; add at least one [nodes.NAME] table"
    );
    assert!(
        error("name = \"x\"\nstart = \"a\"\n[nodes]\n")
            .starts_with("wf.toml:3:1: workflow has no nodes")
    );
}

#[test]
fn config_float_json_cannot_hold() {
    let e = error(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nconfig = { r = [1.0, nan] }\nnext = \"end\"\n",
    );
    assert_eq!(
        e,
        "wf.toml:4:10: node \"a\": config.r[1] is NaN, which JSON cannot represent"
    );
}

#[test]
fn full_display_has_source_and_caret() {
    let text = CHAIN.replace("next = \"check\"", "next = \"n4\"");
    let e = parse(&text).unwrap_err();
    let display = e.to_string();
    let mut lines = display.lines().skip(1);
    assert_eq!(lines.next(), Some("   |"));
    assert_eq!(lines.next(), Some("12 | next = \"n4\""));
    assert_eq!(lines.next(), Some("   |        ^^^^"));
    assert_eq!((e.file.as_str(), e.line, e.col), ("wf.toml", 12, 8));
}
