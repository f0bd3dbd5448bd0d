//! Every scenario in order, each result put into one flat JSON object whose
//! keys bench/README.md documents (the table is printed from it too): the
//! SQLite scenarios (`sqlite`), then the Postgres section (`postgres`), as
//! `--backend` selects them; the keys of a backend not measured are null
//! (`keys` writes both).

pub(crate) mod keys;
mod postgres;
mod search;
mod sqlite;

use std::path::Path;

use serde_json::json;

use crate::chain::Chain;
use crate::options::Plan;
use crate::stats::{ms, percentile, us};
use crate::w1::{Bed, Measured};

/// The results, and what did not hold (failed runs, resume checks).
#[derive(Debug)]
pub struct Outcome {
    pub json: keys::Out,
    pub failures: Vec<String>,
}

/// What the scenarios say besides their figures.
#[derive(Debug, Default)]
pub struct Tally {
    /// What was skipped or disturbed, and why.
    pub notes: Vec<String>,
    /// What did not hold.
    pub failures: Vec<String>,
}

pub async fn run(plan: &Plan, scratch: &Path) -> anyhow::Result<Outcome> {
    let mut out = keys::Out::new();
    let mut tally = Tally::default();
    keys::machine(plan, &mut out);

    // `--search` is a mode of its own: the run listings at scale, nothing else.
    if plan.search {
        // The workload keys of the suite say nothing about it.
        for key in [
            "runs",
            "conc",
            "rounds",
            "rounds_100kb",
            "lang_runs",
            "resume_reps",
        ] {
            out.remove(key);
        }
        search::run(plan, scratch, &mut out, &mut tally).await?;
        out.insert("notes".into(), json!(tally.notes));
        out.insert("failures".into(), json!(tally.failures));
        return Ok(Outcome {
            json: out,
            failures: tally.failures,
        });
    }

    let chain = Chain::read(&plan.workflow)?;
    let bed = Bed {
        plugins: plan.plugins.clone(),
        cache: scratch.join("cache"),
    };
    let rust_counter = plan.plugins.join("counter.wasm");
    if !rust_counter.is_file() {
        anyhow::bail!(
            "no Rust counter at {} (build the plugins with `scripts/build-plugins`, or pass \
             --plugins DIR)",
            rust_counter.display()
        );
    }

    // `--streams` is a mode of its own too: the event streams' cost, nothing else.
    if plan.streams > 0 {
        section(&format!(
            "SQLite, one `savepoint serve`: {} W1 runs at once, with {} event streams and \
             without",
            plan.conc, plan.streams
        ));
        let measured = crate::streams::measure(plan, scratch, &bed).await?;
        if let serde_json::Value::Object(figures) = measured.json(plan) {
            out.extend(figures);
        }
        tally.failures.extend(measured.errors);
        out.insert("notes".into(), json!(tally.notes));
        out.insert("failures".into(), json!(tally.failures));
        return Ok(Outcome {
            json: out,
            failures: tally.failures,
        });
    }

    if plan.backends.sqlite() {
        sqlite::run(plan, scratch, &bed, &chain, &mut out, &mut tally).await?;
    } else {
        sqlite::skipped(&mut out);
    }
    if plan.backends.postgres() {
        postgres::run(plan, scratch, &bed, &chain, &mut out, &mut tally).await?;
    } else {
        postgres::skipped(&mut out);
    }

    out.insert("notes".into(), json!(tally.notes));
    out.insert("failures".into(), json!(tally.failures));
    Ok(Outcome {
        json: out,
        failures: tally.failures,
    })
}

/// A scenario starts (progress on stderr).
pub(crate) fn section(message: &str) {
    eprintln!("== {message}");
}

/// What it measured, in short.
pub(crate) fn result(message: &str) {
    eprintln!("   {message}");
}

fn size_name(size: usize) -> &'static str {
    if size >= 100_000 { "100 KB" } else { "100 B" }
}

fn summary(m: &Measured) -> String {
    format!(
        "{:.0} steps/s, CPU {:.1} us/step, step p50 {:.3} ms, overhead p50 {:.1} us, {:.0} DB \
         bytes/step{}{}",
        m.steps_per_s(),
        m.cpu_us_per_step(),
        percentile(&m.latency, 50.0).map(ms).unwrap_or(f64::NAN),
        percentile(&m.overhead, 50.0).map(us).unwrap_or(f64::NAN),
        m.bytes_per_step(),
        match (m.wal.frames_per_unit(), m.wal.commits_per_unit()) {
            (Some(frames), Some(commits)) => {
                format!(", {frames:.1} WAL pages/step, {commits:.2} commits/step")
            }
            _ => String::new(),
        },
        if m.errors.is_empty() {
            String::new()
        } else {
            format!(", {} FAILED RUNS", m.errors.len())
        }
    )
}

/// The first few failed runs of a configuration, and how many more.
fn report_errors(name: &str, errors: &[String], failures: &mut Vec<String>) {
    for error in errors.iter().take(5) {
        failures.push(format!("{name}: {error}"));
    }
    if errors.len() > 5 {
        failures.push(format!("{name}: {} more failed runs", errors.len() - 5));
    }
}
