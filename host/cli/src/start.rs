use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use savepoint_runtime::RuntimeError;
use savepoint_workflow::Workflow;

use super::Global;
use super::batch::{self, BatchFile, BatchStart};
use super::run::{Cap, start_request};

/// Create a run for a `savepoint serve` daemon to execute, and return at once.
///
/// The run is stored as `pending`; a daemon on the same database picks it up
/// within a moment. Prints the thread id (or the status with `--json`). When no
/// daemon serves the database (none has renewed its record within a lease),
/// says so on stderr: the run then waits until one starts, or until
/// `savepoint resume ID` runs it in the foreground.
///
/// With --batch FILE, creates one run per line of FILE (`-`: standard input),
/// each line a JSON object, that run's input (blank lines are skipped). Every
/// line is checked before any run is created; the runs are created a few
/// thousand per transaction. Their threads are PREFIX-1, PREFIX-2, ... in line
/// order (PREFIX: --thread, or a new id); --tag applies to every run. Prints one
/// summary line (`--json`: {"created": N, "threads": [...]}).
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
    /// The run's thread id [default: a new id, printed]; with --batch, the
    /// prefix of the runs' threads.
    #[arg(long)]
    thread: Option<String>,
    /// The initial state: a JSON object, or @FILE to read it from a file; at most
    /// the workflow's max_state (default 4 MiB).
    #[arg(long, default_value = "{}", conflicts_with = "batch")]
    input: String,
    /// A label for finding the run later (`runs --tag`), shown by `status`;
    /// repeat for more (at most 32, one value per key).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = super::run::tag_arg)]
    tags: Vec<(String, String)>,
    /// Print the new run's status as one JSON object.
    #[arg(long)]
    json: bool,
    /// Create one run per line of FILE (`-`: standard input), each line a JSON
    /// object: that run's input.
    #[arg(long, value_name = "FILE")]
    batch: Option<String>,
}

pub async fn main(global: &Global, args: StartArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.batch {
        return start_batch(
            global,
            file,
            args.workflow,
            args.thread,
            args.tags,
            args.json,
        )
        .await;
    }
    let start = start_request(&args.workflow, args.thread, &args.input, args.tags)?;
    let runtime = global.runtime(global.writable_store().await?)?;
    let run = runtime.create(start).await?;
    if args.json {
        super::output::print_json(&savepoint_server::view::status(&run));
    } else {
        println!("{}", super::output::safe(&run.thread));
    }
    no_daemon_note(global, &runtime, Created::Run(&run.thread)).await;
    Ok(ExitCode::SUCCESS)
}

/// `start --batch FILE`: every line checked first, then the runs created.
async fn start_batch(
    global: &Global,
    file: &str,
    workflow: PathBuf,
    thread: Option<String>,
    tags: Vec<(String, String)>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    // The workflow file, the tags and the prefix are checked as for one run.
    let template = start_request(&workflow, thread.clone(), "{}", tags)?;
    let file = BatchFile::read(file)?;
    let cap = Cap::max_state(max_state(&template)?);
    let count = file.check(cap)?;
    let prefix = thread.unwrap_or_else(batch::generated_prefix);
    batch::check_prefix(&prefix, count)?;
    let runtime = global.runtime(global.writable_store().await?)?;
    let shared = runtime
        .batch(template.workflow_path, template.workflow_text)
        .await?;
    let start = BatchStart {
        file,
        prefix,
        tags: template.tags,
        cap,
        json,
    };
    batch::create(&runtime, &shared, &start, count).await?;
    no_daemon_note(global, &runtime, Created::Batch).await;
    Ok(ExitCode::SUCCESS)
}

/// The `max_state` of the workflow `start` names (its file parsed already).
fn max_state(start: &savepoint_runtime::StartRun) -> anyhow::Result<u64> {
    Ok(
        Workflow::parse_unfinished(&start.workflow_path, &start.workflow_text)
            .map(|workflow| workflow.max_state)
            .or_else(|unfinished| match unfinished.nodes {
                Some(nodes) => Ok(nodes.max_state),
                None => Err(RuntimeError::Workflow(unfinished.problems)),
            })?,
    )
}

/// What waits for a daemon, for [`no_daemon_note`].
enum Created<'a> {
    /// One run, with this thread.
    Run(&'a str),
    /// The runs of a batch.
    Batch,
}

async fn no_daemon_note<S: savepoint_store::CheckpointStore>(
    global: &Global,
    runtime: &savepoint_runtime::Runtime<S>,
    created: Created<'_>,
) {
    // Nothing executes a pending run but a daemon: say so rather than leave it waiting
    // without a word. (A failed look-up is no reason to fail: the run exists.)
    if !runtime.serving_daemons().await.is_ok_and(|d| d.is_empty()) {
        return;
    }
    let db = global.db.to_string();
    let db = super::output::safe(&db);
    match created {
        Created::Run(thread) => eprintln!(
            "no savepoint serve is running on {db}; the run waits until one starts, or run \
             it here with {} resume {}",
            super::output::savepoint(),
            super::output::shell_word(thread)
        ),
        Created::Batch => {
            eprintln!("no savepoint serve is running on {db}; the runs wait until one starts")
        }
    }
}
