//! Everything a node hands the host is bounded and redacted before the host
//! keeps or prints it: failure messages and goto targets are cut to 4 KiB,
//! interrupt payloads and sleep updates count against `max_state`, log lines against
//! `max_log` (an empty line too), and the node's `${env:...}` secrets never
//! reach the database or the terminal, whichever way the node returns them.
//! `describe()` is bounded too: in time, in size, and a name other than the
//! file's is flagged.

use serde_json::{Value, json};

use crate::fixtures::{Env, golden, guest};

/// What the hostile modes return: 16 MiB, far over every bound.
const BYTES: usize = 16 << 20;

/// A workflow file `<name>.toml`: a counter `first`, then node `node` with
/// the table `table` (plugin, config, edges, limits).
fn two_steps(env: &Env, name: &str, node: &str, table: &str) -> String {
    env.workflow(
        &format!("{name}.toml"),
        &format!(
            "name = \"{name}\"\nstart = \"first\"\n\
             [nodes.first]\nplugin = \"counter\"\nnext = \"{node}\"\n\
             [nodes.{node}]\n{table}\n"
        ),
    )
}

/// The log rows node `node` of run `thread` left, oldest first, read from
/// the database itself (the test's own names: no quotes in them).
fn log_rows(env: &Env, thread: &str, node: &str) -> Vec<String> {
    env.sql(&format!(
        "SELECT message FROM logs WHERE thread = '{thread}' AND node = '{node}' ORDER BY id"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
    .into_iter()
    .flatten()
    .collect()
}

/// `text` with every run of more than 8 `x` (or `y`) written `x{N}`, so
/// that a golden file can show a cut message.
fn squeeze(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut n = 1;
        while (c == 'x' || c == 'y') && chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        if n > 8 {
            out.push_str(&format!("{c}{{{n}}}"));
        } else {
            out.extend(std::iter::repeat_n(c, n));
        }
    }
    out
}

/// The node's error, as `status` stores it: bounded however long the node's
/// text was; the run printed it bounded too; the database stayed small.
fn bounded_error(env: &Env, thread: &str, stderr: &str) -> String {
    let status = env.status(thread);
    let error = status["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{thread}: an error: {status}"))
        .to_string();
    assert!(
        error.len() < 5 << 10,
        "{thread}: the stored error is {} bytes",
        error.len()
    );
    assert!(
        stderr.len() < 32 << 10,
        "{thread}: `run` printed {} bytes",
        stderr.len()
    );
    let stored = env.stored_bytes();
    assert!(
        stored < 8 << 20,
        "{thread}: the database holds {stored} bytes after a {BYTES}-byte text"
    );
    error
}

#[test]
fn huge_messages_goto_targets_and_interrupt_payloads_are_bounded() {
    let env = Env::new(&["counter", "hostile"]);
    let cases = [
        ("fatal", "huge_fatal", "next = \"end\"", BYTES),
        (
            // Each of the three attempts stores and prints its message.
            "retryable",
            "huge_retryable",
            "next = \"end\"\nretry = { attempts = 3, initial = \"1ms\", max = \"1ms\" }",
            BYTES,
        ),
        ("goto", "huge_goto", "routes = [\"end\"]", BYTES),
        ("interrupt", "huge_interrupt", "next = \"end\"", BYTES),
        ("sleep", "huge_sleep", "next = \"end\"", BYTES),
        (
            "small-interrupt",
            "huge_interrupt",
            "next = \"end\"\nmax_state = \"1KiB\"",
            2000,
        ),
    ];
    let mut report = String::new();
    for (thread, mode, edges, bytes) in cases {
        let table = format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"{mode}\", bytes = {bytes} }}\n{edges}"
        );
        let workflow = two_steps(&env, thread, "loud", &table);
        let (code, _, stderr) = env.exit(&["run", &workflow, "--thread", thread, "--wait"]);
        assert_eq!(code, Some(1), "{thread}: the run fails: {stderr}");
        let error = bounded_error(&env, thread, &stderr);
        assert!(stderr.contains(&error), "{thread}: `run` prints the error");
        report.push_str(&format!("== {thread}\n{}\n", squeeze(&error)));
    }
    assert_eq!(env.status("retryable")["attempt"], 3);
    golden("guest-output.txt", &report);
}

