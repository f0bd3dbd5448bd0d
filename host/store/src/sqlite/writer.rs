//! The single writer: one connection on its own thread, fed commands over a channel.
//!
//! Commands that queue up while a transaction commits are committed together in the next
//! transaction (group commit). A failing command is rolled back alone: the batch is first
//! run as it is, and if a command fails, rolled back and run again with each command inside
//! its own SAVEPOINT (commands may run twice). No caller hears back before the COMMIT
//! holding its change returned.
//!
//! After a commit that added events, the writer sends the newest event id to the store's
//! event watchers (one notice per transaction, however many events it holds).
//!
//! The writer also keeps the WAL file small: when nothing was written for [`IDLE`], and
//! right after a write failed because the disk is full, it checkpoints the WAL into the
//! database and truncates it to nothing, giving its space back to the volume.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use super::fault;
use super::schema::BUSY_TIMEOUT;
use crate::{Clock, StoreError};

/// At most this many commands share one transaction.
const MAX_BATCH: usize = 1024;

/// How long each side of the queue polls before it sleeps. Waking a sleeping thread costs
/// 25-50 µs on a small VM (measured: a send-and-reply between two threads that block takes
/// 45-60 µs at p50, 0.5 µs when the receiver polls), which is more than a step's own host
/// work. After a batch the writer polls this long for the next command, so a run's next
/// checkpoint usually arrives while it still does; a caller polls as long for its reply.
/// When commands keep coming, nobody polls: there is always work.
const POLL: Duration = Duration::from_micros(200);

/// After this long without a write, the writer empties the WAL file (if anything was written
/// since it last did). Commands that change nothing (a daemon looks for due runs five times
/// a second) do not count. Long enough that a busy host never pays for it between its
/// steps; short enough that an idle daemon leaves no WAL behind to fill a small volume.
const IDLE: Duration = Duration::from_secs(1);

/// The caller's side of the writer thread. Dropping it lets the thread finish the queued
/// commands and waits for it.
#[derive(Debug)]
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    /// Transactions committed so far; tests read it to see group commit at work.
    #[cfg_attr(not(test), expect(dead_code))]
    commits: Arc<AtomicU64>,
    /// Callers waiting for a reply in [`Writer::call`].
    waiting: AtomicUsize,
}

/// One caller waiting for the writer, counted while it lives.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// Whether it was the only one when it started waiting.
    alone: bool,
}

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Waiting<'a> {
        let before = count.fetch_add(1, Ordering::SeqCst);
        Waiting {
            count,
            alone: before == 0,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// Starts the writer thread for `conn`, an open, migrated connection to `path`. With
    /// `events`, each commit that added rows to the `events` table sends the newest id.
    pub(super) fn spawn(
        conn: Connection,
        clock: Arc<dyn Clock>,
        path: &Path,
        events: Option<watch::Sender<u64>>,
    ) -> Result<Writer, StoreError> {
        let (queue, commands) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let thread_commits = Arc::clone(&commits);
        let db_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("savepoint-store-writer".to_owned())
            .spawn(move || {
                let db = Db::new(conn, db_path, events);
                run(&db, &*clock, &commands, &thread_commits)
            })
            .map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
            commits,
            waiting: AtomicUsize::new(0),
        })
    }

    /// Runs `work` in a write transaction and returns its result once committed.
    ///
    /// `work` gets the connection and the time (unix ms) to record. It may run more than
    /// once (if the group it was batched with cannot commit, it is retried alone), so it must
    /// not have effects outside the database. Once queued, the command runs even if the
    /// returned future is dropped.
    pub(super) async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let mut reply = self.submit(work)?;
        let waiting = Waiting::new(&self.waiting);
        // Poll for the reply a little before sleeping on it, when nobody else waits for the
        // writer: yielding keeps this worker thread awake instead of parking it. With other
        // callers waiting there is other work to do, and polling would only steal it time.
        let polling = Instant::now();
        while waiting.alone && polling.elapsed() < POLL {
            match reply.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(StoreError::Closed),
                Err(oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
            }
        }
        reply.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `work` and returns where its result will arrive.
    pub(super) fn submit<T, F>(
        &self,
        work: F,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let job = Box::new(Pending {
            work,
            result: None,
            reply,
        });
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        queue.send(job).map_err(|_| StoreError::Closed)?;
        Ok(receiver)
    }

    /// How many transactions the writer has committed so far.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the writer thread has already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}

