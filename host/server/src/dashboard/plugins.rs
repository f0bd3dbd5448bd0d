//! `GET /ui/plugins`: every component version stored in the database (what runs are
//! pinned to), with its digest, what its `describe()` says and the runs pinned to it;
//! then the plugins folder as it is now (what a new run would pin).

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::html::{Frame, Nav, error_page, esc, page as html_page, url};
use crate::api::{self, Backend};

/// Unfinished runs listed per version; the rest are counted.
const SHOWN_RUNS: usize = 20;

/// `GET /ui/plugins`
pub(super) async fn page(State(backend): State<Arc<dyn Backend>>, headers: HeaderMap) -> Response {
    let frame = Frame::of(Nav::Plugins, &headers);
    let versions = match backend.plugin_versions().await {
        Ok(versions) => versions,
        Err(error) => {
            return error_page(api::status(error.code), "Plugins", &error.message, frame);
        }
    };
    // The folder is the second half: a folder that cannot be read still lists versions.
    let folder = backend.plugins().await;
    let mut out = String::from("<h1>Plugins</h1>\n");
    versions_section(&mut out, &versions);
    folder_section(&mut out, folder);
    html_page(StatusCode::OK, "Plugins", frame, &out)
}

/// `describe()`'s answer: name, version and description (the config schema folded).
fn describe(info: &Value) -> String {
    if info.is_null() {
        return "<span class=\"muted\">not known (neither the plugins folder's file nor \
                compiled here)</span>"
            .to_string();
    }
    let text = |key: &str| info[key].as_str().unwrap_or_default();
    let mut out = format!(
        "<strong>{}</strong> {}<br>{}",
        esc(text("name")),
        esc(text("version")),
        esc(text("description"))
    );
    if let Some(schema) = info.get("config_schema").filter(|schema| !schema.is_null()) {
        let schema = serde_json::to_string_pretty(schema).unwrap_or_default();
        let _ = write!(
            out,
            "<details><summary>Config schema</summary><pre>{}</pre></details>",
            esc(schema)
        );
    }
    out
}

fn versions_section(out: &mut String, versions: &Value) {
    out.push_str(
        "<section id=\"versions\" aria-labelledby=\"h-versions\">\n\
         <h2 id=\"h-versions\">Stored versions</h2>\n",
    );
    let versions = versions.as_array().map(Vec::as_slice).unwrap_or_default();
    if versions.is_empty() {
        out.push_str("<p class=\"muted\">No component version is stored yet.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th scope=\"col\">Plugin</th><th scope=\"col\">Digest</th>\
         <th scope=\"col\">describe()</th><th scope=\"col\">Size</th>\
         <th scope=\"col\">Stored</th><th scope=\"col\">Runs pinned</th></tr></thead><tbody>\n",
    );
    for version in versions {
        let text = |key: &str| version[key].as_str().unwrap_or_default();
        let current = match version["current"].as_bool() {
            Some(true) => " <span class=\"badge\">current</span>",
            _ => " <span class=\"badge muted\">old</span>",
        };
        let unfinished: Vec<&str> = version["unfinished"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut runs = format!("{}", esc(&version["runs"]));
        if !unfinished.is_empty() {
            runs.push_str("; unfinished: ");
            let links: Vec<String> = unfinished
                .iter()
                .take(SHOWN_RUNS)
                .map(|thread| format!("<a href=\"/ui/runs/{}\">{}</a>", url(thread), esc(thread)))
                .collect();
            runs.push_str(&links.join(", "));
            if unfinished.len() > SHOWN_RUNS {
                let _ = write!(runs, " and {} more", unfinished.len() - SHOWN_RUNS);
            }
        }
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}{current}</th><td><code>{}</code></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{runs}</td></tr>",
            esc(text("name")),
            esc(text("digest")),
            describe(&version["info"]),
            esc(savepoint_base::units::format_size(
                version["bytes"].as_u64().unwrap_or(0)
            )),
            esc(text("stored_at")),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}

fn folder_section(out: &mut String, folder: Result<Value, api::ApiError>) {
    out.push_str(
        "<section id=\"folder\" aria-labelledby=\"h-folder\">\n\
         <h2 id=\"h-folder\">Plugins folder</h2>\n",
    );
    let loads = match folder {
        Ok(loads) => loads,
        Err(error) => {
            let _ = writeln!(
                out,
                "<p role=\"alert\" class=\"error\">{}</p>\n</section>",
                esc(error.message)
            );
            return;
        }
    };
    let loads = loads.as_array().map(Vec::as_slice).unwrap_or_default();
    if loads.is_empty() {
        out.push_str("<p class=\"muted\">No plugins in the folder.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table><thead><tr><th scope=\"col\">File</th><th scope=\"col\">Digest</th>\
         <th scope=\"col\">describe()</th></tr></thead><tbody>\n",
    );
    for load in loads {
        let text = |key: &str| load[key].as_str().unwrap_or_default();
        let mut what = match load["error"].as_str() {
            Some(error) => format!(
                "<span class=\"error\">cannot be used: {}</span>",
                esc(error)
            ),
            None => describe(&load["info"]),
        };
        for warning in load["warnings"].as_array().into_iter().flatten() {
            let _ = write!(
                what,
                "<br><span class=\"warning\">warning: {}</span>",
                esc(warning.as_str().unwrap_or_default())
            );
        }
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td>{what}</td></tr>",
            esc(text("name")),
            esc(text("digest")),
        );
    }
    out.push_str("</tbody></table>\n</section>\n");
}