#[test]
fn a_big_interrupt_payload_is_previewed_in_text_output_and_whole_in_json() {
    let env = Env::new(&["counter", "hostile"]);
    // 2 MiB: within the default max_state (4 MiB), so the run parks on it.
    let bytes = 2 << 20;
    let table = format!(
        "plugin = \"hostile\"\nconfig = {{ mode = \"huge_interrupt\", bytes = {bytes} }}\nnext = \"end\""
    );
    let workflow = two_steps(&env, "ask", "asker", &table);
    let total = bytes + 2;
    let preview = format!(
        "\"{}… ({total} bytes in all; see `savepoint status ask --json`)",
        "x".repeat(1023)
    );
    let (code, stdout, stderr) = env.exit(&["run", &workflow, "--thread", "ask"]);
    assert_eq!(code, Some(3), "the run parks: {stderr}");
    // Shown as it parks, and in the closing line: a preview each time.
    assert_eq!(stderr.matches(&preview).count(), 2, "{stderr}");
    assert!(
        stdout.len() + stderr.len() < 8 << 10,
        "`run` printed {} bytes",
        stderr.len()
    );
    // `resume` asks again, as briefly.
    let (code, _, stderr) = env.exit(&["resume", "ask", "--input", "\"go on\""]);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(stderr.matches(&preview).count(), 2, "{stderr}");
    assert!(
        stderr.len() < 8 << 10,
        "`resume` printed {} bytes",
        stderr.len()
    );
    let status = env.ok(&["status", "ask"]);
    assert!(
        status.contains(&format!("waiting:   {preview}\n")),
        "{status}"
    );
    assert!(
        status.len() < 4 << 10,
        "`status` printed {} bytes",
        status.len()
    );
    // `--json` shows it whole.
    assert_eq!(
        env.status("ask")["waiting_for"],
        Value::from("x".repeat(bytes))
    );
}

#[test]
fn a_million_empty_log_lines_keep_at_most_max_log_lines() {
    let env = Env::new(&["counter", "hostile"]);
    let flood = |lines: u64, extra: &str| {
        format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"empty_log_flood\", lines = {lines}{extra} }}\n\
             next = \"end\"\ntimeout = \"120s\""
        )
    };
    let workflow = two_steps(&env, "default", "chatty", &flood(1_000_000, ""));
    env.ok(&["run", &workflow, "--thread", "default"]);
    let rows = log_rows(&env, "default", "chatty");
    // The default max_log: 10,000 lines (the mode line and 9,999 empty
    // ones), then one line for the 990,001 dropped.
    assert_eq!(rows.len(), 10_001);
    assert_eq!(rows[1], "");
    assert_eq!(
        rows[10_000],
        "990001 log lines dropped (max_log: a call keeps 10000 lines, 1 MiB of log)"
    );
    let stored = env.stored_bytes();
    assert!(stored < 8 << 20, "the database holds {stored} bytes");

    // A failed attempt keeps its lines, within the same bound.
    let table = flood(100_000, ", fail = true") + "\nmax_log = { lines = 100 }";
    let workflow = two_steps(&env, "failing", "chatty", &table);
    env.exits(1, &["run", &workflow, "--thread", "failing"]);
    let rows = log_rows(&env, "failing", "chatty");
    assert_eq!(rows.len(), 101);
    assert_eq!(
        rows[100],
        "99901 log lines dropped (max_log: a call keeps 100 lines, 1 MiB of log)"
    );

    // An empty line costs 64 bytes of the byte bound: 1 KiB keeps 15 lines
    // (the mode line of 26 bytes, and 14 empty ones).
    let table = flood(1_000, "") + "\nmax_log = { bytes = \"1KiB\" }";
    let workflow = two_steps(&env, "bytes", "chatty", &table);
    env.ok(&["run", &workflow, "--thread", "bytes"]);
    let rows = log_rows(&env, "bytes", "chatty");
    assert_eq!(rows.len(), 16, "{rows:?}");
    assert_eq!(
        rows[15],
        "986 log lines dropped (max_log: a call keeps 10000 lines, 1 KiB of log)"
    );
}

