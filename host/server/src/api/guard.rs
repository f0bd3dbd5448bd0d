//! Who may talk to the API, checked once for every request before any route sees it
//! (two axum middlewares, so that no handler can forget a check):
//!
//! - [`admit`], on every request, 404s and 405s included: the `Host` names this
//!   server (so that a page on a DNS name rebound to 127.0.0.1 is refused); with a
//!   token, the request is authenticated (all routes but the open ones, `auth::is_open`):
//!   `Authorization: Bearer <token>`, or the dashboard's session cookie that
//!   `POST /login` sets ([`SESSION_COOKIE`]); a dashboard page without either is
//!   sent to the login page (303), anything else gets 401; and the request body gets
//!   its deadline ([`BodyDeadline`]).
//! - [`writes`], on the routes that change something (any method but GET, HEAD,
//!   OPTIONS, TRACE): the request is `application/json`, also with an empty body, and
//!   it has at most one `Origin`, which names this server; without one, no browser
//!   says `Sec-Fetch-Site: cross-site` (or `same-site`). A web page on another site
//!   can send a POST with `text/plain` without asking the server first (a "simple"
//!   request), but not with `application/json`, and a browser always sends its
//!   `Origin` with a POST. A refusal for who sent the request (400, 401, 403, 421)
//!   also closes the connection.
//!
//! This server's names are its listen address, `localhost`, `127.0.0.1` and
//! `[::1]` with the listen port, the local address a connection came in on
//! ([`LocalAddr`], so that `curl http://192.168.1.5:7878` works when listening on
//! `0.0.0.0:7878`), and the names given with `--allowed-host`. An IP address cannot
//! be rebound, so the local address is safe to accept.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::time::Instant;

use savepoint_base::units::format_duration;

use super::ApiConfig;
use super::auth::{Session, Unauthenticated, is_open, session_cookies, unauthenticated};
use super::error::HttpError;

/// A name that `Host` and `Origin` may carry besides this server's own addresses:
/// `name` (on any port: a reverse proxy usually sends its own name without one) or
/// `name:port`. Names compare without case; an IPv6 address is written in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    name: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<AllowedHost, String> {
        let invalid = |why: &str| {
            format!(
                "invalid allowed host {text:?}: {why}; expected NAME or NAME:PORT, e.g. \"api.example.com\" or \"api.example.com:8080\""
            )
        };
        if text.contains("://") || text.contains('/') {
            return Err(invalid(
                "give the host name only, without a scheme or a path",
            ));
        }
        if text.is_empty() || text == "*" || text.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(invalid("it must be a host name"));
        }
        // A bare IPv6 address, without brackets and port.
        if let Ok(ip) = text.parse::<Ipv6Addr>() {
            return Ok(AllowedHost {
                name: format!("[{ip}]"),
                port: None,
            });
        }
        let (name, port) = split_authority(text).ok_or_else(|| invalid("it is not NAME[:PORT]"))?;
        Ok(AllowedHost { name, port })
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// The bearer token of `savepoint serve --token`: printable ASCII (what an
/// `Authorization` header can carry), at least [`Token::MIN_LEN`] characters (a
/// short one can be guessed). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The shortest token accepted.
    pub const MIN_LEN: usize = 16;
}

