//! One step of a run: call the step's nodes (several at once for parallel
//! branches), then commit the merged result as a checkpoint, or record a
//! setback (failure, retry wait, interrupt) without a checkpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::secrets;
use super::{Event, Runtime, RuntimeError};
use savepoint_plugin::{
    CallError, CallInput, CallLimits, HttpAllow, Lease, LogLimit, LogRecord, Outcome, Plugin,
    Secrets,
};
use savepoint_store::{
    CheckpointStore, LONGEST_WAIT, LogLine, PendingWrite, RunRecord, RunStatus, Setback,
    StepCommit, StepSetback, wake_time,
};
use savepoint_workflow::Workflow;

/// What one node of the step produced.
enum Branch {
    /// An update to merge (from `update`, or from `sleep` when `sleep` is set).
    Write {
        write: PendingWrite,
        sleep: Option<Duration>,
    },
    Interrupt {
        payload: Value,
        timeout: Option<Duration>,
    },
    Failed {
        error: String,
        retryable: bool,
    },
    /// The call was not made, or was stopped, because the lease expired: the
    /// step must end without writing anything.
    Abandoned,
}

/// How a step ended.
#[derive(Debug)]
pub(super) enum StepEnd {
    /// A checkpoint was committed and the run goes on now, from this
    /// position (what the store now holds: no need to read it back).
    Continue(Box<RunRecord>),
    /// The run completed, parked (sleeping, retrying, interrupted) or failed.
    Stop,
}

