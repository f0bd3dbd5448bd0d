//! Opening a database file: connection settings and numbered schema migrations.
//!
//! Migrations are embedded SQL files applied in order; `PRAGMA user_version` records how
//! many have been applied, so a file written by an older savepoint is upgraded on open and
//! a file written by a newer one is refused.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::fault;
use crate::StoreError;

/// Settings for every connection: WAL so readers (also in other processes) never block the
/// writer, a full fsync per commit so an acknowledged step survives power loss, enforced
/// foreign keys, and a WAL file that shrinks back to 4 MiB whenever a checkpoint has
/// emptied it. (The WAL grows to about 4 MiB between SQLite's automatic checkpoints, every
/// 1000 pages; without the limit one big transaction would keep its whole size on disk for
/// good. The writer also empties the file when it is idle: see `writer`.)
pub(super) const PRAGMAS: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    PRAGMA journal_size_limit = 4194304;
";

/// How long a connection waits for another one (maybe in another process) that holds the
/// write lock, before it fails with "database is locked".
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations in order; migration `i` brings `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_long_running.sql"),
    include_str!("migrations/0003_state_keys.sql"),
    include_str!("migrations/0004_components.sql"),
    include_str!("migrations/0005_history_pages.sql"),
    include_str!("migrations/0006_lease_epoch.sql"),
    include_str!("migrations/0007_daemons.sql"),
    include_str!("migrations/0008_time_travel.sql"),
    include_str!("migrations/0009_delete_lookups.sql"),
    include_str!("migrations/0010_event_ids.sql"),
    include_str!("migrations/0011_due_indexes.sql"),
    include_str!("migrations/0012_step_pages.sql"),
    include_str!("migrations/0013_composition.sql"),
    include_str!("migrations/0014_schedules.sql"),
];

/// Opens (creating it and its folder if missing) the database at `path` for writing and
/// brings its schema up to date.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
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
    let migrated = migrate(&mut conn, path);
    let migrated = migrated.map_err(|error| match fault::classify(&conn, path, error) {
        // However it failed (busy too), the database did not open.
        StoreError::Database { source } | StoreError::Busy { source } => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    })?;
    if migrated == Migrated::Now {
        // A migration may edit a table's definition in place (0013 adds a status to a
        // CHECK constraint): a connection parses the schema once, so a fresh one is
        // opened to work with the definitions as they are now.
        drop(conn);
        conn = open(path, flags)?;
    }
    Ok(conn)
}

/// Checks that the database at `path` can be written, on a connection of its own: in a
/// write transaction, `user_version` is written back with its own value, and the
/// transaction is rolled back. SQLite opens a file it cannot write read-only without a
/// word, and only a write statement finds out (a read, or `BEGIN IMMEDIATE` alone, succeeds);
/// a folder or volume where the `-wal` and `-shm` files cannot be created fails the open.
/// Nothing reaches the disk: a commit would cost every command an fsync (about 5 ms here).
pub(super) fn check_writable(path: &Path) -> Result<(), StoreError> {
    let conn = open_plain(path)?;
    let probe = || -> Result<(), StoreError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let version = user_version(&conn)?;
        conn.pragma_update(None, "user_version", version)?;
        conn.execute_batch("ROLLBACK")?;
        Ok(())
    };
    probe().map_err(|error| fault::classify(&conn, path, error))
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

/// Prepared statements kept per connection (`prepare_cached`). rusqlite keeps 16 by
/// default, fewer than a step's commit and a run's creation use between them: the
/// writer evicted and parsed its statements again on every command.
const STATEMENT_CACHE: usize = 256;

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let open_error = |source: rusqlite::Error| StoreError::Open {
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|source| {
        // No connection is left to ask what the OS said: ask the OS again.
        let create = flags.contains(OpenFlags::SQLITE_OPEN_CREATE);
        fault::classify_with(path, open_error(source), |_| {
            fault::open_errno(path, create)
        })
    })?;
    let failed = |source| fault::classify(&conn, path, open_error(source));
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
    conn.execute_batch(PRAGMAS).map_err(failed)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .map_err(failed)?;
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

/// Whether [`migrate`] changed the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Migrated {
    Already,
    Now,
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<Migrated, StoreError> {
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
        return Ok(Migrated::Already);
    }
    // Take the write lock, then look again: another process may have migrated meanwhile.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = check(user_version(&tx)?)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    tx.commit()?;
    Ok(Migrated::Now)
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
    fn the_write_check_passes_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let conn = open_writer(&path).unwrap();
        let wal = dir.path().join("store.db-wal");
        let before = std::fs::metadata(&wal).unwrap().len();
        check_writable(&path).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), before);
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len());
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
