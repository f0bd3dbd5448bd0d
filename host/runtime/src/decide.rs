//! What a step does with what its nodes returned: a pure decision (plain
//! values in, a plan out: no store, no plugin, no clock). `step.rs` calls the
//! nodes, asks [`decide`], then commits or records what it says.
//!
//! The rules, in order; the first that applies decides the step:
//! 1. A branch gave up because the lease expired: nothing is written (the run
//!    may be someone else's by now), whatever the others did.
//! 2. Failures: any failed branch fails the attempt, recorded against the
//!    first failed node in the step's order. It is retried when every failed
//!    branch may be tried again (a retryable failure, and its node's retry
//!    budget not spent), after the longest of their delays; else the run
//!    fails.
//! 3. Interrupts: the run waits for an answer (to the first interrupt in the
//!    step's order), until the earliest deadline among them. Not a failed
//!    attempt.
//!
//! 3b. Waits: the run waits (status `waiting`) for the first signal wait in
//!    the step's order if there is one (child runs are looked at again when it
//!    wakes), else for every child run the step waits for; until the earliest
//!    deadline among them.
//!
//!    On a failure, an interrupt or a wait, the branches that finished are kept
//!    as pending writes, so they are not run again; a sleeping one is not kept
//!    (it runs again), nor one that sent (a pending write holds no sends).
//! 4. Writes: every branch's update (those kept from an earlier attempt
//!    included) is merged in the step's order and routed. An update that
//!    cannot be merged, or a route that fails, fails the run. A branch that
//!    sent is routed along its sends (see `sends.rs`): each is a branch of the
//!    next step, numbered in the step's order; a send's own branch routes by
//!    its node's edges. A bad send (an unknown node, a join, more than
//!    `max_fanout` in the step) fails the run at the node that sent it.
//! 5. Sleepers: when a branch sleeps, the run commits and sleeps as long as
//!    the longest sleeper; the sleeping nodes run again first when it wakes
//!    (they are not routed). Else the run goes on with the next nodes, or
//!    completes when there are none.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};

use savepoint_store::{LONGEST_WAIT, PendingWrite, RunRecord, RunStatus, Setback, Wait, wake_time};
use savepoint_workflow::{Workflow, branch_node};

mod sends;
pub(crate) use sends::SendCall;
use sends::Sends;

/// What one node of the step produced.
#[derive(Debug, Clone)]
pub(crate) enum Branch {
    /// An update to merge (from `update`, or from `sleep` when `sleep` is set).
    Write {
        write: PendingWrite,
        sleep: Option<Duration>,
    },
    Interrupt {
        payload: Value,
        timeout: Option<Duration>,
    },
    /// An update with sends (fan-out): the sends are the branch's route; its
    /// node's edges and goto are not followed.
    Fanout {
        write: PendingWrite,
        sends: Vec<SendCall>,
    },
    Failed {
        error: String,
        retryable: bool,
    },
    /// The branch waits: for a signal (the node returned `wait-signal`, and no signal
    /// of that name is in the mailbox), or for its child run (a sub-workflow node
    /// whose child has not finished). Not a failed attempt.
    Wait {
        wait: Wait,
        timeout: Option<Duration>,
    },
    /// The call was not made, or was stopped, because the lease expired: the
    /// step must end without writing anything.
    Abandoned,
}

/// The run's position before the step: what [`decide`] reads of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Position<'a> {
    /// Steps committed so far.
    pub step: u64,
    /// The step's nodes, in order.
    pub nodes: &'a [String],
    pub state: &'a Map<String, Value>,
    pub joins: &'a BTreeMap<String, BTreeSet<String>>,
    /// Writes of branches that succeeded in an earlier attempt at this step:
    /// those nodes were not called again.
    pub kept: &'a [PendingWrite],
    /// Attempts made at this step before this one.
    pub attempt: u32,
    /// `attempt` when the run was last resumed by hand: the retry budget
    /// counts from here.
    pub retry_base: u32,
    pub wakes: u32,
    /// The inputs of the sends among `nodes`, by branch name.
    pub send_inputs: &'a BTreeMap<String, Value>,
    /// Where the workflow file was read from, for messages.
    pub workflow_path: &'a str,
}

