use std::path::PathBuf;

use serde_json::{Value, json};

use savepoint_base::error_code::{ErrorCode, Fault};
use savepoint_store::{RunStatus, StoreError};
use savepoint_workflow::WorkflowError;

/// Why the runtime could not start or continue a run. A node's own failure is
/// not an error here: it is recorded on the run (status `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The workflow file is invalid: every problem found (at least one), in
    /// file order. The message is one line: the problem, or how many there
    /// are and the first (see [`WorkflowError::summary`]); the details list
    /// them all.
    #[error("{}", WorkflowError::summary(.0))]
    Workflow(Vec<WorkflowError>),
    /// The CLI adds how to choose another folder.
    #[error("cannot read the plugins folder {dir}: {source}")]
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
    #[error("no run with thread id \"{thread}\"")]
    NotFound { thread: String },
    /// A state asked for after a step the run has not committed.
    #[error(
        "thread \"{thread}\" has committed {committed} step{}; there is no state after step \
         {step} (0 is the input)",
        if *committed == 1 { "" } else { "s" }
    )]
    NoStep {
        thread: String,
        step: u64,
        committed: u64,
    },
    #[error("thread \"{thread}\" is {status}; there is nothing to resume")]
    NotResumable { thread: String, status: RunStatus },
    /// `cancel` of a run that has completed or was cancelled already.
    #[error("{}", already_finished(thread, *status))]
    AlreadyFinished { thread: String, status: RunStatus },
    #[error("thread \"{thread}\" is waiting for input: {question}; answer it with an input")]
    NeedsInput { thread: String, question: Value },
    #[error(
        "thread \"{thread}\" is {status}, not interrupted: an input answers an interrupt; \
         resume it without one"
    )]
    UnexpectedInput { thread: String, status: RunStatus },
    /// A plugin file that cannot be used (too large, unreadable).
    #[error(transparent)]
    Plugin(#[from] savepoint_plugin::PluginError),
    /// This process's lease on the run expired before it could renew it.
    /// Nobody else need hold the run: this process (or its database) was too
    /// slow, so it is an error of the environment, not a conflict.
    #[error(
        "thread \"{thread}\": this process could not renew its lease on the run in time (it \
         stalled, or the database did not answer), so it stopped the step in flight and kept \
         nothing of it; the run is unharmed and goes on from its last checkpoint wherever it \
         is resumed or taken over"
    )]
    LeaseExpired { thread: String },
    /// An input that is not acceptable as given (a thread id that breaks the rule).
    #[error("{0}")]
    BadRequest(String),
    /// `update` (or a fork's edit) as a node the run's workflow does not have.
    #[error(
        "thread \"{thread}\": there is no node \"{node}\" in its workflow (nodes: {})",
        nodes.join(", ")
    )]
    UnknownNode {
        thread: String,
        node: String,
        nodes: Vec<String>,
    },
    /// An edit of a run's state that cannot be made: the values do not merge, the state
    /// would be too large, the node cannot be stood in for.
    #[error("thread \"{thread}\" cannot be edited: {message}")]
    BadEdit { thread: String, message: String },
    /// An edit or a replay of a run that a live process executes now.
    #[error(
        "thread \"{thread}\" is running (executed by {owner}); it can be {action} once it \
         parks, fails or completes"
    )]
    Executing {
        thread: String,
        owner: String,
        action: &'static str,
    },
    /// Any store error but a missing run or a taken thread, which become
    /// [`RuntimeError::NotFound`] and [`RuntimeError::ThreadExists`] (see
    /// `From<StoreError>`).
    #[error(transparent)]
    Store(StoreError),
}

impl RuntimeError {
    /// What the caller does next: see [`ErrorCode`]. The messages name no command-line
    /// flag and no command (the HTTP API sends them as they are); the CLI adds its hints.
    pub fn code(&self) -> ErrorCode {
        match self {
            RuntimeError::Workflow(_) => ErrorCode::Invalid,
            RuntimeError::PluginsDir { .. } => ErrorCode::Environment,
            RuntimeError::WorkflowFile { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorCode::NotFound
            }
            RuntimeError::WorkflowFile { .. } | RuntimeError::PluginFile { .. } => {
                ErrorCode::Environment
            }
            RuntimeError::NotFound { .. } | RuntimeError::NoStep { .. } => ErrorCode::NotFound,
            RuntimeError::UpgradeRefused { .. }
            | RuntimeError::ThreadExists { .. }
            | RuntimeError::NotResumable { .. }
            | RuntimeError::AlreadyFinished { .. }
            | RuntimeError::NeedsInput { .. }
            | RuntimeError::UnexpectedInput { .. } => ErrorCode::Conflict,
            RuntimeError::LeaseExpired { .. } => ErrorCode::Environment,
            RuntimeError::BadRequest(_)
            | RuntimeError::UnknownNode { .. }
            | RuntimeError::BadEdit { .. } => ErrorCode::Usage,
            RuntimeError::Executing { .. } => ErrorCode::Conflict,
            RuntimeError::Plugin(error) => error.code(),
            RuntimeError::Store(error) => error.code(),
        }
    }

