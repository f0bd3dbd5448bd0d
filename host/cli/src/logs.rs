use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::watch::POLL;
use super::{Global, output};
use savepoint_runtime::RuntimeError;
use savepoint_server::follow::{Followed, Follower, Position, Reading, Until, log_json};
use savepoint_server::view::JsonPage;
use savepoint_store::{
    AnyStore, CheckpointStore, Cursor, EventFilter, LOG_PAGE, LogLine, format_time,
};

/// Print what a run's nodes logged (and printed), oldest first, a page at a
/// time; with --follow, every line and then each new one as it is committed.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run's thread id.
    thread: String,
    /// Lines per page: 1000 by default, at most 10000.
    #[arg(long, value_name = "N", value_parser = log_limit, conflicts_with = "follow")]
    limit: Option<usize>,
    /// Start the page after this point: the cursor the previous page printed
    /// (its `next_cursor`).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<Cursor>,
    /// Print {"entries": [{step, node, attempt, level, message, at}], "next_cursor"},
    /// one line per entry as it is read (with --follow: one {step, node, attempt,
    /// level, message, at, thread, id} object per line).
    #[arg(long)]
    json: bool,
    /// Keep printing lines as they are committed (after those there are, or after
    /// --cursor), until the run completes, fails or is cancelled. Reads the database
    /// directly: no daemon is needed.
    #[arg(long)]
    follow: bool,
}

fn log_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    LOG_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    if args.follow {
        return follow(&store, &args).await;
    }
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
        print_line(&mut out, &line)?;
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

fn print_line(out: &mut impl Write, line: &LogLine) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  step {:>4}  {:<16} attempt {}  {:<6} {}",
        format_time(line.at_ms),
        line.step,
        output::safe(&line.node),
        line.attempt,
        output::safe(&line.level),
        output::safe_lines(&line.message)
    )
}

/// `logs --follow`: every line after the cursor, then each new one, until the run has
/// finished.
async fn follow(store: &AnyStore, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    store
        .existing_run(&args.thread)
        .await
        .map_err(RuntimeError::from)?;
    let filter = EventFilter {
        thread: Some(args.thread.clone()),
        workflow: None,
    };
    let at = Position {
        event: 0,
        log: args.cursor.map_or(0, Cursor::position),
    };
    let mut follower = Follower::new(
        store.clone(),
        filter,
        Reading::Logs,
        Until::Finished,
        at,
        POLL,
    );
    while let Some(batch) = follower.next().await? {
        let mut out = std::io::stdout().lock();
        for followed in batch {
            if let Followed::Log { thread, line } = followed {
                if args.json {
                    writeln!(out, "{}", output::json_line(&log_json(&thread, &line)))?;
                } else {
                    print_line(&mut out, &line)?;
                }
            }
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}
