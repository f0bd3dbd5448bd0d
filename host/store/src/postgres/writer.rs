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
    queue: mpsc::UnboundedSender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer task, taking connections from `pool`; `db` names the database in
    /// messages.
    pub(super) fn spawn(pool: Pool, clock: Arc<dyn Clock>, db: String) -> Writer {
        let (queue, commands) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, clock, db, commands));
        Writer { queue }
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
        self.queue.send(job).map_err(|_| StoreError::Closed)?;
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
    mut commands: mpsc::UnboundedReceiver<Box<dyn Job>>,
) {
    let mut client: Option<Object> = None;
    let mut backoff = Duration::ZERO;
    while let Some(first) = commands.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(job) => batch.push(job),
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
                    let error = fault::classify(&db, error.into());
                    for job in batch {
                        job.fail(copy(&error));
                    }
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
async fn write(
    mut conn: Object,
    clock: &dyn Clock,
    db: &str,
    mut batch: Vec<Box<dyn Job>>,
) -> Option<Object> {
    let now_ms = clock.now_ms();
    match attempt(&mut conn, &mut batch, now_ms).await {
        Ok(()) => {
            for job in batch {
                job.reply();
            }
            return Some(conn);
        }
        Err(error) => {
            let error = fault::classify(db, error);
            if fault::is_unreachable(&error) || conn.is_closed() {
                for job in batch {
                    job.fail(copy(&error));
                }
                return None;
            }
        }
    }
    // One command spoiled the batch (or it lost a race): each on its own now.
    for mut job in batch {
        let mut tries = 0;
        loop {
            job.reset();
            let mut one = vec![job];
            let result = attempt(&mut conn, &mut one, clock.now_ms()).await;
            job = one.pop().expect("the job");
            match result.map_err(|error| fault::classify(db, error)) {
                Ok(()) => {
                    job.reply();
                    break;
                }
                Err(error) if fault::is_busy(&error) && tries < BUSY_RETRIES => tries += 1,
                Err(error) => {
                    let broke = fault::is_unreachable(&error) || conn.is_closed();
                    job.fail(error);
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
/// statement failed (the command's own error, or the transaction's).
async fn attempt(
    conn: &mut Object,
    batch: &mut [Box<dyn Job>],
    now_ms: i64,
) -> Result<(), StoreError> {
    let tx = conn.transaction().await?;
    let mut wake = Wake::Nobody;
    for job in batch.iter_mut() {
        if let Outcome::Aborted(error) = job.run(&tx, now_ms).await {
            // The transaction is rolled back when dropped.
            return Err(error);
        }
        if job.wake() == Wake::Others {
            wake = Wake::Others;
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
