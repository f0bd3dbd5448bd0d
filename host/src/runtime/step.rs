//! Driving one run: the loop of steps.

use std::time::Instant;

use serde_json::{Map, Value};

use super::{Event, Runtime, RuntimeError};
use crate::plugin::{CallInput, LogRecord, Outcome};
use crate::store::{CheckpointStore, LogLine, RunRecord, RunStatus, StepCommit, StepFailure};
use crate::workflow::Workflow;

/// How one step ended.
enum StepEnd {
    /// A checkpoint was committed; the run goes on (or is complete).
    Committed,
    /// The attempt failed and the run was marked failed.
    Failed,
}

impl<S: CheckpointStore> Runtime<S> {
    /// Run steps until the run completes or fails. Returns the run's final record.
    pub(super) async fn drive(
        &self,
        mut run: RunRecord,
        workflow: &Workflow,
    ) -> Result<RunRecord, RuntimeError> {
        if run.status != RunStatus::Running {
            self.store
                .set_status(&run.thread, RunStatus::Running)
                .await?;
            run.status = RunStatus::Running;
            run.error = None;
        }
        loop {
            if run.next.is_empty() {
                if run.status != RunStatus::Completed {
                    self.store
                        .set_status(&run.thread, RunStatus::Completed)
                        .await?;
                }
                break;
            }
            match self.step(&mut run, workflow).await? {
                StepEnd::Committed if run.next.is_empty() => break,
                StepEnd::Committed => continue,
                StepEnd::Failed => break,
            }
        }
        self.load(&run.thread).await
    }

    /// One step: call the next node and commit what it returned, or record
    /// why it failed. `run` is updated to the committed position.
    async fn step(
        &self,
        run: &mut RunRecord,
        workflow: &Workflow,
    ) -> Result<StepEnd, RuntimeError> {
        let step = run.step + 1;
        let attempt = run.attempt + 1;
        // One node per step until parallel branches arrive.
        let node_name = run.next[0].clone();
        let fail = |error: String, digest: Option<String>, logs: Vec<LogLine>| StepFailure {
            thread: run.thread.clone(),
            step,
            node: node_name.clone(),
            component_digest: digest,
            attempt,
            error,
            logs,
        };

        if run.step >= workflow.max_steps {
            let error = format!(
                "the run reached max_steps = {} before node \"{node_name}\"; raise max_steps in \
                 the workflow file if the loop is intended",
                workflow.max_steps
            );
            return self.record_failure(fail(error, None, Vec::new())).await;
        }
        let Some(node) = workflow.nodes.get(&node_name) else {
            let error = format!(
                "node \"{node_name}\" is not in workflow \"{}\"",
                workflow.name
            );
            return self.record_failure(fail(error, None, Vec::new())).await;
        };
        let plugin = match self.plugin(&node.plugin).await {
            Ok(plugin) => plugin,
            Err(reason) => {
                let error = format!(
                    "node \"{node_name}\": cannot load plugin \"{}\": {reason}",
                    node.plugin
                );
                return self.record_failure(fail(error, None, Vec::new())).await;
            }
        };

        let input = CallInput {
            thread: run.thread.clone(),
            node: node_name.clone(),
            step,
            attempt,
            config: node.config.clone(),
            resume: None,
            idempotency_key: format!("{}/{step}/{node_name}", run.thread),
            timeout: None,
        };
        let state_text = Value::Object(run.state.clone()).to_string();
        let started = Instant::now();
        let output = plugin.call(&input, state_text).await;
        let elapsed = started.elapsed();
        let logs = self.log_lines(step, &node_name, attempt, output.logs);
        let digest = Some(plugin.digest.clone());
        let who = format!("node \"{node_name}\" (plugin {})", plugin.name);

        let (update, goto) = match output.result {
            Ok(Outcome::Update { state, goto }) => (state, goto),
            Ok(Outcome::Interrupt(_)) | Ok(Outcome::Sleep { .. }) => {
                let error = format!(
                    "{who} asked to park the run (interrupt or sleep), which this version of \
                     savepoint does not support yet"
                );
                return self.record_failure(fail(error, digest, logs)).await;
            }
            Err(call_error) => {
                let error = format!("{who} {call_error}");
                return self.record_failure(fail(error, digest, logs)).await;
            }
        };

        let mut state: Map<String, Value> = run.state.clone();
        if let Err(e) = workflow.apply_update(&mut state, update) {
            let error = format!("{who} returned an update that cannot be merged: {e}");
            return self.record_failure(fail(error, digest, logs)).await;
        }
        let next = match workflow.route(&node_name, goto.as_deref()) {
            Ok(next) => next,
            Err(e) => {
                let error = format!("{who}: {e}");
                return self.record_failure(fail(error, digest, logs)).await;
            }
        };
        let status = if next.is_empty() {
            RunStatus::Completed
        } else {
            RunStatus::Running
        };
        self.store
            .commit_step(StepCommit {
                thread: run.thread.clone(),
                step,
                node: node_name.clone(),
                component_digest: plugin.digest.clone(),
                state: state.clone(),
                next: next.clone(),
                status,
                logs,
            })
            .await?;
        self.emit(Event::Committed {
            thread: run.thread.clone(),
            step,
            node: node_name,
            plugin: plugin.name.clone(),
            digest: plugin.digest.clone(),
            elapsed,
            next: next.clone(),
        });
        run.step = step;
        run.state = state;
        run.next = next;
        run.status = status;
        run.attempt = 0;
        Ok(StepEnd::Committed)
    }

    async fn record_failure(&self, failure: StepFailure) -> Result<StepEnd, RuntimeError> {
        let event = Event::Failed {
            thread: failure.thread.clone(),
            step: failure.step,
            node: failure.node.clone(),
            error: failure.error.clone(),
        };
        self.store.fail_step(failure).await?;
        self.emit(event);
        Ok(StepEnd::Failed)
    }

    fn log_lines(&self, step: u64, node: &str, attempt: u32, logs: Vec<LogRecord>) -> Vec<LogLine> {
        let at_ms = self.clock.now_ms();
        logs.into_iter()
            .map(|record| LogLine {
                step,
                node: node.to_string(),
                attempt,
                level: record.level.as_str().to_string(),
                message: record.message,
                at_ms,
            })
            .collect()
    }
}
