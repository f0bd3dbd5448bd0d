use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::run::plural;
use super::{Global, output};
use savepoint_base::units::format_size;
use savepoint_runtime::DeleteScope;

/// Delete a finished run (completed, failed or cancelled) and everything only
/// it refers to.
///
/// Its checkpoints (superseded ones too), state, logs, events, tags and pins
/// go, and so do the large state values, component versions and workflow texts
/// that no other run refers to; what other runs share stays. The delete is
/// made in short transactions, so other runs go on meanwhile; one cut short
/// (the process killed) is finished by deleting again. The thread id can then
/// be used again.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The run's thread id.
    thread: String,
    /// Delete the run whatever its status: one that a process executes now
    /// stops at its next step.
    #[arg(long)]
    force: bool,
    /// Print {thread, checkpoints, logs, events, freed: {components,
    /// component_bytes, values, value_bytes, workflows}}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    store.check_writable().await?;
    let runtime = global.runtime(store)?;
    let scope = match args.force {
        true => DeleteScope::Any,
        false => DeleteScope::Finished,
    };
    let deleted = runtime.delete(&args.thread, scope).await?;
    let freed = deleted.freed;
    if args.json {
        output::print_json(&json!({
            "thread": args.thread,
            "checkpoints": deleted.checkpoints,
            "logs": deleted.logs,
            "events": deleted.events,
            "freed": freed,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "thread {}: deleted ({}, {}, {}); freed {} ({}), {} ({}), {}",
        output::safe(&args.thread),
        plural(deleted.checkpoints, "checkpoint"),
        plural(deleted.logs, "log line"),
        plural(deleted.events, "event"),
        plural(freed.components, "component version"),
        format_size(freed.component_bytes),
        plural(freed.values, "state value"),
        format_size(freed.value_bytes),
        plural(freed.workflows, "workflow text"),
    );
    Ok(ExitCode::SUCCESS)
}
