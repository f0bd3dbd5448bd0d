//! `GET /ui/schedules`.

use std::sync::Arc;

use axum::http::StatusCode;

use super::fake::Pages;
use super::get;

#[tokio::test]
async fn the_schedules_page_lists_each_with_its_spec_and_a_pause_or_resume_button() {
    let page = get(Arc::new(Pages::default()), "/ui/schedules").await;
    assert_eq!(page.status, StatusCode::OK);
    page.is_safe_html()
        .has("<h1>Schedules</h1>")
        .has("<a href=\"/ui/schedules\" aria-current=\"page\">Schedules</a>")
        // The name is escaped everywhere, and a URL component in the button's route.
        .has("<tr data-schedule=\"&lt;script&gt;alert(1)&lt;/script&gt;\"><th scope=\"row\">&lt;script&gt;alert(1)&lt;/script&gt;</th>")
        .has("<td>cron */5 * * * * (Europe/Paris)</td><td title=\"/w/chain.toml\">chain</td>")
        .has("<td>2026-11-28T01:05:00.000Z</td><td><span class=\"muted\">never</span></td><td>last</td>")
        .has("<span class=\"badge\">active</span> <form class=\"action\" data-action=\"pause\" data-url=\"/schedules/%3Cscript%3Ealert%281%29%3C%2Fscript%3E/pause\">")
        .has(">Pause</button>")
        // A paused one offers to resume.
        .has("<td>every 1h</td>")
        .has("<td>2026-11-28T01:00:00.000Z</td><td>none</td><td><span class=\"badge muted\">paused</span>")
        .has("data-action=\"resume\" data-url=\"/schedules/nightly%20job/resume\">")
        .has(">Resume</button>");
}

#[test]
fn no_schedule_says_how_to_add_one() {
    let html = crate::dashboard::schedules::body(&serde_json::json!({"schedules": []}));
    assert!(
        html.contains("No schedule. Add one with <code>savepoint schedule add"),
        "{html}"
    );
    assert!(!html.contains("<table"), "{html}");
}
