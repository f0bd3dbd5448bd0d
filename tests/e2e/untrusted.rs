//! What the command line takes from outside: text a node or a file supplies is
//! printed so that it cannot act on the terminal; thread ids cannot hide
//! characters; `--input` files are read no further than the workflow's
//! `max_state`; numbers keep every digit; `GET /workflows` follows its files.

use serde_json::{Value, json};

use crate::fixtures::{Env, Messages};

/// A character that would act on a terminal (or hide text) if printed raw.
fn is_hazard(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
        || matches!(c, '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `text`, printed by `what`, holds no raw hazard, and shows `needle` (the
/// escaped form of one).
fn assert_inert(what: &str, text: &str, needle: &str) {
    let raw: Vec<String> = (text.chars().filter(|&c| is_hazard(c)))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(raw.is_empty(), "{what} printed {raw:?} raw:\n{text}");
    assert!(text.contains(needle), "{what} shows {needle:?}:\n{text}");
}

/// Escape sequences, bidi and zero-width characters from a node's log lines,
/// stdout, stderr, update and failure message, from a workflow's name and
/// lines, and from a plugin's file name are printed escaped, by every command
/// that shows them; the JSON a text command prints still parses to the same
/// value.
#[test]
fn text_from_nodes_and_files_is_printed_escaped() {
    let env = Env::new(&["hostile"]);
    let workflow = env.workflow(
        "esc.toml",
        "name = \"wf\\u001b]0;title\\u0007\\u202e\"\nstart = \"a\"\n\
         [nodes.a]\nplugin = \"hostile\"\nconfig = { mode = \"escapes\" }\nnext = \"b\"\n\
         [nodes.b]\nplugin = \"hostile\"\nconfig = { mode = \"escapes_fail\" }\nnext = \"end\"\n",
    );
    let (code, stdout, stderr) = env.exit(&["run", &workflow, "--thread", "esc"]);
    assert_eq!(code, Some(1), "the run fails at b: {stderr}");
    assert_inert("run (stdout)", &stdout, "");
    assert_inert("run (stderr)", &stderr, "fatal \\u{1b}]0;pwned\\u{7}");

    let status = env.ok(&["status", "esc"]);
    assert_inert("status", &status, "\\u{9b}31m red \\u{202e}evil\\u{200b}");
    assert_inert(
        "status (workflow name)",
        &status,
        "wf\\u{1b}]0;title\\u{7}\\u{202e}",
    );
    assert_inert(
        "status --json",
        &env.ok(&["status", "esc", "--json"]),
        "\\u001b",
    );
    let logs = env.ok(&["logs", "esc"]);
    for needle in [
        "log \\u{1b}]0;pwned",
        "stdout \\u{1b}]0;pwned",
        "stderr \\u{1b}]0;pwned",
    ] {
        assert_inert("logs", &logs, needle);
    }
    assert_inert(
        "logs --json",
        &env.ok(&["logs", "esc", "--json"]),
        "\\u009b",
    );
    assert_inert(
        "history --states",
        &env.ok(&["history", "esc", "--states"]),
        "\\u001b]0;pwned",
    );
    assert_inert("runs", &env.ok(&["runs"]), "wf\\u{1b}]0;title");

    // `state` prints JSON in both forms, escaped as JSON: the same value.
    let pretty = env.ok(&["state", "esc"]);
    assert_inert("state", &pretty, "\\u009b31m red \\u202eevil\\u200b");
    let value: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(
        value["text"],
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m red \u{202e}evil\u{200b}"
    );
    assert_eq!(value, env.json(&["state", "esc", "--json"]));

    // A plugin's file name, and a workflow file's line quoted in an error.
    let evil = env.plugins().join("\u{1b}[31mevil\u{202e}.wasm");
    std::fs::write(&evil, b"not a component").unwrap();
    assert_inert("plugins", &env.ok(&["plugins"]), "\\u{1b}[31mevil\\u{202e}");
    let broken = env.workflow("broken.toml", "name = \"x\"\nstart = \u{1b}[2J\u{202e}\n");
    assert_inert(
        "validate",
        &env.fails(&["validate", &broken]),
        "start = \\u{1b}[2J\\u{202e}",
    );
}

/// Thread ids are refused when they hold bidi controls or zero-width
/// characters (as control characters and spaces are), naming the code point,
/// before anything is stored.
#[test]
fn thread_ids_with_invisible_characters_are_refused() {
    let env = Env::new(&["hostile"]);
    let workflow = env.workflow(
        "ok.toml",
        "name = \"ok\"\nstart = \"a\"\n[nodes.a]\nplugin = \"hostile\"\n\
         config = { mode = \"ok\" }\nnext = \"end\"\n",
    );
    let mut said = Messages::new();
    for (thread, code_point) in [
        ("job\u{202e}1", "U+202E"),
        ("job\u{2066}1", "U+2066"),
        ("job\u{200f}1", "U+200F"),
        ("job\u{061c}1", "U+061C"),
        ("job\u{200b}1", "U+200B"),
        ("job\u{2060}1", "U+2060"),
        ("\u{feff}job1", "U+FEFF"),
        ("job\u{1b}1", "U+001B"),
    ] {
        for command in ["run", "start"] {
            let stderr = env.fails(&[command, &workflow, "--thread", thread]);
            said.add(&format!("{command} --thread {code_point}"), &stderr);
            assert_inert(command, &stderr, code_point);
        }
    }
    said.check("invisible-thread-ids.txt");
    assert!(!env.db_exists(), "nothing was stored");
    env.ok(&["run", &workflow, "--thread", "job-1"]);
}

/// `--input @FILE` is read no further than the workflow's `max_state` (or the
/// default, 4 MiB), for `run`, `start` and `resume`, with an error naming the
/// file and the limit; a workflow file is read no further than 64 MiB, and an
/// import no further than its header when that is wrong.
#[test]
fn input_files_are_read_no_further_than_max_state() {
    let env = Env::new(&["echo"]);
    let small = env.workflow(
        "small.toml",
        "name = \"small\"\nstart = \"ask\"\nmax_state = \"1KiB\"\n[nodes.ask]\nplugin = \"echo\"\n\
         config = { interrupt = \"go?\" }\nnext = \"end\"\n",
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2000));
    std::fs::write(env.path().join("big.json"), &big).unwrap();
    let mut said = Messages::new();
    for command in ["run", "start"] {
        let stderr = env.fails(&[command, &small, "--thread", "t", "--input", "@big.json"]);
        said.add(&format!("{command} --input @big.json"), &stderr);
        let stderr = env.fails(&[command, &small, "--thread", "t", "--input", &big]);
        said.add(&format!("{command} --input BIG"), &stderr);
    }
    assert!(!env.db_exists(), "nothing was stored");

    // A device that never ends: refused at once, at the default limit.
    let chain = env.workflow(
        "chain.toml",
        "name = \"c\"\nstart = \"a\"\n[nodes.a]\nplugin = \"echo\"\nnext = \"end\"\n",
    );
    let stderr = env.fails(&["run", &chain, "--input", "@/dev/zero"]);
    said.add("run chain.toml --input @/dev/zero", &stderr);
    let stderr = env.fails(&["run", "/dev/zero"]);
    said.add("run /dev/zero", &stderr);
    let stderr = env.fails(&["validate", "/dev/zero"]);
    said.add("validate /dev/zero", &stderr);
    // A bundle is checked by its header, and copied, never held whole.
    let stderr = env.fails(&["import", "/dev/zero"]);
    said.add("import /dev/zero", &stderr);

    // The answer to an interrupt is capped by the run's workflow.
    env.exits(3, &["run", &small, "--thread", "ask"]);
    let stderr = env.fails(&["resume", "ask", "--input", "@/dev/zero"]);
    said.add("resume ask --input @/dev/zero", &stderr);
    said.check("input-size-limits.txt");
    env.ok(&["resume", "ask", "--input", "\"yes\""]);
    assert_eq!(env.status("ask")["status"], "completed");
}

/// An integer beyond 64 bits keeps every digit: in a node's update, in the
/// input, through the store, in `state`, `history` and the API's JSON.
#[test]
fn big_integers_stay_exact() {
    const BIG: &str = "123456789012345678901234567890";
    let env = Env::new(&["hostile"]);
    let workflow = env.workflow(
        "big.toml",
        "name = \"big\"\nstart = \"a\"\n[nodes.a]\nplugin = \"hostile\"\n\
         config = { mode = \"big_int\" }\nnext = \"end\"\n",
    );
    let input = format!("{{\"given\": -{BIG}, \"float\": 1.000000000000000000001}}");
    env.ok(&["run", &workflow, "--thread", "big", "--input", &input]);
    let state = env.ok(&["state", "big", "--json"]);
    assert_eq!(
        state.trim(),
        format!("{{\"given\":-{BIG},\"float\":1.000000000000000000001,\"big\":{BIG},\"small\":1}}")
    );
    let history = env.ok(&["history", "big", "--states", "--json"]);
    assert!(history.contains(&format!("\"big\":{BIG}")), "{history}");
    assert!(history.contains(&format!("\"given\":-{BIG}")), "{history}");
    let pretty = env.ok(&["state", "big"]);
    assert!(pretty.contains(&format!("\"big\": {BIG}")), "{pretty}");

    // The daemon's API answers with the same digits.
    let daemon = env.serve(&[]);
    let api = daemon.get("/runs/big/state");
    assert_eq!(api.status, 200, "{api:?}");
    assert!(api.body.contains(&format!("\"big\":{BIG}")), "{api:?}");
}

/// `GET /workflows` keeps each file's parse while the file is unchanged, and
/// follows every change: an edit, a broken file, a file removed, a plugin gone.
#[test]
fn workflows_listing_follows_its_files() {
    let env = Env::new(&["echo"]);
    let good = "name = \"one\"\nstart = \"a\"\n[nodes.a]\nplugin = \"echo\"\nnext = \"end\"\n";
    env.daemon_workflow("one", good);
    let daemon = env.serve(&[]);
    let listed = |what: &str| -> Vec<Value> {
        let answer = daemon.get("/workflows");
        assert_eq!(answer.status, 200, "{what}: {answer:?}");
        answer.json().as_array().unwrap().clone()
    };
    let first = listed("first");
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0]["ok"].clone(), first[0]["workflow"].clone()),
        (json!(true), json!("one"))
    );
    assert_eq!(listed("again"), first, "unchanged");

    env.daemon_workflow("one", &good.replace("name = \"one\"", "name = \"renamed\""));
    assert_eq!(listed("renamed")[0]["workflow"], "renamed");
    env.daemon_workflow("one", &good.replace("next = \"end\"", "next = \"nowhere\""));
    let broken = listed("broken");
    assert_eq!(broken[0]["ok"], false);
    let mut said = Messages::new();
    said.add("broken", broken[0]["error"].as_str().unwrap());
    env.daemon_workflow("one", good);
    assert_eq!(listed("fixed"), first);
    std::fs::remove_file(env.plugins().join("echo.wasm")).unwrap();
    let error = listed("plugin gone")[0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    said.add("plugin gone", &error);
    said.check("served-workflow-errors.txt");
    std::fs::remove_file(env.workflows_dir().join("one.toml")).unwrap();
    assert!(listed("removed").is_empty());
}
