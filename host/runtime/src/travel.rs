//! Time travel and run management: forking a run from one of its checkpoints, editing a
//! run's state as if a node had returned the values (`update`), replaying a run in place
//! from one of its steps, and deleting a run.
//!
//! The runtime decides and the store records: an edit is merged with the workflow's
//! reducers and routed here (the same `Workflow::apply_update` and `Workflow::route` a
//! step uses), and the store keeps the outcome as a checkpoint of its own
//! ([`CheckpointStore::edit_run`]), so that it shows in history and can be forked from.
//! None of these drives the run: a fork and a replay leave it `pending` for a daemon or
//! [`Runtime::resume`], an edit leaves its status as it was.

use serde_json::{Map, Value};

use super::{Runtime, RuntimeError};
use savepoint_store::{
    Branches, CheckpointStore, Cursor, Deleted, ForkRun, HistoryDetail, ReplayRun, RunRecord,
    StateEdit, StoreError,
};
use savepoint_workflow::{Edge, Workflow};

/// The checkpoint node of an edit made without `as_node`.
pub const UPDATE_NODE: &str = "update";

/// An edit of a run's state (`update`, or the edit a fork makes with it).
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// Merged with the workflow's reducers, as a node's update is.
    pub values: Map<String, Value>,
    /// Merge as if this node had returned `values`, and go on where its edge leads;
    /// `None`: merge, and the run's next node(s) stay.
    pub as_node: Option<String>,
}

/// A new run that starts from another run's checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Fork {
    /// The run forked from.
    pub source: String,
    /// Its step the fork starts after (0: its input).
    pub step: u64,
    /// The new run's thread.
    pub thread: String,
    /// An edit made with the fork, in the same transaction.
    pub edit: Option<Edit>,
}

/// Which runs [`Runtime::delete`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteScope {
    /// Completed, failed and cancelled runs only.
    Finished,
    /// Any run: one that is executed stops at its next write.
    Any,
}

/// What an operation that changes a run's past is called in a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Travel {
    Update,
    Replay,
}

impl Travel {
    fn as_str(self) -> &'static str {
        match self {
            Travel::Update => "edited",
            Travel::Replay => "replayed",
        }
    }
}

impl<S: CheckpointStore> Runtime<S> {
    /// Create run `fork.thread` from `fork.source`'s checkpoint after `fork.step`: the
    /// same workflow text, plugin versions and tags, the state at that step (shared, not
    /// copied), then `fork.edit` if any. The fork is `pending`: a daemon or
    /// [`Runtime::resume`] runs it. `by` says who asked, for the run's events.
    pub async fn fork(&self, fork: Fork, by: &str) -> Result<RunRecord, RuntimeError> {
        super::check_thread_id(&fork.thread).map_err(RuntimeError::BadRequest)?;
        let source = self.load(&fork.source).await?;
        let workflow = self.workflow_for(&source).await?;
        let edit = match &fork.edit {
            None => None,
            Some(edit) => {
                let (state, next) = self.position_at(&source, &workflow, fork.step).await?;
                let at = Position {
                    thread: &fork.thread,
                    state: &state,
                    next: &next,
                };
                Some(plan_edit(&workflow, at, edit, by)?)
            }
        };
        let forked = self
            .store
            .fork_run(ForkRun {
                source: fork.source.clone(),
                step: fork.step,
                thread: fork.thread.clone(),
                edit,
                start: vec![workflow.start.clone()],
                by: by.to_string(),
            })
            .await?;
        super::events::forked(&forked, &fork.source, fork.step);
        Ok(forked)
    }

    /// Edit a parked, failed, interrupted or completed run's state: `edit.values` are
    /// merged with the workflow's reducers as if `edit.as_node` had returned them, and
    /// the run goes on where that node's edge leads (without `as_node`, where it was
    /// going). The edit is a checkpoint of its own; the run's status stays (a completed
    /// run with next nodes continues when resumed). Refused while the run is executed.
    pub async fn update(
        &self,
        thread: &str,
        edit: Edit,
        by: &str,
    ) -> Result<RunRecord, RuntimeError> {
        let run = self.load(thread).await?;
        let workflow = self.workflow_for(&run).await?;
        let at = Position {
            thread,
            state: &run.state,
            next: &run.next,
        };
        let planned = plan_edit(&workflow, at, &edit, by)?;
        let edited = self
            .store
            .edit_run(thread, run.step, planned)
            .await
            .map_err(|e| refusal(e, Travel::Update))?;
        super::events::edited(&edited, edit.as_node.as_deref());
        Ok(edited)
    }

    /// Take the run back to its checkpoint after `from_step`, on a new branch: the later
    /// checkpoints stay in history, superseded, and the run is `pending` from there (a
    /// daemon or [`Runtime::resume`] runs it). Refused while the run is executed.
    pub async fn replay(
        &self,
        thread: &str,
        from_step: u64,
        by: &str,
    ) -> Result<RunRecord, RuntimeError> {
        let run = self.load(thread).await?;
        let workflow = self.workflow_for(&run).await?;
        let replayed = self
            .store
            .replay_run(ReplayRun {
                thread: thread.to_string(),
                from_step,
                start: vec![workflow.start.clone()],
                by: by.to_string(),
            })
            .await
            .map_err(|e| refusal(e, Travel::Replay))?;
        super::events::replayed(&replayed, from_step);
        Ok(replayed)
    }

