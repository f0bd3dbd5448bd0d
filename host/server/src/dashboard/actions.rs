//! A run page's actions: answer an interrupt, send a signal, resume, cancel, fork at a
//! step, edit the state as a node. Each form names the JSON API route its script sends it to
//! (`data-action`, `data-url`); without the script the forms stay disabled and say so,
//! since the API takes JSON, not form posts.

use std::fmt::Write;

use serde_json::Value;

use super::html::{esc, url};

pub(super) fn section(out: &mut String, run: &Value) {
    let thread = run["thread"].as_str().unwrap_or_default();
    let base = format!("/runs/{}", url(thread));
    let step = run["step"].as_u64().unwrap_or(0);
    let fork_thread = format!("{thread}-fork");
    let waiting = !run["waiting_for"].is_null();
    let answer_hint = match waiting {
        true => "The run waits for this answer (see Waiting for).",
        false => "The run waits for no answer now.",
    };
    let _ = write!(
        out,
        "<section id=\"actions\" aria-labelledby=\"h-actions\">\n\
         <h2 id=\"h-actions\">Actions</h2>\n\
         <noscript><p class=\"muted\">The actions need JavaScript (or use the command \
         line: savepoint resume, signal, cancel, fork, update).</p></noscript>\n\
         <form class=\"action\" data-action=\"answer\" data-url=\"{base}/resume\">\
         <fieldset disabled><legend>Answer the interrupt</legend>\
         <p id=\"answer-hint\" class=\"muted\">{answer_hint}</p>\
         <label for=\"a-answer\">Answer (JSON)</label>\
         <textarea id=\"a-answer\" name=\"answer\" rows=\"4\" spellcheck=\"false\"></textarea>\
         <button type=\"submit\">Send answer</button></fieldset></form>\n\
         {signal}\
         <form class=\"action\" data-action=\"resume\" data-url=\"{base}/resume\">\
         <fieldset disabled><legend>Resume</legend>\
         <p class=\"muted\">Continue a failed or parked run from its last checkpoint.</p>\
         <button type=\"submit\">Resume</button></fieldset></form>\n\
         <form class=\"action\" data-action=\"cancel\" data-url=\"{base}/cancel\">\
         <fieldset disabled><legend>Cancel</legend>\
         <button type=\"submit\" class=\"danger\">Cancel run</button></fieldset></form>\n\
         <form class=\"action\" data-action=\"fork\" data-url=\"{base}/fork\">\
         <fieldset disabled><legend>Fork</legend>\
         <label for=\"a-fork-step\">Fork at step</label>\
         <input id=\"a-fork-step\" name=\"step\" type=\"number\" min=\"0\" \
         value=\"{step}\" required>\
         <label for=\"a-fork-thread\">New thread</label>\
         <input id=\"a-fork-thread\" name=\"thread\" value=\"{}\" required>\
         <button type=\"submit\">Fork</button></fieldset></form>\n\
         <form class=\"action\" data-action=\"update\" data-url=\"{base}/update\">\
         <fieldset disabled><legend>Edit the state</legend>\
         <label for=\"a-values\">Values (JSON)</label>\
         <textarea id=\"a-values\" name=\"values\" rows=\"4\" spellcheck=\"false\">{{}}</textarea>\
         <label for=\"a-as-node\">As node</label>\
         <input id=\"a-as-node\" name=\"as_node\" placeholder=\"(optional) a node's name\">\
         <button type=\"submit\">Update state</button></fieldset></form>\n\
         </section>\n",
        esc(fork_thread),
        signal = signal_form(run, &base),
    );
}

/// Send a signal (`POST /runs/{id}/signals/{name}`, body `{"data": ...}`): to a run that
/// has not finished (a failed run takes signals: it may be resumed). The name starts as
/// the one the run waits for, if it waits for one.
fn signal_form(run: &Value, base: &str) -> String {
    if matches!(run["status"].as_str(), Some("completed" | "cancelled")) {
        return String::new();
    }
    let waits_for = match run["waiting"]["for"].as_str() {
        Some("signal") => run["waiting"]["name"].as_str().unwrap_or_default(),
        _ => "",
    };
    format!(
        "<form class=\"action\" data-action=\"signal\" data-url=\"{base}/signals/\">\
         <fieldset disabled><legend>Send a signal</legend>\
         <label for=\"a-signal-name\">Signal name</label>\
         <input id=\"a-signal-name\" name=\"name\" value=\"{}\" placeholder=\"go\" required>\
         <label for=\"a-signal-data\">Data (JSON)</label>\
         <textarea id=\"a-signal-data\" name=\"data\" rows=\"3\" spellcheck=\"false\" \
         placeholder=\"null\"></textarea>\
         <button type=\"submit\">Send signal</button></fieldset></form>\n",
        esc(waits_for)
    )
}
