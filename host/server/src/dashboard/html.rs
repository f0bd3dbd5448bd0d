//! Writing HTML: every text that comes from a run (a thread id, a tag, a log line, a
//! state value, an error) goes through [`esc`], and every page through [`page`], so that
//! no value can open a tag or end an attribute, and every page has the same head,
//! navigation and headers.

use std::fmt::{self, Display, Write};

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets;

/// `text` escaped for HTML text and for double- or single-quoted attribute values.
pub(super) fn esc<T: Display>(text: T) -> Escaped<T> {
    Escaped(text)
}

/// See [`esc`].
#[derive(Debug)]
pub(super) struct Escaped<T>(T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through a writer that escapes as it goes: a large state value is not copied.
        let mut out = EscapingWriter(f);
        write!(out, "{}", self.0)
    }
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            self.0.write_str(&rest[..at])?;
            self.0.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

/// `text` as one component of a URL path or query (RFC 3986 unreserved characters
/// kept, every other byte percent-encoded): a thread id in `/ui/runs/{id}`.
pub(super) fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Which page the navigation marks as the one shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Runs,
    Plugins,
    Schedules,
    /// A run's page.
    Run,
}

/// Whether the browser came with a login session (the `savepoint_session` cookie): then
/// the header offers to log out. (A server without a token has no sessions.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Session {
    LoggedIn,
    None,
}

/// What every page's frame shows besides its body: where the reader is, and whether
/// they can log out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub(super) nav: Nav,
    pub(super) session: Session,
}

impl Frame {
    pub(super) fn of(nav: Nav, headers: &HeaderMap) -> Frame {
        let has_cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .any(|pair| {
                pair.split_once('=')
                    .is_some_and(|(name, _)| name.trim() == crate::api::SESSION_COOKIE)
            });
        let session = match has_cookie {
            true => Session::LoggedIn,
            false => Session::None,
        };
        Frame { nav, session }
    }
}

/// A whole page: `title` (escaped here) and `body`, already HTML. Every page reads
/// without its script; the script only adds live updates and the actions' requests.
pub(super) fn page(status: StatusCode, title: &str, frame: Frame, body: &str) -> Response {
    // A run's page is under "Runs" but is not the list itself.
    let current = |which: Nav| {
        if which == frame.nav {
            " aria-current=\"page\""
        } else {
            ""
        }
    };
    let logout = match frame.session {
        Session::LoggedIn => {
            "<form method=\"post\" action=\"/logout\" class=\"logout\">\
             <button type=\"submit\">Log out</button></form>"
        }
        Session::None => "",
    };
    let mut html = String::with_capacity(body.len() + 1024);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · savepoint</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"{css}\">\n\
         <script src=\"{js}\" defer></script>\n</head>\n<body>\n\
         <header class=\"top\"><nav aria-label=\"Main\"><span class=\"brand\">savepoint</span>\
         <a href=\"/\"{runs}>Runs</a><a href=\"/ui/plugins\"{plugins}>Plugins</a>\
         <a href=\"/ui/schedules\"{schedules}>Schedules</a></nav>\
         {logout}</header>\n\
         <main>\n{body}</main>\n</body>\n</html>\n",
        title = esc(title),
        css = assets::CSS.path(),
        js = assets::JS.path(),
        runs = current(Nav::Runs),
        plugins = current(Nav::Plugins),
        schedules = current(Nav::Schedules),
    );
    html_response(status, html)
}

/// An HTML answer: never cached (it shows a run as it is now), framed by no one, and
/// with a content security policy that runs only the dashboard's own script and style,
/// so that even a value that escaped [`esc`] could not run code.
pub(super) fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; base-uri 'none'; \
                 frame-ancestors 'none'",
            ),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (axum::http::header::REFERRER_POLICY, "same-origin"),
        ],
        html,
    )
        .into_response()
}

/// A page that says what went wrong (a run that does not exist, a filter that does not
/// parse, a backend error), with the status the API would have given.
pub(super) fn error_page(status: StatusCode, title: &str, message: &str, frame: Frame) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p role=\"alert\" class=\"error\">{}</p>\n<p><a href=\"/\">All runs</a></p>\n",
        esc(title),
        esc(message)
    );
    page(status, title, frame, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_open_a_tag_or_close_an_attribute() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\"").to_string(),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("plain ünïcode").to_string(), "plain ünïcode");
    }

    #[test]
    fn url_components_keep_only_unreserved_characters() {
        assert_eq!(url("job-1_a.b~c"), "job-1_a.b~c");
        assert_eq!(url("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
    }
}
