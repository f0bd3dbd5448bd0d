//! `validate` checks what `run` checks before the first node, and reports
//! every problem; a failed run's hint names the command that continues it;
//! `resume` refuses before it announces anything.

use serde_json::{Value, json};

use crate::fixtures::{Env, golden};
use crate::guest_output::describer;

/// A variable no test sets.
const UNSET: &str = "SAVEPOINT_E2E_UNSET_GREETING";

/// Two nodes: `greet` (whose plugin, a `describer` that declares the
/// template's config schema, describes itself by its file's name)
/// with a config of the wrong type and an unknown key, and `bye`, whose
/// plugin is not in the folder.
const HELLO: &str = r#"name = "hello"
start = "greet"

[nodes.greet]
plugin = "describer"
config = { greeting = 5, typo_key = true }
next = "bye"

[nodes.bye]
plugin = "farewell"
next = "end"
"#;

/// The lines of a command's stderr that do not change from one run to the
/// next (a committed step's line holds its time and digest).
fn stable(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| !(line.starts_with("step ") && line.contains(" ms ")))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn validate_lists_every_problem_and_run_refuses_a_bad_config_before_the_first_node() {
    let env = Env::new(&[]);
    describer(&env, "describer", "schema");
    let file = env.workflow("hello.toml", HELLO);

    let text = env.exits(2, &["validate", &file]);
    let (code, stdout, _) = env.exit(&["validate", &file, "--json"]);
    assert_eq!(code, Some(2), "{stdout}");
    let json = parse(&stdout);
    assert_eq!(json["error"]["code"], "invalid", "{json}");
    let problems = json["error"]["details"]["problems"].as_array().unwrap();
    let found: Vec<(&str, &str, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap(),
                p["field"].as_str().unwrap_or("-"),
                p["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("greet", "config.greeting", "error"),
            ("greet", "config.typo_key", "error"),
            ("bye", "-", "error"),
        ],
        "{json}"
    );
    for problem in problems {
        assert_eq!(problem["file"], "hello.toml", "{problem}");
        assert!(problem["line"].as_u64().is_some(), "{problem}");
    }

    // `run` refuses the same config, naming the file, node and field, before
    // a run exists: not one step is committed.
    describer(&env, "farewell", "ok");
    let run = env.exits(2, &["run", &file, "--thread", "h1"]);
    let (code, _, status) = env.exit(&["status", "h1"]);
    assert_eq!(code, Some(5), "no run h1: {status}");
    assert_eq!(env.json(&["runs", "--json"])["runs"], json!([]));

    golden(
        "validate-config.txt",
        &format!(
            "== validate\n{text}\n== validate --json\n{}\n\n== run\n{run}",
            serde_json::to_string_pretty(&json).unwrap()
        ),
    );
}

#[test]
fn an_unset_secret_is_an_error_unless_allowed_then_a_warning() {
    let env = Env::new(&["counter"]);
    describer(&env, "describer", "schema");
    let file = env.workflow(
        "secret.toml",
        &format!(
            r#"name = "secret"
start = "greet"

[nodes.greet]
plugin = "describer"
config = {{ greeting = "${{env:{UNSET}}}" }}
next = "count"

[nodes.count]
plugin = "counter"
next = "end"
"#
        ),
    );
    let run = |args: &[&str]| {
        let output = env
            .command(args)
            .env_remove(UNSET)
            .output()
            .expect("run savepoint");
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, _, refused) = run(&["validate", &file]);
    assert_eq!(code, Some(2), "{refused}");
    let (code, ok, warned) = run(&["validate", &file, "--allow-missing-secrets"]);
    assert_eq!(code, Some(0), "{warned}");
    let (code, stdout, _) = run(&["validate", &file, "--allow-missing-secrets", "--json"]);
    assert_eq!(code, Some(0), "{stdout}");
    let json = parse(&stdout);
    assert_eq!(json["workflow"], "secret");
    assert_eq!(json["file"], "secret.toml");
    assert_eq!(json["nodes"], 2);
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{json}");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(warnings[0]["node"], "greet");
    assert_eq!(warnings[0]["field"], "config.greeting");

    // With the variable set, the file is valid as it is.
    let set = env
        .command(&["validate", &file])
        .env(UNSET, "Hi")
        .output()
        .unwrap();
    assert!(set.status.success(), "{set:?}");

    golden(
        "validate-secret.txt",
        &format!("== validate\n{refused}\n== --allow-missing-secrets\n{warned}{ok}"),
    );
}

