use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};

use super::{Global, output};
use crate::runtime::StartRun;
use crate::store::{RunRecord, RunStatus};

/// Start a new run of a workflow and drive it until it completes or fails.
///
/// Progress (one line per committed step) goes to stderr; the final status
/// and state go to stdout. The exit code is 0 when the run completed and 1
/// when it failed; a failed or killed run continues with `savepoint resume`.
#[derive(Debug, Args)]
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
}

pub async fn main(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let workflow_path = args.workflow.display().to_string();
    let workflow_text = std::fs::read_to_string(&args.workflow)
        .with_context(|| format!("cannot read the workflow file {workflow_path}"))?;
    let input = parse_input(&args.input)?;
    let thread = match args.thread {
        Some(thread) => {
            check_thread_id(&thread)?;
            thread
        }
        None => new_thread_id(),
    };
    let store = global.open_store()?;
    let mut runtime = global.runtime(store)?;
    if let Some(observer) = output::progress(!args.quiet) {
        runtime = runtime.with_observer(observer);
    }
    // Validate before announcing the thread, so a bad file prints only its error.
    runtime.validate(&workflow_path, &workflow_text)?;
    if !args.quiet {
        eprintln!("thread {thread}: running {workflow_path}");
    }
    let run = runtime
        .start(StartRun {
            workflow_path,
            workflow_text,
            thread,
            input,
        })
        .await?;
    Ok(finish(&run, args.json))
}

/// Print the outcome of a run that `run` or `resume` drove.
pub fn finish(run: &RunRecord, json: bool) -> ExitCode {
    if json {
        output::print_json(&output::status_json(run));
    } else {
        match run.status {
            RunStatus::Completed => {
                eprintln!(
                    "thread {}: completed after {}",
                    run.thread,
                    plural(run.step, "step")
                );
                output::print_pretty(&Value::Object(run.state.clone()));
            }
            _ => {
                eprintln!(
                    "thread {}: {} at step {} ({} committed)",
                    run.thread,
                    run.status,
                    run.step + 1,
                    plural(run.step, "step")
                );
                if let Some(error) = &run.error {
                    eprintln!("error: {error}");
                }
                eprintln!(
                    "fix the cause, then `savepoint resume {}` replays from the failed node",
                    run.thread
                );
            }
        }
    }
    if run.status == RunStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `1 step`, `2 steps`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `--input`: a JSON object, inline or from `@FILE`.
fn parse_input(input: &str) -> anyhow::Result<Map<String, Value>> {
    let (text, origin) = match input.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the --input file {path}"))?,
            format!("--input file {path}"),
        ),
        None => (input.to_string(), "--input".to_string()),
    };
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))?;
    match value {
        Value::Object(map) => Ok(map),
        other => bail!(
            "{origin} must be a JSON object (the run's initial state), not {}",
            other
        ),
    }
}

fn check_thread_id(thread: &str) -> anyhow::Result<()> {
    if thread.is_empty()
        || thread.len() > 200
        || thread.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "invalid --thread {thread:?}: a thread id is 1 to 200 characters without spaces \
             or control characters"
        );
    }
    Ok(())
}

/// `run-<unix seconds, base 36>-<6 random hex digits>`.
fn new_thread_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let random = RandomState::new().hash_one(now.as_nanos()) & 0xff_ffff;
    format!("run-{}-{random:06x}", base36(now.as_secs()))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
