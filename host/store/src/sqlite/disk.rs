//! What the database file takes on disk, and giving its free pages back to the volume.
//!
//! Deleting rows (a `gc`) does not shrink a SQLite file: the pages it freed stay in the file
//! and are reused by later writes. Only `VACUUM` writes the file anew without them. In WAL
//! mode it writes every page it keeps into the `-wal` file (after building the new database
//! in a temporary file, in SQLite's temporary folder), and a checkpoint then copies them
//! back and truncates both files: so it needs free room for about twice the data it keeps,
//! and it holds the write lock throughout, which stalls every other writer of the file
//! (a daemon's commits and lease renewals) for as long as it takes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::{SqliteStore, fault, schema};
use crate::StoreError;

/// What the database takes on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskUse {
    /// The file and its `-wal`, in bytes.
    pub bytes: u64,
    /// The bytes of the file's free pages: reused by later writes, given back to the
    /// volume only by [`SqliteStore::vacuum`].
    pub free_bytes: u64,
    /// The bytes of the pages in use: what a `VACUUM` writes out again.
    pub used_bytes: u64,
}

impl SqliteStore {
    /// What the database file and its WAL take on disk now, and how much of the file is
    /// free pages.
    pub async fn disk_use(&self) -> Result<DiskUse, StoreError> {
        let (pages, free, page_size) = self
            .read(|conn| {
                let pragma = |name: &str| -> Result<u64, StoreError> {
                    Ok(conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?)
                };
                Ok((
                    pragma("page_count")?,
                    pragma("freelist_count")?,
                    pragma("page_size")?,
                ))
            })
            .await?;
        let path = self.path();
        let bytes = file_size(path)? + file_size(&wal_path(path))?;
        Ok(DiskUse {
            bytes,
            free_bytes: free * page_size,
            used_bytes: pages.saturating_sub(free) * page_size,
        })
    }

    /// Copies the WAL into the database and truncates it to nothing, unless a reader
    /// (maybe in another process) still needs it: then it leaves it, without waiting.
    /// So that sizes measured after a write show what the files keep.
    pub async fn empty_wal(&self) -> Result<(), StoreError> {
        self.on_own_connection(|conn| {
            conn.busy_timeout(std::time::Duration::ZERO)?;
            // A busy checkpoint is not an error: the writer empties the WAL later.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Writes the database anew without its free pages (`VACUUM`), then empties the WAL
    /// it went through, so that the file shrinks to the data it keeps. Holds the write lock
    /// throughout (other writers wait, up to their busy timeout, then fail); needs free
    /// room for about twice [`DiskUse::used_bytes`] (see the module's documentation). A
    /// volume that fills up meanwhile fails it with [`StoreError::DiskFull`], leaving the
    /// database as it was.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        self.on_own_connection(|conn| {
            conn.execute_batch("VACUUM")?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Runs `work` on a connection of its own, off the async threads: for statements that
    /// must not run inside a transaction (the writer's always are).
    async fn on_own_connection<F>(&self, work: F) -> Result<(), StoreError>
    where
        F: FnOnce(&rusqlite::Connection) -> Result<(), StoreError> + Send + 'static,
    {
        let path: Arc<Path> = Arc::from(self.path());
        let task = tokio::task::spawn_blocking(move || {
            let conn = schema::open_plain(&path)?;
            work(&conn).map_err(|error| fault::classify(&conn, &path, error))
        });
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(StoreError::Closed),
        }
    }
}

/// The `-wal` file beside the database `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The size of `path` in bytes; 0 if there is no such file.
fn file_size(path: &Path) -> Result<u64, StoreError> {
    match std::fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{CheckpointStore, ManualClock};

    #[tokio::test]
    async fn vacuum_gives_the_pages_a_gc_freed_back_to_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            &dir.path().join("store.db"),
            Arc::new(ManualClock::new(1_000)),
        )
        .unwrap();
        let bytes = vec![7u8; 4 << 20];
        store
            .save_component("sha256:aa", "big", bytes)
            .await
            .unwrap();
        store.empty_wal().await.unwrap();
        let full = store.disk_use().await.unwrap();
        assert!(full.used_bytes >= 4 << 20, "{full:?}");
        assert_eq!(full.bytes, full.used_bytes + full.free_bytes, "{full:?}");

        assert_eq!(store.collect_garbage().await.unwrap().components, 1);
        store.empty_wal().await.unwrap();
        let collected = store.disk_use().await.unwrap();
        assert_eq!(
            collected.bytes, full.bytes,
            "a delete does not shrink the file"
        );
        assert!(collected.free_bytes >= 4 << 20, "{collected:?}");

        store.vacuum().await.unwrap();
        let vacuumed = store.disk_use().await.unwrap();
        assert_eq!(vacuumed.free_bytes, 0, "{vacuumed:?}");
        assert_eq!(
            vacuumed.bytes, vacuumed.used_bytes,
            "the WAL is empty: {vacuumed:?}"
        );
        assert!(vacuumed.bytes < 1 << 20, "{vacuumed:?}");
    }
}
