//! Errors as the command line reports them: a code (the same as the HTTP API's, see
//! [`ErrorCode`]), an exit code per code, one message, and details for a program.
//! With `--json` a failed command prints exactly one object on stdout,
//! `{"error": {"code", "message", "details"}}`; without it, `error: MESSAGE` on stderr.
//!
//! Commands return errors through `anyhow` as before: [`classify`] finds the first
//! error of a known type in the chain ([`Failure`], [`RuntimeError`], [`StoreError`],
//! [`PluginError`], [`WorkflowError`], an I/O error) and asks it for its code. The
//! messages of the modules below name no flag (the HTTP API sends them too); the CLI
//! adds its hints here, after the message.

use std::process::ExitCode;

use serde_json::json;

use super::output;
use savepoint_base::error_code::{ErrorCode, Fault};
use savepoint_plugin::PluginError;
use savepoint_runtime::RuntimeError;
use savepoint_store::{ParseCursorError, ParseStatusError, RunStatus, StoreError};
use savepoint_workflow::WorkflowError;

/// The exit codes, for `--help` (`savepoint help`, `run`, `resume`): a macro, so that
/// `concat!` can join it to other help text.
#[macro_export]
#[doc(hidden)]
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
  0  ok (`run`, `resume`, `watch`: the run completed)
  1  the run failed (`run`, `resume`, `watch`), or an internal error
  2  usage: a wrong flag or argument (also --input), or an invalid workflow file
  3  the run parked (`run`, `resume`, `watch`): sleeping, waiting for input or to retry;
     `savepoint resume ID` continues it (or a `savepoint serve` daemon does, on time)
  4  the run was cancelled (`run`, `resume`, `watch`)
  5  not found: no such run (thread id), workflow file or database
  6  conflict: the thread id is taken, or the run is busy or in no state for that
  7  environment: the database or plugins folder cannot be used (disk full, read-only),
     or the run's lease could not be renewed in time (`savepoint resume ID` continues it)
With --json, a command that fails prints one object on stdout:
  {\"error\": {\"code\": \"not_found\", \"message\": \"...\", \"details\": {...} or null}}"
    };
}

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = exit_codes_help!();

/// The exit code of a failed command with this error code.
pub fn exit_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::RunFailed | ErrorCode::Internal => 1,
        ErrorCode::Usage | ErrorCode::Invalid => 2,
        ErrorCode::NotFound => 5,
        ErrorCode::Conflict => 6,
        ErrorCode::Environment => 7,
    }
}

/// An error with its code, message and details, as a command reports it (the CLI's
/// name for the [`Fault`] the API reports too). Return it through `anyhow`
/// (`Err(Failure::usage(...))?`, `bail!(Failure::...)`) for an error whose code
/// [`classify`] could not tell from its type.
pub type Failure = Fault;

/// The code, message (the whole chain on one line, with the CLI's hint) and details of
/// an error a command returned. An error of no known type is `internal`.
pub fn classify(error: &anyhow::Error) -> Failure {
    let message = describe_error(error);
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return Failure {
                message,
                ..failure.clone()
            };
        }
        if let Some(error) = cause.downcast_ref::<RuntimeError>() {
            let message = match cli_hint(error) {
                Some(hint) => format!("{message} {hint}"),
                None => message,
            };
            return Failure {
                code: error.code(),
                message,
                details: error.details(),
            };
        }
        if let Some(error) = cause.downcast_ref::<StoreError>() {
            // A missing run or a taken thread is a RuntimeError by now (its From).
            let details = match error {
                StoreError::Leased { thread, owner, .. } => {
                    Some(json!({ "thread": thread, "owner": owner }))
                }
                _ => None,
            };
            return Failure {
                code: error.code(),
                message,
                details,
            };
        }
        if let Some(error) = cause.downcast_ref::<PluginError>() {
            return Failure::new(error.code(), message);
        }
        if let Some(problem) = cause.downcast_ref::<WorkflowError>() {
            // One line, as for every problem: the excerpt is for the text output.
            let message = match error.downcast_ref::<WorkflowError>() {
                Some(_) => output::safe_lines(&problem.headline()).into_owned(),
                None => message,
            };
            return Failure::invalid(message)
                .with_details(json!({ "problems": [problem.problem()] }));
        }
        if cause.is::<ParseStatusError>() || cause.is::<ParseCursorError>() {
            return Failure::usage(message);
        }
        if let Some(error) = cause.downcast_ref::<std::io::Error>() {
            let code = match error.kind() {
                std::io::ErrorKind::NotFound => ErrorCode::NotFound,
                _ => ErrorCode::Environment,
            };
            return Failure::new(code, message);
        }
    }
    Failure::new(ErrorCode::Internal, message)
}

