//! schemathesis (from PyPI) against a real `savepoint serve` and the document it serves
//! at `/openapi.json`: generated requests to every route, valid and not, must get no
//! 5xx, only the statuses, content types and headers the document lists, bodies that
//! match its schemas, a 4xx for every request that breaks the schema, a 401 without
//! the token, and a 405 for a method a route does not take.
//!
//! The daemon has a token, a workflows folder and runs in every state a run can wait
//! in (completed, interrupted, sleeping, failed, forked), whose threads schemathesis
//! puts in most paths, so that the routes answer 200s and 409s too, not only 404s.
//!
//! `scripts/test` installs schemathesis (`ensure_schemathesis`, in `scripts/lib-python.sh`);
//! without it this test fails, saying so, rather than passing without having run: a
//! suite that skips it would hide a missing install step.

use std::process::Command;

use crate::fixtures::{Backend, Env, repo_root, target_dir};

/// At least 16 printable characters, as `serve --token` wants.
const TOKEN: &str = "schemathesis-token-0123456789";

/// The runs schemathesis finds, in the state each waits in.
const THREADS: [(&str, &str); 5] = [
    ("done-1", "completed"),
    ("ask-1", "interrupted"),
    ("ask-2", "interrupted"),
    ("nap-1", "sleeping"),
    ("broken-1", "failed"),
];

const BROKEN: &str = r#"
name = "broken"
start = "f"
[nodes.f]
plugin = "fail"
next = "end"
"#;

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_off_the_document() {
    let schemathesis =
        std::env::var("SAVEPOINT_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".to_string());
    let version = Command::new(&schemathesis).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|output| output.status.success()),
        "no {schemathesis}: scripts/test installs it (pip install schemathesis; see \
         ensure_schemathesis in scripts/lib-python.sh)"
    );

    let env = Env::new(&["counter", "echo", "fail"]);
    let chain = std::fs::read_to_string(repo_root().join("examples/workflows/chain.toml")).unwrap();
    let workflows = [
        ("chain", env.daemon_workflow("chain", &chain)),
        ("ask", env.daemon_workflow("ask", super::ASK)),
        ("nap", env.daemon_workflow("nap", super::NAP)),
        ("broken", env.daemon_workflow("broken", BROKEN)),
    ];
    let daemon = env.serve(&["--token", TOKEN, "--workers", "2"]);
    for (thread, status) in THREADS {
        let name = thread.split('-').next().unwrap();
        let name = if name == "done" { "chain" } else { name };
        let (_, path) = workflows.iter().find(|(n, _)| *n == name).unwrap();
        env.ok(&["start", path, "--thread", thread]);
        env.wait_status(thread, status, |s| s["status"] == status);
    }
    env.ok(&["fork", "done-1", "--step", "1", "--thread", "fork-1"]);

    let dir = target_dir()
        .join("schemathesis")
        .join(match Backend::current() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        });
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let threads: Vec<String> = THREADS
        .iter()
        .map(|(thread, _)| format!("{thread:?}"))
        .chain(["\"fork-1\"".to_string()])
        .collect();
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, config_text(&threads.join(", "))).unwrap();

    let output = Command::new(&schemathesis)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{}/openapi.json", daemon.addr()))
        .arg("--header")
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}); its report is in {}\n{stdout}{stderr}",
        output.status,
        dir.display()
    );
    println!("{stdout}");
}

/// The run's settings: which checks, how many cases, and the threads paths name.
fn config_text(threads: &str) -> String {
    format!(
        r#"# Written by tests/e2e/api/schema.rs for one run.
# A fixed seed: a failure is found again by running the test again.
seed = 16
workers = 2
request-timeout = 20
# The answers checked: every check but positive_data_acceptance (a request the
# schema allows may still be refused: a thread id of spaces, a run in no state
# for a change) and object_level_authorization (one token, no users). The
# stateful phase follows the document's links from a created run (POST /runs,
# a fork) to every route of a run: a deleted run is gone (use_after_free), a
# created one is there (ensure_resource_availability).
[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true
negative_data_rejection.enabled = true
ignored_auth.enabled = true
unsupported_method.enabled = true
allow_header_conformance.enabled = true
use_after_free.enabled = true
ensure_resource_availability.enabled = true

[generation]
max-examples = 100

# The event streams: a run's that has not finished, and every run's, do not end by
# themselves. Each case reads a stream for a second (schemathesis checks what came,
# cut short), and fewer cases: what they check is the request, refused or taken.
[[operations]]
include-path-regex = "events$"
request-timeout = 1
[operations.generation]
max-examples = 25

# The runs made before: most generated paths name one of them; most new runs
# are of a workflow of the folder.
[dictionaries.threads]
values = [{threads}]

[dictionaries.workflows]
values = ["chain", "ask", "nap", "broken"]

[parameters]
"path.id" = {{ dictionary = "threads", probability = 0.8 }}
"body.workflow" = {{ dictionary = "workflows", probability = 0.8 }}
"#
    )
}
