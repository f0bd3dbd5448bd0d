//! The branch of a sub-workflow node (`workflow = "chain.toml"`): the step creates the
//! child run the first time, finds it every time after (its thread is a function of the
//! parent's thread, step and node: a step that runs again, after a crash or a retry,
//! never makes a second child), and waits for it; once it finished, the branch is what
//! it ended with. The store wakes the waiting parent when the child completes, fails
//! for good or is cancelled.
//!
//! A failed child fails the branch under the node's retry policy: when a retry is left,
//! the child is resumed (from its last checkpoint, with a fresh retry budget of its own)
//! as the failure is recorded, so that the parent's retry finds it running again and
//! waits for it; with none left, the parent fails naming the child and its error, and
//! the child stays failed (resume it by hand, then the parent). A cancelled child fails
//! the branch for good.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::decide::Branch;
use super::{Runtime, RuntimeError, check_thread_id};
use savepoint_store::{
    CheckpointStore, NewRun, PendingWrite, RunRecord, RunStatus, StoreError, StoreErrorKind, Wait,
};
use savepoint_workflow::{MAX_WORKFLOW_FILE, Node, SubWorkflow, WorkflowError};

impl<S: CheckpointStore> Runtime<S> {
    /// The branch `branch` (node `node`, or a send to it: `node#index`) of sub-workflow
    /// node `node` (whose child is `sub`) at the run's next step. The child starts from
    /// the run's state, or a send's input (`run.send_inputs`), through the node's
    /// `input` mapping; a send's child has its index in its thread. Only a store error
    /// that says to try later is an error; every other problem fails the branch, naming
    /// the node.
    pub(super) async fn child_branch(
        &self,
        run: &RunRecord,
        node: &Node,
        sub: &SubWorkflow,
        branch: &str,
    ) -> Result<Branch, RuntimeError> {
        let name = &node.name;
        let fail = |error: String| Branch::Failed {
            error,
            retryable: false,
        };
        let (_, index) = savepoint_workflow::branch_node(branch);
        let state = match run.send_inputs.get(branch) {
            None => &run.state,
            Some(Value::Object(input)) => input,
            Some(_) => {
                return Ok(fail(format!(
                    "node \"{name}\": the input of send {branch} is not a JSON object, so it \
                     cannot be a child run's input"
                )));
            }
        };
        let thread = sub.thread(&run.thread, run.step + 1, name, index, run.branch);
        if let Err(reason) = check_thread_id(&thread) {
            return Ok(fail(format!("node \"{name}\": its child's id: {reason}")));
        }
        let child = match self.store.load_run(&thread).await? {
            Some(child) => child,
            None => match self.create_child(run, node, sub, &thread, state).await? {
                Ok(child) => child,
                Err(error) => return Ok(fail(error)),
            },
        };
        if let Some(other) = child.parent.as_deref().filter(|p| *p != run.thread) {
            return Ok(fail(format!(
                "node \"{name}\": thread \"{thread}\" is the child of run \"{other}\", not of \
                 this run; give the node an id that names its own child"
            )));
        }
        Ok(match child.status {
            RunStatus::Completed => Branch::Write {
                write: PendingWrite {
                    node: branch.to_owned(),
                    update: sub.parent_update(&child.state),
                    goto: None,
                    // What produced the update: the child's workflow, as pinned.
                    component_digest: child.workflow_digest.clone(),
                },
                sleep: None,
            },
            RunStatus::Failed => self.child_failed(run, node, &child).await?,
            RunStatus::Cancelled => fail(format!(
                "node \"{name}\": child run \"{thread}\" was cancelled; to run the child again, \
                 delete it (`savepoint delete {thread}`), then resume this run: the step makes a \
                 new one"
            )),
            _ => Branch::Wait {
                wait: Wait::Children {
                    threads: vec![thread],
                },
                timeout: None,
            },
        })
    }

    /// The branch of a node whose child failed: a failure, retried as the node's policy
    /// says; when a retry is left, the child is resumed now.
    async fn child_failed(
        &self,
        run: &RunRecord,
        node: &Node,
        child: &RunRecord,
    ) -> Result<Branch, RuntimeError> {
        let error = child.error.as_deref().unwrap_or("no error recorded");
        let mut message = format!(
            "node \"{}\": child run \"{}\" failed: {error}",
            node.name, child.thread
        );
        // The budget as decide counts it: this attempt is one more.
        let tries = (run.attempt + 1).saturating_sub(run.retry_base);
        if !node.retry.allows_another(tries) {
            message.push_str(&format!(
                "; resume it (`savepoint resume {}`), then this run",
                child.thread
            ));
        } else {
            match self
                .store
                .resume_input(&child.thread, None, RunStatus::Pending, None)
                .await
            {
                Ok(_) => message.push_str("; the retry resumes it from its last checkpoint"),
                Err(error) if error.kind() == StoreErrorKind::RetryLater => {
                    return Err(error.into());
                }
                // (Cancelled meanwhile: the retry finds it so.)
                Err(_) => {}
            }
        }
        Ok(Branch::Failed {
            error: message,
            retryable: true,
        })
    }

