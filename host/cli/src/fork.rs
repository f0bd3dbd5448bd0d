use std::process::ExitCode;

use clap::Args;

use super::run::{Cap, parse_object};
use super::{Global, output};
use savepoint_runtime::{Edit, Fork};

/// Start a new run from a checkpoint of another run: the state after step N,
/// and the node(s) that came next there.
///
/// Nothing is copied that can be shared: the fork keeps the source's workflow
/// text, plugin versions and tags, and its state's large values are stored once
/// for both. Its first checkpoint (node `fork`) points to the source's
/// checkpoint. `--update` edits the fork's state as `savepoint update` would,
/// in the same transaction. The fork waits (`pending`) for a `savepoint serve`
/// daemon, or for `savepoint resume NEW` to run it here; the source is not
/// touched. A fork of a fork works.
///
/// Example: savepoint fork job-1 --step 3 --thread job-1-b --update
/// '{"limit":10}' --as-node plan
#[derive(Debug, Args)]
pub struct ForkArgs {
    /// The thread id of the run to fork.
    source: String,
    /// The step whose checkpoint the fork starts from (0: the source's input).
    /// `savepoint history SOURCE` lists them.
    #[arg(long, value_name = "N")]
    step: u64,
    /// The new run's thread id (it must not be taken).
    #[arg(long, value_name = "ID")]
    thread: String,
    /// Values to merge into the fork's state, with the workflow's reducers: a
    /// JSON object, or @FILE.
    #[arg(long, value_name = "JSON")]
    update: Option<String>,
    /// Merge --update as if this node had returned it, and go on where its
    /// `next` leads (without it, the fork goes on with the node(s) that came
    /// next in the source).
    #[arg(long, value_name = "NODE")]
    as_node: Option<String>,
    /// Print the new run's status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: ForkArgs) -> anyhow::Result<ExitCode> {
    let runtime = global.runtime(global.writable_store().await?)?;
    let edit = match (&args.update, &args.as_node) {
        (None, None) => None,
        (values, as_node) => {
            let values = match values {
                Some(text) => {
                    let source = runtime.load(&args.source).await?;
                    let cap = Cap::max_state(runtime.workflow_for(&source).await?.max_state);
                    parse_object(text, "--update", cap)?
                }
                None => Default::default(),
            };
            Some(Edit {
                values,
                as_node: as_node.clone(),
            })
        }
    };
    let fork = Fork {
        source: args.source.clone(),
        step: args.step,
        thread: args.thread.clone(),
        edit,
    };
    let run = runtime.fork(fork, "cli").await?;
    if args.json {
        output::print_json(&savepoint_server::view::status(&run));
    } else {
        eprintln!(
            "thread {}: forked from {} at step {}; next: {}",
            output::safe(&run.thread),
            output::safe(&args.source),
            args.step,
            output::next_nodes(&run.next)
        );
    }
    if runtime.serving_daemons().await.is_ok_and(|d| d.is_empty()) {
        eprintln!(
            "it waits for a savepoint serve daemon, or run it here with {} resume {}",
            output::savepoint(),
            output::shell_word(&run.thread)
        );
    }
    Ok(ExitCode::SUCCESS)
}
