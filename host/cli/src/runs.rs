use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_store::{CheckpointStore, RUNS_PAGE, RunStatus, format_time};

/// List the runs in the database, most recently updated first (the latest 100
/// unless --limit says otherwise).
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this status (pending, running, sleeping, interrupted,
    /// retrying, completed, failed, cancelled).
    #[arg(long)]
    status: Option<RunStatus>,
    /// How many runs to list: 100 by default, at most 10000.
    #[arg(long, value_name = "N", value_parser = runs_limit)]
    limit: Option<usize>,
    /// Print a JSON array of {thread, workflow, status, step, updated_at}.
    #[arg(long)]
    json: bool,
}

fn runs_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    RUNS_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let limit = args.limit.unwrap_or(RUNS_PAGE.default);
    // No database holds no runs: a script that lists runs gets `[]`, not an error (and
    // nothing is created). Only a person is told where savepoint looked.
    let runs = if global.database_exists().await? {
        global
            .existing_store()
            .await?
            .list_runs(
                &savepoint_store::RunFilter {
                    status: args.status,
                    ..Default::default()
                },
                None,
                limit,
            )
            .await?
            .runs
    } else {
        if !args.json {
            eprintln!(
                "no runs: no database at {}",
                output::safe(&global.db.to_string())
            );
        }
        Vec::new()
    };
    if runs.len() == limit {
        eprintln!(
            "listed the {limit} most recently updated runs; there may be more: --limit N (at \
             most {}) or --status S lists others",
            RUNS_PAGE.max
        );
    }
    if args.json {
        output::print_json(&savepoint_server::view::summaries(&runs));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<16} {:<12} {:>5}  UPDATED",
        "THREAD", "WORKFLOW", "STATUS", "STEP"
    );
    for run in &runs {
        println!(
            "{:<24} {:<16} {:<12} {:>5}  {}",
            output::safe(&run.thread),
            output::safe(&run.workflow_name),
            run.status.as_str(),
            run.step,
            format_time(run.updated_at_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}
