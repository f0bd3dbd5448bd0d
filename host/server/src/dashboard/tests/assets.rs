//! `GET /assets/{file}`: the embedded files under versioned names.

use std::sync::Arc;

use axum::http::StatusCode;

use super::fake::Pages;
use super::get;
use crate::dashboard::assets::{CSS, JS};

#[tokio::test]
async fn assets_are_served_by_their_versioned_names_with_a_long_cache() {
    let page = get(Arc::new(Pages::default()), "/").await;
    for (asset, content_type) in [
        (&CSS, "text/css; charset=utf-8"),
        (&JS, "text/javascript; charset=utf-8"),
    ] {
        let path = asset.path();
        assert!(
            regex_like_versioned(path),
            "{path} names a digest of the content"
        );
        page.has(&format!("\"{path}\""));
        let file = get(Arc::new(Pages::default()), path).await;
        assert_eq!(file.status, StatusCode::OK);
        assert_eq!(file.headers["content-type"], content_type);
        assert_eq!(
            file.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(!file.html.is_empty());
    }
    for stale in [
        "/assets/dashboard.000000000000.css",
        "/assets/dashboard.css",
        "/assets/x",
    ] {
        assert_eq!(
            get(Arc::new(Pages::default()), stale).await.status,
            StatusCode::NOT_FOUND,
            "{stale}"
        );
    }
}

/// `/assets/dashboard.<12 hex>.<css|js>`
fn regex_like_versioned(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/assets/dashboard.") else {
        return false;
    };
    let Some((hex, extension)) = rest.split_once('.') else {
        return false;
    };
    hex.len() == 12
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(extension, "css" | "js")
}

#[test]
fn the_script_follows_every_event_a_stream_sends() {
    // A run's page refreshes on the events it listens for: one it does not name
    // (e.g. `waiting`, `signalled`) would leave the page stale until the next.
    let script = include_str!("../assets/dashboard.js");
    let names = savepoint_store::EventKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .chain(["completed", "failed", "cancelled", "parked", "log"]);
    for name in names {
        assert!(
            script.contains(&format!("\"{name}\"")),
            "dashboard.js does not listen for {name:?} events"
        );
    }
}
