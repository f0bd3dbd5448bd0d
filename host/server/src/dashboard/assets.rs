//! The dashboard's style sheet and script, embedded in the binary (no CDN, no build
//! step) and served under names that carry a digest of their content
//! (`/assets/dashboard.<12 hex>.css`): a browser may keep them for a year, and a new
//! binary's pages name new files.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// One embedded file.
#[derive(Debug)]
pub(super) struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    text: &'static str,
    /// `/assets/<stem>.<digest>.<extension>`, computed once.
    path: &'static LazyLock<String>,
}

impl Asset {
    /// Where pages link it.
    pub(super) fn path(&self) -> &'static str {
        self.path
    }

    fn versioned(&self) -> String {
        let digest = savepoint_base::digest::sha256(self.text.as_bytes());
        // `sha256:<64 hex>`: 12 hex digits tell two versions apart.
        let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
        format!("/assets/{}.{}.{}", self.stem, &hex[..12], self.extension)
    }
}

pub(super) static CSS: Asset = Asset {
    stem: "dashboard",
    extension: "css",
    content_type: "text/css; charset=utf-8",
    text: include_str!("assets/dashboard.css"),
    path: &CSS_PATH,
};
static CSS_PATH: LazyLock<String> = LazyLock::new(|| CSS.versioned());

pub(super) static JS: Asset = Asset {
    stem: "dashboard",
    extension: "js",
    content_type: "text/javascript; charset=utf-8",
    text: include_str!("assets/dashboard.js"),
    path: &JS_PATH,
};
static JS_PATH: LazyLock<String> = LazyLock::new(|| JS.versioned());

/// `GET /assets/{file}`: an embedded file by its versioned name, cached for a year;
/// any other name is 404 (an old version included: its page is gone too).
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    for asset in [&CSS, &JS] {
        if asset.path().strip_prefix("/assets/") == Some(file.as_str()) {
            return (
                [
                    (CONTENT_TYPE, asset.content_type),
                    (CACHE_CONTROL, "public, max-age=31536000, immutable"),
                    (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                asset.text,
            )
                .into_response();
        }
    }
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("no asset {file:?}"),
    )
        .into_response()
}
