//! What composition adds to a run's page: what a `waiting` run waits for (a signal,
//! or its child runs), the run's child runs, and its mailbox of signals.

use std::fmt::Write;

use serde_json::Value;

use super::html::{esc, url};
use super::run::{MAILBOX, json_text};

/// What a `waiting` run waits for (its status's `waiting`): a signal, by name and the
/// node that receives it, or its child runs, each linked.
pub(super) fn waits_for(out: &mut String, run: &Value) {
    let waiting = &run["waiting"];
    let text = |key: &str| waiting[key].as_str().unwrap_or_default();
    match waiting["for"].as_str() {
        Some("signal") => {
            let _ = write!(
                out,
                "<dt>Waits for</dt><dd id=\"run-waits\">signal <code>{}</code> (for node \
                 <code>{}</code>)</dd>",
                esc(text("name")),
                esc(text("node"))
            );
        }
        Some("children") => {
            let links: Vec<String> = waiting["threads"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|child| format!("<a href=\"/ui/runs/{}\">{}</a>", url(child), esc(child)))
                .collect();
            let _ = write!(
                out,
                "<dt>Waits for</dt><dd id=\"run-waits\">child runs {}</dd>",
                links.join(", ")
            );
        }
        _ => {}
    }
}

/// The run's child runs (its status's `children`: those its sub-workflow nodes
/// created), each linked, with its status.
pub(super) fn children_section(out: &mut String, run: &Value) {
    let children = run["children"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if children.is_empty() {
        return;
    }
    out.push_str(
        "<section id=\"children\" aria-labelledby=\"h-children\">\n\
         <h2 id=\"h-children\">Child runs</h2>\n<table><thead><tr>\
         <th scope=\"col\">Thread</th><th scope=\"col\">Workflow</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Step</th></tr></thead><tbody>\n",
    );
    for child in children {
        let text = |key: &str| child[key].as_str().unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr data-thread=\"{t}\"><th scope=\"row\"><a href=\"/ui/runs/{}\">{t}</a></th>\
             <td>{}</td><td><span class=\"status status-{s}\">{s}</span></td><td>{}</td></tr>",
            url(text("thread")),
            esc(text("workflow")),
            esc(&child["step"]),
            t = esc(text("thread")),
            s = esc(text("status")),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

/// The run's mailbox: each signal, what it carries, and the step that received it
/// (or that it still waits to be delivered), oldest first.
pub(super) fn mailbox_section(out: &mut String, mailbox: &Value) {
    let signals = mailbox["signals"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let undelivered = signals
        .iter()
        .filter(|signal| signal["delivered_step"].is_null())
        .count();
    let _ = writeln!(
        out,
        "<section id=\"mailbox\" aria-labelledby=\"h-mailbox\">\n\
         <h2 id=\"h-mailbox\">Signals</h2>\n<p id=\"mailbox-count\">{undelivered} \
         undelivered of {} (the oldest {MAILBOX} shown)</p>",
        signals.len()
    );
    if signals.is_empty() {
        out.push_str("<p class=\"muted\">No signal was sent to this run.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Data</th>\
         <th scope=\"col\">Sent</th><th scope=\"col\">Delivered</th></tr></thead><tbody>\n",
    );
    for signal in signals {
        let delivered = match signal["delivered_step"].as_u64() {
            Some(step) => format!("step {step}"),
            None => "waiting".to_string(),
        };
        let _ = writeln!(
            out,
            "<tr data-signal=\"{}\"><td><code>{}</code></td><td><pre>{}</pre></td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&signal["id"]),
            esc(signal["name"].as_str().unwrap_or_default()),
            esc(json_text(&signal["data"])),
            esc(signal["sent_at"].as_str().unwrap_or_default()),
            esc(delivered),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}
