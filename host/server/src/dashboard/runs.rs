//! `GET /`: the runs list. A filter form (status, workflow, a tag, a thread prefix),
//! the count of runs in each status, and one page of the runs that match, newest
//! created first, with a link to the next page (the store's cursor, so a page costs the
//! same at 100,000 runs as at ten).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use savepoint_base::tags::parse_tag;

use super::html::{Frame, Nav, error_page, esc, page as html_page, url};
use crate::api::{self, Backend, Cursor, PageQuery, RunSearch, RunStatus};

/// Runs on one page of the list.
const PAGE: usize = 50;

/// The list's filters as the form sends them (an empty field is no filter).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Filters {
    status: Option<RunStatus>,
    workflow: Option<String>,
    /// `key=value`, as typed.
    tag: Option<String>,
    /// A prefix of thread ids.
    thread: Option<String>,
    cursor: Option<Cursor>,
}

impl Filters {
    /// The filters of a query string; an error names the field that is wrong.
    fn parse(pairs: Vec<(String, String)>) -> Result<Filters, String> {
        let mut filters = Filters::default();
        for (key, value) in pairs {
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{key} contains a control character"));
            }
            match key.as_str() {
                "status" => {
                    filters.status = Some(value.parse().map_err(|e| format!("Status: {e}"))?)
                }
                "workflow" => filters.workflow = Some(value),
                "tag" => {
                    parse_tag(&value).map_err(|e| format!("Tag: {e}"))?;
                    filters.tag = Some(value);
                }
                "thread" => filters.thread = Some(value),
                "cursor" => {
                    filters.cursor = Some(value.parse().map_err(|e| format!("cursor: {e}"))?)
                }
                other => {
                    return Err(format!(
                        "unknown filter {other:?} (the list takes status, workflow, tag, \
                         thread and cursor)"
                    ));
                }
            }
        }
        Ok(filters)
    }

    /// These filters as a query string (`?status=failed&...`), with `cursor` instead of
    /// this page's.
    fn query(&self, cursor: Option<&str>) -> String {
        let mut pairs = Vec::new();
        if let Some(status) = self.status {
            pairs.push(format!("status={}", status.as_str()));
        }
        for (key, value) in [
            ("workflow", &self.workflow),
            ("tag", &self.tag),
            ("thread", &self.thread),
        ] {
            if let Some(value) = value {
                pairs.push(format!("{key}={}", url(value)));
            }
        }
        if let Some(cursor) = cursor {
            pairs.push(format!("cursor={}", url(cursor)));
        }
        match pairs.is_empty() {
            true => "/".to_string(),
            false => format!("/?{}", pairs.join("&")),
        }
    }

    fn search(&self) -> RunSearch {
        RunSearch {
            status: self.status,
            workflow: self.workflow.clone(),
            tags: self
                .tag
                .iter()
                .filter_map(|tag| parse_tag(tag).ok())
                .collect(),
            since: None,
            thread_prefix: self.thread.clone(),
            parent: None,
            page: PageQuery {
                cursor: self.cursor,
                limit: PAGE,
            },
        }
    }
}

/// `GET /?status=&workflow=&tag=&thread=&cursor=`
pub(super) async fn page(
    State(backend): State<Arc<dyn Backend>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let frame = Frame::of(Nav::Runs, &headers);
    let filters = match query {
        Ok(Query(pairs)) => Filters::parse(pairs),
        Err(rejection) => Err(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        )),
    };
    let filters = match filters {
        Ok(filters) => filters,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, "Runs", &message, frame),
    };
    let runs = match backend.list_runs(filters.search()).await {
        Ok(runs) => runs,
        Err(error) => {
            return error_page(api::status(error.code), "Runs", &error.message, frame);
        }
    };
    // Counts are an extra: a backend that cannot count still lists.
    let counts = backend.run_counts().await.ok();
    html_page(
        StatusCode::OK,
        "Runs",
        frame,
        &body(&filters, &runs, counts.as_ref()),
    )
}

