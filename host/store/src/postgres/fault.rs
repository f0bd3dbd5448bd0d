//! What a failed Postgres call means for the caller: the one place that turns
//! tokio-postgres's and the pool's errors into the neutral [`StoreError`]s a caller acts on.
//!
//! An error becomes a [`StoreError::Database`] where it happens (by `?`), which keeps it as
//! its source; [`classify`] then tells apart, by the server's SQLSTATE or the client's own
//! condition, a server that cannot be reached now ([`StoreError::Unreachable`]: try again
//! later), one that refuses savepoint ([`StoreError::Rejected`]: a person must fix the URL,
//! password or grants) and a transaction that lost a race with another one
//! ([`StoreError::Busy`]: try again at once).

use tokio_postgres::error::{DbError, SqlState};

use crate::StoreError;

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        StoreError::Database {
            source: Box::new(error),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Database {
                source: Box::new(other),
            },
        }
    }
}

/// What a failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// The server is not there now, or the connection broke: the reason.
    Unreachable(String),
    /// The server refuses savepoint: the reason.
    Rejected(String),
    /// Another transaction was in the way (serialization failure, deadlock).
    Busy,
}

/// `error` as the caller acts on it; `db` names the database (its password hidden).
pub(super) fn classify(db: &str, error: StoreError) -> StoreError {
    let fault = match &error {
        StoreError::Database { source } => {
            if let Some(error) = source.downcast_ref::<tokio_postgres::Error>() {
                client_fault(error)
            } else if let Some(error) = source.downcast_ref::<deadpool_postgres::PoolError>() {
                pool_fault(error)
            } else {
                None
            }
        }
        _ => None,
    };
    match fault {
        Some(Fault::Unreachable(reason)) => StoreError::Unreachable {
            db: db.to_owned(),
            reason,
        },
        Some(Fault::Rejected(reason)) => StoreError::Rejected {
            db: db.to_owned(),
            reason,
        },
        Some(Fault::Busy) => match error {
            StoreError::Database { source } => StoreError::Busy { source },
            other => other,
        },
        None => error,
    }
}

/// Whether `error` is a lost race that the same transaction, run again, may win.
pub(super) fn is_busy(error: &StoreError) -> bool {
    matches!(error, StoreError::Busy { .. })
}

/// Whether the connection that raised `error` is gone (or the server away), so that a
/// new connection is needed.
pub(super) fn is_unreachable(error: &StoreError) -> bool {
    matches!(error, StoreError::Unreachable { .. })
}

fn pool_fault(error: &deadpool_postgres::PoolError) -> Option<Fault> {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(error) => client_fault(error),
        PoolError::Timeout(_) => Some(Fault::Unreachable(
            "timed out waiting for a connection".to_owned(),
        )),
        _ => None,
    }
}

fn client_fault(error: &tokio_postgres::Error) -> Option<Fault> {
    if let Some(db) = error.as_db_error() {
        return server_fault(db);
    }
    if error.is_closed() {
        return Some(Fault::Unreachable(
            "the connection to the server was lost".to_owned(),
        ));
    }
    // Connecting failed (refused, no such host, timed out) or the socket broke: the
    // error's causes say which, with the OS's words (its own text says only "error
    // connecting to server").
    let text = with_causes(error);
    if text.contains("password missing") {
        // The server asked for a password the URL does not give.
        return Some(Fault::Rejected(format!(
            "{text}; give it in the URL (postgres://USER:PASSWORD@HOST/DATABASE)"
        )));
    }
    if text.starts_with("authentication error") || text.starts_with("invalid configuration") {
        return Some(Fault::Rejected(text));
    }
    let io = std::error::Error::source(error)
        .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
    let lost = io
        || text.starts_with("error connecting")
        || text.contains("timed out")
        || text.contains("unexpected EOF");
    lost.then_some(Fault::Unreachable(text))
}

/// `error`'s text and its causes', as "error: cause: its cause".
fn with_causes(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

fn server_fault(db: &DbError) -> Option<Fault> {
    let code = db.code();
    let class = &code.code()[..2];
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return Some(Fault::Busy);
    }
    // What a person changes, for each refusal.
    let rejected = [
        (
            SqlState::INVALID_PASSWORD,
            "check the user and password in the URL",
        ),
        (
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
            "check the user and password in the URL, and that the server's pg_hba.conf \
             lets this user in from here",
        ),
        (
            SqlState::INVALID_CATALOG_NAME,
            "create the database, or name one that exists in the URL",
        ),
        (
            SqlState::INSUFFICIENT_PRIVILEGE,
            "grant this user CONNECT on the database, USAGE and CREATE on the schema, and \
             INSERT, UPDATE, DELETE on savepoint's tables",
        ),
        (
            SqlState::INVALID_SCHEMA_NAME,
            "create the schema, or name one that exists in the URL's search_path",
        ),
    ];
    if let Some((_, fix)) = rejected.iter().find(|(rejected, _)| rejected == code) {
        return Some(Fault::Rejected(format!("{}; {fix}", db.message())));
    }
    // 08: connection exceptions; 57P: the server shuts down or is starting up; 53: out of
    // connections, memory or disk: all pass.
    if class == "08" || class == "53" || code.code().starts_with("57P") {
        return Some(Fault::Unreachable(db.message().to_owned()));
    }
    None
}