impl Token {
    /// The token itself, for the session cookie derived from it.
    pub(super) fn secret(&self) -> &str {
        &self.0
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(text: &str) -> Result<Token, String> {
        if text.is_empty() {
            return Err("the token is empty".to_string());
        }
        if !text.chars().all(|c| c.is_ascii_graphic()) {
            return Err(
                "the token must be printable ASCII without spaces (it is sent in an HTTP header)"
                    .to_string(),
            );
        }
        if text.len() < Token::MIN_LEN {
            return Err(format!(
                "the token is {} characters long: give at least {} (a short token can be \
                 guessed), e.g. from openssl rand -hex 16",
                text.len(),
                Token::MIN_LEN
            ));
        }
        Ok(Token(text.to_string()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The local address a connection was accepted on; the server loop puts it in
/// every request's extensions.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalAddr(pub SocketAddr);

/// The address a connection came from; the server loop puts it in every request's
/// extensions (a run's events name who changed it).
#[derive(Debug, Clone, Copy)]
pub(super) struct PeerAddr(pub SocketAddr);

/// When the request body must have arrived by: set by [`admit`], awaited by the
/// body extractor (see `extract::JsonObject`), which answers 408 after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyDeadline {
    pub at: Instant,
    timeout: Duration,
}

impl BodyDeadline {
    pub(super) fn expired(&self) -> HttpError {
        HttpError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} (the server's body timeout)",
                format_duration(self.timeout)
            ),
        )
    }
}

/// The checks, set up once per server.
#[derive(Debug)]
pub(super) struct Guard {
    listen: SocketAddr,
    allowed: Vec<AllowedHost>,
    /// The SHA-256 of the token: digests of equal length compare in constant time
    /// whatever the length of the token sent.
    token: Option<[u8; 32]>,
    /// The dashboard's session cookie for the token, when there is one.
    session: Option<Session>,
    body_timeout: Duration,
}

impl Guard {
    pub(super) fn new(listen: SocketAddr, config: &ApiConfig) -> Arc<Guard> {
        Arc::new(Guard {
            listen,
            allowed: config.allowed_hosts.clone(),
            token: config
                .token
                .as_ref()
                .map(|token| Sha256::digest(token.0.as_bytes()).into()),
            session: config.token.as_ref().map(Session::of),
            body_timeout: config.body_timeout,
        })
    }

    /// This server's own names with the listen port, for matching and for messages.
    fn own_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        // An unspecified listen address (0.0.0.0) is no name anyone connects to.
        if !self.listen.ip().is_unspecified() {
            names.push(host_name(self.listen.ip()));
        }
        for loopback in ["localhost", "127.0.0.1", "[::1]"] {
            if !names.iter().any(|name| name == loopback) {
                names.push(loopback.to_string());
            }
        }
        names
    }

    /// Whether `name:port` (name lower-cased, IPv6 in brackets) is this server.
    fn is_own(&self, name: &str, port: u16, local: Option<LocalAddr>) -> bool {
        if port == self.listen.port() && self.own_names().iter().any(|own| own == name) {
            return true;
        }
        if let Some(LocalAddr(local)) = local
            && port == local.port()
            && host_name(local.ip()) == name
        {
            return true;
        }
        self.allowed
            .iter()
            .any(|allowed| allowed.name == name && allowed.port.is_none_or(|p| p == port))
    }

    /// What a refused `Host` or `Origin` should have named.
    fn expected(&self) -> String {
        let port = self.listen.port();
        let mut names: Vec<String> = self
            .own_names()
            .iter()
            .map(|name| format!("{name}:{port}"))
            .collect();
        names.extend(self.allowed.iter().map(ToString::to_string));
        let names = names.join(", ");
        format!("expected one of {names}, or a name the server is told to allow")
    }

    fn check_host(&self, req: &Request) -> Result<(), HttpError> {
        let local = req.extensions().get::<LocalAddr>().copied();
        // An absolute URI (`GET http://host/path`) names the host itself, and wins
        // over the header (RFC 9112, 3.2.2).
        let authority = match req.uri().authority() {
            Some(authority) => authority.as_str().to_string(),
            None => {
                let mut hosts = req.headers().get_all(HOST).iter();
                let (Some(host), None) = (hosts.next(), hosts.next()) else {
                    return Err(HttpError::new(
                        StatusCode::BAD_REQUEST,
                        "the request needs exactly one Host header",
                    ));
                };
                String::from_utf8_lossy(host.as_bytes()).into_owned()
            }
        };
        let own = split_authority(&authority)
            .is_some_and(|(name, port)| self.is_own(&name, port.unwrap_or(80), local));
        if own {
            return Ok(());
        }
        Err(HttpError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host {authority:?} is not this server ({}); a web page on another name \
                 (DNS rebinding) may not reach the API",
                self.expected()
            ),
        ))
    }

    /// Whether the server has a token (then `/login` has something to ask for).
    pub(super) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether `token` is the server's, compared in constant time; `true` when the
    /// server has none.
    pub(super) fn is_token(&self, token: &str) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(digest.ct_eq(expected))
    }

    /// The value of the session cookie `POST /login` sets, when the server has a token.
    pub(super) fn session_cookie(&self) -> Option<&str> {
        self.session.as_ref().map(|session| session.value.as_str())
    }

    /// A request to a route that is not open must carry the bearer token or the
    /// session cookie, when the server has a token.
    fn authenticate(&self, req: &Request) -> Result<(), Unauthenticated> {
        let (Some(_), Some(session)) = (&self.token, &self.session) else {
            return Ok(());
        };
        if is_open(req.uri().path()) {
            return Ok(());
        }
        let bearer = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim_start())
            });
        if let Some(token) = bearer {
            return match self.is_token(token) {
                true => Ok(()),
                false => Err(Unauthenticated::WrongToken),
            };
        }
        let mut cookies = session_cookies(req).peekable();
        if cookies.peek().is_none() {
            return Err(Unauthenticated::Missing);
        }
        // Any of them (a browser may send an old one beside a new one of another path).
        let mut found = false;
        for cookie in cookies {
            let digest: [u8; 32] = Sha256::digest(cookie.as_bytes()).into();
            found |= bool::from(digest.ct_eq(&session.digest));
        }
        match found {
            true => Ok(()),
            false => Err(Unauthenticated::WrongSession),
        }
    }

    pub(super) fn check_origin(&self, req: &Request) -> Result<(), HttpError> {
        let mut origins = req.headers().get_all(ORIGIN).iter();
        let origin = match (origins.next(), origins.next()) {
            (None, _) => return check_fetch_site(req),
            (Some(origin), None) => origin,
            (Some(_), Some(_)) => {
                return Err(HttpError::new(
                    StatusCode::FORBIDDEN,
                    "the request has more than one Origin header: a request that changes \
                     runs may carry at most one",
                ));
            }
        };
        let text = String::from_utf8_lossy(origin.as_bytes());
        let local = req.extensions().get::<LocalAddr>().copied();
        let own = text.parse::<Uri>().ok().is_some_and(|uri| {
            let default_port = match uri.scheme_str() {
                Some("http") => 80,
                Some("https") => 443,
                _ => return false,
            };
            let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
            uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                && split_authority(authority).is_some_and(|(name, port)| {
                    self.is_own(&name, port.unwrap_or(default_port), local)
                })
        });
        if own {
            return Ok(());
        }
        Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin request refused: Origin {text:?} is not this server ({}); a web \
                 page on another site may not change runs",
                self.expected()
            ),
        ))
    }
}

