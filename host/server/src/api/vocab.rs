//! The API's own words for what a request asks about runs: a run status (`?status=`), a
//! page (`?limit=&cursor=`) and how much of history (`?states=`). They are the HTTP
//! contract, not the store's types: the backend converts them (see
//! `crate::backend`, whose tests check that both sides agree on every status name and
//! page size).

use std::fmt;
use std::str::FromStr;

/// A run's status as the API names it (`GET /runs?status=running`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Pending,
    Running,
    Sleeping,
    Interrupted,
    Retrying,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Sleeping,
        RunStatus::Interrupted,
        RunStatus::Retrying,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The lowercase name a request gives and a response shows.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Sleeping => "sleeping",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Retrying => "retrying",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for RunStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<RunStatus, UnknownStatus> {
        RunStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// Text that is not one of the [`RunStatus`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = RunStatus::ALL.map(RunStatus::as_str);
        let (last, rest) = names.split_last().expect("there are statuses");
        write!(
            f,
            "unknown run status {:?} (expected {} or {last})",
            self.0,
            rest.join(", ")
        )
    }
}

/// Where the next page of a read starts: the `next_cursor` of the page before, handed
/// back as it was printed (digits only). What it points at is the backend's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(u64);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Cursor, String> {
        // Only the digits a cursor is printed with: no sign, no spaces.
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        match text.parse() {
            Ok(position) if digits => Ok(Cursor(position)),
            _ => Err(format!(
                "invalid cursor {text:?}: pass the next_cursor of a previous page as it was \
                 printed"
            )),
        }
    }
}

/// What a history entry carries besides the checkpoint's own small fields
/// (`?states=true`: the whole states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryDetail {
    /// The keys each step changed, with their sizes.
    ChangedKeys,
    /// Also the whole state after each step.
    WholeStates,
}

/// How many entries a page of one kind holds: `default` when the request does not say
/// (`limit`), at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: usize,
    pub max: usize,
}

/// Checkpoints per page of `GET /runs/{id}/history`.
pub const HISTORY_PAGE: PageSize = PageSize {
    default: 50,
    max: 1000,
};

/// Log lines per page of `GET /runs/{id}/logs`.
pub const LOG_PAGE: PageSize = PageSize {
    default: 1000,
    max: 10_000,
};

/// Runs per `GET /runs`.
pub const RUNS_PAGE: PageSize = PageSize {
    default: 100,
    max: 10_000,
};

impl PageSize {
    /// The page size a request asked for: `default` when `None`, else 1 to `max`.
    pub fn check(&self, asked: Option<usize>) -> Result<usize, String> {
        match asked {
            None => Ok(self.default),
            Some(0) => Err("must be at least 1".to_string()),
            Some(asked) if asked > self.max => Err(format!(
                "{asked} is over the maximum page size of {}",
                self.max
            )),
            Some(asked) => Ok(asked),
        }
    }
}

/// A checked page request (`?limit=&cursor=`): `limit` is within the page size of its
/// kind, the default when the request gave none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub cursor: Option<Cursor>,
    pub limit: usize,
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
             interrupted, retrying, completed, failed or cancelled)"
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