    /// What a program reads besides the code: the thread (and its status), or the
    /// problem in a workflow file.
    pub fn details(&self) -> Option<Value> {
        match self {
            RuntimeError::NotFound { thread } => Some(json!({ "thread": thread })),
            RuntimeError::ThreadExists { thread, status }
            | RuntimeError::NotResumable { thread, status }
            | RuntimeError::AlreadyFinished { thread, status }
            | RuntimeError::UnexpectedInput { thread, status } => {
                Some(json!({ "thread": thread, "status": status.as_str() }))
            }
            RuntimeError::NeedsInput { thread, .. }
            | RuntimeError::UpgradeRefused { thread, .. }
            | RuntimeError::LeaseExpired { thread } => Some(json!({ "thread": thread })),
            RuntimeError::Store(StoreError::Leased { thread, owner, .. }) => {
                Some(json!({ "thread": thread, "owner": owner }))
            }
            RuntimeError::UnknownNode {
                thread,
                node,
                nodes,
            } => Some(json!({ "thread": thread, "node": node, "nodes": nodes })),
            RuntimeError::BadEdit { thread, .. } => Some(json!({ "thread": thread })),
            RuntimeError::Executing { thread, owner, .. } => {
                Some(json!({ "thread": thread, "owner": owner }))
            }
            RuntimeError::NoStep { thread, step, .. } => {
                Some(json!({ "thread": thread, "step": step }))
            }
            RuntimeError::Workflow(problems) => Some(json!({
                "problems": problems.iter().map(WorkflowError::problem).collect::<Vec<_>>()
            })),
            _ => None,
        }
    }
}

/// The one translation of a store error into what the CLI and the API report: a
/// missing run and a taken thread are named as the runtime names them (with the
/// thread id, and for a taken thread what to do), whoever met them, a runtime call or
/// a read straight from the store; any other store error stays as the store says it.
impl From<StoreError> for RuntimeError {
    fn from(error: StoreError) -> RuntimeError {
        match error {
            StoreError::NotFound { thread } => RuntimeError::NotFound { thread },
            StoreError::ThreadExists { thread, status } => {
                RuntimeError::ThreadExists { thread, status }
            }
            other => RuntimeError::Store(other),
        }
    }
}

impl From<WorkflowError> for RuntimeError {
    fn from(problem: WorkflowError) -> RuntimeError {
        RuntimeError::Workflow(vec![problem])
    }
}

fn thread_exists(thread: &str, status: RunStatus) -> String {
    if matches!(status, RunStatus::Completed | RunStatus::Cancelled) {
        format!("thread \"{thread}\" already exists and is {status}; pick another thread id")
    } else {
        format!(
            "thread \"{thread}\" already exists and is unfinished (status: {status}); resume \
             it to continue it, or pick another thread id"
        )
    }
}

fn already_finished(thread: &str, status: RunStatus) -> String {
    if status == RunStatus::Cancelled {
        format!("thread \"{thread}\" is already cancelled; nothing to cancel")
    } else {
        format!("thread \"{thread}\" has already {status}; nothing to cancel")
    }
}

fn upgrade_refused(thread: &str, problems: &[super::UpgradeProblem]) -> String {
    let mut text = format!(
        "thread \"{thread}\" cannot move to the current workflow and plugins; it is unchanged:"
    );
    let mut gone = Vec::new();
    for problem in problems {
        text.push_str(&format!("\n  - {problem}"));
        if let super::UpgradeProblem::NodeGone { node, workflow } = problem {
            gone.push((node, workflow));
        }
    }
    match gone.as_slice() {
        // Fixing the other files does not bring the node back.
        [(node, workflow), ..] => text.push_str(&format!(
            "\nto upgrade it, restore node \"{node}\" in {workflow}; else start a new run of \
             the workflow, or resume without upgrading to keep the versions it runs"
        )),
        [] => text
            .push_str("\nfix the files, or resume without upgrading to keep the versions it runs"),
    }
    text
}

/// A runtime error as the CLI and the API report it: its code, message and details.
impl From<RuntimeError> for Fault {
    fn from(error: RuntimeError) -> Fault {
        Fault {
            code: error.code(),
            details: error.details(),
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing run and a taken thread read the same whoever met them: the runtime or
    /// a read straight from the store.
    #[test]
    fn store_errors_become_the_runtimes_not_found_and_thread_exists() {
        let thread = || "job-1".to_string();
        let missing = RuntimeError::from(StoreError::NotFound { thread: thread() });
        assert!(matches!(&missing, RuntimeError::NotFound { thread } if thread == "job-1"));
        assert_eq!(missing.to_string(), "no run with thread id \"job-1\"");
        assert_eq!(missing.details(), Some(json!({ "thread": "job-1" })));
        let taken = RuntimeError::from(StoreError::ThreadExists {
            thread: thread(),
            status: RunStatus::Completed,
        });
        assert_eq!(
            taken.to_string(),
            "thread \"job-1\" already exists and is completed; pick another thread id"
        );
        assert_eq!(taken.code(), ErrorCode::Conflict);
        let leased = RuntimeError::from(StoreError::Leased {
            thread: thread(),
            owner: "host-1".into(),
            expires_ms: 0,
        });
        assert!(matches!(
            leased,
            RuntimeError::Store(StoreError::Leased { .. })
        ));
    }
}
