use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{Failure, Global};
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;

/// Write a run bundle: the run's history, state, logs, workflow texts and the
/// bytes of the component versions it is pinned to, as one file (a SQLite
/// database) that `savepoint import` recreates the run from, here or on
/// another machine.
///
///   savepoint export job-1 > job-1.bundle
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run's thread id.
    thread: String,
    /// Write the bundle to this file instead of standard output (a bundle is binary:
    /// export refuses to write it to a terminal).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print {"thread", "file", "bytes", "status", "step"} on one line (needs --output).
    #[arg(long, requires = "output")]
    json: bool,
}

/// Recreate a run from a bundle written by `savepoint export`; it goes on
/// with `savepoint resume` (or a `serve` daemon) from its last checkpoint,
/// with the component versions in the bundle.
///
///   savepoint import job-1.bundle
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle file, or - for standard input (a FILE that does not exist is a usage
    /// error, exit 2).
    bundle: PathBuf,
    /// Print the imported run's status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
}

pub async fn export(global: &Global, args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!(Failure::usage(
            "a bundle is binary: write it with -o FILE or redirect stdout"
        ));
    }
    let store = global.existing_store().await?;
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let file = scratch.path().join("run.bundle");
    store
        .export_run(&args.thread, &file)
        .await
        .map_err(RuntimeError::from)?;
    let bytes = std::fs::read(&file).context("cannot read the bundle back")?;
    match &args.output {
        // A folder that is not there is no missing run (exit 5): the disk is what to fix.
        Some(path) => std::fs::write(path, &bytes).map_err(|error| {
            Failure::environment(format!("cannot write {}: {error}", path.display()))
        })?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    if args.json {
        let run = store
            .existing_run(&args.thread)
            .await
            .map_err(RuntimeError::from)?;
        let file = args.output.as_deref().unwrap_or(Path::new("-"));
        super::output::print_json(&serde_json::json!({
            "thread": args.thread,
            "file": file.display().to_string(),
            "bytes": bytes.len(),
            "status": run.status.as_str(),
            "step": run.step,
        }));
    } else {
        eprintln!(
            "thread {}: exported ({} bytes)",
            super::output::safe(&args.thread),
            bytes.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn import(global: &Global, args: ImportArgs) -> anyhow::Result<ExitCode> {
    // Work on a copy: importing brings an older bundle up to this schema.
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let file = scratch.path().join("run.bundle");
    let mut source: Box<dyn Read> = if args.bundle.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        // As a missing --input @FILE: the command line names what is not there (usage,
        // exit 2; exit 5 stays "no such run").
        Box::new(std::fs::File::open(&args.bundle).map_err(|error| {
            let message = format!("cannot read {}: {error}", args.bundle.display());
            match error.kind() {
                std::io::ErrorKind::NotFound => Failure::usage(message),
                _ => Failure::environment(message),
            }
        })?)
    };
    // Check the header before copying anything, and copy without holding the
    // bundle in memory (`import /dev/zero` stops at the header).
    const MAGIC: &[u8] = b"SQLite format 3\0";
    let mut head = Vec::with_capacity(MAGIC.len());
    (&mut source)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    if head != MAGIC {
        anyhow::bail!(super::Failure::invalid(format!(
            "{} is not a run bundle (write one with `{} export ID > FILE`)",
            super::output::safe(&args.bundle.display().to_string()),
            super::output::savepoint()
        )));
    }
    let mut out = std::fs::File::create(&file).context("cannot write a temporary file")?;
    out.write_all(&head)?;
    std::io::copy(&mut source, &mut out)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    drop(out);
    let store = global.open_store().await?;
    let thread = store
        .import_run(&file)
        .await
        .map_err(|e| -> anyhow::Error {
            match RuntimeError::from(e) {
                // Said for a bundle: the runtime's words (resume it, or pick another thread
                // id) are for a new run, and a bundle's thread id is not the user's choice.
                RuntimeError::ThreadExists { thread, status } => super::Failure::conflict(format!(
                    "thread \"{thread}\" is in {} already (status: {status}); nothing was imported",
                    global.db
                ))
                .with_details(serde_json::json!({ "thread": thread, "status": status.as_str() }))
                .into(),
                other => other.into(),
            }
        })?;
    let run = store
        .existing_run(&thread)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        super::output::print_json(&savepoint_server::view::status(&run));
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", super::output::safe(&thread));
    eprintln!(
        "thread {}: imported at step {} ({}); continue it with `{} resume {}`",
        super::output::safe(&thread),
        run.step,
        run.status,
        super::output::savepoint(),
        super::output::shell_word(&thread)
    );
    Ok(ExitCode::SUCCESS)
}
