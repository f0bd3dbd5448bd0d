use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_server::view::JsonPage;
use savepoint_store::{CheckpointStore, Cursor, EVENTS_PAGE, format_time};

/// List everything that happened to a run, oldest first, a page at a time:
/// created or forked, each step committed, each failed attempt (its error and
/// attempt number) and retry, sleeps and wake-ups, interrupts and their
/// answers, resumes, edits, upgrades, replays, cancels, and leases taken over
/// from a process that died.
///
/// Each event is written in the same transaction as the change it records, so
/// the list is what happened, in order. A crash mid-step shows as a lease taken
/// over, and the step's next call as the next attempt.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The run's thread id.
    thread: String,
    /// Events per page: 1000 by default, at most 10000.
    #[arg(long, value_name = "N", value_parser = events_limit)]
    limit: Option<usize>,
    /// Start the page after this point: the cursor the previous page printed
    /// (its `next_cursor`).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<Cursor>,
    /// Print {"entries": [{id, at, step, event, ...}], "next_cursor"}: each
    /// event's own fields beside id, at, step and event (its kind).
    #[arg(long)]
    json: bool,
}

fn events_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    EVENTS_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: EventsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let limit = args.limit.unwrap_or(EVENTS_PAGE.default);
    let mut page = store
        .events_page(&args.thread, args.cursor, limit)
        .await
        .map_err(RuntimeError::from)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = JsonPage::new(page);
        while let Some(chunk) = json.next_chunk().await? {
            output::write_json(&mut out, &chunk)?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut printed = 0;
    while let Some(event) = page.next().await? {
        if printed == 0 {
            writeln!(
                out,
                "{:>6}  {:<24} {:>5}  {:<16}  DETAILS",
                "ID", "AT", "STEP", "EVENT"
            )?;
        }
        printed += 1;
        writeln!(
            out,
            "{:>6}  {:<24} {:>5}  {:<16}  {}",
            event.id,
            format_time(event.at_ms),
            event.step,
            event.kind.as_str(),
            details(&event.data)
        )?;
    }
    out.flush()?;
    if let Some(cursor) = page.next_cursor() {
        let mut again = format!(
            "{} events {} --cursor {cursor}",
            output::savepoint(),
            output::shell_word(&args.thread)
        );
        if let Some(limit) = args.limit {
            again.push_str(&format!(" --limit {limit}"));
        }
        eprintln!("more: {again}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `node=fetch attempt=2 error="..."`, cut to a table column, safe to print.
pub(crate) fn details(data: &serde_json::Map<String, serde_json::Value>) -> String {
    let fields: Vec<String> = data
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| format!("{}={}", output::safe(key), output::one_line(value, 80)))
        .collect();
    output::cut(&fields.join(" "), 160)
}