#[test]
fn validate_counts_nodes_in_words() {
    let env = Env::new(&["counter"]);
    let one = env.workflow(
        "one.toml",
        "name = \"one\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    let two = env.workflow(
        "two.toml",
        "name = \"two\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n\
         [nodes.b]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    let report = format!(
        "{}{}",
        env.ok(&["validate", &one]),
        env.ok(&["validate", &two])
    );
    golden("validate-ok.txt", &report);
}

#[test]
fn a_run_out_of_fuel_is_continued_by_resume_upgrade_once_fuel_is_raised() {
    let env = Env::new(&["counter"]);
    let fuel = |fuel: &str| {
        format!(
            "name = \"burn\"\nstart = \"inc\"\n{fuel}\n[nodes.inc]\nplugin = \"counter\"\nnext = \"end\"\n"
        )
    };
    let file = env.workflow("burn.toml", &fuel("fuel = 1"));
    let first = env.exits(1, &["run", &file, "--thread", "f1"]);

    // The user raises the fuel in the file and resumes: the run keeps the
    // text it started with, so it fails again, and the hint says so.
    env.workflow("burn.toml", &fuel("fuel = 1_000_000_000"));
    let again = env.exits(1, &["resume", "f1"]);
    assert!(!again.contains("nothing ran"), "{again}");

    let upgraded = env.exits(0, &["resume", "f1", "--upgrade"]);
    assert_eq!(env.status("f1")["status"], "completed", "{upgraded}");
    assert_eq!(env.state("f1")["count"], 1);

    golden(
        "fuel-hint.txt",
        &format!("== run\n{}\n== resume\n{}", stable(&first), stable(&again)),
    );
}

