//! Limits (memory, fuel, max_state, max_log, allow_http) and warm instances (reuse).

use super::*;

#[test]
fn reuse_defaults_to_false_and_is_per_node() {
    let workflow = parse(
        "name = \"x\"\nstart = \"a\"\n[nodes.a]\nnext = \"b\"\nreuse = true\n\
         [nodes.b]\nnext = \"c\"\nreuse = false\n[nodes.c]\nnext = \"end\"\n",
    )
    .unwrap();
    let reuse: Vec<bool> = workflow.nodes.values().map(|n| n.reuse).collect();
    assert_eq!(reuse, [true, false, false]);
}

#[test]
fn reuse_must_be_a_boolean() {
    assert_eq!(
        error(&one_node("", "reuse = \"yes\"")),
        "wf.toml:6:9: node \"a\": reuse must be true or false (true keeps the node's instance \
         warm between calls), got \"yes\""
    );
    assert_eq!(
        error(&one_node("", "reuse = 1")),
        "wf.toml:6:9: node \"a\": reuse must be true or false (true keeps the node's instance \
         warm between calls), got 1"
    );
}

#[test]
fn reuse_is_not_a_workflow_wide_key() {
    let e = error(&one_node("reuse = true", ""));
    assert!(e.starts_with("wf.toml:3:1: unknown field `reuse`"), "{e}");
}

#[test]
fn limits_default() {
    let wf = parse(CHAIN).unwrap();
    for node in wf.nodes.values() {
        assert_eq!(node.limits, Limits::default());
        assert_eq!(node.limits.memory, 256 * MIB);
        assert_eq!(node.limits.fuel, None);
        assert_eq!(node.limits.max_state, 4 * MIB);
        assert!(node.limits.allow_http.is_empty());
    }
}

#[test]
fn node_limits_override_workflow_limits_key_by_key() {
    let text = r#"name = "x"
start = "a"
memory = "64MiB"
fuel = 1_000_000
max_state = "1MiB"
allow_http = ["127.0.0.1", "api.example.com:8443"]

[nodes.a]
next = "b"
memory = "1GiB"
allow_http = []

[nodes.b]
next = "c"
fuel = 5
max_state = 2048

[nodes.c]
next = "end"
memory = 2097152
allow_http = ["[::1]:8080"]
"#;
    let wf = parse(text).unwrap();
    let workflow = Limits {
        memory: 64 * MIB,
        fuel: Some(1_000_000),
        max_state: MIB,
        max_log: MaxLog::DEFAULT,
        allow_http: vec![
            grant("127.0.0.1", None),
            grant("api.example.com", Some(8443)),
        ],
    };
    assert_eq!(
        wf.nodes["a"].limits,
        Limits {
            memory: 1024 * MIB,
            allow_http: vec![],
            ..workflow.clone()
        }
    );
    assert_eq!(
        wf.nodes["b"].limits,
        Limits {
            fuel: Some(5),
            max_state: 2048,
            ..workflow.clone()
        }
    );
    assert_eq!(
        wf.nodes["c"].limits,
        Limits {
            memory: 2 * MIB,
            allow_http: vec![grant("[::1]", Some(8080))],
            ..workflow
        }
    );
    assert!(wf.nodes["b"].limits.allows_http("API.example.com", 8443));
    assert!(!wf.nodes["a"].limits.allows_http("127.0.0.1", 80));
}

#[test]
fn node_limits_without_workflow_limits_use_defaults() {
    let wf = parse(&one_node("", "fuel = 7\nallow_http = [\"localhost:3000\"]")).unwrap();
    assert_eq!(
        wf.nodes["a"].limits,
        Limits {
            fuel: Some(7),
            allow_http: vec![grant("localhost", Some(3000))],
            ..Limits::default()
        }
    );
    // The bounds themselves are allowed.
    let wf = parse(&one_node(
        "memory = \"1MiB\"\nmax_state = \"1KiB\"",
        "memory = \"4GiB\"",
    ))
    .unwrap();
    assert_eq!(wf.nodes["a"].limits.memory, 4 * 1024 * MIB);
    assert_eq!(wf.nodes["a"].limits.max_state, 1024);
}

#[test]
fn memory_errors() {
    let cases = [
        (
            "memory = \"64 megs\"",
            "",
            "wf.toml:3:10: memory: invalid size \"64 megs\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\"",
        ),
        (
            "",
            "memory = \"64mb\"",
            "wf.toml:6:10: node \"a\": memory: invalid size \"64mb\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\"",
        ),
        (
            "",
            "memory = \"512KiB\"",
            "wf.toml:6:10: node \"a\": memory must be between 1 MiB and 4 GiB, got 512 KiB",
        ),
        (
            "memory = \"1MB\"",
            "",
            "wf.toml:3:10: memory must be between 1 MiB and 4 GiB, got 1 MB",
        ),
        (
            "",
            "memory = \"5GiB\"",
            "wf.toml:6:10: node \"a\": memory must be between 1 MiB and 4 GiB, got 5 GiB",
        ),
        (
            "",
            "memory = 4294967297",
            "wf.toml:6:10: node \"a\": memory must be between 1 MiB and 4 GiB, got 4294967297 B",
        ),
        (
            "",
            "memory = 0",
            "wf.toml:6:10: node \"a\": memory must be between 1 MiB and 4 GiB, got 0 B",
        ),
        (
            "memory = -1",
            "",
            "wf.toml:3:10: memory: invalid size -1: a size cannot be negative",
        ),
        (
            "",
            "memory = \"99999999999999999999GiB\"",
            "wf.toml:6:10: node \"a\": memory: invalid size \"99999999999999999999GiB\": too large",
        ),
    ];
    for (top, node, expected) in cases {
        assert_eq!(error(&one_node(top, node)), expected, "{top} / {node}");
    }
    let e = error(&one_node("", "memory = 1.5"));
    assert!(
        e.starts_with(
            "wf.toml:6:10: invalid type: floating point `1.5`, expected a size such as \"64MiB\", or a number of bytes"
        ),
        "{e}"
    );
}