impl<'a> From<&'a RunRecord> for Position<'a> {
    fn from(run: &'a RunRecord) -> Position<'a> {
        Position {
            step: run.step,
            nodes: &run.next,
            state: &run.state,
            joins: &run.joins,
            kept: &run.pending,
            attempt: run.attempt,
            retry_base: run.retry_base,
            wakes: run.wakes,
            send_inputs: &run.send_inputs,
            workflow_path: &run.workflow_path,
        }
    }
}

/// What the step does.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// A branch lost the lease: write nothing.
    Abandon,
    /// No checkpoint: record a setback.
    Setback(SetbackPlan),
    /// Commit a checkpoint.
    Commit(CommitPlan),
}

/// A setback to record (see [`savepoint_store::StepSetback`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SetbackPlan {
    /// The node it is recorded against (the step's nodes, for max_steps).
    pub node: String,
    /// Attempts made at this step, this one included unless it interrupted.
    pub attempt: u32,
    pub error: Option<StepError>,
    /// Branches that succeeded: kept so that they are not run again.
    pub pending: Vec<PendingWrite>,
    pub kind: Setback,
}

/// Why a step failed, as it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StepError {
    /// Recorded as it is (a node's failure comes back redacted already).
    Said(String),
    /// The message quotes an update of the setback's node, which may hold
    /// its secrets (the state is the node's own, so updates are not
    /// redacted): it is redacted with that node's secrets first.
    QuotesUpdate(String),
}

/// A checkpoint to commit (see [`savepoint_store::StepCommit`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CommitPlan {
    /// The component digest of each write, in the step's order.
    pub digests: Vec<String>,
    /// The whole state after the step.
    pub state: Map<String, Value>,
    /// Only the keys whose value changed.
    pub changes: Map<String, Value>,
    pub next: Vec<String>,
    pub joins: BTreeMap<String, BTreeSet<String>>,
    /// The inputs of the send branches among `next`.
    pub send_inputs: BTreeMap<String, Value>,
    pub then: Then,
    pub wakes: u32,
}

/// Where the run is once the checkpoint is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// It goes on at once with the next nodes.
    GoOn,
    /// No node is left.
    Complete,
    /// A branch sleeps: the run is due at `wake_at_ms`.
    Sleep { wake_at_ms: i64 },
}

impl Then {
    pub fn status(self) -> RunStatus {
        match self {
            Then::GoOn => RunStatus::Running,
            Then::Complete => RunStatus::Completed,
            Then::Sleep { .. } => RunStatus::Sleeping,
        }
    }

    pub fn wake_at_ms(self) -> Option<i64> {
        match self {
            Then::Sleep { wake_at_ms } => Some(wake_at_ms),
            _ => None,
        }
    }
}

/// The setback of a step the run may not take: it has made `max_steps`
/// steps already. Decided before any node is called.
pub(crate) fn over_max_steps(workflow: &Workflow, at: Position) -> Option<SetbackPlan> {
    (at.step >= workflow.max_steps).then(|| SetbackPlan {
        node: at.nodes.join(", "),
        attempt: at.attempt + 1,
        error: Some(StepError::Said(format!(
            "the run reached max_steps = {} before {}; raise max_steps in the workflow \
             file if the loop is intended",
            workflow.max_steps,
            node_list(at.nodes)
        ))),
        pending: Vec::new(),
        kind: Setback::Failed,
    })
}

