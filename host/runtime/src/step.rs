//! One step of a run, its effects: call the step's nodes (several at once
//! for parallel branches), ask [`decide`](super::decide) what that makes,
//! then commit the merged result as a checkpoint, or record a setback
//! (failure, retry wait, interrupt) without a checkpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::catalogue::CatalogueError;
use super::decide::{
    self, Branch, CommitPlan, Decision, Position, SendCall, SetbackPlan, StepError,
};
use super::secrets;
use super::sends::BranchCall;
use super::{Event, Runtime, RuntimeError};
use savepoint_plugin::{
    CallError, CallInput, CallLimits, HttpAllow, Lease, LogLimit, LogRecord, Outcome, Secrets,
    Signal,
};
use savepoint_store::{
    CheckpointStore, LogLine, PendingWrite, RunRecord, RunStatus, Setback, StepCommit, StepSetback,
    StoreErrorKind, Wait,
};
use savepoint_workflow::Workflow;

/// How a step ended.
#[derive(Debug)]
pub(super) enum StepEnd {
    /// A checkpoint was committed and the run goes on now, from this
    /// position (what the store now holds: no need to read it back).
    Continue(Box<RunRecord>),
    /// The run completed, parked (sleeping, retrying, interrupted) or failed;
    /// with the run as its commit left it, if a checkpoint was committed.
    Stop(Option<Box<RunRecord>>),
}

impl<S: CheckpointStore> Runtime<S> {
    /// Execute the run's next step, its calls under `lease`: call the nodes,
    /// then commit or record what [`decide`] says. `owner` fences the write:
    /// if another process took the run over, nothing is written.
    pub(super) async fn step(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        owner: Option<&str>,
        lease: &Lease,
    ) -> Result<StepEnd, RuntimeError> {
        let at = Position::from(run);
        if let Some(setback) = decide::over_max_steps(workflow, at) {
            return self
                .record_setback(run, workflow, owner, setback, Vec::new(), None)
                .await;
        }

        // Branches that succeeded in an earlier attempt at this step are not
        // run again: their updates were stored as pending writes.
        let to_call: Vec<&str> = run
            .next
            .iter()
            .map(String::as_str)
            .filter(|n| !run.pending.iter().any(|w| w.node == *n))
            .collect();
        let state_text = serde_json::to_string(&run.state).map_err(|error| {
            RuntimeError::Store(savepoint_store::StoreError::Corrupt(format!(
                "thread \"{}\": cannot encode the state: {error}",
                run.thread
            )))
        })?;
        let started = Instant::now();
        // (Collected first: a stream over a borrowing closure would not be `Send`
        // for the daemon's spawn, a known limit of rustc's lifetime inference.)
        let calls: Vec<_> = to_call
            .iter()
            .map(|branch| self.call_node(run, workflow, branch, &state_text, lease))
            .collect();
        // All on this task (no spawn): the calls borrow the run and the lease. At
        // most `max_concurrency` at once (a fan-out of a thousand sends would
        // otherwise take the whole instance pool); answers come back in order.
        let at_once = usize::try_from(workflow.max_concurrency).unwrap_or(usize::MAX);
        let results: Vec<_> = futures_util::stream::iter(calls)
            .buffered(at_once)
            .collect()
            .await;
        let elapsed = started.elapsed();

        let mut branches: BTreeMap<&str, Branch> = BTreeMap::new();
        let mut logs = Vec::new();
        // The signal a call received counts as delivered when the call returned an
        // outcome (whatever the step then does); a failed call leaves it in the
        // mailbox for the retry.
        let mut received = None;
        for (node, result) in to_call.iter().zip(results) {
            let (branch, lines, signal) = result?;
            logs.extend(lines);
            if !matches!(branch, Branch::Failed { .. } | Branch::Abandoned) {
                received = received.or(signal);
            }
            branches.insert(node, branch);
        }
        let now_ms = self.clock.now_ms();
        match decide::decide(workflow, at, &branches, now_ms, fastrand::f64()) {
            Decision::Abandon => Err(RuntimeError::LeaseExpired {
                thread: run.thread.clone(),
            }),
            Decision::Setback(setback) => {
                self.record_setback(run, workflow, owner, setback, logs, received)
                    .await
            }
            Decision::Commit(commit) => {
                self.commit(run, owner, commit, logs, elapsed, received)
                    .await
            }
        }
    }

