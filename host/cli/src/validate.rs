use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::run::plural;
use super::{Failure, Global, output};
use savepoint_runtime::{MissingSecrets, Report, check_workflow};
use savepoint_workflow::WorkflowError;

/// Check a workflow file as `run` would before its first node, and report
/// every problem, not only the first: the file (syntax, edges, routes,
/// reducers, limits), that each node's plugin is in the plugins folder and
/// loads, each node's `config` against the JSON Schema its plugin declares,
/// and that each `${env:NAME}` in a config is set. Nothing runs, and no
/// database is opened. Problems name the file, line, node and field.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
    /// Print one JSON object: {workflow, file, nodes, warnings} when the file is
    /// valid, else the error object, with every problem in details.problems
    /// ({message, file, line, column, node, field, severity}).
    #[arg(long)]
    json: bool,
    /// Report a `${env:NAME}` whose variable is not set here as a warning, not an
    /// error (the daemon that runs the workflow has it).
    #[arg(long)]
    allow_missing_secrets: bool,
}

pub async fn main(global: &Global, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let path = args.workflow.display().to_string();
    let text = super::run::read_workflow(&args.workflow)?;
    let host = global.plugin_host()?;
    let secrets = match args.allow_missing_secrets {
        true => MissingSecrets::Warning,
        false => MissingSecrets::Error,
    };
    let report = check_workflow(&host, &global.plugins, &path, &text, secrets).await?;
    let Report {
        workflow,
        errors,
        warnings,
    } = report;
    let warning_list: Vec<Value> = warnings.iter().map(|w| w.problem_of("warning")).collect();
    if !errors.is_empty() {
        let mut problems: Vec<Value> = errors.iter().map(|e| e.problem()).collect();
        problems.extend(warning_list);
        let details = json!({ "problems": problems });
        let summary = format!("{path}: {}", plural(errors.len() as u64, "problem"));
        // One problem is the error, as `run` reports it; several are listed
        // first (as a compiler does), then summed up.
        let message = match (errors.as_slice(), args.json) {
            ([one], true) => one.headline(),
            ([one], false) => one.to_string(),
            (all, true) => {
                let first = all.first().map(WorkflowError::headline).unwrap_or_default();
                format!("{summary}; the first: {first}")
            }
            (all, false) => {
                for error in all {
                    eprintln!("error: {}", output::safe_lines(&error.to_string()));
                }
                format!("{summary}; nothing was run")
            }
        };
        if !args.json {
            for warning in &warnings {
                eprintln!("{}", output::safe_lines(&warning_line(warning)));
            }
        }
        return Err(Failure::invalid(message).with_details(details).into());
    }
    let workflow = workflow.expect("a workflow without errors parsed");
    if args.json {
        output::print_json(&json!({
            "workflow": workflow.name,
            "file": path,
            "nodes": workflow.nodes.len(),
            "warnings": warning_list,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for warning in &warnings {
        eprintln!("{}", output::safe_lines(&warning_line(warning)));
    }
    println!(
        "ok: {}: workflow \"{}\", {}, start \"{}\", plugins: {}",
        output::safe(&path),
        output::safe(&workflow.name),
        plural(workflow.nodes.len() as u64, "node"),
        output::safe(&workflow.start),
        output::safe(&workflow.plugins().join(", "))
    );
    Ok(ExitCode::SUCCESS)
}

/// `FILE:LINE:COL: warning: message`.
fn warning_line(warning: &WorkflowError) -> String {
    let mut line = warning.clone();
    line.message = format!("warning: {}", warning.message);
    line.headline()
}
