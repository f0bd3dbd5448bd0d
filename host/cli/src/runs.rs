use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{Global, output};
use savepoint_base::units::parse_duration;
use savepoint_store::{
    CheckpointStore, Clock, Cursor, RUNS_PAGE, RunFilter, RunStatus, RunsPage, SystemClock,
    format_time,
};

/// List the runs in the database, newest first (the latest 100 unless --limit
/// says otherwise), or those that match every filter given.
///
/// A listing is a page: when more runs match, it ends with the --cursor that
/// lists the next ones (runs created meanwhile never shift a page).
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs with this status (pending, running, sleeping, interrupted,
    /// retrying, completed, failed, cancelled).
    #[arg(long)]
    status: Option<RunStatus>,
    /// Only runs of this workflow (its `name`).
    #[arg(long, value_name = "NAME")]
    workflow: Option<String>,
    /// Only runs tagged KEY=VALUE when created (`start --tag`); repeat to ask for
    /// several tags at once.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = super::run::tag_arg)]
    tags: Vec<(String, String)>,
    /// Only runs created within this long before now, e.g. 2d, 12h, 30m.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<Duration>,
    /// Only runs whose thread id starts with PREFIX (case matters; no wildcards).
    #[arg(long = "thread", value_name = "PREFIX")]
    thread_prefix: Option<String>,
    /// Only the child runs of this run (those its sub-workflow nodes created).
    #[arg(long, value_name = "THREAD")]
    parent: Option<String>,
    /// How many runs to list: 100 by default, at most 10000.
    #[arg(long, value_name = "N", value_parser = runs_limit)]
    limit: Option<usize>,
    /// Continue a listing: the next_cursor a previous page printed (with the same
    /// filters).
    #[arg(long, value_name = "C")]
    cursor: Option<Cursor>,
    /// Print one JSON object: {runs: [{thread, workflow, status, step, tags,
    /// created_at, updated_at, parent}], next_cursor} (next_cursor null on the last
    /// page).
    #[arg(long)]
    json: bool,
}

fn runs_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    RUNS_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let limit = args.limit.unwrap_or(RUNS_PAGE.default);
    let filter = RunFilter {
        parent: args.parent.clone(),
        status: args.status,
        workflow: args.workflow.clone(),
        tags: args.tags.clone(),
        created_since_ms: args.since.map(|since| {
            let since = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
            SystemClock.now_ms().saturating_sub(since)
        }),
        thread_prefix: args.thread_prefix.clone(),
    };
    // No database holds no runs: a script that lists runs gets none, not an error (and
    // nothing is created). Only a person is told where savepoint looked.
    let page = if global.database_exists().await? {
        global
            .existing_store()
            .await?
            .list_runs(&filter, args.cursor, limit)
            .await?
    } else {
        if !args.json {
            eprintln!(
                "no runs: no database at {}",
                output::safe(&global.db.to_string())
            );
        }
        RunsPage {
            runs: Vec::new(),
            next_cursor: None,
        }
    };
    if args.json {
        output::print_json(&savepoint_server::view::runs_page(&page));
        return Ok(ExitCode::SUCCESS);
    }
    // A PARENT column only when the page holds a child run: listings without
    // sub-workflows read as they always did.
    let family = page.runs.iter().any(|run| run.parent.is_some());
    let parent_header = if family {
        "PARENT                    "
    } else {
        ""
    };
    println!(
        "{:<24} {:<16} {:<12} {:>5}  {:<24}  {parent_header}TAGS",
        "THREAD", "WORKFLOW", "STATUS", "STEP", "CREATED"
    );
    for run in &page.runs {
        let parent = match (family, &run.parent) {
            (false, _) => String::new(),
            (true, Some(parent)) => format!("{:<24}  ", output::safe(parent)),
            (true, None) => format!("{:<24}  ", "-"),
        };
        println!(
            "{:<24} {:<16} {:<12} {:>5}  {:<24}  {parent}{}",
            output::safe(&run.thread),
            output::safe(&run.workflow_name),
            run.status.as_str(),
            run.step,
            format_time(run.created_at_ms),
            output::tag_list(&run.tags)
        );
    }
    if let Some(cursor) = page.next_cursor {
        eprintln!("more: {}", next_page(&args, cursor));
    }
    Ok(ExitCode::SUCCESS)
}

/// The command that lists the next page: this one's filters, and the cursor.
fn next_page(args: &RunsArgs, cursor: Cursor) -> String {
    let mut words = vec![output::savepoint(), "runs".to_string()];
    if let Some(status) = args.status {
        words.extend(["--status".to_string(), status.to_string()]);
    }
    if let Some(workflow) = &args.workflow {
        words.extend(["--workflow".to_string(), output::shell_word(workflow)]);
    }
    for (key, value) in &args.tags {
        words.extend([
            "--tag".to_string(),
            output::shell_word(&format!("{key}={value}")),
        ]);
    }
    if let Some(since) = args.since {
        let since = savepoint_base::units::format_duration(since);
        words.extend(["--since".to_string(), since]);
    }
    if let Some(prefix) = &args.thread_prefix {
        words.extend(["--thread".to_string(), output::shell_word(prefix)]);
    }
    if let Some(parent) = &args.parent {
        words.extend(["--parent".to_string(), output::shell_word(parent)]);
    }
    if let Some(limit) = args.limit {
        words.extend(["--limit".to_string(), limit.to_string()]);
    }
    words.extend(["--cursor".to_string(), cursor.to_string()]);
    words.join(" ")
}
