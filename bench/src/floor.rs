//! The floor: what the cheapest possible "checkpoint after every node" costs on
//! this disk. Raw rusqlite (the same bundled SQLite as savepoint's store) under
//! the store's PRAGMAs, one `BEGIN IMMEDIATE; INSERT (wf, step, state JSON);
//! COMMIT` per checkpoint, like the peers' `sqlite_floor.py`. No engine, no
//! WebAssembly: every savepoint figure is also printed as a ratio to this.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use rusqlite::{Connection, params};
use serde_json::json;

use crate::stats;
use crate::wal::{self, WalCount};

/// The connection settings of savepoint's store (`PRAGMAS` in
/// host/store/src/sqlite/schema.rs, which the library does not export; a test
/// checks that this copy still matches).
pub const PRAGMAS: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    PRAGMA journal_size_limit = 4194304;
";

/// What the floor measured for one state size.
#[derive(Debug)]
pub struct Floor {
    pub commits: usize,
    pub wall: Duration,
    /// `BEGIN IMMEDIATE` to the end of `COMMIT`, per commit.
    pub latency: Vec<Duration>,
    /// The database file after close.
    pub db_bytes: u64,
    /// WAL frames and commits per commit.
    pub wal: WalCount,
}

impl Floor {
    pub fn commits_per_s(&self) -> f64 {
        self.commits as f64 / self.wall.as_secs_f64()
    }

    pub fn bytes_per_commit(&self) -> f64 {
        self.db_bytes as f64 / self.commits.max(1) as f64
    }
}

/// The floor in progress at one state size: a fresh database at `path`
/// that commits checkpoints in blocks when asked (so that it can be
/// interleaved with the W1 configurations it is compared with, and both see
/// the same disk and the same neighbours) until it is closed.
#[derive(Debug)]
pub struct Session {
    conn: Connection,
    path: std::path::PathBuf,
    payload: String,
    commits: usize,
    wall: Duration,
    latency: Vec<Duration>,
    wal: WalCount,
}

impl Session {
    pub fn open(path: &Path, size: usize) -> anyhow::Result<Session> {
        stats::remove_db(path);
        let conn = Connection::open(path)?;
        conn.execute_batch(PRAGMAS)?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("{}: journal mode is {mode}, not WAL", path.display());
        }
        conn.execute_batch(
            "CREATE TABLE ckpt (wf TEXT, step INTEGER, state BLOB, PRIMARY KEY (wf, step))",
        )?;
        Ok(Session {
            conn,
            path: path.to_path_buf(),
            payload: "x".repeat(size),
            commits: 0,
            wall: Duration::ZERO,
            latency: Vec::new(),
            wal: WalCount::default(),
        })
    }

    /// `commits` more checkpoints of `{count, payload}`, 10 per workflow id.
    pub fn block(&mut self, commits: usize) -> anyhow::Result<()> {
        let shm = wal::shm_path(&self.path);
        let before = wal::header(&shm);
        let started = Instant::now();
        for i in self.commits..self.commits + commits {
            let state = json!({"count": i % 10 + 1, "payload": self.payload.as_str()});
            let blob = serde_json::to_vec(&state)?;
            let committing = Instant::now();
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.conn
                .prepare_cached("INSERT INTO ckpt VALUES (?1, ?2, ?3)")?
                .execute(params![format!("wf-{}", i / 10), (i % 10) as i64, blob])?;
            self.conn.execute_batch("COMMIT")?;
            self.latency.push(committing.elapsed());
        }
        self.wall += started.elapsed();
        self.wal.add(before, wal::header(&shm), commits as u64);
        self.commits += commits;
        Ok(())
    }

    /// Close the database, measure and remove it.
    pub fn close(self) -> Floor {
        let Session {
            conn,
            path,
            commits,
            wall,
            latency,
            wal,
            ..
        } = self;
        drop(conn);
        let db_bytes = stats::db_bytes(&path);
        stats::remove_db(&path);
        Floor {
            commits,
            wall,
            latency,
            db_bytes,
            wal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas_match_the_store() {
        let schema = std::fs::read_to_string(
            crate::options::repo_root().join("host/store/src/sqlite/schema.rs"),
        )
        .unwrap();
        let open = "const PRAGMAS: &str = \"";
        let start = schema.find(open).expect("schema.rs defines PRAGMAS") + open.len();
        let end = start + schema[start..].find("\";").unwrap();
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            lines(PRAGMAS),
            lines(&schema[start..end]),
            "the store's PRAGMAS changed: update floor::PRAGMAS"
        );
    }

    #[test]
    fn a_few_commits_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut session = Session::open(&dir.path().join("floor.db"), 100).unwrap();
        session.block(15).unwrap();
        session.block(5).unwrap();
        let floor = session.close();
        assert_eq!((floor.commits, floor.latency.len()), (20, 20));
        assert_eq!((floor.wal.commits, floor.wal.units), (20, 20));
        assert!(
            floor.wal.frames_per_unit().unwrap() >= 1.0,
            "{:?}",
            floor.wal
        );
        assert!(floor.db_bytes > 20 * 100);
        assert!(!dir.path().join("floor.db").exists());
    }
}
