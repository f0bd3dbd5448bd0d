use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;

/// Show where a run is: its status, committed steps, next node, last error.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's thread id.
    thread: String,
    /// Print one JSON object: thread, workflow, status, step, next, error, ...,
    /// parent and children (the interrupt payload whole; text shows its first 1 KiB)
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let run = store
        .existing_run(&args.thread)
        .await
        .map_err(RuntimeError::from)?;
    let children = savepoint_server::view::children(&*store, &run.thread)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        output::print_json(&savepoint_server::view::status_with_children(
            &run, &children,
        ));
    } else {
        output::print_status(&run);
        print_family(&run, &children);
        if run.status == savepoint_store::RunStatus::Failed {
            // The way on, as `run` prints it (which files changed since it started).
            let runtime = global.runtime_with(store.clone(), global.plugin_host()?);
            let ending = super::run::Ending::of(&runtime, &run, super::run::Attempt::First).await;
            println!("{}", super::run::failed_hint(&run, &ending));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A child run's parent, and a parent's child runs (oldest first) with their status.
fn print_family(run: &savepoint_store::RunRecord, children: &[savepoint_store::RunSummary]) {
    if let Some(parent) = &run.parent {
        println!("parent:    {}", output::safe(parent));
    }
    for (i, child) in children.iter().rev().enumerate() {
        let label = if i == 0 { "children:" } else { "" };
        println!(
            "{label:<10} {} ({}, step {})",
            output::safe(&child.thread),
            child.status,
            child.step
        );
    }
}