/// What the CLI adds to a runtime error's message: the command or flag to use. (The
/// HTTP API sends the message without it.)
fn cli_hint(error: &RuntimeError) -> Option<String> {
    let word = |thread: &str| output::shell_word(thread);
    Some(match error {
        RuntimeError::NotFound { .. } => format!("(see `{} runs`)", output::savepoint()),
        RuntimeError::ThreadExists {
            status: RunStatus::Completed | RunStatus::Cancelled,
            ..
        } => "(with --thread)".to_string(),
        RuntimeError::ThreadExists { thread, .. } => {
            format!(
                "(use `{} resume {}`, or --thread)",
                output::savepoint(),
                word(thread)
            )
        }
        RuntimeError::NeedsInput { thread, .. } => {
            format!(
                "(use `{} resume {} --input JSON`)",
                output::savepoint(),
                word(thread)
            )
        }
        RuntimeError::UnexpectedInput { .. } => "(leave out --input)".to_string(),
        RuntimeError::LeaseExpired { thread } => format!(
            "(`{} resume {}` continues it)",
            output::savepoint(),
            word(thread)
        ),
        RuntimeError::Store(StoreError::Leased { thread, .. }) => format!(
            "(wait for it to finish or park, or stop it with `{} cancel {}`)",
            output::savepoint(),
            word(thread)
        ),
        RuntimeError::Store(StoreError::Unfinished { thread, .. }) => format!(
            "(cancel it first with `{} cancel {}`, or delete it anyway with --force)",
            output::savepoint(),
            word(thread)
        ),
        RuntimeError::Store(StoreError::ScheduleExists { .. }) => format!(
            "(add --replace to replace it, or see `{} schedule list`)",
            output::savepoint()
        ),
        RuntimeError::Store(StoreError::NoSchedule { .. }) => {
            format!("(see `{} schedule list`)", output::savepoint())
        }
        RuntimeError::PluginsDir { .. } => {
            "(choose the folder with --plugins DIR or SAVEPOINT_PLUGINS)".to_string()
        }
        _ => return None,
    })
}

/// An error and its causes on one line, leaving out a cause whose text the
/// message already contains (our messages often quote their source); safe to
/// print on a terminal (an error may quote a node's message or a file's line:
/// see `output::safe_lines`).
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    output::safe_lines(&message).into_owned()
}

/// Print a command's error, as JSON on stdout with `--json`, else on stderr, and
/// return its exit code.
pub fn report(error: &anyhow::Error, json: bool) -> ExitCode {
    let failure = classify(error);
    match workflow_problems(error) {
        Some(problems) if !json => print_problems(&problems),
        _ => print(&failure, json),
    }
    ExitCode::from(exit_code(failure.code))
}

/// The problems of the invalid workflow file that `error` is (not one that a
/// context wraps): the text output shows each with its line and a caret.
fn workflow_problems(error: &anyhow::Error) -> Option<Vec<WorkflowError>> {
    if let Some(RuntimeError::Workflow(problems)) = error.downcast_ref::<RuntimeError>() {
        return Some(problems.clone());
    }
    error
        .downcast_ref::<WorkflowError>()
        .map(|problem| vec![problem.clone()])
}

/// A workflow file's problems on stderr, as a compiler lists them: each with
/// its line and a caret, then (for several) how many.
pub fn print_problems(problems: &[WorkflowError]) {
    for problem in problems {
        eprintln!("error: {}", output::safe_lines(&problem.to_string()));
    }
    if let [first, _, ..] = problems {
        eprintln!(
            "error: {}: {} problems; nothing was run",
            output::safe_lines(&first.file),
            problems.len()
        );
    }
}

fn print(failure: &Failure, json: bool) {
    if json {
        output::print_json(&failure.to_json());
    } else {
        eprintln!("error: {}", failure.message);
    }
}

/// Whether the command line asks for JSON (`--json` before any `--`): also known when
/// the command line does not parse.
pub fn wants_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .skip(1)
        .take_while(|arg| arg != "--")
        .any(|arg| arg == "--json")
}

/// A command line that clap refused, or `--help` / `--version`: help and the version
/// print as clap prints them; a usage error prints as clap does, or with `--json` as
/// the error object (code `usage`). Returns the exit code (2 for a usage error).
pub fn parse_error(error: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shown || !json {
        let _ = error.print();
        return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
    }
    // clap's text: `error: WHAT\n\nUsage: ...\n\nFor more information, try '--help'.`
    let text = error.render().to_string();
    let what = text.strip_prefix("error: ").unwrap_or(&text);
    let what = what.split("\n\n").next().unwrap_or(what).trim();
    let failure = Failure::usage(output::safe_lines(what).into_owned());
    print(&failure, true);
    ExitCode::from(exit_code(failure.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_exit_code_but_run_failed_and_internal() {
        let codes: Vec<u8> = ErrorCode::ALL.into_iter().map(exit_code).collect();
        assert_eq!(codes, [2, 2, 5, 6, 7, 1, 1]);
    }

    #[test]
    fn the_first_known_error_in_the_chain_gives_the_code_and_the_cli_its_hint() {
        let error = anyhow::Error::from(RuntimeError::NotFound {
            thread: "a b".into(),
        })
        .context("cannot export");
        let failure = classify(&error);
        assert_eq!(failure.code, ErrorCode::NotFound);
        assert_eq!(
            failure.message,
            "cannot export: no run with thread id \"a b\" (see `savepoint runs`)"
        );
        assert_eq!(failure.details, Some(json!({ "thread": "a b" })));
        let plain = classify(&anyhow::anyhow!("something odd"));
        assert_eq!(plain.code, ErrorCode::Internal);
        let usage = classify(&anyhow::Error::from(Failure::usage("bad")).context("run"));
        assert_eq!(
            (usage.code, usage.message.as_str()),
            (ErrorCode::Usage, "run: bad")
        );
    }

    #[test]
    fn json_is_asked_for_before_a_double_dash_only() {
        let args = |list: &[&str]| list.iter().map(Into::into).collect::<Vec<_>>();
        assert!(wants_json(args(&["savepoint", "runs", "--json"])));
        assert!(!wants_json(args(&["savepoint", "runs"])));
        assert!(!wants_json(args(&["savepoint", "x", "--", "--json"])));
        assert!(!wants_json(args(&["--json"])));
    }
}
