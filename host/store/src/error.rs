//! Why a store operation did not happen, the same for every backend: no backend's types
//! in it. A backend turns its own failures into these in one place (SQLite's:
//! `sqlite/fault.rs`), keeping its error as the `source` of [`StoreError::Database`],
//! [`StoreError::Busy`] and [`StoreError::Open`], whose messages are the backend's words.

use std::path::PathBuf;

use savepoint_base::error_code::ErrorCode;

use crate::{RunStatus, format_time};

/// A backend's own error, kept for its message and for the backend to look into.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the caller of a store operation does next: the answer of [`StoreError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// There is no such run: say so.
    NotFound,
    /// The run is in no state for this: its thread is taken, another process moved it,
    /// holds its lease or took it over, or it was cancelled or has finished. Nothing was
    /// written; read the run again to see where it is.
    Conflict,
    /// A condition that passes: the volume is full, or the database is busy. Nothing was
    /// written, everything committed before is intact; the same operation can be tried
    /// again later.
    RetryLater,
    /// The database cannot be used as it is: it cannot be opened or written, an I/O
    /// failure, or a failure the backend does not classify. Trying again does not help
    /// until someone changes something.
    Unusable,
    /// The database holds something this version cannot read.
    Corrupt,
    /// Neither waiting nor the user helps: the store has shut down, or it was asked to
    /// pin a component version that it does not hold (its caller stores it first).
    Internal,
}

/// Why a store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_run` on a thread that already has a run.
    #[error("thread {thread:?} already exists (status: {status})")]
    ThreadExists { thread: String, status: RunStatus },
    /// No run has this thread.
    #[error("no run with thread {thread:?}")]
    NotFound { thread: String },
    /// A step commit or failure for a step other than the run's next one (another host or
    /// process moved the run): nothing was written.
    #[error(
        "thread {thread:?}: step {found_step} does not follow the stored run, which expects \
         step {expected_step} next (is another process running this thread?)"
    )]
    Conflict {
        thread: String,
        /// The step the store would accept: the stored run's `step + 1`.
        expected_step: u64,
        /// The step the commit or failure was for.
        found_step: u64,
    },
    /// Another live process holds the run's lease.
    #[error(
        "thread {thread:?} is being executed by {owner} (lease until {})",
        format_time(*expires_ms)
    )]
    Leased {
        thread: String,
        /// Who holds the lease.
        owner: String,
        expires_ms: i64,
    },
    /// A write made under a lease that `owner` no longer holds (the run was taken over):
    /// nothing was written.
    #[error(
        "thread {thread:?}: {owner} no longer holds the run's lease (another process took \
         it over); nothing was written"
    )]
    LeaseLost { thread: String, owner: String },
    /// A write to a cancelled run: nothing was written.
    #[error("thread {thread:?} was cancelled")]
    Cancelled { thread: String },
    /// The run cannot be cancelled: it has already completed or been cancelled.
    #[error("thread {thread:?} has already finished (status: {status})")]
    Finished { thread: String, status: RunStatus },
    /// A read or a fork or replay of a step the run has not committed (on its current
    /// branch).
    #[error("thread {thread:?} has no checkpoint at step {step} (its steps are {first} to {last})")]
    StepMissing {
        thread: String,
        step: u64,
        /// The run's first step that can be named: 0, or the step a fork starts at.
        first: u64,
        /// Its latest committed step.
        last: u64,
    },
    /// A delete without `force` of a run that has not finished.
    #[error(
        "thread {thread:?} has not finished (status: {status}): only completed, failed and \
         cancelled runs are deleted unless forced"
    )]
    Unfinished { thread: String, status: RunStatus },
    /// The database holds something this version cannot read.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A run was to be pinned to a component version that is not stored (any more: a
    /// `gc` may have removed it since it was stored).
    #[error("component {digest} is not stored")]
    ComponentMissing { digest: String },
    /// The volume holding the database is full (SQLite's "database or disk is full", or an
    /// I/O error whose cause is `ENOSPC` or a quota): nothing was written. The caller waits
    /// for space and tries again; everything committed before is intact.
    #[error(
        "disk full: cannot write to the database {}: no space is left on its volume; free \
         some space there (nothing committed is lost)",
        path.display()
    )]
    DiskFull { path: PathBuf },
    /// The database cannot be written: the file, its folder (where SQLite creates the
    /// `-wal` and `-shm` files) or its volume is read-only. Nothing was written; trying
    /// again does not help until someone changes that.
    #[error(
        "cannot write to the database {}: {reason}; savepoint needs write access to the \
         file, to its folder (for the -wal and -shm files beside it) and to its volume",
        path.display()
    )]
    ReadOnly { path: PathBuf, reason: String },
    /// The database could not be opened.
    #[error("cannot open database {}: {source}", path.display())]
    Open { path: PathBuf, source: BackendError },
    /// The database is busy (another process holds its write lock longer than the store
    /// waits for it): nothing was written.
    #[error("database error: {source}")]
    Busy { source: BackendError },
    /// Any other failure of the database, in the backend's words.
    #[error("database error: {source}")]
    Database { source: BackendError },
    /// The operating system failed the store: creating the database's folder, reading its
    /// files' sizes, or starting its writer thread.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database server cannot be reached now: the connection was refused or lost, it
    /// timed out, or the server is starting or shutting down. Nothing was written (or, if
    /// the connection was lost during a commit, the commit may have happened: every write
    /// is fenced, so doing it again cannot do it twice). Trying again later may work.
    #[error("cannot reach the database {db}: {reason}")]
    Unreachable { db: String, reason: String },
    /// The database server refused savepoint: a wrong password, no such database or
    /// user, no permission. Trying again does not help until someone changes that.
    #[error("the database {db} refused savepoint: {reason}")]
    Rejected { db: String, reason: String },
    /// The store has stopped: it is shutting down, or a bug crashed its writer thread.
    #[error("the store has shut down")]
    Closed,
    /// No schedule has this name.
    #[error("no schedule named {name:?}")]
    NoSchedule { name: String },
    /// `put_schedule` without `replace` on a name that is taken.
    #[error("a schedule named {name:?} already exists")]
    ScheduleExists { name: String },
    /// A store method this backend does not implement yet (issue 18 work in progress).
    #[error("{0} is not implemented by this store")]
    NotImplemented(&'static str),
}

