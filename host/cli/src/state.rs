use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;

/// Print a run's current state (the state of its last checkpoint), or its
/// state after an earlier step.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The run's thread id.
    thread: String,
    /// The state after this step instead (0: the run's input). `savepoint
    /// history` lists the steps.
    #[arg(long, value_name = "N")]
    step: Option<u64>,
    /// Print the state object on one line (the default is indented).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StateArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let run = store
        .existing_run(&args.thread)
        .await
        .map_err(RuntimeError::from)?;
    let state = match args.step {
        None => run.state,
        Some(step) => store
            .state_at(&args.thread, step)
            .await
            .map_err(RuntimeError::from)?
            .ok_or_else(|| RuntimeError::NoStep {
                thread: args.thread.clone(),
                step,
                committed: run.step,
            })?,
    };
    let state = Value::Object(state);
    if args.json {
        output::print_json(&state);
    } else {
        output::print_pretty(&state);
    }
    Ok(ExitCode::SUCCESS)
}
