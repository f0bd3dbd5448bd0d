//! WAL frames (pages) and commits per step, read from outside the store: the
//! wal-index header at the start of a WAL database's `-shm` file (layout in
//! <https://sqlite.org/walformat.html>, "The WAL-Index Header"). Its `mxFrame`
//! is the number of valid frames in the WAL and its `iChange` grows by one with
//! every write transaction, so the difference of two readings taken while
//! nothing writes is what was written in between, without a hook on the
//! store's connection (a `sqlite3_wal_hook` would replace its automatic
//! checkpoints) and without checkpointing from outside (which would change
//! what is measured).
//!
//! In sequential W1 and the floor every commit waits for one fsync of the WAL
//! (`synchronous = FULL`), so commits per step are fsyncs per step (plus the
//! automatic checkpoints', one per 1000 frames), and frames per step are the
//! pages each of those syncs writes.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The header's fields that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `iChange`: write transactions (and WAL restarts) so far.
    change: u32,
    /// `mxFrame`: frames in the WAL since it last restarted.
    frames: u32,
    /// `aSalt`: new whenever the WAL restarts from its first frame.
    salt: [u8; 8],
}

/// The `-shm` file of the database at `db`.
pub fn shm_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-shm");
    name.into()
}

/// The first copy of the header in `shm`, if the file is there and the index
/// initialised. SQLite writes the header in the machine's byte order.
pub fn header(shm: &Path) -> Option<Header> {
    let mut bytes = [0u8; 48];
    std::fs::File::open(shm).ok()?.read_exact(&mut bytes).ok()?;
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (bytes[12] == 1).then(|| Header {
        change: u32_at(8),
        frames: u32_at(16),
        salt: bytes[32..40].try_into().expect("8 bytes"),
    })
}

/// Frames and commits summed over readings taken around units of work (a
/// workflow's steps, a block of floor commits).
#[derive(Debug, Default, Clone, Copy)]
pub struct WalCount {
    /// Frames written by the units whose readings share one WAL generation.
    pub frames: u64,
    /// The units those frames were counted over.
    pub frame_units: u64,
    pub commits: u64,
    pub units: u64,
}

impl WalCount {
    /// Adds the work of `units` units done between the readings `before` and
    /// `after`. When the WAL restarted in between (an automatic checkpoint
    /// emptied it), the frames written before the restart are unknown and
    /// the units are left out of the frame count; commits are counted anyway.
    pub fn add(&mut self, before: Option<Header>, after: Option<Header>, units: u64) {
        let (Some(before), Some(after)) = (before, after) else {
            return;
        };
        self.commits += u64::from(after.change.wrapping_sub(before.change));
        self.units += units;
        if before.salt == after.salt && after.frames >= before.frames {
            self.frames += u64::from(after.frames - before.frames);
            self.frame_units += units;
        }
    }

    pub fn frames_per_unit(&self) -> Option<f64> {
        (self.frame_units > 0).then(|| self.frames as f64 / self.frame_units as f64)
    }

    pub fn commits_per_unit(&self) -> Option<f64> {
        (self.units > 0).then(|| self.commits as f64 / self.units as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn counts_the_frames_and_commits_of_a_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wal.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(crate::floor::PRAGMAS).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)")
            .unwrap();
        let shm = shm_path(&db);
        let mut count = WalCount::default();
        for round in 0..3 {
            let before = header(&shm);
            for i in 0..5 {
                conn.execute("INSERT INTO t (x, y) VALUES (?1, 'y')", [round * 10 + i])
                    .unwrap();
            }
            count.add(before, header(&shm), 5);
        }
        // One table leaf page per commit: one frame, one commit each.
        assert_eq!((count.commits, count.units), (15, 15));
        assert_eq!((count.frames, count.frame_units), (15, 15));

        // A checkpoint that empties the WAL restarts it: the frames of that
        // unit are not counted, its commits are.
        let before = header(&shm);
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        conn.execute("INSERT INTO t (x, y) VALUES (100, 'y')", [])
            .unwrap();
        count.add(before, header(&shm), 1);
        assert_eq!(count.frame_units, 15);
        assert!(count.commits >= 16, "{count:?}");
    }
}
