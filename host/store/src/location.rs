//! Where the database is: the text of `--db` / `SAVEPOINT_DB`, a SQLite file's path or a
//! Postgres URL. The one place that tells them apart and that hides a URL's password:
//! every message names a Postgres database by [`PgUrl`]'s `Display`, which shows the
//! password as `***`.

use std::fmt;
use std::path::PathBuf;

/// The database `--db` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    /// A SQLite file (created on first use).
    Sqlite(PathBuf),
    /// A Postgres database.
    Postgres(PgUrl),
}

impl DbLocation {
    /// `--db`'s text: a `postgres://` or `postgresql://` URL is a Postgres database (a URL
    /// tokio-postgres cannot read is an error, said without its password); anything else
    /// is the path of a SQLite file.
    pub fn parse(text: impl Into<std::ffi::OsString>) -> Result<DbLocation, String> {
        let text = text.into();
        let url = match text.to_str() {
            Some(url) if is_postgres_url(url) => url,
            _ => return Ok(DbLocation::Sqlite(PathBuf::from(text))),
        };
        // Not checked here: a parser's error would show the text whole, password and all
        // (clap repeats the value it refused). Opening it says what is wrong, with the
        // password as `***`.
        Ok(DbLocation::Postgres(PgUrl(url.to_owned())))
    }
}

/// For messages: the path, or the URL with its password as `***`.
impl fmt::Display for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::Sqlite(path) => path.display().fmt(f),
            DbLocation::Postgres(url) => url.fmt(f),
        }
    }
}

fn is_postgres_url(text: &str) -> bool {
    URL_PREFIXES.iter().any(|prefix| text.starts_with(prefix))
}

/// The schemes tokio-postgres reads as a URL (anything else is its `key=value` form).
const URL_PREFIXES: [&str; 2] = ["postgres://", "postgresql://"];

/// A Postgres URL in tokio-postgres's syntax. Its `Display` and `Debug` show the password
/// (of the user part, or a `password=` parameter) as `***`; only [`PgUrl::as_str`], for
/// connecting, gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// `url` as it is (it parses: see [`DbLocation::parse`]).
    pub(crate) fn new(url: &str) -> PgUrl {
        PgUrl(url.to_owned())
    }

    /// The whole URL, password included: for connecting, never for a message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL with its password as `***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({:?})", self.redacted())
    }
}

/// `url` with every password in it as `***`, found the way tokio-postgres's URL parser
/// finds them (config.rs, `UrlParser`): the credentials are the text before the first
/// `@` (`user:password`), and a `password` parameter may follow the `?`.
fn redact(url: &str) -> String {
    let Some(prefix) = URL_PREFIXES.iter().find(|p| url.starts_with(*p)) else {
        return url.to_owned();
    };
    let mut rest = &url[prefix.len()..];
    let mut shown = String::from(*prefix);
    if let Some(at) = rest.find('@') {
        let credentials = &rest[..at];
        match credentials.split_once(':') {
            Some((user, _password)) => shown.push_str(&format!("{user}:***")),
            None => shown.push_str(credentials),
        }
        rest = &rest[at..];
    }
    let (before_query, query) = match rest.find('?') {
        Some(q) => rest.split_at(q + 1),
        None => (rest, ""),
    };
    shown.push_str(before_query);
    let params: Vec<String> = query
        .split('&')
        .filter(|param| !param.is_empty())
        .map(|param| match param.split_once('=') {
            Some((key, _)) if decoded(key) == "password" => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    shown.push_str(&params.join("&"));
    shown
}

/// A URL's percent-encoded text, decoded (as the parser decodes parameter names; a `%`
/// not followed by two hex digits stays as it is).
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        DbLocation::parse(text).unwrap().to_string()
    }

    #[test]
    fn a_url_is_postgres_and_anything_else_a_path() {
        for url in ["postgres://localhost/db", "postgresql://u@h:5432/db"] {
            assert!(matches!(
                DbLocation::parse(url).unwrap(),
                DbLocation::Postgres(_)
            ));
        }
        for path in [
            "savepoint.db",
            "/tmp/postgres/x.db",
            "postgres:/x",
            "./postgres://x",
        ] {
            assert_eq!(
                DbLocation::parse(path).unwrap(),
                DbLocation::Sqlite(PathBuf::from(path))
            );
        }
    }

    #[test]
    fn messages_never_show_a_password() {
        assert_eq!(
            shown("postgres://ada:s3cret@db.internal:5432/savepoint"),
            "postgres://ada:***@db.internal:5432/savepoint"
        );
        assert_eq!(
            shown("postgresql://ada:p%40ss@h/db?options=-csearch_path%3Dt_1"),
            "postgresql://ada:***@h/db?options=-csearch_path%3Dt_1"
        );
        assert_eq!(
            shown("postgres://ada@h/db?sslmode=disable&password=s3cret&pass%77ord=x"),
            "postgres://ada@h/db?sslmode=disable&password=***&pass%77ord=***"
        );
        assert_eq!(
            shown("postgres://%2Fvar%2Frun%2Fpostgresql/db"),
            "postgres://%2Fvar%2Frun%2Fpostgresql/db"
        );
        let url = DbLocation::parse("postgres://ada:s3cret@h/db").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"), "{url:?}");
    }

    #[tokio::test]
    async fn a_url_tokio_postgres_cannot_read_is_refused_when_opened_without_its_password() {
        let text = "postgres://ada:s3cret@h:notaport/db";
        let url = DbLocation::parse(text).unwrap();
        let clock = std::sync::Arc::new(crate::ManualClock::new(0));
        let error = crate::AnyStore::open(&url, clock).await.unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(
            message.contains("postgres://ada:***@h:notaport/db"),
            "{message}"
        );
        assert!(message.contains("not a Postgres URL"), "{message}");
    }
}
