use std::path::PathBuf;

use serde_json::Value;

use crate::store::{RunStatus, StoreError};
use crate::workflow::WorkflowError;

/// Why the runtime could not start or continue a run. A node's own failure is
/// not an error here: it is recorded on the run (status `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The workflow file is invalid; the message names the file and line.
    #[error("{0}")]
    Workflow(#[from] WorkflowError),
    #[error(
        "cannot read the plugins folder {dir}: {source} (choose the folder with --plugins DIR \
         or SAVEPOINT_PLUGINS)"
    )]
    PluginsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read workflow file {path}: {source}")]
    WorkflowFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", upgrade_refused(thread, problems))]
    UpgradeRefused {
        thread: String,
        problems: Vec<super::UpgradeProblem>,
    },
    #[error("cannot read plugin file {path}: {source}")]
    PluginFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", thread_exists(thread, *status))]
    ThreadExists { thread: String, status: RunStatus },
    #[error("no run with thread id \"{thread}\" (see `savepoint runs`)")]
    NotFound { thread: String },
    #[error("thread \"{thread}\" is {status}; there is nothing to resume")]
    NotResumable { thread: String, status: RunStatus },
    #[error(
        "thread \"{thread}\" is waiting for input: {question}; answer it with \
         `savepoint resume {thread} --input JSON`"
    )]
    NeedsInput { thread: String, question: Value },
    #[error(
        "thread \"{thread}\" is {status}, not interrupted: --input answers an interrupt; \
         resume it without --input"
    )]
    UnexpectedInput { thread: String, status: RunStatus },
    /// A plugin file that cannot be used (too large, unreadable).
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    /// This process's lease on the run expired before it could renew it.
    #[error(
        "thread \"{thread}\": this process could not renew its lease on the run in time (it \
         stalled, or the database did not answer); the step in flight was stopped and its \
         result discarded, and the run goes on wherever it is taken over"
    )]
    LeaseExpired { thread: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn thread_exists(thread: &str, status: RunStatus) -> String {
    if matches!(status, RunStatus::Completed | RunStatus::Cancelled) {
        format!("thread \"{thread}\" already exists and is {status}; pick another --thread")
    } else {
        format!(
            "thread \"{thread}\" already exists and is unfinished (status: {status}); \
             use `savepoint resume {thread}` to continue it, or pick another --thread"
        )
    }
}

fn upgrade_refused(thread: &str, problems: &[super::UpgradeProblem]) -> String {
    let mut text = format!(
        "thread \"{thread}\" cannot move to the current workflow and plugins; it is unchanged:"
    );
    for problem in problems {
        text.push_str(&format!("\n  - {problem}"));
    }
    text.push_str("\nfix the files, or resume without --upgrade to keep the versions it runs");
    text
}
