use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Map, Value};

use super::{EXIT_CODES, Failure, Global, output};
use savepoint_base::tags::{parse_tag, tag_set};
use savepoint_base::units::format_size;
use savepoint_runtime::{
    RuntimeError, StartRun, UpgradeProblem, Wait, check_thread_id, is_fatal_failure, new_thread_id,
};
use savepoint_store::{RunRecord, RunStatus, format_time};
use savepoint_workflow::{MAX_WORKFLOW_FILE, Unfinished, Workflow};

/// Exit codes of `run` and `resume` (documented in their `--help`).
pub const EXIT_COMPLETED: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_PARKED: u8 = 3;
pub const EXIT_CANCELLED: u8 = 4;

/// Start a new run of a workflow and drive it in the foreground.
///
/// Progress (one line per committed step) goes to stderr; the final state
/// (or `--json` status) goes to stdout. When the run parks (a node sleeps,
/// asks a human, or waits to retry) `run` says so and exits with code 3;
/// `savepoint resume` continues it later.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// The workflow file (TOML), e.g. examples/workflows/chain.toml.
    workflow: PathBuf,
    /// The run's thread id, the name to resume and inspect it by [default: a new id, printed].
    #[arg(long)]
    thread: Option<String>,
    /// The initial state: a JSON object, or @FILE to read it from a file; at most
    /// the workflow's max_state (default 4 MiB).
    #[arg(long, default_value = "{}")]
    input: String,
    /// A label for finding the run later (`runs --tag`), shown by `status`;
    /// repeat for more (at most 32, one value per key).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = tag_arg)]
    tags: Vec<(String, String)>,
    /// Print the final status as one JSON object (as `status --json`).
    #[arg(long)]
    json: bool,
    /// Do not print progress (nor the line that says a plugin is being compiled).
    #[arg(long, short)]
    quiet: bool,
    /// Keep going through sleeps and retry waits in the foreground instead of
    /// exiting when the run parks (an interrupt still ends the command).
    #[arg(long)]
    wait: bool,
}

pub async fn main(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let start = start_request(&args.workflow, args.thread, &args.input, args.tags)?;
    let store = global.writable_store().await?;
    let mut runtime = global.runtime_quiet(store, args.quiet)?;
    if let Some(observer) = output::progress(!args.quiet) {
        runtime = runtime.with_observer(observer);
    }
    // The run announces itself (`Event::Started`) once it exists: a bad file
    // or config prints only its error.
    let run = runtime.start(start, wait_flag(args.wait)).await?;
    let ending = Ending::of(&runtime, &run, Attempt::First).await;
    Ok(finish(&run, args.json, &ending))
}

/// How far `--wait` (or its absence) drives the run in the foreground.
pub(crate) fn wait_flag(wait: bool) -> Wait {
    match wait {
        true => Wait::UntilDone,
        false => Wait::UntilParked,
    }
}

/// `--tag KEY=VALUE`, checked as the API checks `"tags"` (`savepoint_base::tags`).
pub(crate) fn tag_arg(text: &str) -> Result<(String, String), String> {
    parse_tag(text).map_err(|error| error.to_string())
}

/// Read the workflow file and the input, check the tags, and pick the thread id.
pub fn start_request(
    workflow: &Path,
    thread: Option<String>,
    input: &str,
    tags: Vec<(String, String)>,
) -> anyhow::Result<StartRun> {
    let tags = tag_set(tags).map_err(|error| Failure::usage(format!("--tag: {error}")))?;
    let workflow_path = workflow.display().to_string();
    let workflow_text = read_workflow(workflow)?;
    // The input is capped at the workflow's max_state: parse the file first.
    // (A file with problems is refused when the run is created, with the
    // problems of its nodes' plugins too.)
    let max_state = match Workflow::parse_unfinished(&workflow_path, &workflow_text) {
        Ok(workflow) => workflow.max_state,
        Err(Unfinished {
            nodes: Some(nodes), ..
        }) => nodes.max_state,
        Err(Unfinished { problems, .. }) => bail!(RuntimeError::Workflow(problems)),
    };
    let input = parse_object(input, "--input", Cap::max_state(max_state))?;
    let thread = match thread {
        Some(thread) => {
            check_thread_id(&thread)
                .map_err(|problem| Failure::usage(format!("--thread: {problem}")))?;
            thread
        }
        None => new_thread_id(),
    };
    Ok(StartRun {
        workflow_path,
        workflow_text,
        thread,
        input,
        tags,
    })
}

/// What `run` and `resume` know beyond the run's record, for the lines they
/// print when it failed.
#[derive(Debug, Default)]
pub struct Ending {
    /// `resume` replayed the step the run had failed at, and it failed again.
    pub again: bool,
    /// What the run is pinned to that the files no longer match (see
    /// [`savepoint_runtime::Runtime::changed_since_pinned`]).
    pub changed: Vec<String>,
    /// When something changed: whether `resume --upgrade` would take the
    /// files as they are now, or why not (see
    /// [`savepoint_runtime::Runtime::upgrade_check`]).
    pub upgrade: Option<Result<(), RuntimeError>>,
}

