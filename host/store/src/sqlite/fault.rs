//! What a failed SQLite call means for the caller: the one place that turns SQLite's errors
//! (`rusqlite::Error`), their result codes, and the OS error behind an I/O failure, into
//! the neutral [`StoreError`]s a caller acts on.
//!
//! A `rusqlite::Error` becomes a [`StoreError::Database`] where it happens (by `?`), which
//! keeps it as its source; where a connection is at hand (every read and the writer's
//! transactions), [`classify`] then looks at its code and tells a full disk, a read-only
//! database and a busy one apart from other failures.
//!
//! SQLite says "database or disk is full" (`SQLITE_FULL`) when a write to the database or
//! its WAL runs out of room, but when the volume fills up under the shared-memory file
//! (`-shm`) it reports a bare I/O error (`SQLITE_IOERR_SHMSIZE`, "disk I/O error"), and a
//! read-only folder or volume shows up as "unable to open database file". The OS error
//! (`ENOSPC`, `EDQUOT`, `EROFS`, `EPERM`) tells them apart. After an I/O error only the
//! connection that failed still knows it, so every place that holds a connection
//! classifies its errors here before handing them on. After a failed open SQLite's own
//! record is useless (it tries the file again read-only, which fails with `ENOENT`), so
//! the OS is asked again: can the database file and its folder be written?

use std::io::ErrorKind;
use std::path::Path;

use rusqlite::{Connection, ErrorCode};

use crate::StoreError;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Database {
            source: Box::new(error),
        }
    }
}

/// A failure the caller handles differently from other database errors.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// No room left: wait for space and try again.
    DiskFull,
    /// The database cannot be written at all: the reason, for the message.
    ReadOnly(String),
    /// Another connection holds the lock longer than the busy timeout: try again.
    Busy,
}

/// `error`, raised by `conn` (a connection to `path`), as [`StoreError::DiskFull`],
/// [`StoreError::ReadOnly`] or [`StoreError::Busy`] when that is what it means; otherwise
/// unchanged.
pub(super) fn classify(conn: &Connection, path: &Path, error: StoreError) -> StoreError {
    classify_with(path, error, |code| match code {
        ErrorCode::CannotOpen => open_errno(path, false),
        _ => system_errno(conn),
    })
}

/// `error` as [`classify`] sees it, with the OS error behind it given by `errno` (asked
/// only for an I/O or open failure).
pub(super) fn classify_with(
    path: &Path,
    error: StoreError,
    errno: impl FnOnce(ErrorCode) -> Option<i32>,
) -> StoreError {
    let (StoreError::Database { source } | StoreError::Open { source, .. }) = &error else {
        return error;
    };
    let Some(code) = source
        .downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
    else {
        return error;
    };
    // SQLite records the OS error only for I/O and open failures; for any other code the
    // recorded value belongs to an earlier failure.
    let errno = match code {
        ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => errno(code),
        _ => None,
    };
    match fault(code, errno) {
        Some(Fault::DiskFull) => StoreError::DiskFull {
            path: path.to_path_buf(),
        },
        Some(Fault::ReadOnly(reason)) => StoreError::ReadOnly {
            path: path.to_path_buf(),
            reason,
        },
        // A database that could not be opened stays that: the open failed.
        Some(Fault::Busy) => match error {
            StoreError::Database { source } => StoreError::Busy { source },
            other => other,
        },
        None => error,
    }
}

/// What a SQLite result `code` with the OS error `errno` behind it means.
fn fault(code: ErrorCode, errno: Option<i32>) -> Option<Fault> {
    let os = errno.map(std::io::Error::from_raw_os_error);
    let kind = os.as_ref().map(std::io::Error::kind);
    match (code, kind) {
        (ErrorCode::DiskFull, _) => Some(Fault::DiskFull),
        (
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen,
            Some(ErrorKind::StorageFull | ErrorKind::QuotaExceeded),
        ) => Some(Fault::DiskFull),
        (ErrorCode::ReadOnly, _) => Some(Fault::ReadOnly(match os {
            Some(os) if kind == Some(ErrorKind::ReadOnlyFilesystem) => os.to_string(),
            _ => "the file is read-only".to_owned(),
        })),
        (
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen,
            Some(ErrorKind::ReadOnlyFilesystem),
        )
        | (ErrorCode::CannotOpen, Some(ErrorKind::PermissionDenied)) => {
            os.map(|os| Fault::ReadOnly(os.to_string()))
        }
        (ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked, _) => Some(Fault::Busy),
        _ => None,
    }
}

/// The OS error behind the connection's latest failed I/O or open, if any.
fn system_errno(conn: &Connection) -> Option<i32> {
    // SAFETY: the handle is valid while `conn` is borrowed, and sqlite3_system_errno only
    // reads a field of it.
    let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
    (errno != 0).then_some(errno)
}