    /// Delete a run and everything only it refers to. Without [`DeleteScope::Any`] only
    /// a finished run (completed, failed or cancelled). The thread can be used again.
    pub async fn delete(&self, thread: &str, scope: DeleteScope) -> Result<Deleted, RuntimeError> {
        let deleted = self
            .store
            .delete_run(thread, scope == DeleteScope::Any)
            .await?;
        super::events::deleted(thread, &deleted);
        Ok(deleted)
    }

    /// The state after `step` of `run` and the node(s) that come next there.
    async fn position_at(
        &self,
        run: &RunRecord,
        workflow: &Workflow,
        step: u64,
    ) -> Result<(Map<String, Value>, Vec<String>), RuntimeError> {
        if step == 0 {
            let state = self.store.state_at(&run.thread, 0).await?;
            return match state {
                Some(state) => Ok((state, vec![workflow.start.clone()])),
                None => Err(no_step(run, step)),
            };
        }
        // History is newest first, from below the cursor: the first entry is `step`'s.
        let mut page = self
            .store
            .history_page(
                &run.thread,
                Some(Cursor::after(step.saturating_add(1))),
                1,
                HistoryDetail::WholeStates,
                Branches::Current,
            )
            .await?;
        match page.next().await? {
            Some(entry) if entry.step == step => match entry.state {
                Some(state) => Ok((state, entry.next)),
                None => Err(no_step(run, step)),
            },
            _ => Err(no_step(run, step)),
        }
    }
}

/// Where an edit applies: the run's state and next node(s) there.
#[derive(Debug, Clone, Copy)]
struct Position<'a> {
    thread: &'a str,
    state: &'a Map<String, Value>,
    next: &'a [String],
}

/// What the store records for `edit` at `at`: the merge, the keys it changed and where
/// the run goes next.
fn plan_edit(
    workflow: &Workflow,
    at: Position<'_>,
    edit: &Edit,
    by: &str,
) -> Result<StateEdit, RuntimeError> {
    let thread = at.thread.to_string();
    let next = match &edit.as_node {
        None => at.next.to_vec(),
        Some(node) => next_after(workflow, &thread, node)?,
    };
    let mut state = at.state.clone();
    workflow
        .apply_update(&mut state, edit.values.clone())
        .map_err(|e| RuntimeError::BadEdit {
            thread: thread.clone(),
            message: format!("the values cannot be merged into the state: {e}"),
        })?;
    let size = serde_json::to_vec(&state).map_or(0, |json| json.len() as u64);
    if size > workflow.max_state {
        return Err(RuntimeError::BadEdit {
            thread,
            message: format!(
                "the state after the edit would be {}, over the workflow's max_state of {}",
                savepoint_base::units::format_size(size),
                savepoint_base::units::format_size(workflow.max_state)
            ),
        });
    }
    let changes: Map<String, Value> = edit
        .values
        .keys()
        .filter_map(|key| {
            let after = state.get(key)?;
            (at.state.get(key) != Some(after)).then(|| (key.clone(), after.clone()))
        })
        .collect();
    Ok(StateEdit {
        node: edit
            .as_node
            .clone()
            .unwrap_or_else(|| UPDATE_NODE.to_string()),
        as_node: edit.as_node.clone(),
        values: edit.values.clone(),
        changes,
        state,
        next,
        by: by.to_string(),
    })
}

/// Where a run goes after `node` returned without `goto`: its `next` targets. A node
/// with `routes` chooses one itself, so an edit cannot stand in for it.
fn next_after(workflow: &Workflow, thread: &str, node: &str) -> Result<Vec<String>, RuntimeError> {
    let Some(found) = workflow.nodes.get(node) else {
        return Err(RuntimeError::UnknownNode {
            thread: thread.to_string(),
            node: node.to_string(),
            nodes: workflow.nodes.keys().cloned().collect(),
        });
    };
    if let Edge::Routes(routes) = &found.edge {
        let routes: Vec<String> = routes.iter().map(|r| format!("\"{r}\"")).collect();
        return Err(RuntimeError::BadEdit {
            thread: thread.to_string(),
            message: format!(
                "node \"{node}\" chooses one of its routes ({}) itself, so an edit cannot be \
                 made as it; edit as a node with `next`, or without a node (the run's next \
                 node stays)",
                routes.join(", ")
            ),
        });
    }
    workflow
        .route(node, None)
        .map_err(|e| RuntimeError::BadEdit {
            thread: thread.to_string(),
            message: e.to_string(),
        })
}

/// A store's refusal of an edit or replay, said as what it is: the run is executed.
fn refusal(error: StoreError, travel: Travel) -> RuntimeError {
    match error {
        StoreError::Leased { thread, owner, .. } => RuntimeError::Executing {
            thread,
            owner,
            action: travel.as_str(),
        },
        other => other.into(),
    }
}

fn no_step(run: &RunRecord, step: u64) -> RuntimeError {
    RuntimeError::NoStep {
        thread: run.thread.clone(),
        step,
        committed: run.step,
    }
}

#[cfg(test)]
mod tests;
