//! What every write checks first, in its transaction: that the run exists, that it was
//! not cancelled, that the writer still holds its lease (fencing), and that the step
//! follows the stored one.

use rusqlite::{Connection, OptionalExtension};

use super::rows::{not_found, parse_status};
use crate::{RunStatus, StoreError};

/// What the write operations check before writing.
pub(super) struct RunRow {
    pub step: u64,
    pub status: RunStatus,
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
    pub wake_at_ms: Option<i64>,
    pub attempt: u32,
    pub timed_out: bool,
    /// The branch its next checkpoint is written on.
    pub branch: u64,
    /// Its first step that can be named (a fork's: the step it was forked at).
    pub first_step: u64,
    /// A waiting run's awaited event came (it was not woken by its deadline).
    pub woken: bool,
}

/// The run's position, status and lease; [`StoreError::NotFound`] if there is no run.
pub(super) fn run_row(conn: &Connection, thread: &str) -> Result<RunRow, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT step, status, lease_owner, lease_expires, wake_at, attempt, timed_out, branch,
                    first_step, woken
             FROM runs WHERE thread = ?1",
        )?
        .query_row([thread], |row| {
            Ok((
                row.get::<_, u64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, u32>(5)?,
                row.get::<_, bool>(6)?,
                row.get::<_, u64>(7)?,
                row.get::<_, u64>(8)?,
                row.get::<_, bool>(9)?,
            ))
        })
        .optional()?;
    let (
        step,
        status,
        lease_owner,
        lease_expires_ms,
        wake_at_ms,
        attempt,
        timed_out,
        branch,
        first_step,
        woken,
    ) = found.ok_or_else(|| not_found(thread))?;
    Ok(RunRow {
        step,
        status: parse_status(thread, &status)?,
        lease_owner,
        lease_expires_ms,
        wake_at_ms,
        attempt,
        timed_out,
        branch,
        first_step,
        woken,
    })
}

/// The run, unless it was cancelled ([`StoreError::Cancelled`]) or `owner` is given and
/// does not hold its lease ([`StoreError::LeaseLost`]).
pub(super) fn fenced(
    conn: &Connection,
    thread: &str,
    owner: Option<&str>,
) -> Result<RunRow, StoreError> {
    let run = run_row(conn, thread)?;
    if run.status == RunStatus::Cancelled {
        return Err(StoreError::Cancelled {
            thread: thread.to_owned(),
        });
    }
    if let Some(owner) = owner
        && run.lease_owner.as_deref() != Some(owner)
    {
        return Err(StoreError::LeaseLost {
            thread: thread.to_owned(),
            owner: owner.to_owned(),
        });
    }
    Ok(run)
}

pub(super) fn expect_next_step(thread: &str, stored: u64, step: u64) -> Result<(), StoreError> {
    let expected = stored + 1;
    if step == expected {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            thread: thread.to_owned(),
            expected_step: expected,
            found_step: step,
        })
    }
}

/// The run's committed step count and status; [`StoreError::NotFound`] if there is no run.
pub(super) fn position(conn: &Connection, thread: &str) -> Result<(u64, RunStatus), StoreError> {
    let run = run_row(conn, thread)?;
    Ok((run.step, run.status))
}
