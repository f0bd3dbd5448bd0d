//! The run events, as log lines: one per thing that happens to a run (created, started,
//! parked, woke, completed, failed, recovered, lease lost, ...), at info, under this
//! module's target (`savepoint_runtime::events`), so `RUST_LOG=info` (or
//! `RUST_LOG=savepoint_runtime::events=info`) shows them and the default does not.
//!
//! The message says what happened (`run parked`); the fields say to what: `thread`,
//! `step` (the step the run is at or goes on with), `node`, `status`, `until` (RFC 3339,
//! UTC), `error`. The daemon runs each run in a span `run` with its `thread` and
//! `workflow`, so under `savepoint serve` every line names the workflow too.
//!
//! This module is the one place that words them: the step loop and the daemon say what
//! happened (an [`Event`], a claimed [`RunRecord`]), and this says it.

use tracing::{debug, info};

use super::Event;
use savepoint_store::{RunRecord, RunStatus, Setback};

/// `ms` (the store's Unix milliseconds) as RFC 3339 UTC text, for `until`: the one
/// time format of the CLI, the API and the logs.
fn time(ms: i64) -> String {
    savepoint_store::format_time(ms)
}

/// A run was created (`run`, `start`, `POST /runs`): it waits for its first step.
pub(super) fn created(run: &RunRecord) {
    info!(
        thread = %run.thread,
        workflow = %run.workflow_name,
        path = %run.workflow_path,
        "run created"
    );
}

/// The daemon claimed `run` (its lease is this process's now) and drives it: what that
/// means depends on the status the run had.
pub(super) fn claimed(run: &RunRecord) {
    let (thread, workflow, step) = (&run.thread, &run.workflow_name, run.step + 1);
    match run.status {
        // Every way into `running` is followed by a call of its next step, so a claimed
        // running run is one whose holder stopped mid-step: it died, stalled past its
        // lease, or shut down and abandoned it. The step runs again, one attempt later.
        RunStatus::Running => info!(
            %thread, %workflow, step, attempt = run.attempt, "run recovered"
        ),
        RunStatus::Sleeping | RunStatus::Retrying | RunStatus::Interrupted | RunStatus::Waiting => {
            info!(
                %thread, %workflow, step, was = %run.status, "run woke"
            )
        }
        RunStatus::Pending if run.step == 0 && run.resume.is_none() => {
            info!(%thread, %workflow, step, "run started")
        }
        // Answered, or resumed through the API after a failure.
        _ => info!(%thread, %workflow, step, was = %run.status, "run resumed"),
    }
}

/// What the step loop (and the foreground commands) reported.
pub(super) fn observed(event: &Event) {
    match event {
        Event::Committed {
            thread,
            step,
            nodes,
            elapsed,
            status,
            wake_at_ms,
            ..
        } => {
            // Fields are evaluated only when the line is logged: nothing here costs a
            // step anything unless `RUST_LOG` asks for it.
            let node = || nodes.join(",");
            match (status, wake_at_ms) {
                (RunStatus::Completed, _) => {
                    info!(%thread, step, node = %node(), "run completed")
                }
                (RunStatus::Sleeping, Some(until)) => info!(
                    %thread,
                    step,
                    node = %node(),
                    status = %status,
                    until = %time(*until),
                    "run parked"
                ),
                _ => debug!(
                    %thread,
                    step,
                    node = %node(),
                    elapsed_ms = elapsed.as_millis() as u64,
                    "step committed"
                ),
            }
        }
        Event::Setback {
            thread,
            step,
            node,
            kind,
            error,
        } => {
            let error = error.as_deref().unwrap_or_default();
            match kind {
                Setback::Failed => info!(%thread, step, %node, %error, "run failed"),
                Setback::Retry { wake_at_ms } => info!(
                    %thread,
                    step,
                    %node,
                    status = %RunStatus::Retrying,
                    until = %time(*wake_at_ms),
                    %error,
                    "run parked"
                ),
                Setback::Interrupted { deadline_ms, .. } => {
                    let until = deadline_ms.map(time);
                    info!(
                        %thread,
                        step,
                        %node,
                        status = %RunStatus::Interrupted,
                        until = until.as_deref(),
                        "run parked"
                    )
                }
                Setback::Waiting { deadline_ms, .. } => {
                    let until = deadline_ms.map(time);
                    info!(
                        %thread,
                        step,
                        %node,
                        status = %RunStatus::Waiting,
                        until = until.as_deref(),
                        "run parked"
                    )
                }
            }
        }
        Event::Started { thread, .. } => info!(%thread, step = 1u64, "run started"),
        Event::Resuming { thread, step, was } => {
            info!(%thread, step, was = %was, "run resumed")
        }
        Event::Waiting { thread, until_ms } => {
            debug!(%thread, until = %time(*until_ms), "waiting in the foreground")
        }
    }
}

/// The run was cancelled (through this process).
pub(super) fn cancelled(thread: &str) {
    info!(%thread, "run cancelled");
}

/// This process lost its lease on `thread` to `holder` (another process took the run
/// over: this one stalled past its lease) and stopped driving it.
pub(super) fn lease_lost(thread: &str, holder: &str) {
    info!(%thread, %holder, reason = "taken over", "run lease lost");
}

/// This process's lease on `thread` ran out before it could renew it (it stalled, or
/// the database did not answer): the step in flight was stopped and its result
/// discarded.
pub(super) fn lease_expired(thread: &str) {
    info!(%thread, reason = "expired", "run lease lost");
}

/// The store refused this process's commit for `thread`: the lease is no longer this
/// process's, so the step's result was discarded and nothing was written.
pub(super) fn commit_refused(thread: &str) {
    info!(%thread, reason = "commit refused", "run lease lost");
}

/// A run was forked from another run's checkpoint: it waits for its first step.
pub(super) fn forked(run: &RunRecord, source: &str, step: u64) {
    info!(
        thread = %run.thread,
        workflow = %run.workflow_name,
        from = %source,
        from_step = step,
        "run forked"
    );
}

/// A run's state was edited by hand (`update`).
pub(super) fn edited(run: &RunRecord, as_node: Option<&str>) {
    info!(
        thread = %run.thread,
        step = run.step,
        as_node = as_node.unwrap_or(""),
        next = %run.next.join(","),
        "run state edited"
    );
}

/// A run was taken back to an earlier step, on a new branch.
pub(super) fn replayed(run: &RunRecord, from_step: u64) {
    info!(
        thread = %run.thread,
        from_step,
        branch = run.branch,
        "run replayed"
    );
}

/// A run was deleted, with what only it referred to.
pub(super) fn deleted(thread: &str, deleted: &savepoint_store::Deleted) {
    info!(
        %thread,
        checkpoints = deleted.checkpoints,
        logs = deleted.logs,
        events = deleted.events,
        components = deleted.freed.components,
        values = deleted.freed.values,
        "run deleted"
    );
}
