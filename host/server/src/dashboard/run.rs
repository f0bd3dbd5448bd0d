//! `GET /ui/runs/{id}`: one run. Its status, the workflow graph with the node(s) it is
//! at, its history (each step's changes, the whole state on demand), its events, its
//! node logs, the component versions it is pinned to, and the actions (`actions`).
//! Each list is one page (`?history=`, `?events=`, `?logs=` go on from a cursor).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use savepoint_workflow::branch_node;

use super::graph::{self, END, Graph};
use super::html::{Frame, Nav, error_page, esc, page as html_page, url};
use super::{actions, collect, compose};
use crate::api::{self, ApiError, Backend, Branches, Cursor, HistoryDetail, PageQuery};

/// Entries of each list on the page.
const HISTORY: usize = 20;
/// Signals of the mailbox shown (the oldest; the rest are counted).
pub(super) const MAILBOX: usize = 50;
const EVENTS: usize = 200;
const LOGS: usize = 200;

/// Where each list of the page starts (`None`: its first page).
#[derive(Debug, Default, Clone, Copy)]
struct Cursors {
    history: Option<Cursor>,
    events: Option<Cursor>,
    logs: Option<Cursor>,
}

impl Cursors {
    fn parse(pairs: Vec<(String, String)>) -> Result<Cursors, String> {
        let mut cursors = Cursors::default();
        for (key, value) in pairs {
            let list = match key.as_str() {
                "history" => &mut cursors.history,
                "events" => &mut cursors.events,
                "logs" => &mut cursors.logs,
                other => {
                    return Err(format!(
                        "unknown parameter {other:?} (a run's page takes history, events \
                         and logs, each a cursor)"
                    ));
                }
            };
            *list = Some(value.parse().map_err(|e| format!("{key}: {e}"))?);
        }
        Ok(cursors)
    }
}

/// `GET /ui/runs/{id}?history=&events=&logs=`
pub(super) async fn page(
    State(backend): State<Arc<dyn Backend>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let frame = Frame::of(Nav::Run, &headers);
    let bad = |message: String| error_page(StatusCode::BAD_REQUEST, "Run", &message, frame);
    let thread = match path {
        Ok(Path(thread)) if !thread.trim().is_empty() && !thread.chars().any(char::is_control) => {
            thread
        }
        Ok(Path(thread)) => return bad(format!("{thread:?} is not a thread id")),
        Err(rejection) => {
            return bad(format!(
                "the thread id is not valid: {}",
                rejection.body_text()
            ));
        }
    };
    let cursors = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| Cursors::parse(q))
    {
        Ok(cursors) => cursors,
        Err(message) => return bad(message),
    };
    match body(backend.as_ref(), &thread, cursors).await {
        Ok(body) => html_page(StatusCode::OK, &format!("Run {thread}"), frame, &body),
        Err(error) => error_page(
            api::status(error.code),
            &format!("Run {thread}"),
            &error.message,
            frame,
        ),
    }
}

async fn body(backend: &dyn Backend, thread: &str, cursors: Cursors) -> Result<String, ApiError> {
    let run = backend.run_status(thread.to_string()).await?;
    let graph = backend.run_graph(thread.to_string()).await?;
    let page = |cursor, limit| PageQuery { cursor, limit };
    let history = backend
        .run_history(
            thread.to_string(),
            page(cursors.history, HISTORY),
            HistoryDetail::Changes,
            Branches::Current,
        )
        .await?;
    let history = collect(history).await?;
    let events = collect(
        backend
            .run_events(thread.to_string(), page(cursors.events, EVENTS))
            .await?,
    )
    .await?;
    let logs = collect(
        backend
            .run_logs(thread.to_string(), page(cursors.logs, LOGS))
            .await?,
    )
    .await?;
    // The mailbox is an extra: a backend without one still shows the run.
    let mailbox = backend.run_signals(thread.to_string(), MAILBOX).await.ok();

    let status = run["status"].as_str().unwrap_or("unknown");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<div id=\"run\" data-thread=\"{}\" data-events=\"/runs/{}/events\">\n\
         <h1>Run <code>{}</code></h1>",
        esc(thread),
        url(thread),
        esc(thread)
    );
    summary(&mut out, &run);
    let drawn = graph::figure(
        &Graph::from_json(&graph),
        &current(&run),
        &pending_sends(&run),
        status,
    )
    .await;
    out.push_str(&drawn);
    compose::children_section(&mut out, &run);
    if let Some(mailbox) = &mailbox {
        compose::mailbox_section(&mut out, mailbox);
    }
    history_section(&mut out, thread, &history, cursors);
    events_section(&mut out, thread, &events, cursors);
    logs_section(&mut out, thread, &logs, cursors);
    pinned(&mut out, &graph);
    actions::section(&mut out, &run);
    out.push_str("</div>\n");
    Ok(out)
}

