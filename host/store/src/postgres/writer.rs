//! The Postgres store's writer: one task with one connection, fed commands over a channel,
//! as SQLite's writer thread is.
//!
//! Commands that queue up while a transaction commits are committed together in the next
//! transaction (group commit: many runs' steps, one WAL flush on the server). A command
//! checks what it needs (the run exists, its lease, its step: under a row lock) before it
//! writes anything, and a check that fails returns its error without a failed statement,
//! so the others of the batch go on. A statement that fails aborts the transaction: the
//! batch is then run again one command per transaction, so that one bad command does not
//! fail the others. No caller hears back before the COMMIT holding its change returned.
//!
//! When the server goes away, every command of the batch fails with
//! [`StoreError::Unreachable`] and the connection is dropped; the next batch takes a new
//! one from the pool. If the connection broke during COMMIT, the commit may have happened
//! without the caller knowing: that is safe, because every write is fenced (a step commit
//! names the step it follows, so the same commit made again is refused as a conflict, and
//! the runtime then reads the run back).

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool, Transaction};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::commits::{Commit, Committed, commit_steps};
use super::fault;
use crate::{Clock, StoreError, StoreErrorKind};

/// At most this many commands share one transaction (Postgres handles more, but a batch
/// that fails is run again command by command, and callers wait for the whole batch).
const MAX_BATCH: usize = 256;

/// A command that lost a race with another transaction (a deadlock, a serialization
/// failure) is run again up to this many times.
const BUSY_RETRIES: u32 = 3;

/// Whether a command's transaction should wake other hosts (`NOTIFY savepoint_work`): it
/// made a run runnable for anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    Others,
    Nobody,
}

/// The work of one command: given its data, the transaction and the time to record,
/// the future of its result.
pub(super) type Work<D, T> =
    for<'a, 'b> fn(&'a D, &'a Transaction<'b>, i64) -> BoxFuture<'a, Result<T, StoreError>>;

/// The caller's side of the writer task.
#[derive(Debug)]
pub(super) struct Writer {
    queue: mpsc::UnboundedSender<Command>,
}

/// What the writer is asked: any command, or a step commit, which is written together
/// with the other commits of its batch (see `commits`).
enum Command {
    Job(Box<dyn Job>),
    Commit(Box<StepJob>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// A queued step commit, and its result once written.
struct StepJob {
    data: Commit,
    result: Option<Result<Committed, StoreError>>,
    reply: oneshot::Sender<Result<Committed, StoreError>>,
}

/// The commands of one transaction.
#[derive(Default)]
struct Batch {
    jobs: Vec<Box<dyn Job>>,
    commits: Vec<StepJob>,
}

impl Batch {
    fn len(&self) -> usize {
        self.jobs.len() + self.commits.len()
    }

    fn push(&mut self, command: Command) {
        match command {
            Command::Job(job) => self.jobs.push(job),
            Command::Commit(commit) => self.commits.push(*commit),
        }
    }

    /// Sends every command its kept result (the transaction committed).
    fn reply(self) {
        for job in self.jobs {
            job.reply();
        }
        for commit in self.commits {
            let result = commit.result.unwrap_or(Err(StoreError::Closed));
            let _ = commit.reply.send(result);
        }
    }

    /// Sends every command `error` (the transaction did not commit).
    fn fail(self, error: &StoreError) {
        for job in self.jobs {
            job.fail(copy(error));
        }
        for commit in self.commits {
            let _ = commit.reply.send(Err(copy(error)));
        }
    }

    /// Each command in a batch of its own, to be run again.
    fn split(self) -> Vec<Batch> {
        let jobs = self.jobs.into_iter().map(|mut job| {
            job.reset();
            Batch {
                jobs: vec![job],
                commits: Vec::new(),
            }
        });
        let commits = self.commits.into_iter().map(|mut commit| {
            commit.result = None;
            Batch {
                jobs: Vec::new(),
                commits: vec![commit],
            }
        });
        jobs.chain(commits).collect()
    }
}

impl Writer {
    /// Starts the writer task, taking connections from `pool`; `db` names the database in
    /// messages.
    ///
    /// The task runs on a thread of its own, with its own connections (`pool` is the
    /// writer's alone): the step loop's node calls keep the async worker threads busy,
    /// and a writer among them would wait for a turn at every round trip, so that a
    /// renewal queued behind it could miss its lease (as SQLite's writer thread never
    /// does).
    pub(super) fn spawn(
        pool: Pool,
        clock: Arc<dyn Clock>,
        db: String,
    ) -> Result<Writer, StoreError> {
        let (queue, commands) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Database {
                source: Box::new(source),
            })?;
        std::thread::Builder::new()
            .name("savepoint-pg-writer".to_owned())
            .spawn(move || runtime.block_on(run(pool, clock, db, commands)))
            .map_err(|source| StoreError::Database {
                source: Box::new(source),
            })?;
        Ok(Writer { queue })
    }

    /// Runs `work` on `data` in a write transaction and returns its result once committed.
    /// `work` may run more than once (alone, after its batch failed), so it must have no
    /// effects outside the database. Once queued, the command runs even if the returned
    /// future is dropped.
    pub(super) async fn call<D, T>(
        &self,
        data: D,
        wake: Wake,
        work: Work<D, T>,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let job = Box::new(Pending {
            data,
            work,
            wake,
            result: None,
            reply,
        });
        self.queue
            .send(Command::Job(job))
            .map_err(|_| StoreError::Closed)?;
        receiver.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits a step (with the other commits queued meanwhile) and returns the run as
    /// written, once committed.
    pub(super) async fn commit(&self, data: Commit) -> Result<Committed, StoreError> {
        let (reply, receiver) = oneshot::channel();
        let job = Box::new(StepJob {
            data,
            result: None,
            reply,
        });
        self.queue
            .send(Command::Commit(job))
            .map_err(|_| StoreError::Closed)?;
        receiver.await.map_err(|_| StoreError::Closed)?
    }
}

/// A queued command, whatever its types.
trait Job: Send {
    /// Runs the command in `tx`, keeping its result; whether the transaction can go on
    /// (the command succeeded, or failed a check before it wrote anything).
    fn run<'a>(&'a mut self, tx: &'a Transaction<'_>, now_ms: i64) -> BoxFuture<'a, Outcome>;
    fn wake(&self) -> Wake;
    /// Sends the kept result (the transaction committed).
    fn reply(self: Box<Self>);
    /// Sends `error` instead (the transaction did not commit).
    fn fail(self: Box<Self>, error: StoreError);
    /// Forgets the kept result (the command is run again).
    fn reset(&mut self);
}

/// What running a command did to its transaction.
#[derive(Debug)]
enum Outcome {
    /// It wrote what it had to, or refused before writing: the transaction goes on.
    Fine,
    /// A statement failed (this error): the transaction is aborted.
    Aborted(StoreError),
}

struct Pending<D, T> {
    data: D,
    work: Work<D, T>,
    wake: Wake,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<D: Send + Sync + 'static, T: Send + 'static> Job for Pending<D, T> {
    fn run<'a>(&'a mut self, tx: &'a Transaction<'_>, now_ms: i64) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            match (self.work)(&self.data, tx, now_ms).await {
                // The refusals a command finds by reading, before it writes, leave the
                // transaction good.
                Err(error) if !refused_before_writing(&error) => Outcome::Aborted(error),
                result => {
                    self.result = Some(result);
                    Outcome::Fine
                }
            }
        })
    }

    fn wake(&self) -> Wake {
        match &self.result {
            Some(Ok(_)) => self.wake,
            _ => Wake::Nobody,
        }
    }

    fn reply(self: Box<Self>) {
        let result = self.result.unwrap_or(Err(StoreError::Closed));
        let _ = self.reply.send(result);
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }

    fn reset(&mut self) {
        self.result = None;
    }
}

