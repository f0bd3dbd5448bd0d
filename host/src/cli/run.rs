use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};

use super::{Global, output};
use crate::runtime::{StartRun, check_thread_id, new_thread_id};
use crate::store::{RunRecord, RunStatus, format_time};

/// Exit codes of `run` and `resume` (documented in their `--help`).
pub const EXIT_COMPLETED: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_PARKED: u8 = 3;
pub const EXIT_CANCELLED: u8 = 4;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the run completed
  1  the run failed (or the command could not start it)
  2  the command line is wrong
  3  the run parked: sleeping, waiting for input (interrupted) or waiting to retry;
     `savepoint resume ID` continues it (or a `savepoint serve` daemon does, on time)
  4  the run was cancelled";

/// Start a new run of a workflow and drive it in the foreground.
///
/// Progress (one line per committed step) goes to stderr; the final state
/// (or `--json` status) goes to stdout. When the run parks (a node sleeps,
/// asks a human, or waits to retry) `run` says so and exits with code 3;
/// `savepoint resume` continues it later.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// The workflow file (TOML), e.g. examples/workflows/chain.toml.
    workflow: PathBuf,
    /// The run's thread id, the name to resume and inspect it by [default: a new id, printed].
    #[arg(long)]
    thread: Option<String>,
    /// The initial state: a JSON object, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Print the final status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
    /// Do not print progress.
    #[arg(long, short)]
    quiet: bool,
    /// Keep going through sleeps and retry waits in the foreground instead of
    /// exiting when the run parks (an interrupt still ends the command).
    #[arg(long)]
    wait: bool,
}

pub async fn main(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let start = start_request(&args.workflow, args.thread, &args.input)?;
    let store = global.open_store()?;
    let mut runtime = global.runtime(store)?;
    if let Some(observer) = output::progress(!args.quiet) {
        runtime = runtime.with_observer(observer);
    }
    // Validate before announcing the thread, so a bad file prints only its error.
    runtime.validate(&start.workflow_path, &start.workflow_text)?;
    if !args.quiet {
        eprintln!("thread {}: running {}", start.thread, start.workflow_path);
    }
    let run = runtime.start(start, args.wait).await?;
    Ok(finish(&run, args.json))
}

/// Read the workflow file and the input, and pick the thread id.
pub fn start_request(
    workflow: &PathBuf,
    thread: Option<String>,
    input: &str,
) -> anyhow::Result<StartRun> {
    let workflow_path = workflow.display().to_string();
    let workflow_text = std::fs::read_to_string(workflow)
        .with_context(|| format!("cannot read the workflow file {workflow_path}"))?;
    let input = parse_object(input, "--input")?;
    let thread = match thread {
        Some(thread) => {
            check_thread_id(&thread).map_err(anyhow::Error::msg)?;
            thread
        }
        None => new_thread_id(),
    };
    Ok(StartRun {
        workflow_path,
        workflow_text,
        thread,
        input,
    })
}

/// Print the outcome of a run that `run` or `resume` drove, and pick the exit code.
pub fn finish(run: &RunRecord, json: bool) -> ExitCode {
    let thread = &run.thread;
    if json {
        output::print_json(&crate::view::status(run));
    } else {
        match run.status {
            RunStatus::Completed => {
                eprintln!(
                    "thread {thread}: completed after {}",
                    plural(run.step, "step")
                );
                output::print_pretty(&Value::Object(run.state.clone()));
            }
            RunStatus::Sleeping | RunStatus::Retrying => {
                let when = run.wake_at_ms.map(format_time).unwrap_or_default();
                let what = if run.status == RunStatus::Sleeping {
                    "sleeping"
                } else {
                    "waiting to retry"
                };
                eprintln!(
                    "thread {thread}: parked, {what} until {when} ({} committed)",
                    plural(run.step, "step")
                );
                if let Some(error) = &run.error {
                    eprintln!("last error: {error}");
                }
                eprintln!(
                    "`savepoint resume {thread}` continues it then (or a running `savepoint serve` does)"
                );
            }
            RunStatus::Interrupted => {
                let question = run.interrupt.clone().unwrap_or(Value::Null);
                eprintln!("thread {thread}: parked, waiting for input: {question}");
                eprintln!("answer with `savepoint resume {thread} --input JSON`");
            }
            RunStatus::Cancelled => eprintln!("thread {thread}: cancelled"),
            _ => {
                eprintln!(
                    "thread {thread}: {} at step {} ({} committed)",
                    run.status,
                    run.step + 1,
                    plural(run.step, "step")
                );
                if let Some(error) = &run.error {
                    eprintln!("error: {error}");
                }
                eprintln!(
                    "fix the cause, then `savepoint resume {thread}` replays from the failed node"
                );
            }
        }
    }
    ExitCode::from(match run.status {
        RunStatus::Completed => EXIT_COMPLETED,
        RunStatus::Sleeping | RunStatus::Retrying | RunStatus::Interrupted => EXIT_PARKED,
        RunStatus::Cancelled => EXIT_CANCELLED,
        _ => EXIT_FAILED,
    })
}

/// `1 step`, `2 steps`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A JSON object given inline or as `@FILE`; `flag` names it in errors.
pub fn parse_object(input: &str, flag: &str) -> anyhow::Result<Map<String, Value>> {
    match parse_json(input, flag)? {
        Value::Object(map) => Ok(map),
        other => bail!("{flag} must be a JSON object (the run's initial state), not {other}"),
    }
}

/// Any JSON value given inline or as `@FILE`.
pub fn parse_json(input: &str, flag: &str) -> anyhow::Result<Value> {
    let (text, origin) = match input.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the {flag} file {path}"))?,
            format!("{flag} file {path}"),
        ),
        None => (input.to_string(), flag.to_string()),
    };
    serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))
}