/// What the step does, given what each called node returned (`branches`,
/// by node; the nodes of `at.kept` were not called), the time now, and
/// `jitter`, a random number in [0, 1) that spreads retry delays (one draw
/// per step, for every failed branch).
pub(crate) fn decide(
    workflow: &Workflow,
    at: Position,
    branches: &BTreeMap<&str, Branch>,
    now_ms: i64,
    jitter: f64,
) -> Decision {
    if branches.values().any(|b| matches!(b, Branch::Abandoned)) {
        return Decision::Abandon;
    }
    let in_order = || {
        at.nodes
            .iter()
            .filter_map(|n| Some((n, branches.get(n.as_str())?)))
    };
    let kept = |with_sleepers| successful_writes(at, branches, with_sleepers);

    let failures: Vec<(&String, &String, bool)> = in_order()
        .filter_map(|(node, branch)| match branch {
            Branch::Failed { error, retryable } => Some((node, error, *retryable)),
            _ => None,
        })
        .collect();
    if let Some(&(first, error, _)) = failures.first() {
        let kind = match retry_delay(workflow, at, &failures, jitter) {
            Some(delay) => Setback::Retry {
                wake_at_ms: wake_time(now_ms, delay),
            },
            None => Setback::Failed,
        };
        return Decision::Setback(SetbackPlan {
            node: first.to_string(),
            attempt: at.attempt + 1,
            error: Some(StepError::Said(error.clone())),
            pending: kept(Sleepers::Dropped),
            kind,
        });
    }

    let interrupts: Vec<(&String, &Value, Option<Duration>)> = in_order()
        .filter_map(|(node, branch)| match branch {
            Branch::Interrupt { payload, timeout } => Some((node, payload, *timeout)),
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
        return Decision::Setback(SetbackPlan {
            node: first.to_string(),
            // An interrupt is not a failed attempt.
            attempt: at.attempt,
            error: None,
            pending: kept(Sleepers::Dropped),
            kind: Setback::Interrupted {
                payload: payload.clone(),
                deadline_ms: deadline.map(|d| wake_time(now_ms, d)),
            },
        });
    }

    let waits: Vec<(&String, &Wait, Option<Duration>)> = in_order()
        .filter_map(|(node, branch)| match branch {
            Branch::Wait { wait, timeout } => Some((node, wait, *timeout)),
            _ => None,
        })
        .collect();
    if let Some(&(first, _, _)) = waits.first() {
        let deadline = waits
            .iter()
            .filter_map(|(_, _, t)| *t)
            .filter(|t| *t < LONGEST_WAIT)
            .min();
        let signal = waits
            .iter()
            .find(|(_, wait, _)| matches!(wait, Wait::Signal { .. }));
        let (node, wait) = match signal {
            Some((node, wait, _)) => (node.to_string(), (*wait).clone()),
            None => {
                let threads = waits
                    .iter()
                    .flat_map(|(_, wait, _)| match wait {
                        Wait::Children { threads } => threads.clone(),
                        Wait::Signal { .. } => Vec::new(),
                    })
                    .collect();
                (first.to_string(), Wait::Children { threads })
            }
        };
        return Decision::Setback(SetbackPlan {
            node,
            // A wait is not a failed attempt.
            attempt: at.attempt,
            error: None,
            pending: kept(Sleepers::Dropped),
            kind: Setback::Waiting {
                wait,
                deadline_ms: deadline.map(|d| wake_time(now_ms, d)),
            },
        });
    }

    merge(workflow, at, kept(Sleepers::Kept), branches, now_ms)
}

/// Rule 4 and 5: every branch wrote (or slept); merge in the step's order,
/// route, and say where the run goes.
fn merge(
    workflow: &Workflow,
    at: Position,
    writes: Vec<PendingWrite>,
    branches: &BTreeMap<&str, Branch>,
    now_ms: i64,
) -> Decision {
    let sleeps: Vec<(&str, Duration)> = at
        .nodes
        .iter()
        .filter_map(|n| match branches.get(n.as_str()) {
            Some(Branch::Write { sleep: Some(d), .. }) => Some((n.as_str(), *d)),
            _ => None,
        })
        .collect();
    let failed = |node: &str, error| {
        Decision::Setback(SetbackPlan {
            node: node.to_string(),
            attempt: at.attempt + 1,
            error: Some(error),
            pending: Vec::new(),
            kind: Setback::Failed,
        })
    };
    let mut state = at.state.clone();
    let mut completed = Vec::new();
    let mut sends = Sends::new(workflow, at.workflow_path);
    for write in &writes {
        let who = format!("node \"{}\"", write.node);
        if let Err(e) = workflow.apply_update(&mut state, write.update.clone()) {
            let message = format!("{who} returned an update that cannot be merged: {e}");
            return failed(&write.node, StepError::QuotesUpdate(message));
        }
        if sleeps.iter().any(|(n, _)| *n == write.node) {
            continue;
        }
        // A send's branch (`node#index`) routes by its node's edges, and arrives
        // at a join as its node.
        let (node, _) = branch_node(&write.node);
        let routed = match branches.get(write.node.as_str()) {
            Some(Branch::Fanout { sends: calls, .. }) => sends.route(&write.node, calls),
            _ => workflow
                .route(node, write.goto.as_deref())
                .map_err(|e| format!("{who}: {e}")),
        };
        match routed {
            Ok(targets) => completed.push((node.to_string(), targets)),
            Err(e) => return failed(&write.node, StepError::Said(e)),
        }
    }
    // A sleeping send runs again with its input.
    let mut send_inputs = sends.inputs;
    for (branch, _) in &sleeps {
        if let Some(input) = at.send_inputs.get(*branch) {
            send_inputs.insert(branch.to_string(), input.clone());
        }
    }
    let (mut next, joins) = workflow.advance(at.joins, &completed);
    let (then, wakes) = if sleeps.is_empty() {
        let then = match next.is_empty() {
            true => Then::Complete,
            false => Then::GoOn,
        };
        (then, 0)
    } else {
        // Sleeping nodes run again when the run wakes, before the others.
        let mut again: Vec<String> = sleeps.iter().map(|(n, _)| n.to_string()).collect();
        again.extend(
            next.into_iter()
                .filter(|n| !sleeps.iter().any(|(s, _)| s == n)),
        );
        next = again;
        let longest = sleeps.iter().map(|(_, d)| *d).max().unwrap_or_default();
        // A sleep longer than 100 years sleeps 100 years.
        let wake_at_ms = wake_time(now_ms, longest);
        (Then::Sleep { wake_at_ms }, at.wakes + 1)
    };
    let mut changes = Map::new();
    for key in writes.iter().flat_map(|w| w.update.keys()) {
        if let Some(value) = state.get(key)
            && !changes.contains_key(key)
            && at.state.get(key) != Some(value)
        {
            changes.insert(key.clone(), value.clone());
        }
    }
    Decision::Commit(CommitPlan {
        digests: writes.into_iter().map(|w| w.component_digest).collect(),
        state,
        changes,
        next,
        joins,
        send_inputs,
        then,
        wakes,
    })
}

/// How long to wait before the next attempt when every failed branch may
/// be tried again (the longest of their delays), else `None`: the run fails.
fn retry_delay(
    workflow: &Workflow,
    at: Position,
    failures: &[(&String, &String, bool)],
    jitter: f64,
) -> Option<Duration> {
    let tries = (at.attempt + 1).saturating_sub(at.retry_base);
    let mut longest = Duration::ZERO;
    for (node, _, retryable) in failures {
        // (A node not in the workflow has no policy: it is not retried. A send's
        // branch has its node's.)
        let policy = &workflow.nodes.get(branch_node(node).0)?.retry;
        if !*retryable || !policy.allows_another(tries) {
            return None;
        }
        longest = longest.max(policy.delay(tries + 1, jitter));
    }
    Some(longest)
}

/// Whether the writes kept on a setback include sleeping branches (and
/// branches that sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sleepers {
    /// A setback: a sleeping branch runs again, so it is not kept; nor is one
    /// that sent (a pending write holds no sends: it runs again and sends again).
    Dropped,
    /// A commit: its update is merged like any other.
    Kept,
}

/// The writes of every branch that succeeded, earlier or now, in step order.
fn successful_writes(
    at: Position,
    branches: &BTreeMap<&str, Branch>,
    sleepers: Sleepers,
) -> Vec<PendingWrite> {
    at.nodes
        .iter()
        .filter_map(|n| {
            // (The store keeps one write per node; were there two, the last counts.)
            if let Some(write) = at.kept.iter().rev().find(|w| &w.node == n) {
                return Some(write.clone());
            }
            match branches.get(n.as_str()) {
                Some(Branch::Write { write, sleep })
                    if sleep.is_none() || sleepers == Sleepers::Kept =>
                {
                    Some(write.clone())
                }
                Some(Branch::Fanout { write, .. }) if sleepers == Sleepers::Kept => {
                    Some(write.clone())
                }
                _ => None,
            }
        })
        .collect()
}

fn node_list(nodes: &[String]) -> String {
    let quoted: Vec<String> = nodes.iter().map(|n| format!("node \"{n}\"")).collect();
    quoted.join(" and ")
}

#[cfg(test)]
mod tests;
