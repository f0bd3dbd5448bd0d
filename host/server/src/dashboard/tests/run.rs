//! `GET /ui/runs/{id}` and `GET /ui/plugins`.

use std::sync::Arc;

use axum::http::StatusCode;

use super::fake::Pages;
use super::get;

#[tokio::test]
async fn a_run_page_shows_status_graph_lists_and_actions() {
    let backend = Arc::new(Pages::default());
    let page = get(
        backend.clone(),
        "/ui/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    page.is_safe_html()
        .has("<h1>Run <code>&lt;script&gt;alert(1)&lt;/script&gt;</code></h1>")
        .has("<span id=\"run-status\" class=\"status status-interrupted\">interrupted</span>")
        .has("<figure id=\"graph\">")
        .has("<g class=\"node current\" data-node=\"review\" aria-current=\"step\">")
        .has("<g class=\"node\" data-node=\"draft\">")
        .has("<g class=\"node\" data-node=\"end\">")
        .has("Current: review (interrupted)")
        .has("Approve &lt;b&gt;it&lt;/b&gt;?");
    for heading in [
        "History",
        "Events",
        "Logs",
        "Pinned components",
        "Actions",
        "Signals",
    ] {
        page.has(&format!(">{heading}</h2>"));
    }
    // History: each step's changes, and its whole state on demand.
    page.has("<td>add</td><td><code>/title</code></td><td><pre>&quot;&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;&quot;</pre></td>")
        .has("<td>remove</td><td><code>/old</code></td>")
        .has("data-state=\"/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E/state?step=1\"")
        .has(">Older steps</a>")
        .has("href=\"/ui/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E?history=1\"")
        // Events and logs, escaped; the script appends live events after the last id.
        .has("data-last-event=\"9\"")
        .has("<span class=\"event-kind\">interrupted</span> step 1")
        .has("&lt;img src=x onerror=alert(1)&gt;")
        // Pins, with the nodes that call each version.
        .has("<th scope=\"row\">counter</th><td><code>sha256:cc</code></td><td>draft, publish</td>");
    // The actions of the DOM contract, each control labelled.
    for (id, label) in [
        ("a-answer", "Answer (JSON)"),
        ("a-fork-step", "Fork at step"),
        ("a-fork-thread", "New thread"),
        ("a-values", "Values (JSON)"),
        ("a-as-node", "As node"),
        ("a-signal-name", "Signal name"),
        ("a-signal-data", "Data (JSON)"),
    ] {
        page.has(&format!("<label for=\"{id}\">{label}</label>"))
            .has(&format!("id=\"{id}\""));
    }
    for button in [
        "Send answer",
        "Send signal",
        "Resume",
        "Cancel run",
        "Fork",
        "Update state",
    ] {
        page.has(&format!(">{button}</button>"));
    }
    page.has("data-url=\"/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E/resume\"");
    let calls = backend.calls.lock().unwrap().clone();
    let thread = "<script>alert(1)</script>";
    assert_eq!(
        calls,
        [
            format!("run_status {thread}"),
            format!("run_graph {thread}"),
            format!("run_history {thread} PageQuery {{ cursor: None, limit: 20 }} Changes Current"),
            format!("run_events {thread} PageQuery {{ cursor: None, limit: 200 }}"),
            format!("run_logs {thread} PageQuery {{ cursor: None, limit: 200 }}"),
            format!("run_signals {thread} 50"),
        ]
    );
}

#[tokio::test]
async fn each_list_of_a_run_pages_on_from_its_own_cursor() {
    let backend = Arc::new(Pages::default());
    let page = get(backend.clone(), "/ui/runs/job-1?history=5&logs=3").await;
    assert_eq!(page.status, StatusCode::OK);
    let calls = backend.calls.lock().unwrap().clone();
    assert!(
        calls.contains(
            &"run_history job-1 PageQuery { cursor: Some(Cursor(5)), limit: 20 } Changes Current"
                .to_string()
        ),
        "{calls:?}"
    );
    assert!(
        calls.contains(
            &"run_logs job-1 PageQuery { cursor: Some(Cursor(3)), limit: 200 }".to_string()
        ),
        "{calls:?}"
    );
    // The next page of history keeps the logs where they are.
    page.has("href=\"/ui/runs/job-1?history=1&amp;logs=3\"");
}

#[tokio::test]
async fn a_missing_run_or_a_bad_cursor_is_an_html_error_page() {
    let page = get(Arc::new(Pages::default()), "/ui/runs/gone").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    page.is_safe_html()
        .has("<p role=\"alert\" class=\"error\">no run with thread id &quot;gone&quot;</p>");
    let page = get(Arc::new(Pages::default()), "/ui/runs/job-1?events=x").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    page.has("role=\"alert\"").has("events: ");
    let page = get(Arc::new(Pages::default()), "/ui/runs/job-1?color=red").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    page.has("unknown parameter &quot;color&quot;");
}

#[tokio::test]
async fn the_plugins_page_lists_every_stored_version_and_the_folder() {
    let page = get(Arc::new(Pages::default()), "/ui/plugins").await;
    assert_eq!(page.status, StatusCode::OK);
    page.is_safe_html()
        .has("<h1>Plugins</h1>")
        .has("<code>sha256:aa</code>")
        .has("<code>sha256:a0</code>")
        .has("<strong>approval</strong> 1.0<br>asks &lt;you&gt;")
        .has("<span class=\"badge\">current</span>")
        .has("<span class=\"badge muted\">old</span>")
        .has("not known (neither the plugins folder")
        .has("3; unfinished: <a href=\"/ui/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\">")
        .has("cannot be used: not a component");
}

#[tokio::test]
async fn a_waiting_child_run_shows_its_signal_parent_children_and_mailbox() {
    let backend = Arc::new(Pages::default());
    let page = get(backend.clone(), "/ui/runs/parent%2F3%2Freview").await;
    assert_eq!(page.status, StatusCode::OK);
    page.is_safe_html()
        .has("<span id=\"run-status\" class=\"status status-waiting\">waiting</span>")
        // What it waits for, escaped; the form starts with that name.
        .has("<dt>Waits for</dt><dd id=\"run-waits\">signal <code>go&lt;b&gt;</code> (for node <code>review</code>)</dd>")
        .has("<input id=\"a-signal-name\" name=\"name\" value=\"go&lt;b&gt;\"")
        .has("data-action=\"signal\" data-url=\"/runs/parent%2F3%2Freview/signals/\"")
        // Its parent, linked by its thread (escaped).
        .has("<dt>Parent</dt><dd><a id=\"run-parent\" href=\"/ui/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\">&lt;script&gt;alert(1)&lt;/script&gt;</a></dd>")
        // Its children, each linked with its status.
        .has(">Child runs</h2>")
        .has("<a href=\"/ui/runs/parent%2F3%2Freview%2F2%2Fsub\">parent/3/review/2/sub</a></th><td>chain&lt;i&gt;</td><td><span class=\"status status-completed\">completed</span></td><td>4</td>")
        // The mailbox: one delivered at step 2, one waiting to be.
        .has("<p id=\"mailbox-count\">1 undelivered of 2 (the oldest 50 shown)</p>")
        .has("<td>step 2</td></tr>")
        .has("<td><code>go&lt;b&gt;</code></td><td><pre>null</pre></td><td>2026-11-28T01:00:00.700Z</td><td>waiting</td>")
        .has("&lt;script&gt;alert(1)&lt;/script&gt;");
}

#[tokio::test]
async fn a_run_waiting_for_its_children_links_them_and_a_finished_run_takes_no_signal() {
    use crate::dashboard::compose;
    let waiting = serde_json::json!({
        "status": "waiting",
        "waiting": {"for": "children", "threads": ["p/1/a", "p/1/<b>"]},
    });
    let mut out = String::new();
    compose::waits_for(&mut out, &waiting);
    assert_eq!(
        out,
        "<dt>Waits for</dt><dd id=\"run-waits\">child runs <a href=\"/ui/runs/p%2F1%2Fa\">p/1/a</a>, \
         <a href=\"/ui/runs/p%2F1%2F%3Cb%3E\">p/1/&lt;b&gt;</a></dd>"
    );
    // Nothing to say of a run that waits for neither.
    let mut out = String::new();
    compose::waits_for(&mut out, &serde_json::json!({"status": "running"}));
    assert!(out.is_empty());
    // No children, no section.
    let mut out = String::new();
    compose::children_section(&mut out, &serde_json::json!({"children": []}));
    assert!(out.is_empty());
    for (status, form) in [("completed", false), ("cancelled", false), ("failed", true)] {
        let mut out = String::new();
        crate::dashboard::actions::section(
            &mut out,
            &serde_json::json!({"thread": "t", "status": status, "step": 1}),
        );
        assert_eq!(out.contains("data-action=\"signal\""), form, "{status}");
    }
}
