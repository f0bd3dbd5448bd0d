//! The guard: every refusal (the status, the message, and that the backend was not
//! called) and every acceptance of `Host`, the token, `Origin`, the content type of a
//! POST, and the body deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{AUTHORIZATION, CONNECTION, HOST, WWW_AUTHENTICATE};
use axum::http::{Method, Request, StatusCode};
use hyper::body::Frame;

use super::{FakeBackend, LISTEN, app, app_with, assert_contains, get, post_json, request, send};
use crate::api::guard::LocalAddr;
use crate::api::{AllowedHost, ApiConfig, Token};

fn with_header(mut request: Request<Body>, name: &str, value: &str) -> Request<Body> {
    request.headers_mut().insert(
        name.parse::<axum::http::HeaderName>().unwrap(),
        value.parse().unwrap(),
    );
    request
}

fn with_host(request: Request<Body>, host: &str) -> Request<Body> {
    with_header(request, HOST.as_str(), host)
}

fn config(token: Option<&str>, allowed: &[&str]) -> ApiConfig {
    ApiConfig {
        token: token.map(|token| token.parse().unwrap()),
        allowed_hosts: allowed.iter().map(|host| host.parse().unwrap()).collect(),
        ..ApiConfig::default()
    }
}

// The cross-site attack of issue 11: a web page POSTs text/plain with an empty body.