/// The writer thread's connection, and what its failures said about the disk.
struct Db {
    conn: Connection,
    path: PathBuf,
    /// A write failed for want of space since the WAL was last emptied.
    full: Cell<bool>,
    /// When something was last written to the WAL file (a commit that changed rows, or a
    /// write that failed), if it was not emptied since.
    written: Cell<Option<Instant>>,
    /// Where the newest event id goes after a commit that added events.
    events: Option<watch::Sender<u64>>,
}

impl Db {
    fn new(conn: Connection, path: PathBuf, events: Option<watch::Sender<u64>>) -> Db {
        Db {
            conn,
            path,
            full: Cell::new(false),
            // Opening may have written (a migration, a recovery).
            written: Cell::new(Some(Instant::now())),
            events,
        }
    }

    /// `error` as the caller should see it ([`fault::classify`]), noting a full disk.
    fn classify(&self, error: StoreError) -> StoreError {
        let error = fault::classify(&self.conn, &self.path, error);
        if matches!(error, StoreError::DiskFull { .. }) {
            self.full.set(true);
            self.written.set(Some(Instant::now()));
        }
        error
    }

    /// Notes a commit, if it changed anything since `changes` (the connection's
    /// `total_changes` before it).
    fn committed(&self, changes: u64) {
        if self.conn.total_changes() != changes {
            self.written.set(Some(Instant::now()));
            self.notify_events();
        }
    }

    /// Sends the newest event id to the watchers if it moved. One indexed lookup (the
    /// end of the primary key) per commit that changed rows, rather than a flag in every
    /// writer of events: the import of a bundle copies its events with plain INSERTs.
    fn notify_events(&self) {
        let Some(events) = &self.events else { return };
        let newest = self
            .conn
            .prepare_cached("SELECT max(id) FROM events")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, Option<u64>>(0)));
        // An error here changes nothing that was committed: readers look again anyway.
        if let Ok(Some(newest)) = newest {
            events.send_if_modified(|last| {
                let moved = *last != newest;
                *last = newest;
                moved
            });
        }
    }

    /// How much longer until the WAL is due to be emptied; `None` if it is empty.
    fn idle_left(&self) -> Option<Duration> {
        self.written
            .get()
            .map(|written| IDLE.saturating_sub(written.elapsed()))
    }

    /// Checkpoints the whole WAL into the database and truncates the WAL file to zero
    /// bytes, unless a reader (maybe in another process) still needs it: then it tries
    /// again later, without waiting for the reader.
    fn empty_wal(&self) {
        rollback(&self.conn);
        let _ = self.conn.busy_timeout(Duration::ZERO);
        // (busy, frames in the WAL, frames checkpointed): busy = 1 when a reader or another
        // writer was in the way.
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        if let Ok(0) = result {
            self.written.set(None);
            self.full.set(false);
        } else if self.written.get().is_some() {
            // Try again after another idle while.
            self.written.set(Some(Instant::now()));
        }
    }
}

/// One queued command, type-erased so that commands returning different types share a queue.
trait Job: Send {
    /// Runs the command, keeps its result, and returns whether it succeeded.
    fn execute(&mut self, db: &Db, now_ms: i64) -> bool;
    /// Records that the command could not run or its transaction could not commit.
    fn fail(&mut self, error: StoreError);
    /// Sends the kept result to the caller.
    fn reply(self: Box<Self>);
}

