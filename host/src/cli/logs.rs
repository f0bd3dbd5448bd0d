use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::{Global, output, status::store_run};
use crate::store::{CheckpointStore, format_time};

/// Print what a run's nodes logged (and printed), oldest first.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run's thread id.
    thread: String,
    /// Print a JSON array of {step, node, attempt, level, message, at}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    store_run(&*store, &args.thread).await?;
    let logs = store.logs(&args.thread).await?;
    if args.json {
        let items: Vec<Value> = logs.iter().map(crate::view::log_line).collect();
        output::print_json(&Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    for line in &logs {
        println!(
            "{}  step {:>4}  {:<16} attempt {}  {:<6} {}",
            format_time(line.at_ms),
            line.step,
            output::safe(&line.node),
            line.attempt,
            output::safe(&line.level),
            output::safe_lines(&line.message)
        );
    }
    Ok(ExitCode::SUCCESS)
}
