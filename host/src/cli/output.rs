//! Shared printing for people (the JSON shapes are in [`crate::view`]).

use std::io::Write;
use std::sync::Arc;

use serde_json::Value;

use crate::runtime::{Event, Observer, humanize};
use crate::store::{RunRecord, RunStatus, Setback, format_time};

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
    if let Some(question) = &run.interrupt {
        println!("waiting:   {question}");
        println!(
            "           answer with: savepoint resume {} --input JSON",
            run.thread
        );
    }
    if let Some(wake) = run.wake_at_ms {
        let what = match run.status {
            RunStatus::Interrupted => "deadline",
            RunStatus::Retrying => "retry at",
            _ => "wakes at",
        };
        println!("{what:<10} {}", format_time(wake));
    }
    if !run.pending.is_empty() {
        let done: Vec<&str> = run.pending.iter().map(|w| w.node.as_str()).collect();
        println!("done:      {} (kept for this step)", done.join(", "));
    }
    println!("updated:   {}", format_time(run.updated_at_ms));
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

/// Prints one line per committed step (and setback) to stderr, so that
/// stdout keeps only the result.
pub fn progress(enabled: bool) -> Option<Observer> {
    if !enabled {
        return None;
    }
    Some(Arc::new(|event: &Event| match event {
        Event::Committed {
            step,
            nodes,
            digests,
            elapsed,
            next,
            status,
            ..
        } => {
            let next = match (status, next.is_empty()) {
                (RunStatus::Sleeping, _) => format!("sleeping, then {}", next.join(", ")),
                (_, true) => "end".to_string(),
                (_, false) => next.join(", "),
            };
            let digests: Vec<String> = digests.iter().map(|d| short_digest(d)).collect();
            eprintln!(
                "step {step:>4}  {:<16} {}  {:>8.2} ms  -> {next}",
                nodes.join(", "),
                digests.join(","),
                elapsed.as_secs_f64() * 1000.0
            );
        }
        Event::Setback {
            step,
            node,
            kind,
            error,
            ..
        } => {
            let error = error.as_deref().unwrap_or("");
            match kind {
                Setback::Failed => eprintln!("step {step:>4}  {node:<16} FAILED: {error}"),
                Setback::Retry { wake_at_ms } => eprintln!(
                    "step {step:>4}  {node:<16} failed, retrying at {}: {error}",
                    format_time(*wake_at_ms)
                ),
                Setback::Interrupted { payload, .. } => {
                    eprintln!("step {step:>4}  {node:<16} waiting for input: {payload}")
                }
            }
        }
        Event::Waiting { thread, until_ms } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let wait = std::time::Duration::from_millis(until_ms.saturating_sub(now).max(0) as u64);
            eprintln!(
                "thread {thread}: parked until {} (in {}); waiting (Ctrl-C leaves it parked)",
                format_time(*until_ms),
                humanize(wait)
            );
        }
    }))
}
