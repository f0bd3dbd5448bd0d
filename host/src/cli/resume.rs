use std::process::ExitCode;

use clap::Args;

use super::{Global, output, run::finish};

/// Continue an unfinished run from its last checkpoint.
///
/// A run whose process was killed continues with the node after its last
/// committed checkpoint; a failed run replays the node it failed at, with the
/// last committed state. Nothing before the last checkpoint runs again. The
/// run keeps the workflow text it started with.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run's thread id.
    thread: String,
    /// Print the final status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
    /// Do not print progress.
    #[arg(long, short)]
    quiet: bool,
}

pub async fn main(global: &Global, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let mut runtime = global.runtime(store)?;
    if let Some(observer) = output::progress(!args.quiet) {
        runtime = runtime.with_observer(observer);
    }
    let before = runtime.load(&args.thread).await?;
    if !args.quiet {
        eprintln!(
            "thread {}: resuming at step {} ({} committed, was {})",
            before.thread,
            before.step + 1,
            super::run::plural(before.step, "step"),
            before.status
        );
    }
    let run = runtime.resume(&args.thread).await?;
    Ok(finish(&run, args.json))
}