/// Why SQLite could not open the database `path` or the `-wal` and `-shm` files beside it,
/// as the OS says now: the error of opening the file for writing (`create`: creating it if
/// missing, as SQLite would have), or else of writing into its folder.
pub(super) fn open_errno(path: &Path, create: bool) -> Option<i32> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path);
    match file {
        Err(error) => error.raw_os_error(),
        Ok(_) => {
            let folder = match path.parent() {
                Some(folder) if !folder.as_os_str().is_empty() => folder,
                _ => Path::new("."),
            };
            writable_errno(folder)
        }
    }
}

/// The OS error of writing into `folder` (`access(2)` with `W_OK`, which also sees a
/// read-only mount and an immutable folder, not only permission bits), if any.
fn writable_errno(folder: &Path) -> Option<i32> {
    use std::os::unix::ffi::OsStrExt;
    let folder = std::ffi::CString::new(folder.as_os_str().as_bytes()).ok()?;
    // SAFETY: `folder` is a NUL-terminated string that outlives the call.
    let result = unsafe { libc::access(folder.as_ptr(), libc::W_OK) };
    match result {
        0 => None,
        _ => std::io::Error::last_os_error().raw_os_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    const EROFS: i32 = 30;
    const EPERM: i32 = 1;
    const EIO: i32 = 5;

    fn sqlite(code: i32) -> StoreError {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None).into()
    }

    fn classified(code: i32, errno: Option<i32>) -> String {
        match classify_with(Path::new("data/x.db"), sqlite(code), |_| errno) {
            StoreError::DiskFull { path } => format!("disk full {}", path.display()),
            StoreError::ReadOnly { path, reason } => {
                format!("read-only {}: {reason}", path.display())
            }
            StoreError::Busy { .. } => "busy".to_owned(),
            StoreError::Database { .. } => "unchanged".to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn disk_full_is_told_by_the_code_or_by_the_os_error_behind_an_io_error() {
        use rusqlite::ffi::*;
        assert_eq!(classified(SQLITE_FULL, None), "disk full data/x.db");
        // The shared-memory file could not grow: SQLite says "disk I/O error".
        assert_eq!(
            classified(SQLITE_IOERR_SHMSIZE, Some(ENOSPC)),
            "disk full data/x.db"
        );
        assert_eq!(
            classified(SQLITE_IOERR_SHMMAP, Some(ENOSPC)),
            "disk full data/x.db"
        );
        assert_eq!(
            classified(SQLITE_IOERR_WRITE, Some(EDQUOT)),
            "disk full data/x.db"
        );
        assert_eq!(
            classified(SQLITE_CANTOPEN, Some(ENOSPC)),
            "disk full data/x.db"
        );
        // Another I/O error stays what it is.
        assert_eq!(classified(SQLITE_IOERR_WRITE, Some(EIO)), "unchanged");
        assert_eq!(classified(SQLITE_IOERR_SHMSIZE, None), "unchanged");
        // An OS error recorded for an earlier failure does not turn a constraint into one.
        assert_eq!(classified(SQLITE_CONSTRAINT, Some(ENOSPC)), "unchanged");
    }

    #[test]
    fn read_only_files_folders_and_volumes_are_told_apart_from_other_open_failures() {
        use rusqlite::ffi::*;
        assert_eq!(
            classified(SQLITE_READONLY, None),
            "read-only data/x.db: the file is read-only"
        );
        assert_eq!(
            classified(SQLITE_CANTOPEN, Some(EROFS)),
            "read-only data/x.db: Read-only file system (os error 30)"
        );
        assert_eq!(
            classified(SQLITE_CANTOPEN, Some(EPERM)),
            "read-only data/x.db: Operation not permitted (os error 1)"
        );
        assert_eq!(classified(SQLITE_CANTOPEN, None), "unchanged");
        // A permission error on I/O (not on opening) is not a read-only database.
        assert_eq!(classified(SQLITE_IOERR_WRITE, Some(EPERM)), "unchanged");
    }

    #[test]
    fn a_locked_database_is_busy_and_keeps_sqlites_words() {
        use rusqlite::ffi::*;
        assert_eq!(classified(SQLITE_BUSY, None), "busy");
        assert_eq!(classified(SQLITE_LOCKED, None), "busy");
        let locked = rusqlite::Error::SqliteFailure(
            Error::new(SQLITE_BUSY),
            Some("database is locked".to_owned()),
        );
        let busy = classify_with(Path::new("data/x.db"), locked.into(), |_| None);
        assert_eq!(busy.to_string(), "database error: database is locked");
        assert_eq!(busy.kind(), crate::StoreErrorKind::RetryLater);
        assert_eq!(
            sqlite(SQLITE_CONSTRAINT).kind(),
            crate::StoreErrorKind::Unusable
        );
    }
}