/// Whether the step a run failed at failed before this command ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The first time this command saw the run fail there (`run`, `status`).
    First,
    /// `resume` replayed the step the run had failed at, and it failed again.
    Again,
}

impl Ending {
    /// For `run` as `runtime` drove it; `attempt` says whether it failed
    /// [`Attempt::Again`]. Only a failed run looks at the files.
    pub async fn of<S: savepoint_store::CheckpointStore>(
        runtime: &savepoint_runtime::Runtime<S>,
        run: &RunRecord,
        attempt: Attempt,
    ) -> Ending {
        if run.status != RunStatus::Failed {
            return Ending::default();
        }
        let changed = runtime.changed_since_pinned(run).await;
        // A hint names the upgrade only when it would be accepted.
        let upgrade = match changed.is_empty() {
            true => None,
            false => Some(runtime.upgrade_check(run).await.map(|_| ())),
        };
        Ending {
            again: attempt == Attempt::Again,
            changed,
            upgrade,
        }
    }
}

/// The way on for a failed run: the command that replays the failed node, and
/// when the fix is in what the run is pinned to (its workflow text: fuel,
/// memory, timeout, max_state, config, routes; or a plugin's bytes), the
/// command that takes the fix, when it would be accepted (else what would make
/// it possible, or a new run). A node's fatal failure adds that a replay runs
/// the node on the same state, so a cause in the state needs a new run.
pub fn failed_hint(run: &RunRecord, ending: &Ending) -> String {
    let word = output::shell_word(&run.thread);
    let file = output::shell_word(&run.workflow_path);
    let sp = output::savepoint();
    let mut hint = match (&ending.upgrade, ending.changed.as_slice()) {
        (_, []) => format!(
            "fix the cause, then `{sp} resume {word}` replays from the failed node; a run \
             keeps the workflow text and plugin versions it started with, so when the fix is \
             in the workflow file (fuel, memory, timeout, config, routes, ...) or a plugin, \
             use `{sp} resume {word} --upgrade`"
        ),
        (None | Some(Ok(())), changed) => format!(
            "{} changed since the run started, and a plain resume keeps the versions the run \
             started with: `{sp} resume {word} --upgrade` moves it to the files as they \
             are now and replays from the failed node",
            changed.join(" and ")
        ),
        (Some(Err(refused)), changed) => format!(
            "{} changed since the run started, but the run cannot move to the files as they \
             are now: {}",
            changed.join(" and "),
            upgrade_way(refused, &word, &file)
        ),
    };
    if run.error.as_deref().is_some_and(is_fatal_failure) {
        hint.push_str(&format!(
            "; the node failed fatally, and a replay runs it on the same state: when the \
             cause is in the state or the input, fix the state with `{sp} update {word} \
             --values JSON` and resume, or start a new run (`{sp} run {file} --input JSON`)"
        ));
    }
    output::safe(&hint).into_owned()
}

