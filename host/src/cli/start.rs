use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Global;
use super::run::start_request;

/// Create a run for a `savepoint serve` daemon to execute, and return at once.
///
/// The run is stored as `pending`; a daemon on the same database picks it up
/// within a moment. Prints the thread id (or the status with `--json`).
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
    /// The run's thread id [default: a new id, printed].
    #[arg(long)]
    thread: Option<String>,
    /// The initial state: a JSON object, or @FILE to read it from a file; at most
    /// the workflow's max_state (default 4 MiB).
    #[arg(long, default_value = "{}")]
    input: String,
    /// Print the new run's status as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StartArgs) -> anyhow::Result<ExitCode> {
    let start = start_request(&args.workflow, args.thread, &args.input)?;
    let runtime = global.runtime(global.writable_store().await?)?;
    let run = runtime.create(start).await?;
    if args.json {
        super::output::print_json(&crate::view::status(&run));
    } else {
        println!("{}", super::output::safe(&run.thread));
    }
    Ok(ExitCode::SUCCESS)
}