impl<S: CheckpointStore> Runtime<S> {
    /// Execute the run's next step, its calls under `lease`. `owner` fences
    /// the write: if another process took the run over, nothing is written.
    pub(super) async fn step(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        owner: Option<&str>,
        lease: &Lease,
    ) -> Result<StepEnd, RuntimeError> {
        let step = run.step + 1;
        let attempt = run.attempt + 1;
        let nodes = run.next.clone();
        let mut setback = StepSetback {
            thread: run.thread.clone(),
            step,
            node: nodes.join(", "),
            owner: owner.map(str::to_string),
            attempt,
            error: None,
            logs: Vec::new(),
            pending: Vec::new(),
            kind: Setback::Failed,
        };
        if run.step >= workflow.max_steps {
            setback.error = Some(format!(
                "the run reached max_steps = {} before {}; raise max_steps in the workflow \
                 file if the loop is intended",
                workflow.max_steps,
                node_list(&nodes)
            ));
            return self.record_setback(setback).await;
        }

        // Branches that succeeded in an earlier attempt at this step are not
        // run again: their updates were stored as pending writes.
        let done: BTreeMap<&str, &PendingWrite> =
            run.pending.iter().map(|w| (w.node.as_str(), w)).collect();
        let to_call: Vec<&str> = nodes
            .iter()
            .map(String::as_str)
            .filter(|n| !done.contains_key(n))
            .collect();
        let state_text = serde_json::to_string(&run.state).map_err(|error| {
            RuntimeError::Store(savepoint_store::StoreError::Corrupt(format!(
                "thread \"{}\": cannot encode the state: {error}",
                run.thread
            )))
        })?;
        let started = Instant::now();
        let calls = to_call
            .iter()
            .map(|node| self.call_node(run, workflow, node, state_text.clone(), lease));
        // All on this task (no spawn): the calls borrow the run and the lease.
        let results = futures_util::future::join_all(calls).await;
        let elapsed = started.elapsed();

        let mut branches: BTreeMap<&str, Branch> = BTreeMap::new();
        for (node, (branch, logs)) in to_call.iter().zip(results) {
            setback.logs.extend(logs);
            branches.insert(node, branch);
        }
        // The run may be someone else's by now: write nothing, whatever the
        // other branches did.
        if branches.values().any(|b| matches!(b, Branch::Abandoned)) {
            return Err(RuntimeError::LeaseExpired {
                thread: run.thread.clone(),
            });
        }

        // Failures first: any failed branch decides the step.
        let failures: Vec<(&str, &String, bool)> = nodes
            .iter()
            .filter_map(|n| match branches.get(n.as_str()) {
                Some(Branch::Failed { error, retryable }) => Some((n.as_str(), error, *retryable)),
                _ => None,
            })
            .collect();
        // On a setback, finished branches are kept as pending writes; a
        // sleeping branch is not (it runs again).
        setback.pending = successful_writes(&nodes, &done, &branches, false);
        if let Some(&(first, error, _)) = failures.first() {
            setback.node = first.to_string();
            setback.error = Some(error.clone());
            let tries = attempt.saturating_sub(run.retry_base);
            let mut wait = Some(Duration::ZERO);
            for (node, _, retryable) in &failures {
                let policy = &workflow.nodes[*node].retry;
                wait = match wait {
                    Some(longest) if *retryable && policy.allows_another(tries) => {
                        Some(longest.max(policy.delay(tries + 1, fastrand::f64())))
                    }
                    _ => None,
                };
            }
            setback.kind = match wait {
                Some(delay) => Setback::Retry {
                    wake_at_ms: wake_time(self.clock.now_ms(), delay),
                },
                None => Setback::Failed,
            };
            return self.record_setback(setback).await;
        }

        // Then interrupts: park until someone answers.
        let interrupts: Vec<(&str, &Value, Option<Duration>)> = nodes
            .iter()
            .filter_map(|n| match branches.get(n.as_str()) {
                Some(Branch::Interrupt { payload, timeout }) => {
                    Some((n.as_str(), payload, *timeout))
                }
                _ => None,
            })
            .collect();
        if let Some(&(first, payload, _)) = interrupts.first() {
            // A deadline 100 years off or further is none: the interrupt waits forever.
            let deadline = interrupts
                .iter()
                .filter_map(|(_, _, t)| *t)
                .filter(|t| *t < LONGEST_WAIT)
                .min();
            setback.node = first.to_string();
            // An interrupt is not a failed attempt.
            setback.attempt = run.attempt;
            setback.kind = Setback::Interrupted {
                payload: payload.clone(),
                deadline_ms: deadline.map(|d| wake_time(self.clock.now_ms(), d)),
            };
            return self.record_setback(setback).await;
        }

        // Every branch wrote: merge in the step's order, route, commit.
        setback.pending = successful_writes(&nodes, &done, &branches, true);
        self.commit(run, workflow, owner, &nodes, setback, &branches, elapsed)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        owner: Option<&str>,
        nodes: &[String],
        mut setback: StepSetback,
        branches: &BTreeMap<&str, Branch>,
        elapsed: Duration,
    ) -> Result<StepEnd, RuntimeError> {
        let writes = std::mem::take(&mut setback.pending);
        let sleeps: Vec<(&str, Duration)> = nodes
            .iter()
            .filter_map(|n| match branches.get(n.as_str()) {
                Some(Branch::Write { sleep: Some(d), .. }) => Some((n.as_str(), *d)),
                _ => None,
            })
            .collect();
        let mut state: Map<String, Value> = run.state.clone();
        let mut completed = Vec::new();
        for write in &writes {
            let who = format!("node \"{}\"", write.node);
            if let Err(e) = workflow.apply_update(&mut state, write.update.clone()) {
                setback.node = write.node.clone();
                // The message quotes the update, which is not redacted
                // (the state is the node's own): redact the quote.
                let secrets = match workflow.nodes.get(&write.node) {
                    Some(node) => node_secrets(&node.config),
                    None => Secrets::default(),
                };
                setback.error = Some(secrets.redact_owned(format!(
                    "{who} returned an update that cannot be merged: {e}"
                )));
                setback.pending = Vec::new();
                return self.record_setback(setback).await;
            }
            if sleeps.iter().any(|(n, _)| *n == write.node) {
                continue;
            }
            match workflow.route(&write.node, write.goto.as_deref()) {
                Ok(targets) => completed.push((write.node.clone(), targets)),
                Err(e) => {
                    setback.node = write.node.clone();
                    setback.error = Some(format!("{who}: {e}"));
                    setback.pending = Vec::new();
                    return self.record_setback(setback).await;
                }
            }
        }
        let (mut next, joins) = workflow.advance(&run.joins, &completed);
        let (status, wake_at_ms, wakes) = if sleeps.is_empty() {
            let status = if next.is_empty() {
                RunStatus::Completed
            } else {
                RunStatus::Running
            };
            (status, None, 0)
        } else {
            // Sleeping nodes run again when the run wakes, before the others.
            let mut again: Vec<String> = sleeps.iter().map(|(n, _)| n.to_string()).collect();
            again.extend(
                next.into_iter()
                    .filter(|n| !sleeps.iter().any(|(s, _)| s == n)),
            );
            next = again;
            let longest = sleeps.iter().map(|(_, d)| *d).max().unwrap_or_default();
            (
                RunStatus::Sleeping,
                // A sleep longer than 100 years sleeps 100 years.
                Some(wake_time(self.clock.now_ms(), longest)),
                run.wakes + 1,
            )
        };
        // Only the keys whose value changed are written.
        let mut changes = Map::new();
        for key in writes.iter().flat_map(|w| w.update.keys()) {
            if let Some(value) = state.get(key)
                && !changes.contains_key(key)
                && run.state.get(key) != Some(value)
            {
                changes.insert(key.clone(), value.clone());
            }
        }
        let digests: Vec<&str> = writes.iter().map(|w| w.component_digest.as_str()).collect();
        let commit = StepCommit {
            thread: run.thread.clone(),
            step: setback.step,
            node: node_list_plain(nodes),
            component_digest: digests.join(","),
            changes,
            state,
            next: next.clone(),
            status,
            logs: setback.logs,
            owner: owner.map(str::to_string),
            joins,
            wakes,
            wake_at_ms,
        };
        let committing = Instant::now();
        let after = self.store.commit_step(commit).await?;
        let commit = committing.elapsed();
        self.emit(Event::Committed {
            thread: run.thread.clone(),
            step: setback.step,
            nodes: nodes.to_vec(),
            digests: digests.iter().map(|d| d.to_string()).collect(),
            elapsed,
            commit,
            next,
            status,
        });
        Ok(match after.status {
            RunStatus::Running => StepEnd::Continue(Box::new(after)),
            _ => StepEnd::Stop,
        })
    }