fn body(filters: &Filters, runs: &Value, counts: Option<&Value>) -> String {
    let mut out = String::new();
    let live = match &filters.workflow {
        Some(workflow) => format!("/events?workflow={}", url(workflow)),
        None => "/events".to_string(),
    };
    let _ = writeln!(
        out,
        "<h1>Runs</h1>\n<div id=\"runs-live\" data-events=\"{}\">",
        esc(live)
    );
    form(&mut out, filters);
    counts_list(&mut out, counts);
    table(&mut out, runs);
    let next = runs["next_cursor"].as_str();
    out.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
    if filters.cursor.is_some() {
        let first = Filters {
            cursor: None,
            ..filters.clone()
        };
        let _ = write!(out, "<a href=\"{}\">First page</a>", esc(first.query(None)));
    }
    if let Some(next) = next {
        let _ = write!(
            out,
            "<a href=\"{}\" rel=\"next\">Next page</a>",
            esc(filters.query(Some(next)))
        );
    }
    out.push_str("</nav>\n</div>\n");
    out
}

fn form(out: &mut String, filters: &Filters) {
    out.push_str(
        "<form method=\"get\" action=\"/\" class=\"filters\" role=\"search\">\n\
         <label for=\"f-status\">Status</label><select id=\"f-status\" name=\"status\">\
         <option value=\"\">any</option>",
    );
    for status in RunStatus::ALL {
        let selected = if filters.status == Some(status) {
            " selected"
        } else {
            ""
        };
        let _ = write!(out, "<option{selected}>{}</option>", status.as_str());
    }
    out.push_str("</select>\n");
    for (id, name, label, value, hint) in [
        (
            "f-workflow",
            "workflow",
            "Workflow",
            &filters.workflow,
            "approval",
        ),
        ("f-tag", "tag", "Tag", &filters.tag, "key=value"),
        ("f-thread", "thread", "Thread", &filters.thread, "a prefix"),
    ] {
        let _ = writeln!(
            out,
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{name}\" \
             value=\"{}\" placeholder=\"{hint}\">",
            esc(value.as_deref().unwrap_or_default())
        );
    }
    out.push_str("<button type=\"submit\">Filter</button>\n</form>\n");
}

fn counts_list(out: &mut String, counts: Option<&Value>) {
    let Some(by_status) = counts.and_then(|counts| counts["by_status"].as_object()) else {
        return;
    };
    out.push_str("<ul id=\"counts\" class=\"counts\" aria-label=\"All runs by status\">");
    let total = counts
        .and_then(|counts| counts["total"].as_u64())
        .unwrap_or_else(|| by_status.values().filter_map(Value::as_u64).sum());
    let _ = write!(out, "<li><a href=\"/\">all {total}</a></li>");
    for status in RunStatus::ALL {
        let count = by_status
            .get(status.as_str())
            .and_then(Value::as_u64)
            .unwrap_or(0);
        // The counts are of every run, so each links to all the runs in its status.
        let only = Filters {
            status: Some(status),
            ..Filters::default()
        };
        let _ = write!(
            out,
            "<li class=\"status-{s}\"><a href=\"{}\">{s} {count}</a></li>",
            esc(only.query(None)),
            s = status.as_str()
        );
    }
    out.push_str("</ul>\n");
}

fn table(out: &mut String, runs: &Value) {
    let runs = runs["runs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if runs.is_empty() {
        out.push_str("<p id=\"runs-table\" class=\"muted\">No runs match.</p>\n");
        return;
    }
    out.push_str(
        "<table id=\"runs-table\">\n<thead><tr><th scope=\"col\">Thread</th>\
         <th scope=\"col\">Workflow</th><th scope=\"col\">Status</th>\
         <th scope=\"col\">Step</th><th scope=\"col\">Tags</th>\
         <th scope=\"col\">Created</th><th scope=\"col\">Updated</th></tr></thead>\n<tbody>\n",
    );
    for run in runs {
        let text = |key: &str| run[key].as_str().unwrap_or_default();
        let thread = text("thread");
        let status = text("status");
        let tags: Vec<String> = run["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
            .collect();
        // A child run (of a sub-workflow node) says whose, linked.
        let child_of = match run["parent"].as_str() {
            Some(parent) => format!(
                "<br><span class=\"child-of muted\">child of <a href=\"/ui/runs/{}\">{}</a></span>",
                url(parent),
                esc(parent)
            ),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr data-thread=\"{t}\"><th scope=\"row\"><a href=\"/ui/runs/{}\">{t}</a>{child_of}</th>\
             <td>{}</td><td><span class=\"status status-{s}\">{s}</span></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            url(thread),
            esc(text("workflow")),
            run["step"],
            esc(tags.join(", ")),
            esc(text("created_at")),
            esc(text("updated_at")),
            t = esc(thread),
            s = esc(status),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}
