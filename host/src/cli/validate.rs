use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{Global, output};

/// Check a workflow file: syntax, edges, routes, reducers, and that every
/// node's plugin is in the plugins folder. Errors name the file and line.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
}

pub async fn main(global: &Global, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = args.workflow.display().to_string();
    let text = super::run::read_workflow(&args.workflow)?;
    let workflow = crate::runtime::validate(&global.plugins, &path, &text)?;
    for warning in workflow.warnings(&path) {
        eprintln!("{}", output::safe_lines(&warning));
    }
    println!(
        "ok: {}: workflow \"{}\", {} nodes, start \"{}\", plugins: {}",
        output::safe(&path),
        output::safe(&workflow.name),
        workflow.nodes.len(),
        output::safe(&workflow.start),
        output::safe(&workflow.plugins().join(", "))
    );
    Ok(ExitCode::SUCCESS)
}
