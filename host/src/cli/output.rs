//! Shared printing: the JSON shapes other tools parse, and the human forms.

use std::io::Write;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::runtime::{Event, Observer};
use crate::store::{Checkpoint, LogLine, RunRecord, format_time};

/// `status --json`: the run's position and outcome.
pub fn status_json(run: &RunRecord) -> Value {
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
        "created_at": format_time(run.created_at_ms),
        "updated_at": format_time(run.updated_at_ms),
    })
}

pub fn print_status(run: &RunRecord) {
    let next = if run.next.is_empty() {
        "(end)".to_string()
    } else {
        run.next.join(", ")
    };
    println!("thread:    {}", run.thread);
    println!(
        "workflow:  {} ({}, {})",
        run.workflow_name,
        run.workflow_path,
        short_digest(&run.workflow_digest)
    );
    println!("status:    {}", run.status);
    println!("step:      {}", run.step);
    println!("next:      {next}");
    if let Some(error) = &run.error {
        println!("error:     {error}");
    }
    println!("updated:   {}", format_time(run.updated_at_ms));
}

/// One item of `history --json`.
pub fn checkpoint_json(checkpoint: &Checkpoint) -> Value {
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

pub fn log_json(line: &LogLine) -> Value {
    json!({
        "step": line.step,
        "node": line.node,
        "attempt": line.attempt,
        "level": line.level,
        "message": line.message,
        "at": format_time(line.at_ms),
    })
}

/// `sha256:0123456789ab`: enough to tell versions apart in a table.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// A one-line rendering of a JSON value, cut to `max` characters.
pub fn one_line(value: &Value, max: usize) -> String {
    let text = value.to_string();
    match text.char_indices().nth(max) {
        None => text,
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

pub fn print_json(value: &Value) {
    println!("{value}");
}

pub fn print_pretty(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// Prints one line per committed step (and failure) to stderr, so that
/// stdout keeps only the result.
pub fn progress(enabled: bool) -> Option<Observer> {
    if !enabled {
        return None;
    }
    Some(Arc::new(|event: &Event| match event {
        Event::Committed {
            step,
            node,
            plugin,
            digest,
            elapsed,
            next,
            ..
        } => {
            let next = if next.is_empty() {
                "end".to_string()
            } else {
                next.join(", ")
            };
            eprintln!(
                "step {step:>4}  {node:<16} {plugin} {}  {:>8.2} ms  -> {next}",
                short_digest(digest),
                elapsed.as_secs_f64() * 1000.0
            );
        }
        Event::Failed {
            step, node, error, ..
        } => {
            eprintln!("step {step:>4}  {node:<16} FAILED: {error}");
        }
    }))
}