    /// Call one node of the run's next step under `lease`; never fails:
    /// every problem is a branch failure naming the node.
    async fn call_node(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        node_name: &str,
        state_text: String,
        lease: &Lease,
    ) -> (Branch, Vec<LogLine>) {
        let (step, attempt) = (run.step + 1, run.attempt + 1);
        let Some(node) = workflow.nodes.get(node_name) else {
            let error = format!(
                "node \"{node_name}\" is not in workflow \"{}\"",
                workflow.name
            );
            return (
                Branch::Failed {
                    error,
                    retryable: false,
                },
                Vec::new(),
            );
        };
        let plugin: std::sync::Arc<Plugin> = match self.plugin(run, &node.plugin).await {
            Ok(plugin) => plugin,
            Err(reason) => {
                let error = format!(
                    "node \"{node_name}\": cannot load plugin \"{}\": {reason}",
                    node.plugin
                );
                return (
                    Branch::Failed {
                        error,
                        retryable: false,
                    },
                    Vec::new(),
                );
            }
        };
        let (config, secrets) =
            match secrets::resolve(&node.config, &|name| std::env::var(name).ok()) {
                Ok(resolved) => resolved,
                Err(reason) => {
                    let error = format!("node \"{node_name}\": {reason}");
                    return (
                        Branch::Failed {
                            error,
                            retryable: false,
                        },
                        Vec::new(),
                    );
                }
            };
        let input = CallInput {
            thread: run.thread.clone(),
            node: node_name.to_string(),
            step,
            attempt,
            config,
            resume: run.resume.clone(),
            interrupt_timed_out: run.timed_out,
            wakes: run.wakes,
            idempotency_key: format!("{}/{step}/{node_name}", run.thread),
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
        let output = plugin.call(&input, state_text).await;
        let logs = self.log_lines(step, node_name, attempt, output.logs);
        let who = format!("node \"{node_name}\" (plugin {})", plugin.name);
        let write = |update: Map<String, Value>, goto: Option<String>| PendingWrite {
            node: node_name.to_string(),
            update,
            goto,
            component_digest: plugin.digest.clone(),
        };
        let branch = match output.result {
            Ok(Outcome::Update { state, goto }) => Branch::Write {
                write: write(state, goto),
                sleep: None,
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
        (branch, logs)
    }

    async fn record_setback(&self, setback: StepSetback) -> Result<StepEnd, RuntimeError> {
        let event = Event::Setback {
            thread: setback.thread.clone(),
            step: setback.step,
            node: setback.node.clone(),
            kind: setback.kind.clone(),
            error: setback.error.clone(),
        };
        self.store.setback_step(setback).await?;
        self.emit(event);
        Ok(StepEnd::Stop)
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

/// The writes of every branch that succeeded, earlier or now, in step order.
fn successful_writes(
    nodes: &[String],
    done: &BTreeMap<&str, &PendingWrite>,
    branches: &BTreeMap<&str, Branch>,
    with_sleeps: bool,
) -> Vec<PendingWrite> {
    nodes
        .iter()
        .filter_map(|n| match (done.get(n.as_str()), branches.get(n.as_str())) {
            (Some(write), _) => Some((*write).clone()),
            (None, Some(Branch::Write { write, sleep })) if sleep.is_none() || with_sleeps => {
                Some(write.clone())
            }
            _ => None,
        })
        .collect()
}

fn node_list(nodes: &[String]) -> String {
    let quoted: Vec<String> = nodes.iter().map(|n| format!("node \"{n}\"")).collect();
    quoted.join(" and ")
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
