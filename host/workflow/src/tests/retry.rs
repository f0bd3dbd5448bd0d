//! Retry policies and timeouts.

use super::*;

#[test]
fn retry_defaults_to_none_and_timeout_to_five_minutes() {
    let wf = parse(CHAIN).unwrap();
    for node in wf.nodes.values() {
        assert_eq!(node.retry, RetryPolicy::default());
        assert_eq!(node.retry.attempts, 1, "retries are opt-in");
        assert_eq!(
            node.timeout,
            Some(secs(300)),
            "a node never holds a worker forever"
        );
        assert_eq!(node.timeout, Some(crate::DEFAULT_TIMEOUT));
        assert!(node.after.is_empty());
    }
}

#[test]
fn timeout_none_opts_out_for_the_workflow_or_one_node() {
    let node = |text: &str| parse(text).unwrap().nodes["a"].timeout;
    assert_eq!(node(&one_node("timeout = \"none\"", "")), None);
    assert_eq!(node(&one_node("", "timeout = \"none\"")), None);
    // A node's value wins over the workflow's, either way.
    assert_eq!(
        node(&one_node("timeout = \"none\"", "timeout = \"10s\"")),
        Some(secs(10))
    );
    assert_eq!(
        node(&one_node("timeout = \"10s\"", "timeout = \"none\"")),
        None
    );
    assert_eq!(node(&one_node("timeout = \"10s\"", "")), Some(secs(10)));
}

#[test]
fn node_retry_overrides_workflow_retry_key_by_key() {
    let text = r#"name = "x"
start = "a"
timeout = "30s"
retry = { attempts = 5, backoff = "fixed", initial = "2s", max = "1m", jitter = 0.2 }

[nodes.a]
next = "b"
retry = { attempts = 2, max = "10s" }
timeout = "1m30s"

[nodes.b]
next = "c"

[nodes.c]
next = "end"
[nodes.c.retry]
backoff = "exponential"
jitter = 0
"#;
    let wf = parse(text).unwrap();
    let workflow = RetryPolicy {
        attempts: 5,
        backoff: Backoff::Fixed,
        initial: secs(2),
        max: secs(60),
        jitter: 0.2,
    };
    let a = &wf.nodes["a"];
    assert_eq!(
        a.retry,
        RetryPolicy {
            attempts: 2,
            max: secs(10),
            ..workflow
        }
    );
    assert_eq!(a.timeout, Some(secs(90)));
    let b = &wf.nodes["b"];
    assert_eq!(b.retry, workflow);
    assert_eq!(b.timeout, Some(secs(30)));
    let c = &wf.nodes["c"];
    assert_eq!(
        c.retry,
        RetryPolicy {
            backoff: Backoff::Exponential,
            jitter: 0.0,
            ..workflow
        }
    );
}

#[test]
fn node_retry_without_workflow_retry_uses_defaults() {
    let wf = parse(&one_node(
        "",
        "retry = { attempts = 3 }\ntimeout = \"250ms\"",
    ))
    .unwrap();
    let a = &wf.nodes["a"];
    assert_eq!(
        a.retry,
        RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        }
    );
    assert_eq!(
        (
            a.retry.backoff,
            a.retry.initial,
            a.retry.max,
            a.retry.jitter
        ),
        (Backoff::Exponential, secs(1), secs(300), 0.1)
    );
    assert_eq!(a.timeout, Some(Duration::from_millis(250)));
    // An empty table changes nothing; a zero initial delay is allowed.
    let wf = parse(&one_node("retry = {}", "retry = { initial = \"0s\" }")).unwrap();
    assert_eq!(wf.nodes["a"].retry.initial, Duration::ZERO);
}

#[test]
fn retry_attempts_must_be_positive() {
    assert_eq!(
        error(&one_node("retry = { attempts = 0 }", "")),
        "wf.toml:3:22: retry.attempts must be at least 1 (it counts the first try; 1 = no retries), got 0"
    );
    assert_eq!(
        error(&one_node("", "retry = { attempts = -2 }")),
        "wf.toml:6:22: node \"a\": retry.attempts must be at least 1 (it counts the first try; 1 = no retries), got -2"
    );
    assert_eq!(
        error(&one_node("", "retry = { attempts = 5000000000 }")),
        "wf.toml:6:22: node \"a\": retry.attempts must be at most 4294967295, got 5000000000"
    );
}