#[test]
fn a_log_line_too_long_for_max_log_is_cut_not_lost() {
    let env = Env::new(&["counter", "hostile"]);
    let long_log = |extra: &str| {
        format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"long_log\", bytes = {BYTES} }}\n\
             next = \"end\"{extra}"
        )
    };
    let marker = format!("… [cut: {BYTES} bytes in all]");
    // The default max_log (1 MiB): the line is cut to 4 KiB, like a
    // message, and the next line is kept.
    let workflow = two_steps(&env, "long", "chatty", &long_log(""));
    env.ok(&["run", &workflow, "--thread", "long"]);
    let rows = log_rows(&env, "long", "chatty");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(rows[0], "chatty: mode LongLog");
    assert_eq!(rows[1], format!("{}{marker}", "x".repeat(4096)));
    assert_eq!(rows[2], "after");
    assert_eq!(
        rows[3],
        format!(
            "{} bytes of log cut (max_log: a call keeps 10000 lines, 1 MiB of log)",
            BYTES - 4096
        )
    );
    // A small max_log: the line is cut to what is left (1 KiB less the
    // first line and two lines' 64 bytes each, less the marker), and the
    // next line no longer fits.
    let workflow = two_steps(
        &env,
        "small",
        "chatty",
        &long_log("\nmax_log = { bytes = \"1KiB\" }"),
    );
    env.ok(&["run", &workflow, "--thread", "small"]);
    let rows = log_rows(&env, "small", "chatty");
    let kept = 1024 - ("chatty: mode LongLog".len() + 64) - 64 - marker.len();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1], format!("{}{marker}", "x".repeat(kept)));
    assert_eq!(
        rows[2],
        format!(
            "1 log lines dropped, {} bytes of log cut (max_log: a call keeps 10000 lines, 1 KiB of log)",
            BYTES - kept
        )
    );
    let stored = env.stored_bytes();
    assert!(stored < 8 << 20, "the database holds {stored} bytes");
}

#[test]
fn secrets_never_leave_a_node_however_it_returns_them() {
    let env = Env::new(&["counter", "hostile"]);
    let secret = "s3cr3t-7f1c2a";
    let pin = "987654321987";
    let cases = [
        ("goto", "SP_SECRET", "routes = [\"end\"]", 1),
        ("interrupt", "SP_SECRET", "next = \"end\"", 3),
        ("interrupt", "SP_PIN", "next = \"end\"", 3),
        ("fatal", "SP_SECRET", "next = \"end\"", 1),
    ];
    for (i, (via, var, edges, exit)) in cases.into_iter().enumerate() {
        let thread = format!("{via}-{i}");
        let table = format!(
            "plugin = \"hostile\"\nconfig = {{ mode = \"secret_leak\", secret = \"${{env:{var}}}\", \
             via = \"{via}\", bytes = 8192 }}\n{edges}"
        );
        let workflow = two_steps(&env, &thread, "leaky", &table);
        let output = env
            .command(&["run", &workflow, "--thread", &thread])
            .env("SP_SECRET", secret)
            .env("SP_PIN", pin)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(exit), "{thread}: {output:?}");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for value in [secret, pin] {
            assert!(!printed.contains(value), "{thread}: `run` printed {value}");
            // Not even the part before the 4 KiB cut.
            assert!(!printed.contains(&value[..6]), "{thread}: {printed}");
        }
        let status = env.status(&thread);
        let shown = status.to_string();
        assert!(shown.contains("[redac"), "{thread}: {status}");
        assert!(!shown.contains(&secret[..6]) && !shown.contains(&pin[..6]));
        let logs = env.logs(&thread);
        let leaky: Vec<&Value> = logs.iter().filter(|l| l["node"] == "leaky").collect();
        for (level, message) in [
            ("info", "the secret is [redacted]"),
            ("stdout", "stdout: [redacted]"),
            ("stderr", "stderr: [redacted]"),
        ] {
            assert!(
                leaky
                    .iter()
                    .any(|l| l["level"] == level && l["message"] == message),
                "{thread}: {level} line {message:?} in {leaky:?}"
            );
        }
    }
    // The secret across the 4 KiB cut is redacted before the cut.
    let cut = env.status("fatal-3")["error"].as_str().unwrap().to_string();
    assert!(
        cut.ends_with("xxxx[redac… [cut: 8192 bytes in all]"),
        "{}",
        &cut[cut.len().saturating_sub(80)..]
    );
    assert_eq!(
        env.status("interrupt-1")["waiting_for"],
        json!({"[redacted]": "key", "value": "token [redacted]"})
    );
    assert_eq!(
        env.status("interrupt-2")["waiting_for"],
        json!({"[redacted]": "key", "value": "token [redacted]", "number": "[redacted]"})
    );
    for value in [secret, pin] {
        assert!(!env.db_holds(value), "the database holds {value}");
    }
}

/// What `run` printed (stdout and stderr), what `status` and `logs` show
/// of run `thread`, as one text.
fn everything_shown(env: &Env, thread: &str, run: &std::process::Output) -> String {
    format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        env.status(thread),
        Value::from(env.logs(thread))
    )
}

