//! Where a W1 configuration's database lives: a fresh SQLite file in the
//! scratch folder, or a fresh schema on the Postgres server. The scenarios
//! take the backend as a parameter; what they measure is the same code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use savepoint_store::{CheckpointStore, PgStore, SqliteStore, SystemClock};

use crate::pg::Server;
use crate::{stats, wal};

/// A backend the W1 scenarios run on.
pub trait Backend {
    type Store: CheckpointStore;

    /// A fresh, empty database for the configuration `name`.
    async fn open(&self, name: &str) -> anyhow::Result<Self::Store>;

    /// What `savepoint --db` is given for the database of `name`.
    fn location(&self, name: &str) -> OsString;

    /// The database's bytes once `store`'s last reference is gone (the
    /// runtime's lease renewal task may hold it a moment after the runtime).
    async fn close(&self, name: &str, store: Weak<Self::Store>) -> u64;

    /// The `-shm` file whose wal-index header counts the WAL frames of `name`
    /// ([`wal`](crate::wal)), if the backend has one.
    fn wal_index(&self, _name: &str) -> Option<PathBuf> {
        None
    }
}

/// SQLite: one database file per configuration in the scratch folder.
#[derive(Debug, Clone)]
pub struct Sqlite {
    pub scratch: PathBuf,
}

impl Sqlite {
    fn path(&self, name: &str) -> PathBuf {
        self.scratch.join(format!("{name}.db"))
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore;

    async fn open(&self, name: &str) -> anyhow::Result<SqliteStore> {
        let db = self.path(name);
        stats::remove_db(&db);
        SqliteStore::open(&db, Arc::new(SystemClock))
            .with_context(|| format!("cannot open {}", db.display()))
    }

    fn location(&self, name: &str) -> OsString {
        self.path(name).into_os_string()
    }

    async fn close(&self, name: &str, store: Weak<SqliteStore>) -> u64 {
        let db = self.path(name);
        // Closed means dropped and the WAL folded into the main file.
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        wait(|| store.strong_count() == 0 && !Path::new(&wal).exists()).await;
        stats::db_bytes(&db)
    }

    fn wal_index(&self, name: &str) -> Option<PathBuf> {
        Some(wal::shm_path(&self.path(name)))
    }
}

/// Postgres: one schema per configuration on the server.
impl Backend for Server {
    type Store = PgStore;

    async fn open(&self, name: &str) -> anyhow::Result<PgStore> {
        let url = self.schema(name).await?;
        PgStore::connect(&url, Arc::new(SystemClock))
            .await
            .with_context(|| format!("cannot open the store on {}", self.shown()))
    }

    fn location(&self, name: &str) -> OsString {
        self.url_of(name).into()
    }

    async fn close(&self, name: &str, store: Weak<PgStore>) -> u64 {
        wait(|| store.strong_count() == 0).await;
        self.bytes(name).await.unwrap_or(0)
    }
}

/// Wait (at most 5 s) until `done`.
async fn wait(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !done() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