#[test]
fn retry_jitter_must_be_a_fraction() {
    assert_eq!(
        error(&one_node("", "retry = { jitter = 1.5 }")),
        "wf.toml:6:20: node \"a\": retry.jitter must be between 0 and 1 (the fraction by which a delay may vary), got 1.5"
    );
    assert_eq!(
        error(&one_node("retry = { jitter = -0.1 }", "")),
        "wf.toml:3:20: retry.jitter must be between 0 and 1 (the fraction by which a delay may vary), got -0.1"
    );
    assert!(
        error(&one_node("retry = { jitter = nan }", ""))
            .starts_with("wf.toml:3:20: retry.jitter must be between 0 and 1")
    );
}

#[test]
fn retry_backoff_must_be_known() {
    assert_eq!(
        error(&one_node("", "retry = { backoff = \"linear\" }")),
        "wf.toml:6:21: node \"a\": retry.backoff is \"linear\", but valid backoffs are: exponential, fixed"
    );
}

#[test]
fn retry_durations_must_parse() {
    assert_eq!(
        error(&one_node("retry = { initial = \"5 minutes\" }", "")),
        "wf.toml:3:21: retry.initial: invalid duration \"5 minutes\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    assert_eq!(
        error(&one_node("", "retry = { max = \"1h30\" }")),
        "wf.toml:6:17: node \"a\": retry.max: invalid duration \"1h30\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    let e = error(&one_node("", "retry = { max = 30 }"));
    assert!(
        e.starts_with(
            "wf.toml:6:17: invalid type: integer `30`, expected a duration string such as \"30s\""
        ),
        "{e}"
    );
}

#[test]
fn retry_rejects_unknown_keys() {
    let e = error(&one_node("", "retry = { attempts = 2, tries = 3 }"));
    assert_eq!(
        e,
        "wf.toml:6:25: unknown field `tries`, expected one of `attempts`, `backoff`, `initial`, `max`, `jitter`"
    );
    let e = error(&one_node("[retry]\nattempts = 2\ndelay = \"1s\"", ""));
    assert!(e.starts_with("wf.toml:5:1: unknown field `delay`"), "{e}");
}

#[test]
fn retry_initial_must_not_exceed_max() {
    assert_eq!(
        error(&one_node("retry = { initial = \"10m\" }", "")),
        "wf.toml:3:21: retry.initial (10m) must not be longer than retry.max (5m, the default)"
    );
    assert_eq!(
        error(&one_node(
            "retry = { max = \"10s\" }",
            "retry = { initial = \"1m\" }"
        )),
        "wf.toml:6:21: node \"a\": retry.initial (1m) must not be longer than retry.max (10s, from the workflow's retry)"
    );
    assert_eq!(
        error(&one_node("", "retry = { max = \"500ms\" }")),
        "wf.toml:6:17: node \"a\": retry.initial (1s, the default) must not be longer than retry.max (500ms)"
    );
    assert_eq!(
        error(&one_node(
            "retry = { initial = \"2s\" }",
            "retry = { max = \"1s\" }"
        )),
        "wf.toml:6:17: node \"a\": retry.initial (2s, from the workflow's retry) must not be longer than retry.max (1s)"
    );
    // Both set in one table: the later key is at fault.
    assert_eq!(
        error(&one_node(
            "",
            "retry = { max = \"1s\", initial = \"1m30s\" }"
        )),
        "wf.toml:6:33: node \"a\": retry.initial (1m30s) must not be longer than retry.max (1s)"
    );
}

#[test]
fn timeout_must_be_a_positive_duration() {
    assert_eq!(
        error(&one_node("timeout = \"0s\"", "")),
        "wf.toml:3:11: timeout must be longer than 0 (\"none\" for no limit)"
    );
    assert_eq!(
        error(&one_node("", "timeout = \"0ms\"")),
        "wf.toml:6:11: node \"a\": timeout must be longer than 0 (\"none\" for no limit)"
    );
    assert_eq!(
        error(&one_node("", "timeout = \"30 s\"")),
        "wf.toml:6:11: node \"a\": timeout: invalid duration \"30 s\": use a number and a unit (ms, s, m, h, d), e.g. \"30s\" or \"1m30s\""
    );
    let e = error(&one_node("timeout = 30", ""));
    assert!(
        e.starts_with("wf.toml:3:11: invalid type: integer `30`"),
        "{e}"
    );
}