#[test]
fn a_secret_escaped_or_cut_off_is_redacted_too() {
    let env = Env::new(&["counter", "hostile"]);
    // A secret with a quote and a backslash, which JSON and `{:?}` escape.
    let secret = r#"pa"ss\wo/rdQ-7f1c"#;
    let table = "plugin = \"hostile\"\n\
                 config = { mode = \"secret_pieces\", secret = \"${env:SP_SECRET}\" }\n\
                 next = \"end\"";
    let workflow = two_steps(&env, "pieces", "leaky", table);
    let run = env
        .command(&["run", &workflow, "--thread", "pieces"])
        .env("SP_SECRET", secret)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let shown = everything_shown(&env, "pieces", &run);
    // Whole, escaped (once in `{:?}`, twice in JSON output), or in pieces.
    for piece in [r#"pa"ss"#, r#"pa\"ss"#, r#"pa\\\"ss"#, "rdQ-7f", "wo/rd"] {
        assert!(!shown.contains(piece), "{piece} in {shown}");
        assert!(!env.db_holds(piece), "the database holds {piece}");
    }
    assert_eq!(
        env.status("pieces")["error"],
        r#"node "leaky" (plugin hostile) fatal failure: cannot read "[redacted]... (21 bytes)"#
    );
    let rows = log_rows(&env, "pieces", "leaky");
    for line in [
        r#"json: {"token":"[redacted]"}"#,
        "first half: [redacted]",
        "[redacted] :second half",
    ] {
        assert!(rows.iter().any(|r| r == line), "{line:?} in {rows:?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.starts_with("debug: Config {") && r.contains(r#"secret: "[redacted]""#)),
        "{rows:?}"
    );
}

#[test]
fn a_config_the_node_cannot_read_is_not_quoted_back() {
    let env = Env::new(&["counter", "hostile"]);
    // The Rust SDK used to quote the config, cut at 200 characters: here
    // the cut falls inside the secret (keys are sorted), and `lines` is of
    // the wrong type.
    let zeros = vec!["0"; (200 - r#"{"lines":[],"mode":"ok","secret":""#.len() - 8) / 2];
    let table = format!(
        "plugin = \"hostile\"\n\
         config = {{ mode = \"ok\", secret = \"${{env:SEC1}}\", lines = [{}] }}\n\
         next = \"end\"",
        zeros.join(", ")
    );
    let workflow = two_steps(&env, "badconfig", "picky", &table);
    let run = env
        .command(&["run", &workflow, "--thread", "badconfig"])
        .env("SEC1", "Zq9SECRETvalue77")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let shown = everything_shown(&env, "badconfig", &run);
    assert!(!shown.contains("Zq9S"), "{shown}");
    assert!(
        !env.db_holds("Zq9S"),
        "the database holds a piece of the secret"
    );
    let error = env.status("badconfig")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.ends_with(
            "fatal failure: cannot read the config: invalid type: sequence, expected u64 at line 1 column 9"
        ),
        "{error}"
    );
}

/// A copy of the `describer` guest whose `describe()` does as `mode` says
/// (see its `MODE` marker), as plugin `name`.
pub fn describer(env: &Env, name: &str, mode: &str) {
    let mut bytes = std::fs::read(guest("describer")).unwrap();
    let marker = b"describe-mode:ok________";
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the describer guest holds its marker");
    let new = format!("describe-mode:{mode:_<10}");
    assert_eq!(new.len(), marker.len());
    bytes[at..at + marker.len()].copy_from_slice(new.as_bytes());
    env.write_plugin(name, &bytes);
}

#[test]
fn describe_is_bounded_in_time_and_size_and_a_foreign_name_is_flagged() {
    let env = Env::new(&["counter", "describer"]);
    env.add_plugin("tally", &guest("counter"));
    describer(&env, "looper", "loop");
    describer(&env, "bloated", "huge");

    let plugins = env.json(&["plugins", "--json"]);
    let mut report = String::new();
    for entry in plugins.as_array().unwrap() {
        report.push_str(&format!(
            "== {}\nok: {}\nerror: {}\nwarnings: {}\n",
            entry["name"].as_str().unwrap(),
            entry["ok"],
            entry["error"],
            entry["warnings"]
        ));
    }
    golden("describe.txt", &report);
    let text = env.ok(&["plugins"]);
    assert!(
        text.lines()
            .any(|l| l.starts_with("tally") && l.contains("warning: describe() says")),
        "{text}"
    );

    // A run whose workflow names the looping plugin is refused before it
    // exists, naming the node and the file.
    let workflow = two_steps(&env, "loop", "stuck", "plugin = \"looper\"\nnext = \"end\"");
    let output = env.run(&["run", &workflow, "--thread", "loop"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    golden(
        "describe-loops.txt",
        &String::from_utf8_lossy(&output.stderr),
    );
    env.exits(5, &["status", "loop"]);
}