#[test]
fn fuel_errors() {
    assert_eq!(
        error(&one_node("fuel = 0", "")),
        "wf.toml:3:8: fuel must be at least 1 (the instructions one call may run; remove it for no limit), got 0"
    );
    assert_eq!(
        error(&one_node("", "fuel = -10")),
        "wf.toml:6:8: node \"a\": fuel must be at least 1 (the instructions one call may run; remove it for no limit), got -10"
    );
    let e = error(&one_node("", "fuel = \"1000\""));
    assert!(
        e.starts_with("wf.toml:6:8: invalid type: string \"1000\""),
        "{e}"
    );
}

#[test]
fn max_state_errors() {
    assert_eq!(
        error(&one_node("max_state = \"1000B\"", "")),
        "wf.toml:3:13: max_state must be at least 1 KiB, got 1 KB"
    );
    assert_eq!(
        error(&one_node("", "max_state = 0")),
        "wf.toml:6:13: node \"a\": max_state must be at least 1 KiB, got 0 B"
    );
    assert_eq!(
        error(&one_node("", "max_state = \"4 MiB\"")),
        "wf.toml:6:13: node \"a\": max_state: invalid size \"4 MiB\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
    );
}

#[test]
fn max_log_keys_override_the_workflow_s_one_by_one() {
    let wf = parse(&one_node(
        "max_log = { lines = 100, bytes = \"64KiB\" }",
        "max_log = { lines = 0 }",
    ))
    .unwrap();
    assert_eq!(
        wf.nodes["a"].limits.max_log,
        MaxLog {
            lines: 0,
            bytes: 64 * 1024
        }
    );
    let wf = parse(&one_node("", "max_log = { bytes = 4096 }")).unwrap();
    assert_eq!(
        wf.nodes["a"].limits.max_log,
        MaxLog {
            lines: 10_000,
            bytes: 4096
        }
    );
}

#[test]
fn max_log_errors() {
    assert_eq!(
        error(&one_node("", "max_log = { lines = -1 }")),
        "wf.toml:6:21: node \"a\": max_log.lines must be 0 or more (the log lines one call keeps), got -1"
    );
    assert_eq!(
        error(&one_node("max_log = { bytes = \"1 MiB\" }", "")),
        "wf.toml:3:21: max_log.bytes: invalid size \"1 MiB\": use a number and a unit (B, KiB, MiB, GiB), e.g. \"64MiB\""
    );
    assert!(
        error(&one_node("", "max_log = { line = 5 }"))
            .contains("unknown field `line`, expected `lines` or `bytes`"),
    );
}

#[test]
fn allow_http_errors() {
    let cases = [
        (
            "allow_http = [\"http://x\"]",
            "",
            "wf.toml:3:15: allow_http entry \"http://x\" must be a host and an optional port, not a URL: write \"x\"",
        ),
        (
            "",
            "allow_http = [\"127.0.0.1\", \"https://api.example.com:8443/v1\"]",
            "wf.toml:6:28: node \"a\": allow_http entry \"https://api.example.com:8443/v1\" must be a host and an optional port, not a URL: write \"api.example.com:8443\"",
        ),
        (
            "",
            "allow_http = [\"x:0\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"x:0\" is invalid: port \"0\" must be a number from 1 to 65535",
        ),
        (
            "",
            "allow_http = [\"Example.com\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"Example.com\" is invalid: write the host in lowercase, \"example.com\"",
        ),
        (
            "allow_http = [\"::1\"]",
            "",
            "wf.toml:3:15: allow_http entry \"::1\" is invalid: write an IPv6 address in brackets, e.g. \"[::1]\" or \"[::1]:8080\"",
        ),
        (
            "",
            "allow_http = [\"\"]",
            "wf.toml:6:15: node \"a\": allow_http entry \"\" is empty; write a host such as \"api.example.com\" or \"127.0.0.1:8080\"",
        ),
        (
            "",
            "allow_http = [\"x\", \"y:80\", \"x\"]",
            "wf.toml:6:28: node \"a\": allow_http lists \"x\" twice",
        ),
        (
            "",
            "allow_http = [\"[::1]\", \"[0::1]\"]",
            "wf.toml:6:24: node \"a\": allow_http lists \"[::1]\" twice",
        ),
    ];
    for (top, node, expected) in cases {
        assert_eq!(error(&one_node(top, node)), expected, "{top} / {node}");
    }
    let e = error(&one_node("", "allow_http = \"x\""));
    assert!(
        e.starts_with("wf.toml:6:14: invalid type: string \"x\""),
        "{e}"
    );
    let e = error(&one_node("", "allow_http = [\"x\", 80]"));
    assert!(
        e.starts_with("wf.toml:6:20: invalid type: integer `80`"),
        "{e}"
    );
}

#[test]
fn workflow_limit_errors_come_before_node_ones() {
    // Both are wrong: the top level is validated first.
    let e = error(&one_node("fuel = 0", "memory = \"1KiB\""));
    assert!(e.starts_with("wf.toml:3:8: fuel must be at least 1"), "{e}");
}
