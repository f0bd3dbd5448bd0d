use std::process::ExitCode;

use clap::Args;

use super::run::{Cap, parse_json};
use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;

/// Send a named signal to a run: it goes into the run's mailbox, in order, and is
/// delivered once, to the node that waits for that name (`wait-signal`), now or when it
/// next waits.
///
/// A run that waits for the signal wakes at once: a running `savepoint serve` (or a
/// `savepoint run --wait` in another terminal) goes on with it; without one, `savepoint
/// resume THREAD` does. A completed or cancelled run takes no signal (exit 6); a failed
/// one keeps it for when it is resumed.
///
///   savepoint signal order-7 approved --data '{"by": "ada"}'
#[derive(Debug, Args)]
pub struct SignalArgs {
    /// The run's thread id.
    thread: String,
    /// The signal's name, as the node waits for it (e.g. `go`).
    name: String,
    /// What the signal carries: JSON inline, or `@FILE` (default: null), at most the
    /// run's workflow's max_state.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// Print the signal as one JSON object: id, name, data, sent_at, delivered_step.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: SignalArgs) -> anyhow::Result<ExitCode> {
    if let Err(problem) = savepoint_server::check_signal_name(&args.name) {
        return Err(super::error::Failure::usage(problem).into());
    }
    let store = global.existing_store().await?;
    store.check_writable().await?;
    let runtime = global.runtime(store.clone())?;
    let run = runtime.load(&args.thread).await?;
    let data = match &args.data {
        Some(text) => {
            let cap = Cap::max_state(runtime.workflow_for(&run).await?.max_state);
            parse_json(text, "--data", cap)?
        }
        None => serde_json::Value::Null,
    };
    let signal = store
        .send_signal(&args.thread, &args.name, data)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        output::print_json(&savepoint_server::view::signal(&signal));
    } else {
        let waiting = matches!(
            &run.waiting,
            Some(savepoint_store::Wait::Signal { name, .. }) if *name == args.name
        );
        eprintln!(
            "thread {}: signal {} sent (#{}){}",
            output::safe(&run.thread),
            output::safe(&format!("{:?}", args.name)),
            signal.id,
            if waiting {
                "; the run was waiting for it and goes on"
            } else {
                "; kept in the run's mailbox until a node waits for it"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
