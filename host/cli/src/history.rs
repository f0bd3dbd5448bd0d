use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_base::units::format_size;
use savepoint_runtime::RuntimeError;
use savepoint_server::view::{JsonPage, json_patch};
use savepoint_store::{
    Branches, CheckpointStore, Cursor, HISTORY_PAGE, HistoryDetail, format_time,
};

/// List a run's checkpoints, newest first, a page at a time: step, node, the
/// component that produced it, and the state keys it changed with their sizes
/// (or, with --states, the whole state after it; with --diff, what it changed).
///
/// The current branch by default: after `savepoint resume ID --from-step N`
/// (a replay in place), the checkpoints after step N that the replay went back
/// before are superseded, and --all lists them too, after the current branch,
/// marked with their branch.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The run's thread id.
    thread: String,
    /// Checkpoints per page: 50 by default, at most 1000.
    #[arg(long, value_name = "N", value_parser = history_limit)]
    limit: Option<usize>,
    /// Start the page after this point: the cursor the previous page printed
    /// (its `next_cursor`).
    #[arg(long, value_name = "CURSOR")]
    cursor: Option<Cursor>,
    /// Include the whole state after each step. A page then also ends after
    /// 64 MiB of states.
    #[arg(long, conflicts_with = "diff")]
    states: bool,
    /// Show what each step changed as a JSON Patch (RFC 6902): `add` for a
    /// new key or an appended item, `replace` for a changed value, `remove`.
    #[arg(long)]
    diff: bool,
    /// Also list the checkpoints that replays in place superseded, branch by
    /// branch (newest first), after the current branch.
    #[arg(long)]
    all: bool,
    /// Print {"entries": [{checkpoint, parent, branch, superseded, step, node,
    /// next, changed, state?, diff?, component_digest, workflow_digest,
    /// created_at}], "next_cursor"}, one entry per line as it is read.
    #[arg(long)]
    json: bool,
}

fn history_limit(text: &str) -> Result<usize, String> {
    let limit = text.parse().map_err(|e| format!("{e}"))?;
    HISTORY_PAGE.check(Some(limit)).map_err(|e| e.to_string())
}

pub async fn main(global: &Global, args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let detail = match (args.states, args.diff) {
        (true, _) => HistoryDetail::WholeStates,
        (false, true) => HistoryDetail::Changes,
        (false, false) => HistoryDetail::ChangedKeys,
    };
    let branches = match args.all {
        true => Branches::All,
        false => Branches::Current,
    };
    let limit = args.limit.unwrap_or(HISTORY_PAGE.default);
    let mut page = store
        .history_page(&args.thread, args.cursor, limit, detail, branches)
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
    let last = if args.states { "STATE" } else { "CHANGED" };
    let mut printed = 0;
    while let Some(entry) = page.next().await? {
        if printed == 0 {
            let branch = if args.all { "BRANCH      " } else { "" };
            writeln!(
                out,
                "{branch}{:>5}  {:<16} {:<20} {:<24}  {last}",
                "STEP", "NODE", "COMPONENT", "CREATED"
            )?;
        }
        printed += 1;
        let detail = match &entry.state {
            Some(state) => output::one_line(state, 60),
            None => changed(&entry.changed),
        };
        let branch = match (args.all, entry.superseded) {
            (false, _) => String::new(),
            (true, false) => format!("{:<12}", entry.branch),
            (true, true) => format!("{:<12}", format!("{} superseded", entry.branch)),
        };
        writeln!(
            out,
            "{branch}{:>5}  {:<16} {:<20} {:<24}  {detail}",
            entry.step,
            output::safe(&node_column(&entry.node)),
            component(&entry.component_digest),
            format_time(entry.created_at_ms),
        )?;
        if let Some(changes) = &entry.changes {
            for op in json_patch(changes) {
                let value = match &op.value {
                    Some(value) => format!(" {}", output::one_line(value, 80)),
                    None => String::new(),
                };
                writeln!(
                    out,
                    "         {:<8} {}{value}",
                    op.op.as_str(),
                    output::safe(&op.path)
                )?;
            }
        }
    }
    out.flush()?;
    if printed == 0 && args.cursor.is_none() {
        println!(
            "thread \"{}\" has no checkpoints yet",
            output::safe(&args.thread)
        );
    }
    if let Some(cursor) = page.next_cursor() {
        let mut again = format!(
            "{} history {} --cursor {cursor}",
            output::savepoint(),
            output::shell_word(&args.thread)
        );
        if let Some(limit) = args.limit {
            again.push_str(&format!(" --limit {limit}"));
        }
        for (given, flag) in [
            (args.states, "--states"),
            (args.diff, "--diff"),
            (args.all, "--all"),
        ] {
            if given {
                again.push(' ');
                again.push_str(flag);
            }
        }
        eprintln!("more: {again}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The component that made a checkpoint: none (`-`) for a fork's first checkpoint and an
/// edit, which no node made.
/// A step's nodes (comma-separated), a fan-out's sends shortened (`double#0..#999
/// (1000 sends)`).
fn node_column(nodes: &str) -> String {
    let nodes: Vec<String> = nodes.split(',').map(str::to_owned).collect();
    output::collapse_sends(&nodes).join(",")
}

fn component(digest: &str) -> String {
    match digest {
        "" => "-".to_string(),
        digest => output::short_digest(digest),
    }
}

/// `count 2 B, text 4 MiB`, cut to a table column, safe to print.
fn changed(keys: &[(String, u64)]) -> String {
    let text = keys
        .iter()
        .map(|(key, bytes)| format!("{key} {}", format_size(*bytes)))
        .collect::<Vec<_>>()
        .join(", ");
    output::safe(&output::cut(&text, 60)).into_owned()
}