/// A request that changes something and carries no `Origin`: a browser that says
/// it comes from another site (`Sec-Fetch-Site: cross-site` or `same-site`, e.g. a
/// page on another port of this host) is refused. When there is an `Origin`, it
/// decides (an `--allowed-host` page is same-site but allowed).
fn check_fetch_site(req: &Request) -> Result<(), HttpError> {
    let foreign = req
        .headers()
        .get_all(SEC_FETCH_SITE)
        .iter()
        .map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .trim()
                .to_ascii_lowercase()
        })
        .find(|site| site != "same-origin" && site != "none");
    match foreign {
        None => Ok(()),
        Some(site) => Err(HttpError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin request refused: Sec-Fetch-Site is {site:?} (a page on another \
                 site or port); a web page on another site may not change runs"
            ),
        )),
    }
}

/// `Sec-Fetch-Site`, which browsers send with every request (Fetch Metadata).
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// The middleware of every request: `Host`, then the token, then the body deadline.
pub(super) async fn admit(
    State(guard): State<Arc<Guard>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Err(error) = guard.check_host(&req) {
        return refuse(error);
    }
    if let Err(why) = guard.authenticate(&req) {
        return unauthenticated(&req, why);
    }
    req.extensions_mut().insert(BodyDeadline {
        at: Instant::now() + guard.body_timeout,
        timeout: guard.body_timeout,
    });
    next.run(req).await
}

/// The middleware of the routes that change something: the content type and the
/// `Origin`.
pub(super) async fn writes(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if !is_safe(req.method()) {
        if let Err(error) = guard.check_origin(&req) {
            return refuse(error);
        }
        if let Err(error) = check_content_type(req.headers().get(CONTENT_TYPE)) {
            return error.into_response();
        }
    }
    next.run(req).await
}

/// A request refused for who sent it (400, 401, 403, 421): the answer, with
/// `Connection: close`, so that a client without the right name or token cannot keep
/// its connection (and its slot of `--max-connections`) by asking again.
pub(super) fn refuse(error: HttpError) -> Response {
    let mut refusal = error.into_response();
    refusal
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    refusal
}

/// The methods that change nothing (RFC 9110, 9.2.1); every other one is checked.
fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// `application/json` (or `application/*+json`), with any parameters.
fn check_content_type(content_type: Option<&HeaderValue>) -> Result<(), HttpError> {
    let Some(content_type) = content_type else {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request has no Content-Type: send Content-Type: application/json (also with \
             an empty body)",
        ));
    };
    let text = String::from_utf8_lossy(content_type.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the request has Content-Type {text:?}: send Content-Type: application/json \
                 (also with an empty body)"
            ),
        ))
    }
}

/// `name[:port]` as a lower-cased name (IPv6 in brackets) and the port, if any.
/// `None` when it is no such thing (an empty name, a port that is not a number).
fn split_authority(text: &str) -> Option<(String, Option<u16>)> {
    let (name, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let (name, rest) = text.split_at(end + 1);
        match rest {
            "" => (name, None),
            _ => (name, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (text, None),
        }
    };
    if name.is_empty() || (name.contains([':', '@', '/']) && !name.starts_with('[')) {
        return None;
    }
    let port = match port {
        None => None,
        Some(port) => Some(port.parse::<u16>().ok()?),
    };
    let name = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        // Written the way Display writes it, so that [::0:1] is [::1].
        Some(ip) => format!("[{}]", ip.parse::<Ipv6Addr>().ok()?),
        None => name.to_ascii_lowercase(),
    };
    Some((name, port))
}

/// An address as it appears in a `Host` header.
fn host_name(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}
