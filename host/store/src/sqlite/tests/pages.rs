//! What one commit writes, page by page. In sequential use every commit waits for the
//! fsync of the WAL frames it appends, one per page it changed, so the pages of a step's
//! commit are its cost on disk. These tests read the frames a commit appended to the WAL
//! (their page numbers: the frame headers, https://sqlite.org/walformat.html) and name
//! each page's table or index (`dbstat`), so that an index or table that starts to be
//! written by every step shows up here with its name.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::tests::*;

/// The `-shm` file's wal-index header: (`mxFrame`, `aSalt`).
fn wal_index(db: &Path) -> (u32, [u8; 8]) {
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    let mut bytes = [0u8; 48];
    std::fs::File::open(PathBuf::from(shm))
        .unwrap()
        .read_exact(&mut bytes)
        .unwrap();
    (
        u32::from_ne_bytes(bytes[16..20].try_into().unwrap()),
        bytes[32..40].try_into().unwrap(),
    )
}

/// The pages of frames `from..to` of the WAL, by the table or index they belong to.
fn pages_of_frames(db: &Path, from: u32, to: u32) -> BTreeMap<String, usize> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = std::fs::read(PathBuf::from(wal)).unwrap();
    let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut names = BTreeMap::new();
    for frame in from..to {
        let at = 32 + frame as usize * (24 + page_size);
        let page = u32::from_be_bytes(wal[at..at + 4].try_into().unwrap());
        let name: String = conn
            .query_row("SELECT name FROM dbstat WHERE pageno = ?1", [page], |row| {
                row.get(0)
            })
            .unwrap_or_else(|_| format!("page {page} (free)"));
        *names.entry(name).or_default() += 1;
    }
    names
}

/// The pages that `write` appended to the WAL of `db`, by table or index. Measured again
/// if the WAL restarted meanwhile (the writer empties it after a second of idleness).
async fn pages_written<F, Fut>(db: &Path, write: F) -> BTreeMap<String, usize>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let (from, salt) = wal_index(db);
        write().await;
        let (to, salt_after) = wal_index(db);
        if salt == salt_after && to >= from {
            return pages_of_frames(db, from, to);
        }
    }
}

/// A common step: the counter's, which changes one key of a small state and logs a line.
fn counter_step(thread: &str, step: u64, next: &[&str]) -> StepCommit {
    StepCommit {
        changes: object(json!({"count": step})),
        state: object(json!({"name": "Ada", "count": step})),
        logs: vec![log(step, 1, &format!("count = {step}"))],
        ..commit(thread, step, next)
    }
}

#[tokio::test]
async fn a_common_step_writes_few_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = SqliteStore::open(&db, Arc::new(ManualClock::new(1_700_000_000_000))).unwrap();
    // Other runs around it, so that its rows share pages with theirs as in a real database.
    for n in 0..50 {
        let thread = format!("other-{n:02}");
        store.create_run(new_run(&thread)).await.unwrap();
        for step in 1..=3 {
            store
                .commit_step(counter_step(&thread, step, &["next"]))
                .await
                .unwrap();
        }
    }
    store.create_run(new_run("t")).await.unwrap();
    store
        .commit_step(counter_step("t", 1, &["next"]))
        .await
        .unwrap();

    // Twenty steps, so that the occasional page split (and the database header on page 1,
    // rewritten whenever the file grows) count as often as they happen.
    const STEPS: u64 = 20;
    let next = AtomicU64::new(2);
    let pages = pages_written(&db, || {
        let (store, first) = (store.clone(), next.fetch_add(STEPS, Ordering::SeqCst));
        async move {
            for step in first..first + STEPS {
                store
                    .commit_step(counter_step("t", step, &["next"]))
                    .await
                    .unwrap();
            }
        }
    })
    .await;
    let per_step = pages.values().sum::<usize>() as f64 / STEPS as f64;
    println!("a step's commit: {per_step:.2} pages; in {STEPS} steps: {pages:?}");
    // runs, checkpoints (+ by id), state_writes (+ by step), logs (clustered by run since
    // 0012), events (+ by thread), and splits: 8.25. (11 before 0012: `logs_by_thread`
    // and AUTOINCREMENT's `sqlite_sequence`.)
    assert!(per_step <= 9.0, "{per_step} pages per step: {pages:?}");
}

/// A whole run as W1 makes it (`bench/`): created leased and pinned to its component,
/// ten counter steps, the last completing it.
#[tokio::test]
async fn a_whole_run_writes_few_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = SqliteStore::open(&db, Arc::new(ManualClock::new(1_700_000_000_000))).unwrap();
    store
        .save_component("sha256:counter", "counter", b"wasm".to_vec())
        .await
        .unwrap();
    let run = |thread: String| {
        let store = store.clone();
        async move {
            store
                .create_run(NewRun {
                    input: object(json!({"count": 0, "payload": "x".repeat(100)})),
                    lease: Some(("host".to_owned(), LEASE_MS)),
                    plugins: [("counter".to_owned(), "sha256:counter".to_owned())].into(),
                    ..new_run(&thread)
                })
                .await
                .unwrap();
            for step in 1..=10 {
                let next: &[&str] = if step < 10 { &["next"] } else { &[] };
                store
                    .commit_step(StepCommit {
                        owner: Some("host".to_owned()),
                        ..counter_step(&thread, step, next)
                    })
                    .await
                    .unwrap();
            }
        }
    };
    for n in 0..20 {
        run(format!("other-{n:02}")).await;
    }
    let next = AtomicU64::new(0);
    let pages = pages_written(&db, || {
        let n = next.fetch_add(1, Ordering::SeqCst);
        run(format!("t-{n}"))
    })
    .await;
    let per_step = pages.values().sum::<usize>() as f64 / 10.0;
    println!("a whole run: {per_step:.2} pages per step: {pages:?}");
    assert!(per_step <= 12.0, "{per_step} pages per step: {pages:?}");
}
