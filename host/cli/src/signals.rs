use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;

/// List a run's mailbox: the signals sent to it (`savepoint signal`), oldest first,
/// with the step that received each (`-` while none has: it waits for a node that waits
/// for its name).
///
///   savepoint signals order-7
#[derive(Debug, Args)]
pub struct SignalsArgs {
    /// The run's thread id.
    thread: String,
    /// At most this many signals, the oldest.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit: usize,
    /// Print `{"signals": [{id, name, data, sent_at, delivered_step}, ...]}`, with each
    /// signal's whole data (a line of the table shows its first 200 characters).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: SignalsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let signals = store
        .signals(&args.thread, args.limit)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        output::print_json(&savepoint_server::view::signals(&signals));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if signals.is_empty() && args.limit > 0 {
        eprintln!(
            "thread {}: no signal sent yet (send one with: savepoint signal {} NAME --data JSON)",
            output::safe(&args.thread),
            output::safe(&args.thread)
        );
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<6} {:<20} {:<9} {:<20} DATA",
        "ID", "NAME", "RECEIVED", "SENT"
    )?;
    for signal in &signals {
        let received = signal
            .delivered_step
            .map_or("-".to_owned(), |step| format!("step {step}"));
        let sent = savepoint_store::format_time(signal.sent_at_ms);
        // A whole payload is `--json`'s: a line shows its first 200 characters.
        let data = signal.data.to_string();
        let data = match data.char_indices().nth(200) {
            None => output::safe(&data).into_owned(),
            Some((cut, _)) => format!("{}... ({} bytes)", output::safe(&data[..cut]), data.len()),
        };
        writeln!(
            out,
            "{:<6} {:<20} {:<9} {:<20} {data}",
            signal.id,
            output::safe(&signal.name),
            received,
            sent
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
