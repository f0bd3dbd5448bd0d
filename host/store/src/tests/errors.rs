//! The neutral error: what each case tells the caller to do, and the code it is reported
//! with (the CLI's exit code and the API's status follow from the code).

use savepoint_base::error_code::ErrorCode;

use super::*;

fn backend(message: &str) -> BackendError {
    message.into()
}

#[test]
fn every_error_says_what_to_do_next_and_its_code_follows() {
    let thread = || "job-1".to_owned();
    let path = || std::path::PathBuf::from("data/x.db");
    let cases = [
        (
            StoreError::NotFound { thread: thread() },
            StoreErrorKind::NotFound,
            ErrorCode::NotFound,
        ),
        (
            StoreError::ThreadExists {
                thread: thread(),
                status: RunStatus::Running,
            },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::Conflict {
                thread: thread(),
                expected_step: 2,
                found_step: 3,
            },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::Leased {
                thread: thread(),
                owner: "me".into(),
                expires_ms: 0,
            },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::LeaseLost {
                thread: thread(),
                owner: "me".into(),
            },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::Cancelled { thread: thread() },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::Finished {
                thread: thread(),
                status: RunStatus::Completed,
            },
            StoreErrorKind::Conflict,
            ErrorCode::Conflict,
        ),
        (
            StoreError::DiskFull { path: path() },
            StoreErrorKind::RetryLater,
            ErrorCode::Environment,
        ),
        (
            StoreError::Busy {
                source: backend("database is locked"),
            },
            StoreErrorKind::RetryLater,
            ErrorCode::Environment,
        ),
        (
            StoreError::ReadOnly {
                path: path(),
                reason: "read-only".into(),
            },
            StoreErrorKind::Unusable,
            ErrorCode::Environment,
        ),
        (
            StoreError::Open {
                path: path(),
                source: backend("unable to open"),
            },
            StoreErrorKind::Unusable,
            ErrorCode::Environment,
        ),
        (
            StoreError::Database {
                source: backend("no such table"),
            },
            StoreErrorKind::Unusable,
            ErrorCode::Environment,
        ),
        (
            StoreError::Io {
                path: path(),
                source: std::io::Error::other("boom"),
            },
            StoreErrorKind::Unusable,
            ErrorCode::Environment,
        ),
        (
            StoreError::Corrupt("x".into()),
            StoreErrorKind::Corrupt,
            ErrorCode::Internal,
        ),
        (
            StoreError::ComponentMissing {
                digest: "sha256:c1".into(),
            },
            StoreErrorKind::Internal,
            ErrorCode::Internal,
        ),
        (
            StoreError::Closed,
            StoreErrorKind::Internal,
            ErrorCode::Internal,
        ),
    ];
    for (error, kind, code) in cases {
        assert_eq!((error.kind(), error.code()), (kind, code), "{error:?}");
    }
}

#[test]
fn a_backends_error_is_told_in_its_own_words() {
    let error = StoreError::Database {
        source: backend("no such table: runs"),
    };
    assert_eq!(error.to_string(), "database error: no such table: runs");
    let error = StoreError::Open {
        path: "data/x.db".into(),
        source: backend("unable to open"),
    };
    assert_eq!(
        error.to_string(),
        "cannot open database data/x.db: unable to open"
    );
}
