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
    for heading in ["History", "Events", "Logs", "Pinned components", "Actions"] {
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
    ] {
        page.has(&format!("<label for=\"{id}\">{label}</label>"))
            .has(&format!("id=\"{id}\""));
    }
    for button in [
        "Send answer",
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
