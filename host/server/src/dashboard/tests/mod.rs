//! The dashboard's pages over an in-memory backend ([`fake::Pages`]): what each page
//! asks the backend, the markup the browser test and the page's script rely on (the
//! DOM contract), that every value from a run is escaped, and the assets.

mod assets;
mod fake;
mod graph;
mod run;
mod runs;
mod schedules;

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

use crate::api::{ApiConfig, router};
use fake::Pages;

/// A page as the browser gets it.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

async fn get(backend: Arc<Pages>, uri: &str) -> Page {
    get_with(backend, uri, &[]).await
}

/// A `GET` with these headers too.
async fn get_with(backend: Arc<Pages>, uri: &str, headers: &[(&str, &str)]) -> Page {
    let listen = "127.0.0.1:7878".parse().unwrap();
    let app = router(backend, listen, &ApiConfig::default());
    let mut request = Request::get(uri).header(HOST, "127.0.0.1:7878");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Page {
        status,
        headers,
        html: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

impl Page {
    /// The page is HTML that holds `part`.
    #[track_caller]
    fn has(&self, part: &str) -> &Page {
        assert!(
            self.html.contains(part),
            "the page should hold {part:?}:\n{}",
            self.html
        );
        self
    }

    #[track_caller]
    fn lacks(&self, part: &str) -> &Page {
        assert!(
            !self.html.contains(part),
            "the page should not hold {part:?}:\n{}",
            self.html
        );
        self
    }

    /// An HTML page with the dashboard's headers, whose only markup from a run is
    /// escaped: the one `<script` is the dashboard's own.
    #[track_caller]
    fn is_safe_html(&self) -> &Page {
        assert_eq!(
            self.headers[CONTENT_TYPE], "text/html; charset=utf-8",
            "{}",
            self.html
        );
        assert_eq!(self.headers["cache-control"], "no-store");
        let policy = self.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert_eq!(self.html.matches("<script").count(), 1, "{}", self.html);
        for raw in ["<script>alert", "<img", "<i>ops", "<b>it", "<you>"] {
            self.lacks(raw);
        }
        self
    }
}