    /// Commit the checkpoint `plan` with the step's `logs`; `elapsed` is the
    /// time the calls took; `received`, the signal a call of the step received
    /// (delivered by this commit).
    async fn commit(
        &self,
        run: &RunRecord,
        owner: Option<&str>,
        plan: CommitPlan,
        logs: Vec<LogLine>,
        elapsed: Duration,
        received: Option<u64>,
    ) -> Result<StepEnd, RuntimeError> {
        let step = run.step + 1;
        let status = plan.then.status();
        let commit = StepCommit {
            thread: run.thread.clone(),
            step,
            node: node_list_plain(&run.next),
            component_digest: plan.digests.join(","),
            changes: plan.changes,
            state: plan.state,
            next: plan.next.clone(),
            status,
            logs,
            owner: owner.map(str::to_string),
            joins: plan.joins,
            wakes: plan.wakes,
            wake_at_ms: plan.then.wake_at_ms(),
            send_inputs: plan.send_inputs,
            consumed_signal: received,
        };
        let committing = Instant::now();
        let after = self.store.commit_step(commit).await?;
        let commit = committing.elapsed();
        self.metrics
            .step_committed(&run.workflow_name, &run.next, commit);
        self.emit(Event::Committed {
            thread: run.thread.clone(),
            step,
            nodes: run.next.clone(),
            digests: plan.digests,
            elapsed,
            commit,
            next: plan.next,
            status,
            wake_at_ms: after.wake_at_ms,
        });
        Ok(match after.status {
            RunStatus::Running => StepEnd::Continue(Box::new(after)),
            _ => StepEnd::Stop(Some(Box::new(after))),
        })
    }

    /// Record the setback `plan` with the attempt's `logs`, delivering `received`:
    /// the signal a call of the attempt received and answered (it waited again, or
    /// a sibling failed).
    async fn record_setback(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        owner: Option<&str>,
        plan: SetbackPlan,
        logs: Vec<LogLine>,
        received: Option<u64>,
    ) -> Result<StepEnd, RuntimeError> {
        let error = plan.error.map(|error| match error {
            StepError::Said(text) => text,
            StepError::QuotesUpdate(text) => match workflow.nodes.get(&plan.node) {
                Some(node) => node_secrets(&node.config).redact_owned(text),
                None => text,
            },
        });
        let setback = StepSetback {
            thread: run.thread.clone(),
            step: run.step + 1,
            node: plan.node,
            owner: owner.map(str::to_string),
            attempt: plan.attempt,
            error,
            logs,
            pending: plan.pending,
            kind: plan.kind,
            consumed_signal: received,
        };
        let event = Event::Setback {
            thread: setback.thread.clone(),
            step: setback.step,
            node: setback.node.clone(),
            kind: setback.kind.clone(),
            error: setback.error.clone(),
        };
        let failed = matches!(setback.kind, Setback::Failed | Setback::Retry { .. });
        let node = failed.then(|| setback.node.clone());
        self.store.setback_step(setback).await?;
        if let Some(node) = node {
            self.metrics.attempt_failed(&run.workflow_name, &node);
        }
        self.emit(event);
        Ok(StepEnd::Stop(None))
    }

