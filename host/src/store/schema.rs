//! Opening a database file: connection settings and numbered schema migrations.
//!
//! Migrations are embedded SQL files applied in order; `PRAGMA user_version` records how
//! many have been applied, so a file written by an older savepoint is upgraded on open and
//! a file written by a newer one is refused.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;

/// Settings for every connection: WAL so readers (also in other processes) never block the
/// writer, a full fsync per commit so an acknowledged step survives power loss, enforced
/// foreign keys, and a wait instead of an immediate error when another process holds the
/// write lock.
pub(super) const PRAGMAS: &str = "
    PRAGMA busy_timeout = 5000;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
";

/// Schema migrations in order; migration `i` brings `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_long_running.sql"),
    include_str!("migrations/0003_state_keys.sql"),
    include_str!("migrations/0004_components.sql"),
];

/// Opens (creating it and its folder if missing) the database at `path` for writing and
/// brings its schema up to date.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = open(path, flags)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens the (already migrated) database at `path` with the usual settings, for work
/// beside the writer thread (run bundles).
pub(super) fn open_plain(path: &Path) -> Result<Connection, StoreError> {
    open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Opens the (already migrated) database at `path` for reading only.
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open(path, flags)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
    conn.execute_batch(PRAGMAS).map_err(open_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt(format!(
            "{}: cannot use write-ahead logging (journal mode is {mode:?})",
            path.display()
        )));
    }
    Ok(conn)
}

fn user_version(conn: &Connection) -> Result<usize, StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    usize::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {version}")))
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let check = |version: usize| {
        if version > MIGRATIONS.len() {
            Err(StoreError::Corrupt(format!(
                "{}: schema version {version} is newer than this savepoint supports ({}); \
                 upgrade savepoint",
                path.display(),
                MIGRATIONS.len()
            )))
        } else {
            Ok(version)
        }
    };
    if check(user_version(conn)?)? == MIGRATIONS.len() {
        return Ok(());
    }
    // Take the write lock, then look again: another process may have migrated meanwhile.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = check(user_version(&tx)?)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = open_writer(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len());
        drop(conn);

        // Opening again is a no-op.
        let conn = open_writer(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len());
        conn.pragma_update(None, "user_version", MIGRATIONS.len() + 1)
            .unwrap();
        drop(conn);

        let err = open_writer(&path).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert!(
            err.to_string().contains("newer than this savepoint"),
            "{err}"
        );
    }

    #[test]
    fn reader_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let _writer = open_writer(&path).unwrap();
        let reader = open_reader(&path).unwrap();
        let mode: String = reader
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(reader.execute("DELETE FROM runs", []).is_err());
    }
}
