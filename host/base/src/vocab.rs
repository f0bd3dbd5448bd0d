//! The words for runs that every layer shares: a run's status, a page's size and
//! cursor, and how much of history a read carries. The store keeps runs by them, the
//! API and the CLI take them from requests and flags, and all three spell, accept and
//! refuse them alike because there is one copy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Created, no step attempted yet.
    Pending,
    /// A host is executing its steps.
    Running,
    /// Parked until a time.
    Sleeping,
    /// Parked until a user gives input.
    Interrupted,
    /// Parked until a named signal arrives or its child runs finish.
    Waiting,
    /// Parked until its next attempt at the current step.
    Retrying,
    /// Reached the end of the graph.
    Completed,
    /// A step failed for good; the run can still be resumed.
    Failed,
    /// Stopped by a user.
    Cancelled,
}

impl RunStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Sleeping,
        RunStatus::Interrupted,
        RunStatus::Waiting,
        RunStatus::Retrying,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The lowercase name used in the database, the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Sleeping => "sleeping",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Waiting => "waiting",
            RunStatus::Retrying => "retrying",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing will happen to the run unless a user acts: completed, failed or
    /// cancelled. (A failed run can still be resumed.)
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<RunStatus, ParseStatusError> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

/// A string that is not one of the [`RunStatus`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown run status {0:?} (expected pending, running, sleeping, interrupted, waiting, \
     retrying, completed, failed or cancelled)"
)]
pub struct ParseStatusError(pub String);

/// What a schedule does with the due times it missed while no host ran it (or while it
/// was paused): `schedule add --catch-up`, `POST /schedules`' `catch_up`, a workflow
/// file's `[schedule]` table, and the store's column all spell it so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Skip them: the next run is at the next due time from now (the default).
    #[default]
    None,
    /// One run for the latest missed due time.
    Last,
    /// One run for every missed due time (at most the latest 100).
    All,
}

impl CatchUp {
    pub const ALL: [CatchUp; 3] = [CatchUp::None, CatchUp::Last, CatchUp::All];

    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::None => "none",
            CatchUp::Last => "last",
            CatchUp::All => "all",
        }
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CatchUp {
    type Err = String;

    fn from_str(s: &str) -> Result<CatchUp, String> {
        CatchUp::ALL
            .into_iter()
            .find(|catch_up| catch_up.as_str() == s)
            .ok_or_else(|| format!("unknown catch-up policy {s:?} (expected none, last or all)"))
    }
}

/// The longest a schedule's name may be.
pub const MAX_SCHEDULE_NAME: usize = 100;

/// Checks a schedule's name (`schedule add NAME`, `POST /schedules`, the API's paths):
/// 1 to [`MAX_SCHEDULE_NAME`] letters, digits, `_`, `.` or `-`. It is part of its runs'
/// threads (`NAME@DUE`) and of URLs, so nothing there needs quoting.
pub fn check_schedule_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.len() > MAX_SCHEDULE_NAME || !name.chars().all(allowed) {
        return Err(format!(
            "invalid schedule name {name:?}: use 1 to {MAX_SCHEDULE_NAME} letters, digits, \
             '_', '.' or '-'"
        ));
    }
    Ok(())
}

/// How many entries a page of one kind holds: `default` when the reader does not say, at
/// most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: usize,
    pub max: usize,
}

/// Checkpoints per page of history: small entries by default, whole states on request
/// (then also bounded by the store's `STATE_PAGE_BYTES`).
pub const HISTORY_PAGE: PageSize = PageSize {
    default: 50,
    max: 1000,
};

/// Log lines per page. A node call keeps at most 1 MiB of log, and the lines of a page are
/// read a few at a time, so a page's size bounds the time of a request, not its memory.
pub const LOG_PAGE: PageSize = PageSize {
    default: 1000,
    max: 10_000,
};

/// A run's events: events per page (oldest first).
pub const EVENTS_PAGE: PageSize = PageSize {
    default: 1000,
    max: 10_000,
};

/// A run listing: runs per page (newest created first).
pub const RUNS_PAGE: PageSize = PageSize {
    default: 100,
    max: 10_000,
};

impl PageSize {
    /// The page size a reader asked for: `default` when `None`, else 1 to `max`.
    pub fn check(&self, asked: Option<usize>) -> Result<usize, PageSizeError> {
        match asked {
            None => Ok(self.default),
            Some(0) => Err(PageSizeError::Zero),
            Some(asked) if asked > self.max => Err(PageSizeError::OverMax {
                asked,
                max: self.max,
            }),
            Some(asked) => Ok(asked),
        }
    }

    /// `limit` brought into 1 to `max` (what a store does with any limit it is given).
    pub fn clamp(&self, limit: usize) -> usize {
        limit.clamp(1, self.max)
    }
}

/// A page size that [`PageSize::check`] refuses; the caller names the flag or parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageSizeError {
    #[error("must be at least 1")]
    Zero,
    #[error("{asked} is over the maximum page size of {max}")]
    OverMax { asked: usize, max: usize },
}

/// Where the next page of a read starts. Users see it as text (`next_cursor`) and hand it
/// back as is; what it holds (a step, a log line's id) is the store's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor(u64);

impl Cursor {
    /// The cursor after `position` (a step of history, a log line's id).
    pub fn after(position: u64) -> Cursor {
        Cursor(position)
    }

    /// The position this cursor starts after (for a backend's query).
    pub fn position(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = ParseCursorError;

    fn from_str(text: &str) -> Result<Cursor, ParseCursorError> {
        // Only the digits a cursor is printed with: no sign, no spaces.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseCursorError(text.to_owned()));
        }
        text.parse()
            .map(Cursor)
            .map_err(|_| ParseCursorError(text.to_owned()))
    }
}

/// Text that is not a cursor a page handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {0:?}: pass the next_cursor of a previous page as it was printed")]
pub struct ParseCursorError(pub String);

/// What a history entry carries besides the checkpoint's own small fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryDetail {
    /// The keys each step changed, with their sizes.
    ChangedKeys,
    /// Also the whole state after each step.
    WholeStates,
    /// Also, for each key the step changed, its value before and after (for a diff).
    Changes,
}

/// Which checkpoints a history shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branches {
    /// The run's current branch: the checkpoints its state stands on.
    Current,
    /// Also the checkpoints a replay in place superseded, branch by branch.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_an_unknown_one_lists_them_all() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert_eq!(
            "runing".parse::<RunStatus>().unwrap_err().to_string(),
            "unknown run status \"runing\" (expected pending, running, sleeping, \
             interrupted, waiting, retrying, completed, failed or cancelled)"
        );
    }

    #[test]
    fn cursors_are_digits_only() {
        assert_eq!("37".parse::<Cursor>().unwrap().to_string(), "37");
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.5",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
