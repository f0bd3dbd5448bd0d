//! Who is logged in: the session cookie of the dashboard's login (`login`), which
//! routes are open to anyone and which are the dashboard's pages, and what a request
//! that is not authenticated gets. The guard (`guard`) checks; this says what counts.

use axum::extract::Request;
use axum::http::header::{COOKIE, LOCATION, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::fmt;

use super::error::HttpError;
use super::guard::{Token, refuse};

/// The name of the dashboard's session cookie.
pub(crate) const SESSION_COOKIE: &str = "savepoint_session";

/// The session cookie of a token: hex SHA-256 of `"savepoint-session\0"` and the
/// token. It is derived, not stored: every server started with the token accepts it
/// (a restart logs no one out), a new token ends every session, and the cookie does
/// not give the token away (a cookie cannot be sent as a bearer token).
pub(super) struct Session {
    /// The cookie's value, as `POST /login` sets it.
    pub(super) value: String,
    /// The SHA-256 of `value`: compared in constant time with that of the cookie sent.
    pub(super) digest: [u8; 32],
}

impl Session {
    pub(super) fn of(token: &Token) -> Session {
        let mut hasher = Sha256::new();
        hasher.update(b"savepoint-session\0");
        hasher.update(token.secret().as_bytes());
        let value: String = hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let digest = Sha256::digest(value.as_bytes()).into();
        Session { value, digest }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

/// The routes anyone may reach, also when the server has a token: the health check and
/// the metrics (for load balancers and Prometheus, which carry no token), the login and
/// logout of the dashboard, and its static assets (the login page's too).
pub(super) fn is_open(path: &str) -> bool {
    matches!(path, "/health" | "/metrics" | "/login" | "/logout") || path.starts_with("/assets/")
}

/// The dashboard's pages: a browser that has not logged in is sent to the login page
/// rather than shown a JSON 401.
pub(super) fn is_page(path: &str) -> bool {
    path == "/" || path.starts_with("/ui/")
}

/// Why a request is not authenticated.
pub(super) enum Unauthenticated {
    /// It carries no token and no session cookie.
    Missing,
    /// Its bearer token is wrong.
    WrongToken,
    /// Its session cookie is not one of this server's token (another token's, or an
    /// old one after the token changed).
    WrongSession,
}

/// The answer to a request that is not authenticated: a dashboard page goes to the
/// login page, which comes back to it (`next`); any other route gets 401.
pub(super) fn unauthenticated(req: &Request, why: Unauthenticated) -> Response {
    let path = req.uri().path();
    if is_page(path) {
        let wanted = req.uri().path_and_query().map_or(path, |p| p.as_str());
        let location = format!("/login?next={}", super::login::encode_component(wanted));
        let mut redirect = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(&location) {
            redirect.headers_mut().insert(LOCATION, location);
        }
        return redirect;
    }
    let message = match why {
        Unauthenticated::Missing => {
            "this API needs a token: send the header Authorization: Bearer <token>, with \
             the token the server was started with (or log in to the dashboard at /login)"
        }
        Unauthenticated::WrongToken => "the bearer token in the Authorization header is wrong",
        Unauthenticated::WrongSession => {
            "the session cookie is not this server's (the token changed?): log in again at \
             /login, or send the header Authorization: Bearer <token>"
        }
    };
    let mut refusal = refuse(HttpError::new(StatusCode::UNAUTHORIZED, message));
    refusal
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    refusal
}

/// The values of the session cookies in the request's `Cookie` headers.
pub(super) fn session_cookies(req: &Request) -> impl Iterator<Item = &str> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then_some(value.trim_matches('"'))
        })
}