struct Pending<T, F> {
    work: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Pending<T, F>
where
    T: Send,
    F: Fn(&Connection, i64) -> Result<T, StoreError> + Send,
{
    fn execute(&mut self, db: &Db, now_ms: i64) -> bool {
        let result = (self.work)(&db.conn, now_ms).map_err(|error| db.classify(error));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(error));
    }

    fn reply(self: Box<Self>) {
        let result = self.result.unwrap_or(Err(StoreError::Closed));
        // The caller may have stopped waiting; the command is committed all the same.
        let _ = self.reply.send(result);
    }
}

/// The writer thread: until every sender is gone, take what is queued and commit it.
fn run(db: &Db, clock: &dyn Clock, commands: &mpsc::Receiver<Box<dyn Job>>, commits: &AtomicU64) {
    while let Some(first) = next_command(db, commands) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let changes = db.conn.total_changes();
        let together = batch.len() > 1
            && match commit_together(db, clock, &mut batch, Savepoints::None) {
                Ok(Together::Committed) => true,
                Ok(Together::CommandFailed) => {
                    rollback(&db.conn);
                    matches!(
                        commit_together(db, clock, &mut batch, Savepoints::Each),
                        Ok(Together::Committed)
                    )
                }
                Err(_) => false,
            };
        if !together {
            rollback(&db.conn);
            for job in &mut batch {
                commit_alone(db, clock, job.as_mut(), commits);
            }
        } else {
            commits.fetch_add(1, Ordering::SeqCst);
            db.committed(changes);
        }
        if db.full.get() || db.idle_left() == Some(Duration::ZERO) {
            // After a full disk, give the WAL's space back at once: it may be what filled
            // the volume, and the callers retry when there is room.
            db.empty_wal();
        }
        for job in batch {
            job.reply();
        }
    }
}

/// The next command: polled for up to [`POLL`], then waited for; the WAL is emptied when
/// [`IDLE`] has passed since the last write. `None` once every sender is gone.
fn next_command(db: &Db, commands: &mpsc::Receiver<Box<dyn Job>>) -> Option<Box<dyn Job>> {
    let polling = Instant::now();
    loop {
        match commands.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            // Yield rather than spin: on a small machine the thread that will send the
            // command may need this core.
            Err(mpsc::TryRecvError::Empty) if polling.elapsed() < POLL => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => break,
        }
    }
    while let Some(left) = db.idle_left() {
        match commands.recv_timeout(left) {
            Ok(job) => return Some(job),
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => db.empty_wal(),
        }
    }
    commands.recv().ok()
}

/// Whether [`commit_together`] puts each command of a batch in a savepoint of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Savepoints {
    /// None: the common batch, in which no command fails. A savepoint per command costs
    /// the writer a statement journal copy of every page the command changes that an
    /// earlier command of the batch changed too (the run rows, the tables' last leaves):
    /// 6% of the host's CPU in W1 with 100 runs at once.
    None,
    /// Each: a failing command is rolled back alone, and the others commit.
    Each,
}

/// How [`commit_together`] ended without an error of the transaction itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Together {
    Committed,
    /// A command failed with [`Savepoints::None`]: the transaction is left open, to be
    /// rolled back, and nothing was committed.
    CommandFailed,
}

/// Commits the whole batch in one transaction. An error here means the transaction itself
/// failed; the caller rolls back and retries one by one.
fn commit_together(
    db: &Db,
    clock: &dyn Clock,
    batch: &mut [Box<dyn Job>],
    savepoints: Savepoints,
) -> rusqlite::Result<Together> {
    let conn = &db.conn;
    rollback(conn);
    run_cached(conn, "BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        if savepoints == Savepoints::None {
            if !job.execute(db, clock.now_ms()) {
                return Ok(Together::CommandFailed);
            }
            continue;
        }
        run_cached(conn, "SAVEPOINT command")?;
        if job.execute(db, clock.now_ms()) {
            run_cached(conn, "RELEASE command")?;
        } else {
            conn.execute_batch("ROLLBACK TO command; RELEASE command")?;
        }
    }
    run_cached(conn, "COMMIT")?;
    Ok(Together::Committed)
}

