use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::{Global, output};
use crate::store::{CheckpointStore, format_time};

/// List every run in the database, most recently updated first.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Print a JSON array of {thread, workflow, status, step, updated_at}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let runs = store.list_runs().await?;
    if args.json {
        let items: Vec<Value> = runs
            .iter()
            .map(|run| {
                json!({
                    "thread": run.thread,
                    "workflow": run.workflow_name,
                    "status": run.status.as_str(),
                    "step": run.step,
                    "updated_at": format_time(run.updated_at_ms),
                })
            })
            .collect();
        output::print_json(&Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<16} {:<12} {:>5}  UPDATED",
        "THREAD", "WORKFLOW", "STATUS", "STEP"
    );
    for run in &runs {
        println!(
            "{:<24} {:<16} {:<12} {:>5}  {}",
            run.thread,
            run.workflow_name,
            run.status.as_str(),
            run.step,
            format_time(run.updated_at_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}