    /// Call one branch of the run's next step (a node, or a send: see
    /// `sends.rs`) under `lease`; with the id of the signal it received, if the
    /// run woke from waiting for one at this branch (see [`Self::signal_for`]).
    /// Every problem of the node is a branch failure
    /// naming it; only a database that does not answer
    /// (its plugin's stored bytes could not be read) fails the call, ending the
    /// step without a write: the step runs again once the database answers, and
    /// no run fails for an outage.
    async fn call_node(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        branch: &str,
        state_text: &str,
        lease: &Lease,
    ) -> Result<(Branch, Vec<LogLine>, Option<u64>), RuntimeError> {
        let (step, attempt) = (run.step + 1, run.attempt + 1);
        let call = BranchCall::new(branch);
        let Some(node) = workflow.nodes.get(call.node) else {
            let error = format!("node \"{branch}\" is not in workflow \"{}\"", workflow.name);
            return Ok((
                Branch::Failed {
                    error,
                    retryable: false,
                },
                Vec::new(),
                None,
            ));
        };
        if let Some(sub) = &node.workflow {
            let branch = self.child_branch(run, node, sub, branch).await?;
            return Ok((branch, Vec::new(), None));
        }
        let plugin = self
            .plugins
            .for_run(&*self.store, &run.plugins, &node.plugin);
        let plugin = match plugin.await {
            Ok(plugin) => plugin,
            Err(CatalogueError::Store(error)) if error.kind() == StoreErrorKind::RetryLater => {
                return Err(error.into());
            }
            Err(reason) => {
                let error = format!(
                    "node \"{branch}\": cannot load plugin \"{}\": {reason}",
                    node.plugin
                );
                return Ok((
                    Branch::Failed {
                        error,
                        retryable: false,
                    },
                    Vec::new(),
                    None,
                ));
            }
        };
        let (config, secrets) =
            match secrets::resolve(&node.config, &|name| std::env::var(name).ok()) {
                Ok(resolved) => resolved,
                Err(reason) => {
                    let error = format!("node \"{branch}\": {reason}");
                    return Ok((
                        Branch::Failed {
                            error,
                            retryable: false,
                        },
                        Vec::new(),
                        None,
                    ));
                }
            };
        let state_text = match call.state(run, state_text) {
            Ok(text) => text,
            Err(error) => {
                let failed = Branch::Failed {
                    error,
                    retryable: false,
                };
                return Ok((failed, Vec::new(), None));
            }
        };
        let (signal, wait_timed_out) = self.signal_for(run, branch).await?;
        let input = CallInput {
            thread: run.thread.clone(),
            node: call.node.to_string(),
            step,
            attempt,
            config,
            resume: run.resume.clone(),
            interrupt_timed_out: run.timed_out || wait_timed_out,
            wakes: run.wakes,
            idempotency_key: call.idempotency_key(&run.thread, step),
            signal: signal.as_ref().map(|signal| Signal {
                name: signal.name.clone(),
                data: signal.data.clone(),
            }),
            send_index: call.send_index,
            timeout: node.timeout,
            limits: limits(&node.limits),
            reuse: node.reuse,
            // Everything the call returns comes back redacted (the plugin
            // does it at the boundary, before anything is cut or kept).
            secrets: Secrets::new(secrets),
            lease: Some(lease.clone()),
        };
        let _slot = self
            .node_slots
            .acquire(&run.workflow_name.as_str().into())
            .await;
        let called = Instant::now();
        let output = plugin.call(&input, state_text).await;
        self.metrics
            .node_called(&run.workflow_name, call.node, called.elapsed());
        let logs = self.log_lines(step, branch, attempt, output.logs);
        let who = format!("node \"{branch}\" (plugin {})", plugin.name);
        let write = |update: Map<String, Value>, goto: Option<String>| PendingWrite {
            node: branch.to_string(),
            update,
            goto,
            component_digest: plugin.digest.clone(),
        };
        let branch = match output.result {
            Ok(Outcome::Update { state, goto, sends }) if !sends.is_empty() => Branch::Fanout {
                write: write(state, goto),
                sends: sends
                    .into_iter()
                    .map(|send| SendCall {
                        node: send.node,
                        input: send.input,
                    })
                    .collect(),
            },
            Ok(Outcome::Update { state, goto, .. }) => Branch::Write {
                write: write(state, goto),
                sleep: None,
            },
            Ok(Outcome::WaitSignal { name, timeout }) => Branch::Wait {
                wait: Wait::Signal {
                    name,
                    node: branch.to_string(),
                },
                timeout,
            },
            Ok(Outcome::Sleep { duration, state }) => Branch::Write {
                write: write(state, None),
                sleep: Some(duration),
            },
            Ok(Outcome::Interrupt { payload, timeout }) => Branch::Interrupt { payload, timeout },
            Err(CallError::LeaseExpired) => Branch::Abandoned,
            Err(error) => Branch::Failed {
                retryable: error.is_retryable(),
                error: match &error {
                    CallError::Timeout(limit) => {
                        format!(
                            "{who} timed out after {} (timeout in the workflow file)",
                            savepoint_base::units::humanize(*limit)
                        )
                    }
                    other => format!("{who} {other}"),
                },
            },
        };
        Ok((branch, logs, signal.map(|signal| signal.id)))
    }

