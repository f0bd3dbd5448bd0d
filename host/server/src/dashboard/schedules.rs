//! `GET /ui/schedules`: every schedule (what starts runs by the clock): its spec, its
//! workflow, when it is due next and when it last fired, whether it is paused, and a
//! button that pauses or resumes it (sent to the JSON API by the page's script).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::html::{Frame, Nav, error_page, esc, page as html_page, url};
use crate::api::{self, Backend};

/// `GET /ui/schedules`
pub(super) async fn page(State(backend): State<Arc<dyn Backend>>, headers: HeaderMap) -> Response {
    let frame = Frame::of(Nav::Schedules, &headers);
    match backend.schedules().await {
        Ok(schedules) => html_page(StatusCode::OK, "Schedules", frame, &body(&schedules)),
        Err(error) => error_page(api::status(error.code), "Schedules", &error.message, frame),
    }
}

pub(super) fn body(schedules: &Value) -> String {
    let mut out = String::from(
        "<h1>Schedules</h1>\n<div id=\"schedules\">\n\
         <noscript><p class=\"muted\">Pausing and resuming need JavaScript (or use the \
         command line: savepoint schedule pause, resume).</p></noscript>\n",
    );
    let list = schedules["schedules"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        out.push_str(
            "<p class=\"muted\">No schedule. Add one with <code>savepoint schedule add NAME \
             WORKFLOW --cron EXPR</code> or <code>--every DURATION</code>.</p>\n</div>\n",
        );
        return out;
    }
    out.push_str(
        "<table id=\"schedules-table\"><thead><tr><th scope=\"col\">Name</th>\
         <th scope=\"col\">When</th><th scope=\"col\">Workflow</th>\
         <th scope=\"col\">Next due</th><th scope=\"col\">Last fired</th>\
         <th scope=\"col\">Catch-up</th><th scope=\"col\">State</th></tr></thead><tbody>\n",
    );
    for schedule in list {
        row(&mut out, schedule);
    }
    out.push_str("</tbody></table>\n</div>\n");
    out
}

fn row(out: &mut String, schedule: &Value) {
    let text = |key: &str| schedule[key].as_str().unwrap_or_default();
    let name = text("name");
    let paused = schedule["paused"].as_bool().unwrap_or(false);
    let (state, action, button) = match paused {
        true => (
            "<span class=\"badge muted\">paused</span>",
            "resume",
            "Resume",
        ),
        false => ("<span class=\"badge\">active</span>", "pause", "Pause"),
    };
    let last = match schedule["last_fired"].as_str() {
        Some(at) => esc(at).to_string(),
        None => "<span class=\"muted\">never</span>".to_string(),
    };
    let _ = writeln!(
        out,
        "<tr data-schedule=\"{n}\"><th scope=\"row\">{n}</th><td>{}</td>\
         <td title=\"{}\">{}</td><td>{}</td><td>{last}</td><td>{}</td><td>{state} \
         <form class=\"action\" data-action=\"{action}\" data-url=\"/schedules/{}/{action}\">\
         <fieldset disabled><button type=\"submit\">{button}</button></fieldset></form>\
         </td></tr>",
        esc(spec(&schedule["spec"])),
        esc(text("workflow_path")),
        esc(text("workflow")),
        esc(text("next_due")),
        esc(text("catch_up")),
        url(name),
        n = esc(name),
    );
}

/// A schedule's spec in words: `cron */5 * * * * (Europe/Paris)`, `every 1h`.
fn spec(spec: &Value) -> String {
    match spec["kind"].as_str() {
        Some("cron") => {
            let expr = spec["expr"].as_str().unwrap_or_default();
            match spec["tz"].as_str() {
                Some(tz) => format!("cron {expr} ({tz})"),
                None => format!("cron {expr} (UTC)"),
            }
        }
        Some("every") => match spec["every_ms"].as_u64() {
            Some(ms) => format!(
                "every {}",
                savepoint_base::units::format_duration(std::time::Duration::from_millis(ms))
            ),
            None => "every ?".to_string(),
        },
        _ => spec.to_string(),
    }
}
