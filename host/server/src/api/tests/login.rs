//! The dashboard's login: the form, the session cookie it sets and that every route
//! then accepts (and one of another token that none does), where a page without a login
//! goes, and what a page on another site cannot do.

use axum::Router;
use axum::body::Body;
use axum::http::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::{FakeBackend, LISTEN, app_with, request};
use crate::api::ApiConfig;

const TOKEN: &str = "s3cret-token-0123";

fn app(token: Option<&str>) -> Router {
    let config = ApiConfig {
        token: token.map(|token| token.parse().unwrap()),
        ..ApiConfig::default()
    };
    app_with(
        FakeBackend::with_runs(&[("job-1", "running")]),
        LISTEN,
        &config,
    )
    .0
}

/// The session cookie of `token`, as the contract says (not as the guard computes it).
fn session(token: &str) -> String {
    let digest = Sha256::digest(format!("savepoint-session\0{token}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The status, headers and body text of a request.
async fn raw(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

fn login_form(body: &str) -> Request<Body> {
    request(
        Method::POST,
        "/login",
        Some("application/x-www-form-urlencoded"),
        Body::from(body.to_owned()),
    )
}

fn with(mut request: Request<Body>, name: axum::http::HeaderName, value: &str) -> Request<Body> {
    request.headers_mut().append(name, value.parse().unwrap());
    request
}

fn get(uri: &str) -> Request<Body> {
    request(Method::GET, uri, None, Body::empty())
}

#[tokio::test]
async fn the_login_page_asks_for_the_token_and_keeps_next() {
    let app = app(Some(TOKEN));
    let (status, headers, page) = raw(&app, get("/login?next=/ui/runs/a%22b")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        page.contains(r#"<label for="token">Token</label>"#),
        "{page}"
    );
    assert!(page.contains(r#"<input id="token" name="token" type="password""#));
    assert!(page.contains(r#"<button type="submit">Log in</button>"#));
    assert!(
        page.contains(r#"<input type="hidden" name="next" value="/ui/runs/a&quot;b">"#),
        "next is kept, escaped: {page}"
    );
    assert!(!page.contains("role=\"alert\""), "no error before a try");
}

#[tokio::test]
async fn the_right_token_sets_the_session_cookie_that_every_route_accepts() {
    let app = app(Some(TOKEN));
    let form = format!("token={TOKEN}&next=%2Fui%2Fruns%2Fjob-1%3Fstep%3D2");
    let (status, headers, _) = raw(&app, login_form(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/ui/runs/job-1?step=2");
    let cookie = headers[SET_COOKIE].to_str().unwrap();
    assert_eq!(
        cookie,
        format!(
            "savepoint_session={}; HttpOnly; SameSite=Strict; Path=/",
            session(TOKEN)
        )
    );
    let session = format!("savepoint_session={}", session(TOKEN));
    // The API accepts it as it accepts the bearer token, beside other cookies too.
    for cookies in [session.clone(), format!("theme=dark; {session}; x=1")] {
        let (status, _, body) = raw(&app, with(get("/runs/job-1"), COOKIE, &cookies)).await;
        assert_eq!(status, StatusCode::OK, "{cookies}: {body}");
    }
    // A write from the page (fetch, same origin, JSON) too.
    let cancel = request(
        Method::POST,
        "/runs/job-1/cancel",
        Some("application/json"),
        Body::empty(),
    );
    let cancel = with(
        with(cancel, COOKIE, &session),
        ORIGIN,
        "http://127.0.0.1:7878",
    );
    assert_eq!(raw(&app, cancel).await.0, StatusCode::OK);

    // Logging out clears it.
    let logout = request(Method::POST, "/logout", None, Body::empty());
    let (status, headers, _) = raw(&app, with(logout, COOKIE, &session)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/login");
    assert_eq!(
        headers[SET_COOKIE],
        "savepoint_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    );
}

#[tokio::test]
async fn a_wrong_token_gets_the_form_again_and_no_cookie() {
    let app = app(Some(TOKEN));
    for form in [
        "token=s3cret-token-01234&next=%2F".to_owned(),
        "token=&next=%2F".to_owned(),
        "next=%2F".to_owned(),
        format!("token={}", TOKEN.to_uppercase()),
    ] {
        let (status, headers, page) = raw(&app, login_form(&form)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form}");
        assert!(headers.get(SET_COOKIE).is_none(), "{form}");
        assert!(
            page.contains(r#"<p role="alert" class="error">The token is wrong.</p>"#),
            "{form}: {page}"
        );
        assert!(page.contains(r#"<button type="submit">Log in</button>"#));
    }
}

#[tokio::test]
async fn a_cookie_of_another_token_or_none_is_not_a_login() {
    let app = app(Some(TOKEN));
    for cookie in [
        format!("savepoint_session={}", session("another-token-4567")),
        format!("savepoint_session={}", session(TOKEN).to_uppercase()),
        "savepoint_session=".to_owned(),
        // The token itself is not a session.
        format!("savepoint_session={TOKEN}"),
    ] {
        let (status, _, body) = raw(&app, with(get("/runs"), COOKIE, &cookie)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cookie}");
        assert!(
            body.contains("the session cookie is not this server's"),
            "{body}"
        );
        // A page goes to the login instead.
        let (status, headers, _) = raw(&app, with(get("/"), COOKIE, &cookie)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{cookie}");
        assert_eq!(headers[LOCATION], "/login?next=/");
    }
    // Another name is not the session cookie.
    let other = format!("session={}", session(TOKEN));
    assert_eq!(
        raw(&app, with(get("/runs"), COOKIE, &other)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn dashboard_pages_without_a_login_go_to_the_login_page() {
    let app = app(Some(TOKEN));
    for (page, next) in [
        ("/", "/"),
        ("/ui/runs/job-1", "/ui/runs/job-1"),
        ("/ui/plugins", "/ui/plugins"),
        ("/ui/schedules", "/ui/schedules"),
        (
            "/?status=failed&tag=a%3Db",
            "/%3Fstatus%3Dfailed%26tag%3Da%253Db",
        ),
    ] {
        let (status, headers, _) = raw(&app, get(page)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(headers[LOCATION], format!("/login?next={next}"), "{page}");
    }
    // The login page, the assets, the health check and the metrics are open.
    for open in ["/login", "/login?next=/ui/plugins", "/health"] {
        assert_eq!(raw(&app, get(open)).await.0, StatusCode::OK, "{open}");
    }
    for open in ["/assets/nope.css", "/metrics"] {
        assert_ne!(
            raw(&app, get(open)).await.0,
            StatusCode::UNAUTHORIZED,
            "{open}"
        );
    }
}

#[tokio::test]
async fn next_is_only_ever_a_path_of_this_server() {
    let app = app(Some(TOKEN));
    for next in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "evil",
        "",
    ] {
        let form = format!(
            "token={TOKEN}&next={}",
            crate::api::login::encode_component(next)
        );
        let (status, headers, _) = raw(&app, login_form(&form)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next}");
        assert_eq!(headers[LOCATION], "/", "{next}");
    }
    let (_, _, page) = raw(&app, get("/login?next=//evil.example")).await;
    assert!(page.contains(r#"name="next" value="/""#), "{page}");
}

#[tokio::test]
async fn another_site_can_neither_log_in_nor_out() {
    let app = app(Some(TOKEN));
    let form = login_form(&format!("token={TOKEN}"));
    let (status, headers, _) = raw(&app, with(form, ORIGIN, "http://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get(SET_COOKIE).is_none());
    let logout = request(Method::POST, "/logout", None, Body::empty());
    let logout = with(logout, "sec-fetch-site".parse().unwrap(), "cross-site");
    assert_eq!(raw(&app, logout).await.0, StatusCode::FORBIDDEN);
    // The form is a form: JSON is not it.
    let json = request(
        Method::POST,
        "/login",
        Some("application/json"),
        Body::from(format!(r#"{{"token": "{TOKEN}"}}"#)),
    );
    assert_eq!(raw(&app, json).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nor does it take what it does not know.
    let extra = login_form(&format!("token={TOKEN}&admin=1"));
    assert_eq!(raw(&app, extra).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_a_token_the_login_goes_straight_on() {
    let app = app(None);
    let (status, headers, _) = raw(&app, get("/login?next=/ui/plugins")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/ui/plugins");
    let (status, headers, _) = raw(&app, login_form("token=whatever&next=%2F")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers.get(SET_COOKIE).is_none());
}
