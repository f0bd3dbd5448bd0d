use std::process::ExitCode;

use clap::Args;

use super::{Global, output};

/// Cancel a run: it stops (a node in flight is abandoned), its status becomes
/// `cancelled`, and it keeps its history.
///
/// A run executed by another process (a daemon, or `savepoint run` in another
/// terminal) stops within a second.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The run's thread id.
    thread: String,
    /// Print the run's status as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: CancelArgs) -> anyhow::Result<ExitCode> {
    let runtime = global.runtime(global.existing_store().await?)?;
    let run = runtime.cancel(&args.thread).await?;
    if args.json {
        output::print_json(&savepoint_server::view::status(&run));
    } else {
        eprintln!(
            "thread {}: cancelled at step {}",
            output::safe(&run.thread),
            run.step
        );
    }
    Ok(ExitCode::SUCCESS)
}
