use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;

use super::run::{Cap, Ending, finish, parse_json, plural};
use super::{EXIT_CODES, Global, output};
use savepoint_runtime::Event;
use serde_json::Value;

use savepoint_store::{CheckpointStore, RunStatus, StoreError};

/// Continue a run in the foreground from its last checkpoint.
///
/// A run whose process was killed continues with the node after its last
/// committed checkpoint; a failed run replays the node it failed at, with the
/// last committed state and a fresh retry budget; an interrupted run needs
/// `--input`, the answer its node receives; a sleeping or retrying run is
/// continued when it is due (this command waits). Nothing before the last
/// checkpoint runs again, and the run keeps the workflow text and the plugin
/// versions it started with, unless `--upgrade` moves it to the current ones.
///
/// `--from-step N` replays the run in place from an earlier step instead: it
/// goes back to its checkpoint after step N (0: its input) on a new branch and
/// runs on from there. The checkpoints after step N stay in `history --all`,
/// superseded; `history`, `state` and `state --step` show the new branch.
/// A completed run that `savepoint update` gave a next node goes on from there.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ResumeArgs {
    /// The run's thread id.
    thread: String,
    /// The answer to an interrupt: any JSON value, or @FILE; at most the run's
    /// workflow's max_state (default 4 MiB).
    #[arg(long)]
    input: Option<String>,
    /// Print the final status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
    /// Do not print progress (nor the line that says a plugin is being compiled).
    #[arg(long, short)]
    quiet: bool,
    /// Keep going through later sleeps and retry waits too, instead of
    /// exiting when the run parks again.
    #[arg(long)]
    wait: bool,
    /// First move the run to its workflow file and the plugins folder's
    /// files as they are now (from its next step on; its history keeps the
    /// versions that made it). Refused, changing nothing, if the nodes it
    /// goes on with are gone from the workflow or a plugin cannot be loaded.
    #[arg(long)]
    upgrade: bool,
    /// Replay in place from the checkpoint after this step (0: the input):
    /// the later checkpoints are kept, superseded, and the run goes on from
    /// there. `savepoint history ID` lists the steps.
    #[arg(long, value_name = "N", conflicts_with = "input")]
    from_step: Option<u64>,
}

pub async fn main(global: &Global, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let thread = args.thread.clone();
    let store = global.existing_store().await?;
    match resume(global, args, store.clone()).await {
        Err(error) if is_leased(&error) => Err(with_status(error, &*store, &thread).await),
        done => done,
    }
}

fn is_leased(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Leased { .. })
        ) || matches!(
            cause.downcast_ref::<savepoint_runtime::RuntimeError>(),
            Some(savepoint_runtime::RuntimeError::Store(
                StoreError::Leased { .. }
            ))
        )
    })
}

/// A refusal because another process executes the run, with the run's status in its
/// details ({thread, status, owner}) for a script that waits for it.
async fn with_status(
    error: anyhow::Error,
    store: &impl CheckpointStore,
    thread: &str,
) -> anyhow::Error {
    let mut failure = super::classify(&error);
    if let (Some(Value::Object(details)), Ok(Some(run))) =
        (&mut failure.details, store.load_run(thread).await)
    {
        details.insert("status".into(), run.status.as_str().into());
    }
    failure.into()
}

async fn resume(
    global: &Global,
    args: ResumeArgs,
    store: Arc<savepoint_store::AnyStore>,
) -> anyhow::Result<ExitCode> {
    store.check_writable().await?;
    let mut runtime = global.runtime_quiet(store, args.quiet)?;
    // The answer is capped at the max_state of the run's workflow.
    let input = match &args.input {
        Some(text) => {
            let run = runtime.load(&args.thread).await?;
            let cap = Cap::max_state(runtime.workflow_for(&run).await?.max_state);
            Some(parse_json(text, "--input", cap)?)
        }
        None => None,
    };
    if let Some(step) = args.from_step {
        let run = runtime.replay(&args.thread, step, "cli").await?;
        if !args.quiet {
            eprintln!(
                "thread {}: replaying from step {step} on branch {}",
                output::safe(&run.thread),
                run.branch
            );
        }
    }
    // Refused before anything changes or is announced; `Event::Resuming`
    // says "resuming" once the run is taken over.
    let before = runtime.resumable(&args.thread, input.as_ref()).await?;
    // Whether a step was tried (committed, or set back) in this process.
    let ran = Arc::new(AtomicBool::new(false));
    if let Some(progress) = output::progress(!args.quiet) {
        let ran = ran.clone();
        runtime = runtime.with_observer(Arc::new(move |event: &Event| {
            if matches!(event, Event::Committed { .. } | Event::Setback { .. }) {
                ran.store(true, Ordering::Relaxed);
            }
            progress(event);
        }));
    }
    if args.upgrade {
        let report = runtime.upgrade(&args.thread).await?;
        if !args.quiet {
            print_upgrade(&report);
        }
    }
    let run = runtime
        .resume(&args.thread, input, super::run::wait_flag(args.wait))
        .await?;
    let tried = ran.load(Ordering::Relaxed);
    if !args.quiet && !tried && run.step == before.step && run.status == before.status {
        eprintln!(
            "thread {}: nothing ran ({} committed, still {})",
            output::safe(&run.thread),
            plural(run.step, "step"),
            run.status
        );
    }
    let attempt = match before.status == RunStatus::Failed && run.step == before.step {
        true => super::run::Attempt::Again,
        false => super::run::Attempt::First,
    };
    let ending = Ending::of(&runtime, &run, attempt).await;
    Ok(finish(&run, args.json, &ending))
}

fn print_upgrade(report: &savepoint_runtime::UpgradeReport) {
    let (old, new) = &report.workflow;
    let workflow = if old == new {
        format!("workflow unchanged ({})", output::short_digest(new))
    } else {
        format!(
            "workflow {} -> {}",
            output::short_digest(old),
            output::short_digest(new)
        )
    };
    eprintln!(
        "thread {}: upgraded: {workflow}",
        output::safe(&report.thread)
    );
    for (plugin, old, new) in &report.plugins {
        let old = old
            .as_deref()
            .map_or("(unpinned)".to_string(), output::short_digest);
        eprintln!(
            "  plugin {}: {old} -> {}",
            output::safe(plugin),
            output::short_digest(new)
        );
    }
}