/// The node(s) a run is at: those its next step runs (a send branch `node#index` is
/// its node, once); the end once it completed; the node that failed, when it has no
/// next node.
pub(super) fn current(run: &Value) -> Vec<String> {
    let mut next: Vec<String> = Vec::new();
    for branch in branches(run, "next") {
        let (node, _) = branch_node(branch);
        if !next.iter().any(|seen| seen == node) {
            next.push(node.to_string());
        }
    }
    if !next.is_empty() {
        return next;
    }
    match (run["status"].as_str(), run["error_node"].as_str()) {
        (Some("completed"), _) => vec![END.to_string()],
        (Some("failed"), Some(node)) => vec![node.to_string()],
        _ => Vec::new(),
    }
}

/// The sends of the next step that have not run yet, per node: the branches
/// `node#index` of `next` without a pending write (a send that finished while a
/// sibling is retried keeps its write and is not run again).
pub(super) fn pending_sends(run: &Value) -> BTreeMap<String, usize> {
    let done: Vec<&str> = branches(run, "pending_writes").collect();
    let mut sends = BTreeMap::new();
    for branch in branches(run, "next") {
        if let (node, Some(_)) = branch_node(branch)
            && !done.contains(&branch)
        {
            *sends.entry(node.to_string()).or_insert(0) += 1;
        }
    }
    sends
}

/// The branch names of one of a run's lists (`next`, `pending_writes`).
fn branches<'a>(run: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    run[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// JSON shown in a page: compact for short values, indented for the rest.
pub(super) fn json_text(value: &Value) -> String {
    let compact = value.to_string();
    if compact.len() <= 80 {
        return compact;
    }
    serde_json::to_string_pretty(value).unwrap_or(compact)
}

