use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::{Global, output, status::store_run};
use crate::store::{CheckpointStore, format_time};

/// List every checkpoint of a run, newest first: step, node, the component
/// that produced it, and the state after it.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The run's thread id.
    thread: String,
    /// Print a JSON array of {step, node, state, next, component_digest, created_at}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    store_run(&*store, &args.thread).await?;
    let history = store.history(&args.thread).await?;
    if args.json {
        let items: Vec<Value> = history.iter().map(crate::view::checkpoint).collect();
        output::print_json(&Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    if history.is_empty() {
        println!(
            "thread \"{}\" has no checkpoints yet",
            output::safe(&args.thread)
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5}  {:<16} {:<20} {:<24}  STATE",
        "STEP", "NODE", "COMPONENT", "CREATED"
    );
    for checkpoint in &history {
        println!(
            "{:>5}  {:<16} {:<20} {:<24}  {}",
            checkpoint.step,
            output::safe(&checkpoint.node),
            output::short_digest(&checkpoint.component_digest),
            format_time(checkpoint.created_at_ms),
            output::one_line(&Value::Object(checkpoint.state.clone()), 60)
        );
    }
    Ok(ExitCode::SUCCESS)
}