/// The errors commands return from their checks, before any statement of theirs wrote
/// (see the writes in `runs` and `leases`): the transaction is still good.
fn refused_before_writing(error: &StoreError) -> bool {
    matches!(
        error.kind(),
        StoreErrorKind::NotFound | StoreErrorKind::Conflict
    ) || matches!(error, StoreError::ComponentMissing { .. })
}

async fn run(
    pool: Pool,
    clock: Arc<dyn Clock>,
    db: String,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut client: Option<Object> = None;
    let mut backoff = Duration::ZERO;
    while let Some(first) = commands.recv().await {
        let mut batch = Batch::default();
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let conn = match client.take() {
            Some(conn) => conn,
            None => match pool.get().await {
                Ok(conn) => conn,
                Err(error) => {
                    // The server is away: say so to everyone waiting, and do not hammer
                    // it (the callers back off too).
                    batch.fail(&fault::classify(&db, error.into()));
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
        };
        backoff = Duration::ZERO;
        client = write(conn, &*clock, &db, batch).await;
    }
}

/// Commits `batch`, replying to each command; gives the connection back unless it broke.
async fn write(mut conn: Object, clock: &dyn Clock, db: &str, mut batch: Batch) -> Option<Object> {
    match attempt(&mut conn, &mut batch, clock.now_ms()).await {
        Ok(()) => {
            batch.reply();
            return Some(conn);
        }
        Err(error) => {
            let error = fault::classify(db, error);
            if fault::is_unreachable(&error) || conn.is_closed() {
                batch.fail(&error);
                return None;
            }
        }
    }
    // One command spoiled the batch (or it lost a race): each on its own now.
    for mut one in batch.split() {
        let mut tries = 0;
        loop {
            match attempt(&mut conn, &mut one, clock.now_ms())
                .await
                .map_err(|error| fault::classify(db, error))
            {
                Ok(()) => {
                    one.reply();
                    break;
                }
                Err(error) if fault::is_busy(&error) && tries < BUSY_RETRIES => {
                    tries += 1;
                    one = one.split().pop().expect("one command");
                }
                Err(error) => {
                    let broke = fault::is_unreachable(&error) || conn.is_closed();
                    one.fail(&error);
                    if broke {
                        return None;
                    }
                    break;
                }
            }
        }
    }
    Some(conn)
}

/// Runs `batch` in one transaction and commits it. `Err` if it did not commit: a
/// statement failed (a command's own error, or the transaction's).
async fn attempt(conn: &mut Object, batch: &mut Batch, now_ms: i64) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let mut wake = Wake::Nobody;
    for job in batch.jobs.iter_mut() {
        if let Outcome::Aborted(error) = job.run(&tx, now_ms).await {
            // The transaction is rolled back when dropped.
            return Err(error);
        }
        if job.wake() == Wake::Others {
            wake = Wake::Others;
        }
    }
    if !batch.commits.is_empty() {
        let commits: Vec<&Commit> = batch.commits.iter().map(|c| &c.data).collect();
        let results = commit_steps(&commits, &tx, now_ms).await?;
        for (commit, result) in batch.commits.iter_mut().zip(results) {
            commit.result = Some(result);
        }
    }
    if wake == Wake::Others {
        tx.batch_execute("NOTIFY savepoint_work").await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Another `StoreError` saying the same, for each of a batch's callers.
fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unreachable { db, reason } => StoreError::Unreachable {
            db: db.clone(),
            reason: reason.clone(),
        },
        StoreError::Rejected { db, reason } => StoreError::Rejected {
            db: db.clone(),
            reason: reason.clone(),
        },
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Database {
            source: other.to_string().into(),
        },
    }
}