/// Why `resume --upgrade` would be refused, and what would make it possible.
fn upgrade_way(refused: &RuntimeError, word: &str, file: &str) -> String {
    let sp = output::savepoint();
    let RuntimeError::UpgradeRefused { problems, .. } = refused else {
        return format!(
            "{refused}; fix that, then `{sp} resume {word} --upgrade`, or start a new run \
             (`{sp} run {file}`)"
        );
    };
    let reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let gone: Vec<&str> = problems
        .iter()
        .filter_map(|problem| match problem {
            UpgradeProblem::NodeGone { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    match gone.as_slice() {
        [] => format!(
            "{}; fix that, then `{sp} resume {word} --upgrade`",
            reasons.join("; ")
        ),
        gone => format!(
            "{}; restore {} in {file} and then `{sp} resume {word} --upgrade`, or start \
             a new run (`{sp} run {file}`)",
            reasons.join("; "),
            gone.iter()
                .map(|node| format!("node \"{node}\""))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

/// Print the outcome of a run that `run` or `resume` drove, and pick the exit code.
pub fn finish(run: &RunRecord, json: bool, ending: &Ending) -> ExitCode {
    let thread = output::safe(&run.thread);
    if json {
        output::print_json(&savepoint_server::view::status(run));
    } else {
        match run.status {
            RunStatus::Completed => {
                eprintln!(
                    "thread {thread}: completed after {}",
                    plural(run.step, "step")
                );
                output::print_pretty(&Value::Object(run.state.clone()));
            }
            RunStatus::Sleeping | RunStatus::Retrying => {
                let when = run.wake_at_ms.map(format_time).unwrap_or_default();
                let what = if run.status == RunStatus::Sleeping {
                    "sleeping"
                } else {
                    "waiting to retry"
                };
                eprintln!(
                    "thread {thread}: parked, {what} until {when} ({} committed)",
                    plural(run.step, "step")
                );
                if let Some(error) = &run.error {
                    eprintln!("last error: {}", output::safe_lines(error));
                }
                eprintln!(
                    "`{} resume {}` continues it then (or a running `savepoint serve` does)",
                    output::savepoint(),
                    output::shell_word(&run.thread)
                );
            }
            RunStatus::Interrupted => {
                let question =
                    output::preview(run.interrupt.as_ref().unwrap_or(&Value::Null), &run.thread);
                eprintln!("thread {thread}: parked, waiting for input: {question}");
                eprintln!(
                    "answer with `{} resume {} --input JSON`",
                    output::savepoint(),
                    output::shell_word(&run.thread)
                );
            }
            RunStatus::Waiting => {
                eprintln!(
                    "thread {thread}: parked, {} ({} committed)",
                    crate::output::waiting_for(run),
                    plural(run.step, "step")
                );
                if let Some(savepoint_store::Wait::Signal { name, .. }) = &run.waiting {
                    eprintln!(
                        "send it with `{} signal {} {} --data JSON`; a running `savepoint \
                         serve` then goes on (or `{} resume {}`)",
                        output::savepoint(),
                        output::shell_word(&run.thread),
                        output::shell_word(name),
                        output::savepoint(),
                        output::shell_word(&run.thread)
                    );
                }
            }
            RunStatus::Cancelled => eprintln!("thread {thread}: cancelled"),
            _ => {
                eprintln!(
                    "thread {thread}: {}{} at step {} ({} committed)",
                    run.status,
                    if ending.again { " again" } else { "" },
                    run.step + 1,
                    plural(run.step, "step")
                );
                if let Some(error) = &run.error {
                    eprintln!("error: {}", output::safe_lines(error));
                }
                eprintln!("{}", failed_hint(run, ending));
            }
        }
    }
    ExitCode::from(match run.status {
        RunStatus::Completed => EXIT_COMPLETED,
        RunStatus::Sleeping | RunStatus::Retrying | RunStatus::Interrupted | RunStatus::Waiting => {
            EXIT_PARKED
        }
        RunStatus::Cancelled => EXIT_CANCELLED,
        _ => EXIT_FAILED,
    })
}

/// `1 step`, `2 steps`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A JSON object given inline or as `@FILE`; `flag` names it in errors.
pub fn parse_object(input: &str, flag: &str, cap: Cap) -> anyhow::Result<Map<String, Value>> {
    match parse_json(input, flag, cap)? {
        Value::Object(map) => Ok(map),
        other => bail!(Failure::usage(format!(
            "{flag} must be a JSON object (the run's initial state), not {}",
            output::json_line(&other)
        ))),
    }
}

/// The most bytes a JSON argument may have, and what sets that limit (for the
/// message).
#[derive(Debug, Clone, Copy)]
pub struct Cap {
    pub bytes: u64,
    pub what: &'static str,
}

impl Cap {
    /// The workflow's `max_state`.
    pub fn max_state(bytes: u64) -> Cap {
        Cap {
            bytes,
            what: "the workflow's max_state",
        }
    }
}

/// Any JSON value given inline or as `@FILE`, of at most `cap.bytes` bytes (a
/// file is read no further than that, so `@/dev/zero` fails at once). Every error is a
/// usage error, also a file that does not exist: the command line is what to fix, and
/// exit code 5 stays "no such run" for a script.
pub fn parse_json(input: &str, flag: &str, cap: Cap) -> anyhow::Result<Value> {
    read_json(input, flag, cap)
        .map_err(|error| Failure::usage(super::describe_error(&error)).into())
}

fn read_json(input: &str, flag: &str, cap: Cap) -> anyhow::Result<Value> {
    let (text, origin) = match input.strip_prefix('@') {
        Some(path) => {
            let origin = format!("the {flag} file {path}");
            let text = read_capped(Path::new(path), cap.bytes, &origin)?;
            (text, origin)
        }
        None => (Some(input.to_string()), flag.to_string()),
    };
    let Some(text) = text.filter(|text| text.len() as u64 <= cap.bytes) else {
        bail!(
            "{origin} is larger than {} ({} bytes), {}; raise max_state in the workflow \
             file for a larger state",
            format_size(cap.bytes),
            cap.bytes,
            cap.what
        );
    };
    serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))
}

/// A workflow file's text, read no further than [`MAX_WORKFLOW_FILE`].
pub fn read_workflow(path: &Path) -> anyhow::Result<String> {
    let origin = format!("the workflow file {}", path.display());
    read_capped(path, MAX_WORKFLOW_FILE, &origin)?.ok_or_else(|| {
        Failure::invalid(format!(
            "{origin} is larger than {} ({MAX_WORKFLOW_FILE} bytes), the largest workflow \
                 file savepoint reads",
            format_size(MAX_WORKFLOW_FILE)
        ))
        .into()
    })
}

/// The UTF-8 text of `path`, reading at most `limit + 1` bytes: `None` when it
/// holds more than `limit`. `origin` names the file in errors.
fn read_capped(path: &Path, limit: u64, origin: &str) -> anyhow::Result<Option<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {origin}"))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {origin}"))?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::invalid(format!("{origin} is not UTF-8 text")))?;
    Ok(Some(text))
}