    /// Create the child run `thread` of `run` at node `node`: the child workflow's file
    /// read now, checked as any new run's, and pinned with its plugins as they are now.
    /// `Ok(Err(why))` when it cannot be (the branch fails); a child made meanwhile by
    /// another attempt is found, not made twice.
    async fn create_child(
        &self,
        run: &RunRecord,
        node: &Node,
        sub: &SubWorkflow,
        thread: &str,
        state: &Map<String, Value>,
    ) -> Result<Result<RunRecord, String>, RuntimeError> {
        let name = &node.name;
        let path = child_path(&run.workflow_path, &sub.path);
        let shown = path.display().to_string();
        let text = match read_workflow(&path) {
            Ok(text) => text,
            Err(reason) => {
                return Ok(Err(format!(
                    "node \"{name}\": cannot read child workflow {shown}: {reason}"
                )));
            }
        };
        let (workflow, plugins) = match self.check_new_run(&shown, &text).await {
            Ok(checked) => checked,
            Err(RuntimeError::Store(error)) if error.kind() == StoreErrorKind::RetryLater => {
                return Err(error.into());
            }
            Err(RuntimeError::Workflow(problems)) => {
                return Ok(Err(format!(
                    "node \"{name}\": child workflow {shown} is invalid: {}",
                    WorkflowError::summary(&problems)
                )));
            }
            Err(other) => {
                return Ok(Err(format!(
                    "node \"{name}\": child workflow {shown}: {other}"
                )));
            }
        };
        let new_run = NewRun {
            thread: thread.to_string(),
            workflow_name: workflow.name.clone(),
            workflow_digest: savepoint_base::digest::sha256(text.as_bytes()),
            workflow_text: text,
            workflow_path: shown,
            input: sub.child_input(state),
            next: vec![workflow.start.clone()],
            lease: None,
            plugins,
            tags: BTreeMap::new(),
            parent: Some(run.thread.clone()),
        };
        match self.store.create_run(new_run).await {
            Ok(child) => {
                super::events::created(&child);
                Ok(Ok(child))
            }
            Err(StoreError::ThreadExists { .. }) => Ok(Ok(self.load(thread).await?)),
            Err(other) => Err(other.into()),
        }
    }
}

/// Where the child workflow `path` (as a node names it) of the workflow file `parent`
/// is: relative to the parent file's folder.
pub(crate) fn child_path(parent: &str, path: &str) -> PathBuf {
    let folder = Path::new(parent).parent().unwrap_or(Path::new(""));
    folder.join(path)
}

/// A workflow file's text, refusing one larger than any workflow.
pub(crate) fn read_workflow(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_WORKFLOW_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_WORKFLOW_FILE {
        return Err(format!(
            "larger than {}",
            savepoint_base::units::format_size(MAX_WORKFLOW_FILE)
        ));
    }
    Ok(text)
}

impl<S: CheckpointStore> Runtime<S> {
    /// When `thread` waits for child runs, drive in the foreground (as far as `wait`
    /// says) each that no other process holds, then say whether the parent is due now
    /// (a child finished, so the store woke it): the caller goes on with it.
    pub(super) async fn drive_children(
        &self,
        thread: &str,
        wait: super::Wait,
    ) -> Result<bool, RuntimeError> {
        let parent = self.load(thread).await?;
        let Some(Wait::Children { threads }) = parent
            .waiting
            .filter(|_| parent.status == RunStatus::Waiting)
        else {
            return Ok(false);
        };
        for child in &threads {
            let (run, lease) = match self.claim(child).await {
                Ok(claimed) => claimed,
                // Another process drives it: the parent wakes when it finishes.
                Err(RuntimeError::Store(StoreError::Leased { .. })) => continue,
                Err(other) => return Err(other),
            };
            if matches!(
                run.status,
                RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
            ) {
                self.store.release(self.owner(), child).await?;
                continue;
            }
            self.emit(super::Event::Started {
                thread: child.clone(),
                workflow_path: run.workflow_path.clone(),
            });
            // (Boxed: a child may have children of its own.)
            Box::pin(self.drive_foreground(child, wait, Some(run), lease)).await?;
        }
        let parent = self.load(thread).await?;
        let mut due = parent.status != RunStatus::Waiting
            || parent.wake_at_ms.is_some_and(|t| t <= self.clock.now_ms());
        if !due {
            // The store wakes the parent in the child's last write; this process
            // holds the parent and saw a child finish, so it goes on with it
            // whatever that said.
            for child in &threads {
                let status = self.load(child).await?.status;
                if matches!(
                    status,
                    RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
                ) {
                    self.store.set_status(thread, RunStatus::Running).await?;
                    due = true;
                    break;
                }
            }
        }
        if due {
            self.emit(super::Event::Resuming {
                thread: thread.to_string(),
                step: parent.step + 1,
                was: parent.status,
            });
        }
        Ok(due)
    }
}