impl StoreError {
    /// What the caller does next.
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::NotFound { .. } | StoreError::StepMissing { .. } => {
                StoreErrorKind::NotFound
            }
            StoreError::ThreadExists { .. }
            | StoreError::Conflict { .. }
            | StoreError::Leased { .. }
            | StoreError::LeaseLost { .. }
            | StoreError::Cancelled { .. }
            | StoreError::Finished { .. }
            | StoreError::Unfinished { .. } => StoreErrorKind::Conflict,
            StoreError::DiskFull { .. }
            | StoreError::Busy { .. }
            | StoreError::Unreachable { .. } => StoreErrorKind::RetryLater,
            StoreError::ReadOnly { .. }
            | StoreError::Rejected { .. }
            | StoreError::Open { .. }
            | StoreError::Database { .. }
            | StoreError::Io { .. } => StoreErrorKind::Unusable,
            StoreError::Corrupt(_) => StoreErrorKind::Corrupt,
            StoreError::NoSchedule { .. } => StoreErrorKind::NotFound,
            StoreError::ScheduleExists { .. } => StoreErrorKind::Conflict,
            StoreError::ComponentMissing { .. }
            | StoreError::Closed
            | StoreError::NotImplemented(_) => StoreErrorKind::Internal,
        }
    }

    /// The code the CLI and the API report this error with: see [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        match self.kind() {
            StoreErrorKind::NotFound => ErrorCode::NotFound,
            StoreErrorKind::Conflict => ErrorCode::Conflict,
            // The machine is in the way: the database's volume, its permissions, a lock.
            StoreErrorKind::RetryLater | StoreErrorKind::Unusable => ErrorCode::Environment,
            // Contents this version cannot read, or a bug.
            StoreErrorKind::Corrupt | StoreErrorKind::Internal => ErrorCode::Internal,
        }
    }
}