fn summary(out: &mut String, run: &Value) {
    let text = |key: &str| run[key].as_str().unwrap_or_default();
    let status = text("status");
    let _ = write!(
        out,
        "<dl id=\"run-summary\" class=\"summary\">\
         <dt>Status</dt><dd><span id=\"run-status\" class=\"status status-{s}\">{s}</span></dd>\
         <dt>Workflow</dt><dd>{}</dd><dt>Step</dt><dd>{}</dd>",
        esc(text("workflow")),
        esc(&run["step"]),
        s = esc(status),
    );
    let next: Vec<&str> = run["next"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !next.is_empty() {
        let _ = write!(out, "<dt>Next</dt><dd>{}</dd>", esc(next.join(", ")));
    }
    if run["attempt"].as_u64().is_some_and(|attempt| attempt > 0) {
        let _ = write!(
            out,
            "<dt>Failed attempts</dt><dd>{}</dd>",
            esc(&run["attempt"])
        );
    }
    if let Some(error) = run["error"].as_str() {
        let node = run["error_node"]
            .as_str()
            .map(|node| format!(" (node {node})"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<dt>Error</dt><dd class=\"error\">{}{}</dd>",
            esc(error),
            esc(node)
        );
    }
    if !run["waiting_for"].is_null() {
        let _ = write!(
            out,
            "<dt>Waiting for</dt><dd><pre>{}</pre></dd>",
            esc(json_text(&run["waiting_for"]))
        );
    }
    compose::waits_for(out, run);
    if let Some(at) = run["wake_at"].as_str() {
        let _ = write!(out, "<dt>Wakes at</dt><dd>{}</dd>", esc(at));
    }
    if let Some(tags) = run["tags"].as_object().filter(|tags| !tags.is_empty()) {
        let tags: Vec<String> = tags
            .iter()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect();
        let _ = write!(out, "<dt>Tags</dt><dd>{}</dd>", esc(tags.join(", ")));
    }
    if let Some(parent) = run["parent"].as_str() {
        let _ = write!(
            out,
            "<dt>Parent</dt><dd><a id=\"run-parent\" href=\"/ui/runs/{}\">{}</a></dd>",
            url(parent),
            esc(parent)
        );
    }
    let _ = writeln!(
        out,
        "<dt>Created</dt><dd>{}</dd><dt>Updated</dt><dd>{}</dd></dl>",
        esc(text("created_at")),
        esc(text("updated_at"))
    );
}

/// The link to the next page of one list, keeping the other lists where they are.
fn more(out: &mut String, thread: &str, page: &Value, cursors: Cursors, which: &str, label: &str) {
    let Some(next) = page["next_cursor"].as_str() else {
        return;
    };
    let mut pairs = Vec::new();
    for (key, cursor) in [
        ("history", cursors.history),
        ("events", cursors.events),
        ("logs", cursors.logs),
    ] {
        if key == which {
            pairs.push(format!("{key}={}", url(next)));
        } else if let Some(cursor) = cursor {
            pairs.push(format!("{key}={cursor}"));
        }
    }
    let _ = writeln!(
        out,
        "<p><a href=\"/ui/runs/{}?{}\">{label}</a></p>",
        url(thread),
        esc(pairs.join("&"))
    );
}

fn entries(page: &Value) -> &[Value] {
    page["entries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn history_section(out: &mut String, thread: &str, history: &Value, cursors: Cursors) {
    out.push_str("<section id=\"history\" aria-labelledby=\"h-history\">\n<h2 id=\"h-history\">History</h2>\n");
    let list = entries(history);
    if list.is_empty() {
        out.push_str("<p class=\"muted\">No step committed yet.</p>\n");
    }
    out.push_str("<ol id=\"history-list\" class=\"history\" reversed>\n");
    for entry in list {
        let step = &entry["step"];
        let _ = write!(
            out,
            "<li data-step=\"{s}\"><h3>Step {s} · <code>{}</code></h3>\
             <p class=\"muted\">{} · checkpoint <code>{}</code></p>",
            esc(entry["node"].as_str().unwrap_or_default()),
            esc(entry["created_at"].as_str().unwrap_or_default()),
            esc(entry["checkpoint"].as_str().unwrap_or_default()),
            s = esc(step),
        );
        diff(out, &entry["diff"]);
        let state = format!("/runs/{}/state?step={}", url(thread), esc(step));
        let _ = writeln!(
            out,
            "<details class=\"state\" data-state=\"{state}\"><summary>Full state after step \
             {}</summary><p><a href=\"{state}\">The state as JSON</a></p></details></li>",
            esc(step)
        );
    }
    out.push_str("</ol>\n");
    more(out, thread, history, cursors, "history", "Older steps");
    out.push_str("</section>\n");
}

/// A step's changes (a JSON Patch) as a table: operation, path, new value.
fn diff(out: &mut String, diff: &Value) {
    let ops = diff.as_array().map(Vec::as_slice).unwrap_or_default();
    if ops.is_empty() {
        out.push_str("<p class=\"muted\">No change to the state.</p>");
        return;
    }
    out.push_str(
        "<table class=\"diff\"><thead><tr><th scope=\"col\">Change</th><th scope=\"col\">Path</th>\
         <th scope=\"col\">Value</th></tr></thead><tbody>",
    );
    for op in ops {
        let value = match op.get("value") {
            Some(value) => json_text(value),
            None => String::new(),
        };
        let _ = write!(
            out,
            "<tr class=\"op-{o}\"><td>{o}</td><td><code>{}</code></td><td><pre>{}</pre></td></tr>",
            esc(op["path"].as_str().unwrap_or_default()),
            esc(value),
            o = esc(op["op"].as_str().unwrap_or_default()),
        );
    }
    out.push_str("</tbody></table>");
}

fn events_section(out: &mut String, thread: &str, events: &Value, cursors: Cursors) {
    let list = entries(events);
    let last = list
        .iter()
        .filter_map(|event| event["id"].as_u64())
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "<section id=\"events\" aria-labelledby=\"h-events\">\n<h2 id=\"h-events\">Events</h2>\n\
         <ol id=\"events-list\" class=\"events\" data-last-event=\"{last}\">"
    );
    for event in list {
        out.push_str(&event_item(event));
    }
    out.push_str("</ol>\n");
    more(out, thread, events, cursors, "events", "Later events");
    out.push_str("</section>\n");
}

/// One event as a list item: its kind, step and time, then what else it carries. The
/// page's script writes the events that arrive live in the same shape.
fn event_item(event: &Value) -> String {
    let kind = event["event"].as_str().unwrap_or_default();
    let rest: serde_json::Map<String, Value> = event
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| !matches!(key.as_str(), "id" | "at" | "step" | "event" | "thread"))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    format!(
        "<li data-event-id=\"{}\"><span class=\"event-kind\">{}</span> step {} \
         <span class=\"muted\">{}</span> <code>{}</code></li>\n",
        esc(&event["id"]),
        esc(kind),
        esc(&event["step"]),
        esc(event["at"].as_str().unwrap_or_default()),
        esc(Value::Object(rest)),
    )
}

fn logs_section(out: &mut String, thread: &str, logs: &Value, cursors: Cursors) {
    out.push_str("<section id=\"logs\" aria-labelledby=\"h-logs\">\n<h2 id=\"h-logs\">Logs</h2>\n");
    let list = entries(logs);
    if list.is_empty() {
        out.push_str("<p class=\"muted\">No log lines.</p>\n");
    }
    out.push_str("<ol id=\"logs-list\" class=\"logs\">\n");
    for line in list {
        let text = |key: &str| line[key].as_str().unwrap_or_default();
        let _ = writeln!(
            out,
            "<li class=\"level-{l}\"><span class=\"muted\">{}</span> step {} <code>{}</code> \
             <span class=\"level\">{l}</span> <span class=\"message\">{}</span></li>",
            esc(text("at")),
            esc(&line["step"]),
            esc(text("node")),
            esc(text("message")),
            l = esc(text("level")),
        );
    }
    out.push_str("</ol>\n");
    more(out, thread, logs, cursors, "logs", "Later log lines");
    out.push_str("</section>\n");
}

/// The component versions the run is pinned to, and the nodes that call each.
fn pinned(out: &mut String, graph: &Value) {
    out.push_str(
        "<section id=\"pinned\" aria-labelledby=\"h-pinned\">\n\
         <h2 id=\"h-pinned\">Pinned components</h2>\n",
    );
    let plugins = graph["plugins"]
        .as_object()
        .filter(|plugins| !plugins.is_empty());
    let Some(plugins) = plugins else {
        out.push_str(
            "<p class=\"muted\">None: the run uses the plugins folder's current files.</p>\n\
             </section>\n",
        );
        return;
    };
    let nodes = Graph::from_json(graph).nodes;
    out.push_str(
        "<table><thead><tr><th scope=\"col\">Plugin</th><th scope=\"col\">Digest</th>\
         <th scope=\"col\">Nodes</th></tr></thead><tbody>\n",
    );
    for (plugin, digest) in plugins {
        let users: Vec<&str> = nodes
            .iter()
            .filter(|(_, used)| used == plugin)
            .map(|(node, _)| node.as_str())
            .collect();
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td>{}</td></tr>",
            esc(plugin),
            esc(digest.as_str().unwrap_or_default()),
            esc(users.join(", "))
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}
