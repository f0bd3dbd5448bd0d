//! The JSON shapes of runs, checkpoints, log lines and plugins: what
//! `--json` prints and what the HTTP API answers. Other tools parse these, so
//! they change only by adding fields.

use serde_json::{Value, json};

use crate::plugin::PluginLoad;
use crate::store::{Checkpoint, LogLine, RunRecord, RunSummary, format_time};

/// A run's position and outcome (`status --json`, `GET /runs/{id}`).
pub fn status(run: &RunRecord) -> Value {
    json!({
        "thread": run.thread,
        "workflow": run.workflow_name,
        "workflow_path": run.workflow_path,
        "workflow_digest": run.workflow_digest,
        "status": run.status.as_str(),
        "step": run.step,
        "next": run.next,
        "attempt": run.attempt,
        "error": run.error,
        "error_node": run.error_node,
        "waiting_for": run.interrupt,
        "wake_at": run.wake_at_ms.map(format_time),
        "wakes": run.wakes,
        "pending_writes": run.pending.iter().map(|w| w.node.as_str()).collect::<Vec<_>>(),
        "lease_owner": run.lease_owner,
        "created_at": format_time(run.created_at_ms),
        "updated_at": format_time(run.updated_at_ms),
    })
}

/// One checkpoint (an item of `history --json`).
pub fn checkpoint(checkpoint: &Checkpoint) -> Value {
    json!({
        "step": checkpoint.step,
        "node": checkpoint.node,
        "state": checkpoint.state,
        "next": checkpoint.next,
        "component_digest": checkpoint.component_digest,
        "workflow_digest": checkpoint.workflow_digest,
        "created_at": format_time(checkpoint.created_at_ms),
    })
}

pub fn history(checkpoints: &[Checkpoint]) -> Value {
    Value::Array(checkpoints.iter().map(checkpoint).collect())
}

pub fn log_line(line: &LogLine) -> Value {
    json!({
        "step": line.step,
        "node": line.node,
        "attempt": line.attempt,
        "level": line.level,
        "message": line.message,
        "at": format_time(line.at_ms),
    })
}

pub fn summary(run: &RunSummary) -> Value {
    json!({
        "thread": run.thread,
        "workflow": run.workflow_name,
        "status": run.status.as_str(),
        "step": run.step,
        "updated_at": format_time(run.updated_at_ms),
    })
}

pub fn summaries(runs: &[RunSummary]) -> Value {
    Value::Array(runs.iter().map(summary).collect())
}

/// One file of the plugins folder: what `describe()` said and what is odd
/// about it, or why it cannot be used.
pub fn plugin(load: &PluginLoad) -> Value {
    let (info, error, warnings) = match &load.result {
        Ok(plugin) => (
            serde_json::to_value(&plugin.info).ok(),
            None,
            plugin.warnings(),
        ),
        Err(e) => (None, Some(e.to_string()), Vec::new()),
    };
    json!({
        "name": load.name,
        "path": load.path.display().to_string(),
        "digest": load.digest,
        "ok": error.is_none(),
        "info": info,
        "error": error,
        "warnings": warnings,
    })
}

pub fn plugins(loads: &[PluginLoad]) -> Value {
    Value::Array(loads.iter().map(plugin).collect())
}
