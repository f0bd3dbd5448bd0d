use std::process::ExitCode;

use clap::Args;

use super::run::{Cap, parse_object};
use super::{Global, output};
use savepoint_runtime::Edit;
use savepoint_store::RunStatus;

/// Edit a run's state by hand: the values are merged with the workflow's
/// reducers as if a node had returned them.
///
/// The edit is a checkpoint of its own (node `update`, or the --as-node),
/// so it shows in `history` and can be forked from. With --as-node NODE the
/// run then goes on where NODE's `next` leads (a node with `routes` chooses
/// its route itself and cannot be stood in for); without it, the next node
/// stays. The status stays too: `savepoint resume` continues a failed,
/// interrupted or completed run from the edited state (a completed run goes
/// on if the edit gave it a next node). A run that a process executes now is
/// refused.
///
/// Example: savepoint update job-1 --values '{"count":100}' --as-node fetch
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The run's thread id.
    thread: String,
    /// The values to merge: a JSON object, or @FILE; at most the workflow's
    /// max_state.
    #[arg(long, value_name = "JSON")]
    values: String,
    /// Merge as if this node had returned the values, and go on where its
    /// `next` leads.
    #[arg(long, value_name = "NODE")]
    as_node: Option<String>,
    /// Print the run's status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: UpdateArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    store.check_writable().await?;
    let runtime = global.runtime(store)?;
    let run = runtime.load(&args.thread).await?;
    let cap = Cap::max_state(runtime.workflow_for(&run).await?.max_state);
    let edit = Edit {
        values: parse_object(&args.values, "--values", cap)?,
        as_node: args.as_node,
    };
    let run = runtime.update(&args.thread, edit, "cli").await?;
    if args.json {
        output::print_json(&savepoint_server::view::status(&run));
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "thread {}: state edited at step {} (status {}); next: {}",
        output::safe(&run.thread),
        run.step,
        run.status,
        output::next_nodes(&run.next)
    );
    // A parked run goes on by itself (or needs its answer); these need a resume.
    let finished = matches!(run.status, RunStatus::Completed | RunStatus::Failed);
    if finished && !run.next.is_empty() {
        eprintln!(
            "continue it with {} resume {}",
            output::savepoint(),
            output::shell_word(&run.thread)
        );
    }
    Ok(ExitCode::SUCCESS)
}
