//! The dashboard's login: `GET /login` (a form that asks for the token), `POST /login`
//! (checks it and sets the session cookie, see `guard::SESSION_COOKIE`) and
//! `POST /logout` (clears it). These are plain HTML forms, so they are not behind the
//! guard's JSON rule for writes; they check the `Origin` as it does (a page on another
//! site can neither log a browser in nor out).

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::auth::SESSION_COOKIE;
use super::error::HttpError;
use super::guard::{BodyDeadline, Guard, refuse};

/// The largest login form read: a token and a path.
const FORM_LIMIT: usize = 16 * 1024;

/// `GET /login?next=PATH`: the form. A server without a token has nothing to ask:
/// straight on to `next`.
pub(super) async fn page(
    State(guard): State<Arc<Guard>>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = match query {
        Ok(Query(pairs)) => match form_next(pairs.into_iter()) {
            Ok(next) => next,
            Err(error) => return error.into_response(),
        },
        Err(rejection) => {
            let message = format!("the query string is not valid: {}", rejection.body_text());
            return HttpError::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    if !guard.has_token() {
        return see_other(&next);
    }
    form(StatusCode::OK, &next, None)
}

/// `POST /login` with `token` and `next` (form-encoded): the right token sets the
/// session cookie and goes on to `next`; a wrong one gets the form again (401).
pub(super) async fn log_in(State(guard): State<Arc<Guard>>, req: Request) -> Response {
    if let Err(error) = guard.check_origin(&req) {
        return refuse(error);
    }
    let form_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /login takes the login form: Content-Type: \
             application/x-www-form-urlencoded with the fields token and next",
        )
        .into_response();
    }
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    let body = axum::body::to_bytes(req.into_body(), FORM_LIMIT);
    let body = match deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline.at, body).await {
            Ok(body) => body,
            Err(_) => return deadline.expired().into_response(),
        },
        None => body.await,
    };
    let Ok(body) = body else {
        let message = format!("the login form is larger than {FORM_LIMIT} bytes, or cut short");
        return HttpError::new(StatusCode::BAD_REQUEST, message).into_response();
    };
    let mut token = None;
    let mut rest = Vec::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match &*key {
            "token" if token.is_none() => token = Some(value.into_owned()),
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    let next = match form_next(rest.into_iter()) {
        Ok(next) => next,
        Err(error) => return error.into_response(),
    };
    let Some(cookie) = guard.session_cookie() else {
        // No token: nothing to log in to.
        return see_other(&next);
    };
    if !token.is_some_and(|token| guard.is_token(&token)) {
        return form(StatusCode::UNAUTHORIZED, &next, Some("The token is wrong."));
    }
    let mut response = see_other(&next);
    let cookie = format!("{SESSION_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, cookie);
    }
    response
}

/// `POST /logout`: clears the session cookie and goes to the login page.
pub(super) async fn log_out(State(guard): State<Arc<Guard>>, req: Request) -> Response {
    if let Err(error) = guard.check_origin(&req) {
        return refuse(error);
    }
    let mut response = see_other("/login");
    let cleared = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(cleared) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(SET_COOKIE, cleared);
    }
    response
}

/// The `next` field or parameter (a local path, else `/`); anything else given is
/// refused, as the API refuses what it does not take.
fn form_next(pairs: impl Iterator<Item = (String, String)>) -> Result<String, HttpError> {
    let mut next = None;
    for (key, value) in pairs {
        if key != "next" || next.is_some() {
            let message = format!(
                "unexpected login field or parameter {key:?} (it takes token and next, once \
                 each)"
            );
            return Err(HttpError::new(StatusCode::BAD_REQUEST, message));
        }
        next = Some(value);
    }
    Ok(local_path(next.as_deref()))
}

/// Where to go after logging in: `next` when it is a path of this server, else `/`. A
/// login must not send the browser to another site (`//evil.example`, `/\evil.example`,
/// `https://...`).
pub(super) fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A 303 to `location` (a local path), not cached.
fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&encode_path(location)) {
        headers.insert(LOCATION, location);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The login page: a form with a `Token` field and a `Log in` button, the error of the
/// last try if any (`role="alert"`, read out by screen readers), `next` kept in a hidden
/// field. Plain HTML, no script: it works without JavaScript.
fn form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let alert = error
        .map(|error| format!("<p role=\"alert\" class=\"error\">{}</p>\n", escape(error)))
        .unwrap_or_default();
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · savepoint</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<main class="login">
<h1>Log in to savepoint</h1>
{alert}<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<p><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></p>
<p><button type="submit">Log in</button></p>
</form>
<p>The token is the one <code>savepoint serve</code> was started with (<code>--token</code> or <code>SAVEPOINT_TOKEN</code>).</p>
</main>
</body>
</html>
"#,
        next = escape(next),
        css = crate::dashboard::stylesheet(),
    );
    let mut response = (status, Html(page)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Nothing on this page comes from elsewhere, and no other site may frame it (a
    // framed login form can be clicked through).
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `text` as one query parameter value: everything but unreserved characters and `/`
/// percent-encoded.
pub(super) fn encode_component(text: &str) -> String {
    encode(text, |byte| byte == b'/')
}

/// A local path (and query) as a `Location`: what a header cannot carry
/// percent-encoded, the rest as it is.
fn encode_path(text: &str) -> String {
    encode(text, |byte| b"/?&=%:@!$'()*+,;".contains(&byte))
}

fn encode(text: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
