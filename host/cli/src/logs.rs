use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_server::view::JsonPage;
use savepoint_store::{CheckpointStore, Cursor, LOG_PAGE, format_time};

/// Print what a run's nodes logged (and printed), oldest first, a page at a
/// time.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run's thread id.
    thread: String,
    /// Lines per page: 1000 by default, at most 10000.
    #[arg(long, value_name = "N", value_parser = log_limit)]
    limit: Option<usize>,
    /// Start the page after this point: the cursor the previous page printed
    /// (its `next_cursor`).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<Cursor>,
    /// Print {"entries": [{step, node, attempt, level, message, at}], "next_cursor"},
    /// one line per entry as it is read.
    #[arg(long)]
    json: bool,
}

fn log_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    LOG_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let limit = args.limit.unwrap_or(LOG_PAGE.default);
    let mut page = store
        .logs_page(&args.thread, args.cursor, limit)
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
    while let Some(line) = page.next().await? {
        writeln!(
            out,
            "{}  step {:>4}  {:<16} attempt {}  {:<6} {}",
            format_time(line.at_ms),
            line.step,
            output::safe(&line.node),
            line.attempt,
            output::safe(&line.level),
            output::safe_lines(&line.message)
        )?;
    }
    out.flush()?;
    if let Some(cursor) = page.next_cursor() {
        let mut again = format!(
            "{} logs {} --cursor {cursor}",
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
