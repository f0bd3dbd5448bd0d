use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use crate::store::{CheckpointStore, RunStatus, format_time};

/// List the runs in the database, most recently updated first.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this status (pending, running, sleeping, interrupted,
    /// retrying, completed, failed, cancelled).
    #[arg(long)]
    status: Option<RunStatus>,
    /// Print a JSON array of {thread, workflow, status, step, updated_at}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let runs = store.list_runs(args.status).await?;
    if args.json {
        output::print_json(&crate::view::summaries(&runs));
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
