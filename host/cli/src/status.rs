use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_runtime::RuntimeError;

/// Show where a run is: its status, committed steps, next node, last error.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's thread id.
    thread: String,
    /// Print one JSON object: thread, workflow, status, step, next, error, ...
    /// (the interrupt payload whole; text shows its first 1 KiB)
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let run = store_run(&*store, &args.thread).await?;
    if args.json {
        output::print_json(&savepoint_server::view::status(&run));
    } else {
        output::print_status(&run);
        if run.status == savepoint_store::RunStatus::Failed {
            // The way on, as `run` prints it (which files changed since it started).
            let runtime = global.runtime_with(store.clone(), global.plugin_host()?);
            let ending = super::run::Ending::of(&runtime, &run, false).await;
            println!("{}", super::run::failed_hint(&run, &ending));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The run `thread`, or an error that names it.
pub async fn store_run<S: savepoint_store::CheckpointStore>(
    store: &S,
    thread: &str,
) -> anyhow::Result<savepoint_store::RunRecord> {
    Ok(store
        .load_run(thread)
        .await?
        .ok_or_else(|| RuntimeError::NotFound {
            thread: thread.to_string(),
        })?)
}

/// A store error, with a missing run named as [`store_run`] names it.
pub fn named(error: savepoint_store::StoreError) -> anyhow::Error {
    match error {
        savepoint_store::StoreError::NotFound { thread } => {
            RuntimeError::NotFound { thread }.into()
        }
        other => other.into(),
    }
}
