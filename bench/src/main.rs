//! `savepoint-bench`: the benchmark suite of savepoint (bench/README.md).
//!
//! Layout, in the order a run goes through it: `options` (flags and the full
//! and `--quick` presets), `suite` (every scenario in order, the SQLite ones
//! and the Postgres section, results into one JSON object), `floor` (raw
//! rusqlite, one commit per checkpoint), `w1` (the chain in-process through
//! the `savepoint` library, on the `backend` given: a SQLite file or a
//! Postgres schema) with `chain` (the workflow text), `first_call` (a newly
//! dropped component), `resume` (the real binary, SIGKILL during node 6,
//! `savepoint resume`), `pg` (the Postgres server: started or named, a schema
//! per configuration), `pg_floor` (100 clients, one INSERT per commit),
//! `hosts` (`savepoint serve` processes sharing runs), `wal` (WAL frames and
//! commits read from the wal-index), `stats` and `report`
//! (the table). `--search` is a mode of its own: `search` (run listings among a
//! million runs); so is `--streams N`: `streams` (the step throughput with N event
//! streams open, and without).

mod backend;
mod chain;
mod cost;
mod first_call;
mod floor;
mod hosts;
mod options;
mod pg;
mod pg_floor;
mod report;
mod resume;
mod search;
mod stats;
mod streams;
mod suite;
mod w1;
mod wal;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    match run(options::Options::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: options::Options) -> anyhow::Result<ExitCode> {
    let plan = options.plan()?;
    let parent = plan.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = parent.join(format!("savepoint-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let outcome = suite::run(&plan, &scratch).await;
    if plan.keep {
        eprintln!("scratch folder kept: {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let outcome = outcome?;
    if plan.json {
        println!("{}", serde_json::Value::Object(outcome.json));
    } else {
        let table = match (plan.search, plan.streams > 0) {
            (true, _) => search::table(&outcome.json),
            (false, true) => streams::table(&outcome.json),
            (false, false) => report::table(&outcome.json),
        };
        print!("{table}");
    }
    if outcome.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {} check(s) failed (see \"failures\")",
            outcome.failures.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
