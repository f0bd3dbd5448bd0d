//! `GET /`: the runs list.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use super::fake::{HOSTILE, Pages};
use super::{get, get_with};
use crate::api::RunStatus;

#[tokio::test]
async fn lists_one_page_with_the_filter_form_and_a_next_page_link() {
    let backend = Arc::new(Pages::default());
    let page = get(backend.clone(), "/").await;
    assert_eq!(page.status, StatusCode::OK);
    page.is_safe_html()
        .has("<h1>Runs</h1>")
        .has("<label for=\"f-status\">Status</label><select id=\"f-status\" name=\"status\">")
        .has("<label for=\"f-workflow\">Workflow</label><input id=\"f-workflow\" name=\"workflow\"")
        .has("<label for=\"f-tag\">Tag</label><input id=\"f-tag\" name=\"tag\"")
        .has("<label for=\"f-thread\">Thread</label><input id=\"f-thread\" name=\"thread\"")
        .has("<button type=\"submit\">Filter</button>")
        // A row links its thread, by the thread's text; the id is escaped in both.
        .has("<a href=\"/ui/runs/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\">&lt;script&gt;alert(1)&lt;/script&gt;</a>")
        .has("<a href=\"/ui/runs/job%202\">job 2</a></th>")
        // A child run says whose it is.
        .has("<a href=\"/ui/runs/job%202%2F1%2Fsub\">job 2/1/sub</a><br><span class=\"child-of muted\">child of <a href=\"/ui/runs/job%202\">job 2</a></span></th>")
        .has("<span class=\"status status-waiting\">waiting</span>")
        .has("<span class=\"status status-completed\">completed</span>")
        .has("team=&lt;i&gt;ops&lt;/i&gt;")
        .has("<a href=\"/?cursor=41\" rel=\"next\">Next page</a>")
        // Without counts from the backend, none are shown.
        .lacks("id=\"counts\"");
    let searches = backend.searches.lock().unwrap();
    assert_eq!(searches.len(), 1);
    assert_eq!(searches[0].page.limit, 50, "one page of runs, never all");
    assert_eq!(searches[0].page.cursor, None);
    assert_eq!(HOSTILE, "<script>alert(1)</script>");
}

#[tokio::test]
async fn filters_reach_the_search_and_carry_over_to_the_next_page() {
    let backend = Arc::new(Pages::default());
    let page = get(
        backend.clone(),
        "/?status=failed&workflow=approval&tag=team%3Dops&thread=&cursor=77",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    page.has("<option selected>failed</option>")
        .has("value=\"approval\"")
        .has("value=\"team=ops\"")
        .has("<a href=\"/?status=failed&amp;workflow=approval&amp;tag=team%3Dops&amp;cursor=41\" rel=\"next\">Next page</a>")
        .has("<a href=\"/?status=failed&amp;workflow=approval&amp;tag=team%3Dops\">First page</a>");
    let search = backend.searches.lock().unwrap()[0].clone();
    assert_eq!(search.status, Some(RunStatus::Failed));
    assert_eq!(search.workflow.as_deref(), Some("approval"));
    assert_eq!(search.tags, [("team".to_string(), "ops".to_string())]);
    assert_eq!(search.page.cursor.map(|c| c.position()), Some(77));
    assert_eq!(search.thread_prefix, None, "an empty field is no filter");
    let backend = Arc::new(Pages::default());
    let page = get(backend.clone(), "/?thread=job-%3C").await;
    page.has("value=\"job-&lt;\"")
        .has("<a href=\"/?thread=job-%3C&amp;cursor=41\" rel=\"next\">Next page</a>");
    let search = backend.searches.lock().unwrap()[0].clone();
    assert_eq!(search.thread_prefix.as_deref(), Some("job-<"));
}

#[tokio::test]
async fn a_filter_that_does_not_parse_is_a_400_page_that_says_which() {
    for (query, names) in [
        ("status=done", "Status: "),
        ("tag=nokey", "Tag: "),
        ("cursor=abc", "cursor: "),
        ("colour=red", "unknown filter &quot;colour&quot;"),
    ] {
        let backend = Arc::new(Pages::default());
        let page = get(backend.clone(), &format!("/?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        page.is_safe_html()
            .has("<p role=\"alert\" class=\"error\">")
            .has(names);
        assert!(backend.searches.lock().unwrap().is_empty(), "{query}");
    }
}

#[tokio::test]
async fn counts_per_status_link_to_their_runs() {
    let backend = Arc::new(Pages {
        counts: Some(
            json!({"by_status": {"completed": 3, "interrupted": 1}, "total": 4,
                            "due_waiting": 0}),
        ),
        ..Pages::default()
    });
    let page = get(backend, "/?workflow=chain").await;
    page.has("<ul id=\"counts\"")
        .has("<a href=\"/\">all 4</a>")
        // Of every run: each links to all the runs in its status.
        .has("<a href=\"/?status=completed\">completed 3</a>")
        .has("<a href=\"/?status=failed\">failed 0</a>")
        // Live updates of this list follow the same workflow's events.
        .has("data-events=\"/events?workflow=chain\"");
}

#[tokio::test]
async fn a_logged_in_browser_is_offered_to_log_out() {
    let logout = "<form method=\"post\" action=\"/logout\" class=\"logout\">";
    get(Arc::new(Pages::default()), "/").await.lacks(logout);
    for uri in ["/", "/ui/runs/job-1", "/ui/plugins", "/ui/runs/gone"] {
        let cookies = [("cookie", "theme=dark; savepoint_session=0123abcd")];
        get_with(Arc::new(Pages::default()), uri, &cookies)
            .await
            .has(logout)
            .has("<button type=\"submit\">Log out</button>");
    }
}
