use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Global;

/// Check a workflow file: syntax, edges, routes, reducers, and that every
/// node's plugin is in the plugins folder. Errors name the file and line.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
}

pub async fn main(global: &Global, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = args.workflow.display().to_string();
    let text = std::fs::read_to_string(&args.workflow)
        .with_context(|| format!("cannot read the workflow file {path}"))?;
    let workflow = crate::runtime::validate(&global.plugins, &path, &text)?;
    for warning in workflow.warnings(&path) {
        eprintln!("{warning}");
    }
    println!(
        "ok: {path}: workflow \"{}\", {} nodes, start \"{}\", plugins: {}",
        workflow.name,
        workflow.nodes.len(),
        workflow.start,
        workflow.plugins().join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