#[tokio::test]
async fn a_simple_cross_site_post_is_415_and_changes_nothing() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for uri in ["/runs/job-1/cancel", "/runs/job-1/resume"] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            None,
        ] {
            let reply = send(
                &app,
                request(Method::POST, uri, content_type, Body::empty()),
            )
            .await;
            assert_contains(
                reply.error(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                "send Content-Type: application/json (also with an empty body)",
            );
        }
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_foreign_origin_is_403_on_a_post() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for origin in [
        "http://attacker.example",
        "http://localhost",
        "http://localhost:7879",
        "https://127.0.0.1",
        "null",
        "file://",
        "http://127.0.0.1:7878.attacker.example",
    ] {
        let reply = send(
            &app,
            with_header(post_json("/runs/job-1/cancel", ""), "origin", origin),
        )
        .await;
        assert_eq!(
            reply.error(StatusCode::FORBIDDEN),
            format!(
                "cross-origin request refused: Origin {origin:?} is not this server (expected \
                 one of 127.0.0.1:7878, localhost:7878, [::1]:7878, or a name the server is told \
                 to allow); a web page on another site may not change runs"
            )
        );
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_same_origin_post_and_any_get_pass() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for origin in [
        "http://127.0.0.1:7878",
        "http://localhost:7878",
        "http://LOCALHOST:7878",
        "http://[::1]:7878",
    ] {
        let reply = send(
            &app,
            with_header(post_json("/runs/job-1/cancel", "{}"), "origin", origin),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{origin}: {}", reply.body);
    }
    // A read is not checked: without CORS headers, the browser keeps the answer from
    // the page.
    let reply = send(
        &app,
        with_header(get("/runs/job-1"), "origin", "http://attacker.example"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(backend.calls.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_need_no_content_type() {
    let (app, _) = app(FakeBackend::default());
    let reply = send(&app, request(Method::DELETE, "/runs", None, Body::empty())).await;
    reply.error(StatusCode::METHOD_NOT_ALLOWED);
    let reply = send(&app, request(Method::POST, "/nope", None, Body::empty())).await;
    reply.error(StatusCode::NOT_FOUND);
}

// Host (DNS rebinding).

#[tokio::test]
async fn a_foreign_host_is_421_on_every_route() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for host in [
        "attacker.example",
        "attacker.example:7878",
        "localhost:80",
        "127.0.0.1",
        "127.0.0.2:7878",
        "localhost.:7878",
        "user@localhost:7878",
        "",
    ] {
        for req in [
            post_json("/runs", r#"{"workflow": "chain"}"#),
            get("/runs"),
            get("/health"),
            get("/nope"),
        ] {
            let reply = send(&app, with_host(req, host)).await;
            assert_eq!(
                reply.error(StatusCode::MISDIRECTED_REQUEST),
                format!(
                    "Host {host:?} is not this server (expected one of 127.0.0.1:7878, \
                     localhost:7878, [::1]:7878, or a name the server is told to allow); a web \
                     page on another name (DNS rebinding) may not reach the API"
                )
            );
        }
    }
    // An absolute URI names the host instead of the header.
    let req = request(
        Method::GET,
        "http://attacker.example/runs",
        None,
        Body::empty(),
    );
    send(&app, req).await.error(StatusCode::MISDIRECTED_REQUEST);
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_without_exactly_one_host_is_400() {
    let (app, backend) = app(FakeBackend::default());
    let mut req = get("/runs");
    req.headers_mut().remove(HOST);
    assert_eq!(
        send(&app, req).await.error(StatusCode::BAD_REQUEST),
        "the request needs exactly one Host header"
    );
    let mut req = get("/runs");
    req.headers_mut()
        .append(HOST, "localhost:7878".parse().unwrap());
    send(&app, req).await.error(StatusCode::BAD_REQUEST);
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn own_names_and_allowed_hosts_pass() {
    let config = config(None, &["api.example.com", "proxy.example:8443", "::2"]);
    let (app, _) = app_with(FakeBackend::default(), LISTEN, &config);
    for host in [
        "127.0.0.1:7878",
        "localhost:7878",
        "LocalHost:7878",
        "[::1]:7878",
        "[0:0::1]:7878",
        "api.example.com",
        "API.example.com:443",
        "proxy.example:8443",
        "[::2]:1",
    ] {
        let reply = send(&app, with_host(get("/workflows"), host)).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}: {}", reply.body);
    }
    let reply = send(&app, with_host(get("/workflows"), "proxy.example:9999")).await;
    assert_contains(
        reply.error(StatusCode::MISDIRECTED_REQUEST),
        "expected one of 127.0.0.1:7878, localhost:7878, [::1]:7878, api.example.com, \
         proxy.example:8443, [::2], or a name the server is told to allow",
    );
    // An allowed host is an allowed origin too.
    let reply = send(
        &app,
        with_header(
            post_json("/runs", r#"{"workflow": "chain"}"#),
            "origin",
            "https://api.example.com",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn on_every_interface_the_local_address_is_a_name_and_0_0_0_0_is_not() {
    let (app, _) = app_with(
        FakeBackend::default(),
        "0.0.0.0:7878",
        &ApiConfig::default(),
    );
    let from_lan = |host: &str| {
        let mut req = with_host(get("/workflows"), host);
        req.extensions_mut()
            .insert(LocalAddr("192.168.1.5:7878".parse().unwrap()));
        req
    };
    let reply = send(&app, from_lan("192.168.1.5:7878")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = send(&app, from_lan("localhost:7878")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for host in ["0.0.0.0:7878", "192.168.1.6:7878", "attacker.example:7878"] {
        send(&app, from_lan(host))
            .await
            .error(StatusCode::MISDIRECTED_REQUEST);
    }
}

// The token.

#[tokio::test]
async fn with_a_token_every_route_but_health_needs_it() {
    let config = config(Some("s3cret-token-0123"), &[]);
    let (app, backend) = app_with(
        FakeBackend::with_runs(&[("job-1", "running")]),
        LISTEN,
        &config,
    );
    for req in [
        get("/runs"),
        get("/runs/job-1"),
        get("/nope"),
        post_json("/runs/job-1/cancel", ""),
    ] {
        let reply = send(&app, req).await;
        assert_eq!(
            reply.error(StatusCode::UNAUTHORIZED),
            "this API needs a token: send the header Authorization: Bearer <token>, with the \
             token the server was started with (or log in to the dashboard at /login)"
        );
        assert_eq!(reply.headers.get(WWW_AUTHENTICATE).unwrap(), "Bearer");
    }
    for wrong in [
        "Bearer s3cret",
        "Bearer s3cret-token-01232",
        "Bearer S3CRET-TOKEN",
        "Bearer ",
        "Basic czNjcmV0LXRva2Vu",
        "s3cret-token-0123",
    ] {
        let reply = send(&app, with_header(get("/runs"), "authorization", wrong)).await;
        let message = reply.error(StatusCode::UNAUTHORIZED);
        assert!(message.contains("token"), "{wrong}: {message}");
    }
    assert!(backend.calls.lock().unwrap().is_empty());

    let reply = send(&app, get("/health")).await;
    assert_eq!(reply.status, StatusCode::OK);
    for right in ["Bearer s3cret-token-0123", "bearer s3cret-token-0123"] {
        let reply = send(&app, with_header(get("/runs"), "authorization", right)).await;
        assert_eq!(reply.status, StatusCode::OK, "{right}: {}", reply.body);
    }
    let reply = send(
        &app,
        with_header(
            post_json("/runs/job-1/cancel", ""),
            AUTHORIZATION.as_str(),
            "Bearer s3cret-token-0123",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        backend.calls.lock().unwrap()[..],
        ["list_runs None 100", "list_runs None 100", "cancel job-1"]
    );
}

#[tokio::test]
async fn the_host_is_checked_before_the_token() {
    let config = config(Some("s3cret-token-0123"), &[]);
    let (app, _) = app_with(FakeBackend::default(), LISTEN, &config);
    let req = with_header(
        with_host(get("/runs"), "attacker.example"),
        "authorization",
        "Bearer s3cret-token-0123",
    );
    send(&app, req).await.error(StatusCode::MISDIRECTED_REQUEST);
}

// The body deadline.

#[tokio::test]
async fn a_body_that_stops_arriving_is_408() {
    let config = ApiConfig {
        body_timeout: Duration::from_millis(200),
        ..ApiConfig::default()
    };
    let (app, backend) = app_with(FakeBackend::default(), LISTEN, &config);
    // Half a body, then nothing, never.
    let stalled = Stalled(Some(Bytes::from_static(b"{\"workflow\": ")));
    let req = request(
        Method::POST,
        "/runs",
        Some("application/json"),
        Body::new(stalled),
    );
    let reply = send(&app, req).await;
    assert_eq!(
        reply.error(StatusCode::REQUEST_TIMEOUT),
        "the request body did not arrive within 200ms (the server's body timeout)"
    );
    assert!(backend.calls.lock().unwrap().is_empty());
}

/// A body that yields its bytes and then never ends.
struct Stalled(Option<Bytes>);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.0.take() {
            Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            None => Poll::Pending,
        }
    }
}

// Parsing the flags.

#[test]
fn allowed_hosts_parse_as_name_and_optional_port() {
    for (text, shown) in [
        ("api.example.com", "api.example.com"),
        ("API.Example.com:8080", "api.example.com:8080"),
        ("[::1]:80", "[::1]:80"),
        ("::1", "[::1]"),
        ("10.0.0.1", "10.0.0.1"),
    ] {
        let host: AllowedHost = text.parse().unwrap();
        assert_eq!(host.to_string(), shown);
    }
    for (text, why) in [
        (
            "http://api.example.com",
            "give the host name only, without a scheme or a path",
        ),
        (
            "api.example.com/x",
            "give the host name only, without a scheme or a path",
        ),
        ("", "it must be a host name"),
        ("*", "it must be a host name"),
        ("a b", "it must be a host name"),
        ("api.example.com:http", "it is not NAME[:PORT]"),
        ("api.example.com:70000", "it is not NAME[:PORT]"),
        ("[::1", "it is not NAME[:PORT]"),
    ] {
        let error = text.parse::<AllowedHost>().unwrap_err();
        assert_eq!(
            error,
            format!(
                "invalid allowed host {text:?}: {why}; expected NAME or NAME:PORT, e.g. \
                 \"api.example.com\" or \"api.example.com:8080\""
            )
        );
    }
}

#[test]
fn tokens_are_printable_ascii_and_never_printed() {
    let token: Token = "s3cret-token-0123".parse().unwrap();
    assert_eq!(format!("{token:?}"), "Token(<redacted>)");
    assert_eq!("".parse::<Token>().unwrap_err(), "the token is empty");
    assert!("two words".parse::<Token>().is_err());
    assert!("tab\there".parse::<Token>().is_err());
    assert!("é".parse::<Token>().is_err());
}

#[test]
fn a_token_shorter_than_16_characters_is_refused() {
    assert_eq!(
        "a".parse::<Token>().unwrap_err(),
        "the token is 1 characters long: give at least 16 (a short token can be guessed), \
         e.g. from openssl rand -hex 16"
    );
    assert!("0123456789abcde".parse::<Token>().is_err());
    assert!("0123456789abcdef".parse::<Token>().is_ok());
}

// Duplicate Origins, and Sec-Fetch-Site without an Origin.

#[tokio::test]
async fn a_post_with_two_origins_is_403() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for (first, second) in [
        ("http://127.0.0.1:7878", "http://evil.com"),
        ("http://evil.com", "http://127.0.0.1:7878"),
        ("http://127.0.0.1:7878", "http://127.0.0.1:7878"),
    ] {
        let mut req = with_header(post_json("/runs/job-1/cancel", ""), "origin", first);
        req.headers_mut().append("origin", second.parse().unwrap());
        let reply = send(&app, req).await;
        assert_eq!(
            reply.error(StatusCode::FORBIDDEN),
            "the request has more than one Origin header: a request that changes runs may \
             carry at most one"
        );
    }
    assert!(backend.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_post_from_another_site_without_origin_is_403() {
    let (app, backend) = app(FakeBackend::with_runs(&[("job-1", "running")]));
    for site in ["cross-site", "same-site", "Cross-Site"] {
        let reply = send(
            &app,
            with_header(post_json("/runs/job-1/cancel", ""), "sec-fetch-site", site),
        )
        .await;
        assert_eq!(
            reply.error(StatusCode::FORBIDDEN),
            format!(
                "cross-origin request refused: Sec-Fetch-Site is {:?} (a page on another site \
                 or port); a web page on another site may not change runs",
                site.to_ascii_lowercase()
            )
        );
    }
    assert!(backend.calls.lock().unwrap().is_empty());
    // The same origin, a user's own navigation, a read, and an allowed Origin pass.
    for site in ["same-origin", "none"] {
        let reply = send(
            &app,
            with_header(post_json("/runs/job-1/cancel", ""), "sec-fetch-site", site),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{site}: {}", reply.body);
    }
    let reply = send(
        &app,
        with_header(get("/runs/job-1"), "sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let req = with_header(
        with_header(
            post_json("/runs/job-1/cancel", ""),
            "sec-fetch-site",
            "same-site",
        ),
        "origin",
        "http://127.0.0.1:7878",
    );
    assert_eq!(send(&app, req).await.status, StatusCode::OK);
}

// Refusals for who the client is end its connection.

#[tokio::test]
async fn refusals_for_who_the_client_is_close_the_connection() {
    let config = config(Some("0123456789abcdef"), &[]);
    let (app, _) = app_with(FakeBackend::default(), LISTEN, &config);
    let token = |req| with_header(req, AUTHORIZATION.as_str(), "Bearer 0123456789abcdef");
    let mut two_hosts = get("/health");
    two_hosts
        .headers_mut()
        .append(HOST, "localhost:7878".parse().unwrap());
    let refused = [
        (two_hosts, StatusCode::BAD_REQUEST),
        (get("/runs"), StatusCode::UNAUTHORIZED),
        (
            with_header(token(post_json("/runs", "{}")), "origin", "http://evil.com"),
            StatusCode::FORBIDDEN,
        ),
        (
            with_host(get("/health"), "evil.com"),
            StatusCode::MISDIRECTED_REQUEST,
        ),
    ];
    for (req, status) in refused {
        let reply = send(&app, req).await;
        reply.error(status);
        assert_eq!(
            reply.headers.get(CONNECTION).map(|v| v.as_bytes()),
            Some(&b"close"[..]),
            "{status}"
        );
    }
    // Other errors keep the connection.
    for (req, status) in [
        (token(get("/nope")), StatusCode::NOT_FOUND),
        (
            token(request(Method::POST, "/runs", None, Body::empty())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let reply = send(&app, req).await;
        reply.error(status);
        assert_eq!(reply.headers.get(CONNECTION), None, "{status}");
    }
}
