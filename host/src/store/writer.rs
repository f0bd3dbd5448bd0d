//! The single writer: one connection on its own thread, fed commands over a channel.
//!
//! Commands that queue up while a transaction commits are committed together in the next
//! transaction (group commit), each inside its own SAVEPOINT so that a failing command is
//! rolled back alone. No caller hears back before the COMMIT holding its change returned.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Clock, StoreError};

/// At most this many commands share one transaction.
const MAX_BATCH: usize = 1024;

/// How long each side of the queue polls before it sleeps. Waking a sleeping thread costs
/// 25-50 µs on a small VM (measured: a send-and-reply between two threads that block takes
/// 45-60 µs at p50, 0.5 µs when the receiver polls), which is more than a step's own host
/// work. After a batch the writer polls this long for the next command, so a run's next
/// checkpoint usually arrives while it still does; a caller polls as long for its reply.
/// When commands keep coming, nobody polls: there is always work.
const POLL: Duration = Duration::from_micros(200);

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
    /// Starts the writer thread for `conn`, an open, migrated connection to `path`.
    pub(super) fn spawn(
        conn: Connection,
        clock: Arc<dyn Clock>,
        path: &Path,
    ) -> Result<Writer, StoreError> {
        let (queue, commands) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let thread_commits = Arc::clone(&commits);
        let thread = std::thread::Builder::new()
            .name("savepoint-store-writer".to_owned())
            .spawn(move || run(&conn, &*clock, &commands, &thread_commits))
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

/// One queued command, type-erased so that commands returning different types share a queue.
trait Job: Send {
    /// Runs the command, keeps its result, and returns whether it succeeded.
    fn execute(&mut self, conn: &Connection, now_ms: i64) -> bool;
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
    fn execute(&mut self, conn: &Connection, now_ms: i64) -> bool {
        let result = (self.work)(conn, now_ms);
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
fn run(
    conn: &Connection,
    clock: &dyn Clock,
    commands: &mpsc::Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
) {
    while let Some(first) = next_command(commands) {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() == 1 || commit_together(conn, clock, &mut batch).is_err() {
            rollback(conn);
            for job in &mut batch {
                commit_alone(conn, clock, job.as_mut(), commits);
            }
        } else {
            commits.fetch_add(1, Ordering::SeqCst);
        }
        for job in batch {
            job.reply();
        }
    }
}

/// The next command: polled for up to [`POLL`], then waited for. `None` once every sender
/// is gone.
fn next_command(commands: &mpsc::Receiver<Box<dyn Job>>) -> Option<Box<dyn Job>> {
    let polling = Instant::now();
    loop {
        match commands.try_recv() {
            Ok(job) => return Some(job),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            // Yield rather than spin: on a small machine the thread that will send the
            // command may need this core.
            Err(mpsc::TryRecvError::Empty) if polling.elapsed() < POLL => std::thread::yield_now(),
            Err(mpsc::TryRecvError::Empty) => return commands.recv().ok(),
        }
    }
}

/// Commits the whole batch in one transaction, each command in its own savepoint. An error
/// here means the transaction itself failed; the caller rolls back and retries one by one.
fn commit_together(
    conn: &Connection,
    clock: &dyn Clock,
    batch: &mut [Box<dyn Job>],
) -> rusqlite::Result<()> {
    rollback(conn);
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        conn.execute_batch("SAVEPOINT command")?;
        if job.execute(conn, clock.now_ms()) {
            conn.execute_batch("RELEASE command")?;
        } else {
            conn.execute_batch("ROLLBACK TO command; RELEASE command")?;
        }
    }
    conn.execute_batch("COMMIT")
}

/// Commits one command in its own transaction.
fn commit_alone(conn: &Connection, clock: &dyn Clock, job: &mut dyn Job, commits: &AtomicU64) {
    rollback(conn);
    if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
        job.fail(error.into());
        return;
    }
    if !job.execute(conn, clock.now_ms()) {
        rollback(conn);
        return;
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::SeqCst);
        }
        Err(error) => {
            rollback(conn);
            job.fail(error.into());
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
    use crate::store::ManualClock;
    use std::sync::Mutex;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let path = dir.path().join("writer.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER UNIQUE);")
            .unwrap();
        Writer::spawn(conn, Arc::new(ManualClock::new(7)), &path).unwrap()
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
    async fn a_dead_writer_reports_closed() {
        let dir = tempfile::tempdir().unwrap();
        let writer = writer(&dir);
        let crash = writer.call(|_, _| -> Result<(), StoreError> { panic!("writer bug") });
        assert!(matches!(crash.await, Err(StoreError::Closed)));
        let after = writer.call(insert(1)).await;
        assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    }
}