/// Runs one statement without rows, prepared once per connection (`execute_batch` parses
/// its text again on every call).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// Commits one command in its own transaction.
fn commit_alone(db: &Db, clock: &dyn Clock, job: &mut dyn Job, commits: &AtomicU64) {
    let conn = &db.conn;
    rollback(conn);
    let changes = conn.total_changes();
    if let Err(error) = run_cached(conn, "BEGIN IMMEDIATE") {
        job.fail(db.classify(error.into()));
        return;
    }
    if !job.execute(db, clock.now_ms()) {
        rollback(conn);
        return;
    }
    match run_cached(conn, "COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::SeqCst);
            db.committed(changes);
        }
        Err(error) => {
            // Classified before the rollback, which may overwrite what the OS said.
            let error = db.classify(error.into());
            rollback(conn);
            job.fail(error);
        }
    }
}

/// Ends any open transaction without keeping its changes.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // If even ROLLBACK fails, the next BEGIN fails and reports it to its caller.
        let _ = conn.execute_batch("ROLLBACK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::sync::Mutex;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let path = dir.path().join("writer.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE);")
            .unwrap();
        Writer::spawn(conn, Arc::new(ManualClock::new(7)), &path, None).unwrap()
    }

    fn insert(x: i64) -> impl Fn(&Connection, i64) -> Result<i64, StoreError> + Send {
        move |conn, now_ms| {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
            Ok(now_ms)
        }
    }

    #[tokio::test]
    async fn queued_commands_share_one_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);

        // Hold the writer inside a first transaction while the others queue up.
        let (started, has_started) = mpsc::channel::<()>();
        let (open_gate, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let first = writer
            .submit(move |conn, now_ms| {
                started.send(()).unwrap();
                gate.lock().unwrap().recv().unwrap();
                insert(0)(conn, now_ms)
            })
            .unwrap();
        has_started.recv().unwrap();
        let queued: Vec<_> = (1..=20)
            .map(|x| writer.submit(insert(x)).unwrap())
            .collect();
        let duplicate = writer.submit(insert(5)).unwrap();
        let last = writer.submit(insert(21)).unwrap();
        open_gate.send(()).unwrap();

        assert_eq!(first.await.unwrap().unwrap(), 7);
        for reply in queued {
            assert_eq!(reply.await.unwrap().unwrap(), 7);
        }
        let err = duplicate.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        last.await.unwrap().unwrap();
        assert_eq!(
            writer.commits(),
            2,
            "the 22 queued commands share one commit"
        );

        let count: i64 = writer
            .call(|conn, _| Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(count, 22);
    }

    #[tokio::test]
    async fn the_wal_is_emptied_when_nothing_was_written_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        let wal = dir.path().join("writer.db-wal");
        writer.call(insert(1)).await.unwrap();
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        // Commands that write nothing (a daemon's claims that find no due run) keep coming,
        // and do not keep the WAL from being emptied.
        let started = Instant::now();
        while std::fs::metadata(&wal).unwrap().len() > 0 {
            assert!(
                started.elapsed() < IDLE * 20,
                "the WAL is still {} bytes",
                std::fs::metadata(&wal).unwrap().len()
            );
            writer
                .call(|conn, _| {
                    Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?)
                })
                .await
                .unwrap();
            tokio::time::sleep(IDLE / 10).await;
        }
        // Nothing was lost, and writing goes on.
        writer.call(insert(2)).await.unwrap();
        let count: i64 = writer
            .call(|conn, _| Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(count, 2);
    }

    #[tokio::test]
    async fn a_dead_writer_reports_closed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        let crash = writer.call(|_, _| -> Result<(), StoreError> { panic!("writer bug") });
        assert!(matches!(crash.await, Err(StoreError::Closed)));
        let after = writer.call(insert(1)).await;
        assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    }
}