#[test]
fn resume_refuses_before_it_announces_anything() {
    let env = Env::new(&["counter", "approval"]);
    let done = env.workflow(
        "done.toml",
        "name = \"done\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"end\"\n",
    );
    env.ok(&["run", &done, "--thread", "d1"]);
    let completed = env.fails(&["resume", "d1"]);

    let ask = env.example_workflow("approval.toml");
    env.exits(
        3,
        &[
            "run",
            &ask,
            "--thread",
            "a1",
            "--input",
            r#"{"title": "t"}"#,
        ],
    );
    let unanswered = env.fails(&["resume", "a1"]);
    let upgrade = env.fails(&["resume", "a1", "--upgrade"]);
    for stderr in [&completed, &unanswered, &upgrade] {
        assert!(!stderr.contains("resuming"), "{stderr}");
        assert!(!stderr.contains("upgraded"), "{stderr}");
    }
    // Accepted, it says so once.
    let answered = env.exits(0, &["resume", "a1", "--input", r#"{"approved": true}"#]);
    golden(
        "resume-refusals.txt",
        &format!(
            "== completed\n{completed}\n== interrupted, no input\n{unanswered}\n\
             == interrupted, --upgrade, no input\n{upgrade}\n== answered\n{}",
            stable(&answered)
        ),
    );
}

#[test]
fn start_and_post_runs_refuse_a_config_the_schema_rejects() {
    let env = Env::new(&[]);
    describer(&env, "describer", "schema");
    let text = "name = \"hello\"\nstart = \"greet\"\n\n[nodes.greet]\nplugin = \"describer\"\n\
                config = { greeting = \"Hi\", delay_ms = -5 }\nnext = \"end\"\n";
    let file = env.workflow("hello.toml", text);
    let started = env.exits(2, &["start", &file, "--thread", "s1"]);

    env.daemon_workflow("hello", text);
    let daemon = env.serve(&[]);
    let refused = daemon.post("/runs", &json!({"workflow": "hello", "thread": "p1"}));
    let message = refused.error(400);
    let body = refused.json();
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    let problem = &body["error"]["details"]["problems"][0];
    assert_eq!(problem["node"], "greet", "{body}");
    assert_eq!(problem["field"], "config.delay_ms", "{body}");
    // Neither made a run.
    assert_eq!(env.json(&["runs", "--json"])["runs"], json!([]));

    golden(
        "schema-refusals.txt",
        &format!("== start\n{started}\n== POST /runs\n{message}\n"),
    );
}

#[test]
fn resume_upgrade_refuses_a_config_the_schema_rejects_and_changes_nothing() {
    let env = Env::new(&[]);
    describer(&env, "describer", "schema");
    let workflow = |head: &str, config: &str| {
        format!(
            "name = \"up\"\nstart = \"greet\"\n{head}\n[nodes.greet]\nplugin = \"describer\"\n\
             config = {config}\nnext = \"end\"\n"
        )
    };
    let file = env.workflow("up.toml", &workflow("fuel = 1", "{}"));
    env.exits(1, &["run", &file, "--thread", "u1"]);
    let before = env.status("u1");

    env.workflow("up.toml", &workflow("", "{ greeting = 5 }"));
    let refused = env.exits(6, &["resume", "u1", "--upgrade"]);
    assert_eq!(
        env.status("u1"),
        before,
        "the refused upgrade changed the run"
    );

    env.workflow("up.toml", &workflow("", "{ }"));
    env.exits(0, &["resume", "u1", "--upgrade"]);
    assert_eq!(env.state("u1")["described"], true);

    golden("upgrade-config.txt", &refused);
}

/// `greet`'s config breaks its plugin's schema, and `b`'s plugin file is not
/// a component: two problems that `validate` finds.
const BROKEN: &str = r#"name = "hello"
start = "greet"

[nodes.greet]
plugin = "describer"
config = { greeting = 5 }
next = "b"

[nodes.b]
plugin = "broken"
next = "end"
"#;

/// A problem list without the file (the daemon's path differs from the CLI's).
fn located(problems: &Value) -> Vec<Value> {
    problems
        .as_array()
        .unwrap_or_else(|| panic!("no problems: {problems}"))
        .iter()
        .map(|p| {
            let mut p = p.clone();
            p.as_object_mut().unwrap().remove("file");
            p
        })
        .collect()
}

/// `run`, `start`, `POST /runs` and `GET /workflows` refuse what `validate`
/// refuses, before a run exists: a plugin file that does not load (not only a
/// missing one) and a config its schema rejects, every problem listed; the
/// message of `--json` and of the API is one line, the text output shows each
/// problem's line.
#[test]
fn run_start_and_the_api_refuse_every_problem_validate_finds_before_the_run_exists() {
    let env = Env::new(&[]);
    describer(&env, "describer", "schema");
    env.write_plugin("broken", b"junk");
    let file = env.workflow("hello.toml", BROKEN);

    let (code, stdout, _) = env.exit(&["validate", &file, "--json"]);
    assert_eq!(code, Some(2), "{stdout}");
    let validated = parse(&stdout)["error"]["details"]["problems"].clone();
    let problems = located(&validated);
    assert_eq!(problems.len(), 2, "{validated}");
    assert_eq!(problems[0]["field"], "config.greeting", "{validated}");
    assert_eq!(problems[1]["node"], "b", "{validated}");

    for command in ["run", "start"] {
        let (code, stdout, _) = env.exit(&[command, &file, "--thread", "r1", "--json"]);
        assert_eq!(code, Some(2), "{command}: {stdout}");
        let error = &parse(&stdout)["error"];
        assert_eq!(error["code"], "invalid", "{command}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(!message.contains('\n'), "{command}: {message}");
        assert!(
            message.starts_with("hello.toml: 2 problems; the first: hello.toml:6:12: "),
            "{command}: {message}"
        );
        assert_eq!(error["details"]["problems"], validated, "{command}");
    }
    let run = env.exits(2, &["run", &file, "--thread", "r1"]);
    let started = env.exits(2, &["start", &file, "--thread", "r1"]);
    assert_eq!(run, started);
    assert_eq!(env.json(&["runs", "--json"])["runs"], json!([]));

    // The daemon: GET /workflows says what POST /runs refuses, also for a
    // file whose only problem is a config its plugin's schema rejects.
    env.daemon_workflow("hello", BROKEN);
    let config = BROKEN.replace("\"broken\"", "\"describer\"");
    env.daemon_workflow("config", &config);
    let daemon = env.serve(&[]);
    let listed = daemon.get("/workflows").json();
    let listed = listed.as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["config", "hello"], "{listed:?}");
    assert!(listed.iter().all(|w| w["ok"] == false), "{listed:?}");
    assert_eq!(located(&listed[1]["problems"]), problems, "{listed:?}");
    assert_eq!(located(&listed[0]["problems"]), problems[..1], "{listed:?}");
    for (workflow, count) in [("hello", 2), ("config", 1)] {
        let refused = daemon.post("/runs", &json!({"workflow": workflow}));
        let message = refused.error(400);
        assert!(!message.contains('\n'), "{message}");
        let body = refused.json();
        assert_eq!(body["error"]["code"], "invalid", "{body}");
        let problems = &body["error"]["details"]["problems"];
        assert_eq!(problems.as_array().unwrap().len(), count, "{body}");
        let listed = listed.iter().find(|w| w["name"] == workflow).unwrap();
        assert_eq!(&listed["problems"], problems, "{body}");
        assert_eq!(listed["error"].as_str(), Some(message.as_str()), "{body}");
    }
    assert_eq!(env.json(&["runs", "--json"])["runs"], json!([]));

    golden(
        "broken-plugin-refusals.txt",
        &format!(
            "== run (and start)\n{run}\n== GET /workflows\n{}\n",
            serde_json::to_string_pretty(&listed).unwrap()
        ),
    );
}

/// A failed run's hint names `resume --upgrade` only when the upgrade would
/// be accepted (else what would make it possible, or a new run), and for a
/// node's fatal failure says that a replay runs the node on the same state,
/// so a cause in the input needs a new run.
#[test]
fn a_failed_run_s_hint_names_only_ways_that_work() {
    let env = Env::new(&["counter"]);
    let two = "name = \"two\"\nstart = \"a\"\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n\
               [nodes.b]\nplugin = \"counter\"\nnext = \"end\"\n";
    let file = env.workflow("two.toml", two);
    // The input makes `b` overflow: a fatal failure that a replay repeats.
    let input = format!("{{\"count\": {}}}", i64::MAX - 1);
    // What each command says is in the golden file at the end.
    let first = env.exits(1, &["run", &file, "--thread", "h1", "--input", &input]);

    // The failed node is renamed in the file: an upgrade would be refused,
    // so the hint does not send the user there.
    env.workflow(
        "two.toml",
        &two.replace("\"b\"", "\"c\"").replace("nodes.b", "nodes.c"),
    );
    let again = env.exits(1, &["resume", "h1"]);
    assert!(!again.contains("--upgrade` moves it"), "{again}");
    let refused = env.exits(6, &["resume", "h1", "--upgrade"]);

    // Restored, the upgrade is named again, and accepted.
    env.workflow(
        "two.toml",
        &two.replace("next = \"end\"", "next = \"end\"\nfuel = 1_000_000_000"),
    );
    let changed = env.exits(1, &["resume", "h1"]);
    env.exits(1, &["resume", "h1", "--upgrade"]);

    golden(
        "failed-hints.txt",
        &format!(
            "== run (fatal, caused by the input)\n{}\n== resume (node renamed)\n{}\n\
             == resume --upgrade\n{refused}\n== resume (node restored, fuel changed)\n{}",
            stable(&first),
            stable(&again),
            stable(&changed)
        ),
    );
}

/// A file whose graph has a problem (a route to a missing node) still has
/// each node that parsed checked against its plugin: `validate` lists the
/// missing plugin and both configs the schema rejects too, in file order.
#[test]
fn validate_checks_the_plugins_and_configs_of_a_file_whose_graph_is_broken() {
    let env = Env::new(&[]);
    describer(&env, "describer", "schema");
    let file = env.workflow(
        "graph.toml",
        r#"name = "graph"
start = "a"

[nodes.a]
plugin = "describer"
config = { greeting = 5 }
routes = ["nowhere", "b"]

[nodes.b]
plugin = "describer"
config = { greeting = 5 }
next = "c"

[nodes.c]
plugin = "missing"
next = "end"
"#,
    );
    let (code, stdout, _) = env.exit(&["validate", &file, "--json"]);
    assert_eq!(code, Some(2), "{stdout}");
    let json = parse(&stdout);
    let problems = json["error"]["details"]["problems"].as_array().unwrap();
    let found: Vec<(&str, u64, &str)> = problems
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap(),
                p["line"].as_u64().unwrap(),
                p["field"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("a", 6, "config.greeting"),
            ("a", 7, "-"),
            ("b", 11, "config.greeting"),
            ("c", 15, "-"),
        ],
        "{json}"
    );
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("graph.toml: 4 problems; the first: graph.toml:6:12: "),
        "{json}"
    );
    // `run` and `start` refuse the file before a run exists, with the same problems.
    for command in ["run", "start"] {
        let (code, stdout, _) = env.exit(&[command, &file, "--json"]);
        assert_eq!(code, Some(2), "{command}: {stdout}");
        let refused = parse(&stdout);
        assert_eq!(
            refused["error"]["details"]["problems"].as_array().unwrap(),
            problems,
            "{command}"
        );
    }
    assert_eq!(env.json(&["runs", "--json"])["runs"], json!([]));
    let text = env.exits(2, &["validate", &file]);
    golden("validate-broken-graph.txt", &text);
}
