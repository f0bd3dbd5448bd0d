use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Global;
use super::run::start_request;

/// Create a run for a `savepoint serve` daemon to execute, and return at once.
///
/// The run is stored as `pending`; a daemon on the same database picks it up
/// within a moment. Prints the thread id (or the status with `--json`). When no
/// daemon serves the database (none has renewed its record within a lease),
/// says so on stderr: the run then waits until one starts, or until
/// `savepoint resume ID` runs it in the foreground.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The workflow file (TOML).
    workflow: PathBuf,
    /// The run's thread id [default: a new id, printed].
    #[arg(long)]
    thread: Option<String>,
    /// The initial state: a JSON object, or @FILE to read it from a file; at most
    /// the workflow's max_state (default 4 MiB).
    #[arg(long, default_value = "{}")]
    input: String,
    /// A label for finding the run later (`runs --tag`), shown by `status`;
    /// repeat for more (at most 32, one value per key).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = super::run::tag_arg)]
    tags: Vec<(String, String)>,
    /// Print the new run's status as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: StartArgs) -> anyhow::Result<ExitCode> {
    let start = start_request(&args.workflow, args.thread, &args.input, args.tags)?;
    let runtime = global.runtime(global.writable_store().await?)?;
    let run = runtime.create(start).await?;
    if args.json {
        super::output::print_json(&savepoint_server::view::status(&run));
    } else {
        println!("{}", super::output::safe(&run.thread));
    }
    // Nothing executes a pending run but a daemon: say so rather than leave it waiting
    // without a word. (A failed look-up is no reason to fail: the run exists.)
    if runtime.serving_daemons().await.is_ok_and(|d| d.is_empty()) {
        eprintln!(
            "no savepoint serve is running on {}; the run waits until one starts, or run \
             it here with {} resume {}",
            super::output::safe(&global.db.to_string()),
            super::output::savepoint(),
            super::output::shell_word(&run.thread)
        );
    }
    Ok(ExitCode::SUCCESS)
}
