use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{Global, output};
use crate::store::CheckpointStore;

/// Remove from the database what no run needs any more.
///
/// Component versions no unfinished run is pinned to (the pins of completed
/// and cancelled runs are dropped first), large state values no step refers
/// to, and workflow texts no run or checkpoint refers to. Histories stay
/// whole: `history` still shows which component digest made each step. The
/// file does not shrink: SQLite reuses the freed pages.
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Print {components, component_bytes, values, value_bytes, workflows}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: GcArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store()?;
    let removed = store.collect_garbage().await?;
    if args.json {
        output::print_json(&json!(removed));
    } else {
        println!(
            "removed {} component version{} ({} bytes), {} stored value{} ({} bytes), \
             {} workflow text{}",
            removed.components,
            if removed.components == 1 { "" } else { "s" },
            removed.component_bytes,
            removed.values,
            if removed.values == 1 { "" } else { "s" },
            removed.value_bytes,
            removed.workflows,
            if removed.workflows == 1 { "" } else { "s" },
        );
    }
    Ok(ExitCode::SUCCESS)
}