    /// What a call of `branch` receives when the run woke from waiting for a signal at
    /// this branch: the oldest undelivered signal of that name in its mailbox, or, when
    /// there is none (the wait's deadline passed first), that the wait timed out (the
    /// call sees `interrupt-timed-out`). `(None, false)` for any other call. (A run that
    /// crashed after waking has forgotten what it waited for: its node waits again, and
    /// the store wakes it at once for the signal that is there.)
    async fn signal_for(
        &self,
        run: &RunRecord,
        branch: &str,
    ) -> Result<(Option<savepoint_store::Signal>, bool), RuntimeError> {
        match &run.waiting {
            Some(Wait::Signal { name, node }) if node == branch => {
                let signal = match run.timed_out {
                    true => None,
                    false => self.store.next_signal(&run.thread, name).await?,
                };
                let timed_out = signal.is_none();
                Ok((signal, timed_out))
            }
            _ => Ok((None, false)),
        }
    }

    fn log_lines(&self, step: u64, node: &str, attempt: u32, logs: Vec<LogRecord>) -> Vec<LogLine> {
        let at_ms = self.clock.now_ms();
        logs.into_iter()
            .map(|record| LogLine {
                id: 0,
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

/// The secrets of a node's config, as its calls see them.
fn node_secrets(config: &Value) -> Secrets {
    match secrets::resolve(config, &|name| std::env::var(name).ok()) {
        Ok((_, values)) => Secrets::new(values),
        Err(_) => Secrets::default(),
    }
}

/// What a call of `node` may use, from the workflow file.
fn limits(limits: &savepoint_workflow::Limits) -> CallLimits {
    CallLimits {
        memory: usize::try_from(limits.memory).unwrap_or(usize::MAX),
        fuel: limits.fuel,
        max_state: usize::try_from(limits.max_state).unwrap_or(usize::MAX),
        max_log: LogLimit {
            lines: usize::try_from(limits.max_log.lines).unwrap_or(usize::MAX),
            bytes: usize::try_from(limits.max_log.bytes).unwrap_or(usize::MAX),
        },
        allow_http: limits
            .allow_http
            .iter()
            .map(|grant| HttpAllow {
                host: grant.host.clone(),
                port: grant.port,
            })
            .collect(),
    }
}

fn node_list_plain(nodes: &[String]) -> String {
    nodes.join(",")
}

/// Whether a failed run's error, as its step recorded it (`node "N" (plugin
/// P) fatal failure: ...`), is the node's own fatal failure (`failure.fatal`):
/// a replay runs the node on the same state, so it fails the same way unless
/// the cause was outside the state. (Node and plugin names hold no `) `.)
pub fn is_fatal_failure(error: &str) -> bool {
    error
        .strip_prefix("node \"")
        .and_then(|rest| rest.split_once(") "))
        .is_some_and(|(_, failure)| failure.starts_with("fatal failure: "))
}
