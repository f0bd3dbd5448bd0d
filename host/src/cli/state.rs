use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::{Global, output, status::store_run};

/// Print a run's current state (the state of its last checkpoint).
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The run's thread id.
    thread: String,
    /// Print the state object on one line (the default is indented).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StateArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let run = store_run(&*store, &args.thread).await?;
    let state = Value::Object(run.state);
    if args.json {
        output::print_json(&state);
    } else {
        output::print_pretty(&state);
    }
    Ok(ExitCode::SUCCESS)
}
