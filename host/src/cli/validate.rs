use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::Global;
use crate::workflow::Workflow;

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
    let workflow = Workflow::parse(&path, &text)?;
    let available: Vec<String> = crate::plugin::scan_dir(&global.plugins)
        .with_context(|| {
            format!(
                "cannot read the plugins folder {} (choose the folder with --plugins DIR or SAVEPOINT_PLUGINS)",
                global.plugins.display()
            )
        })?
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    workflow.check_plugins(&path, &global.plugins.display().to_string(), &available)?;
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
