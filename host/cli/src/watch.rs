use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::run::{EXIT_CANCELLED, EXIT_COMPLETED, EXIT_FAILED, EXIT_PARKED};
use super::{EXIT_CODES, Global, events, output};
use savepoint_runtime::RuntimeError;
use savepoint_server::follow::{
    Followed, Follower, Position, Reading, Until, event_json, event_name,
};
use savepoint_store::{CheckpointStore, EventFilter, RunStatus, format_time};

/// How often `watch` and `logs --follow` look again when the database sends no notice
/// of new events (a SQLite file written by another process: every daemon and `resume`).
pub const POLL: Duration = Duration::from_millis(250);

/// Follow a run live: print its events as they are committed, one line each,
/// from its first, until the run completes, fails, is cancelled or parks
/// (sleeps, waits to retry, or waits for input). The exit code says which, as
/// `run`'s does.
///
/// Reads the database directly: no daemon is needed, and it works whichever
/// process (or host, on Postgres) executes the run.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct WatchArgs {
    /// The run's thread id.
    thread: String,
    /// Print one JSON object per event, as `events --json` gives an entry, with
    /// `thread`.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    store
        .existing_run(&args.thread)
        .await
        .map_err(RuntimeError::from)?;
    let filter = EventFilter {
        thread: Some(args.thread.clone()),
        workflow: None,
    };
    let mut follower = Follower::new(
        (*store).clone(),
        filter,
        Reading::Events,
        Until::FinishedOrParked,
        Position::default(),
        POLL,
    );
    let mut printed = 0;
    while let Some(batch) = follower.next().await? {
        let mut out = std::io::stdout().lock();
        for followed in batch {
            let Followed::Event(event) = followed else {
                continue;
            };
            if args.json {
                writeln!(out, "{}", output::json_line(&event_json(&event)))?;
                continue;
            }
            if printed == 0 {
                writeln!(out, "{:<24} {:>5}  {:<16}  DETAILS", "AT", "STEP", "EVENT")?;
            }
            printed += 1;
            writeln!(
                out,
                "{:<24} {:>5}  {:<16}  {}",
                format_time(event.at_ms),
                event.step,
                event_name(&event),
                events::details(&event.data)
            )?;
        }
        out.flush()?;
    }
    Ok(ExitCode::from(match follower.status() {
        Some(RunStatus::Completed) => EXIT_COMPLETED,
        Some(RunStatus::Cancelled) => EXIT_CANCELLED,
        Some(
            RunStatus::Sleeping | RunStatus::Retrying | RunStatus::Interrupted | RunStatus::Waiting,
        ) => EXIT_PARKED,
        // Failed, or deleted meanwhile.
        _ => EXIT_FAILED,
    }))
}
