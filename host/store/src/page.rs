//! Pages: how the reads that grow with a run (its history, its logs) and with the
//! database (run listings) are bounded. A page holds at most a fixed number of entries
//! ([`PageSize`]), is handed over one entry at a time ([`Page::next`]), and ends with the
//! [`Cursor`] that starts the next page.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::StoreError;

/// How many entries a page of one kind holds: `default` when the reader does not say, at
/// most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: usize,
    pub max: usize,
}

/// Checkpoints per page of history: small entries by default, whole states on request
/// (then also bounded by [`STATE_PAGE_BYTES`]).
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

/// Runs per listing (most recently updated first).
pub const RUNS_PAGE: PageSize = PageSize {
    default: 100,
    max: 10_000,
};

/// A page of history with whole states ends after the entry that brings its states to
/// this many bytes of JSON (64 MiB), whatever its entry limit: one request never sends
/// more than this plus one state.
pub const STATE_PAGE_BYTES: u64 = 64 << 20;

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
    pub(super) fn after(position: u64) -> Cursor {
        Cursor(position)
    }

    pub(super) fn position(self) -> u64 {
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
}

/// One committed step, as history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub step: u64,
    /// The node that ran (for a parallel step, the nodes' names as the runtime joined them).
    pub node: String,
    pub component_digest: String,
    pub workflow_digest: String,
    pub created_at_ms: i64,
    pub next: Vec<String>,
    /// The top-level keys the step wrote, in the order written, each with the size in
    /// bytes of its new value's JSON.
    pub changed: Vec<(String, u64)>,
    /// The whole state after the step, with [`HistoryDetail::WholeStates`].
    pub state: Option<Map<String, Value>>,
}

/// One page of a long read, handed over one entry at a time: the store reads ahead by at
/// most one entry, so a reader holds about one entry however large the page. Dropping the
/// page stops the reading.
#[derive(Debug)]
pub struct Page<T> {
    entries: mpsc::Receiver<Result<Item<T>, StoreError>>,
    next_cursor: Option<Cursor>,
    ended: bool,
}

#[derive(Debug)]
enum Item<T> {
    Entry(T),
    End(Option<Cursor>),
}

/// The store's end of a [`Page`].
#[derive(Debug)]
pub(super) struct PageSender<T>(mpsc::Sender<Result<Item<T>, StoreError>>);

impl<T> Page<T> {
    /// A page and the sender its store fills it through.
    pub(super) fn channel() -> (PageSender<T>, Page<T>) {
        let (sender, entries) = mpsc::channel(1);
        let page = Page {
            entries,
            next_cursor: None,
            ended: false,
        };
        (PageSender(sender), page)
    }

    /// The next entry, or `None` at the end of the page (then [`Page::next_cursor`] is
    /// known).
    pub async fn next(&mut self) -> Result<Option<T>, StoreError> {
        if self.ended {
            return Ok(None);
        }
        match self.entries.recv().await {
            Some(Ok(Item::Entry(entry))) => Ok(Some(entry)),
            Some(Ok(Item::End(next_cursor))) => {
                self.ended = true;
                self.next_cursor = next_cursor;
                Ok(None)
            }
            Some(Err(error)) => {
                self.ended = true;
                Err(error)
            }
            // The reading task is gone without an end: the runtime is shutting down.
            None => {
                self.ended = true;
                Err(StoreError::Closed)
            }
        }
    }

    /// Where the next page starts, once [`Page::next`] returned `None`; `None` when this
    /// page reached the end of what there is to read.
    pub fn next_cursor(&self) -> Option<Cursor> {
        self.next_cursor
    }
}

impl<T> PageSender<T> {
    /// Hands over an entry once the reader took the one before; `false` if the reader is
    /// gone (stop reading).
    pub(super) async fn entry(&self, entry: T) -> bool {
        self.0.send(Ok(Item::Entry(entry))).await.is_ok()
    }

    /// Ends the page: what there is to read goes on at `next_cursor`, if anything.
    pub(super) async fn end(self, next_cursor: Option<Cursor>) {
        let _ = self.0.send(Ok(Item::End(next_cursor))).await;
    }

    pub(super) async fn fail(self, error: StoreError) {
        let _ = self.0.send(Err(error)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_as_digits_only() {
        let cursor: Cursor = "37".parse().unwrap();
        assert_eq!(cursor, Cursor::after(37));
        assert_eq!(cursor.to_string(), "37");
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.5",
            "abc",
            "99999999999999999999999",
        ] {
            assert_eq!(
                bad.parse::<Cursor>(),
                Err(ParseCursorError(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn page_sizes_default_and_refuse_zero_and_over_max() {
        assert_eq!(HISTORY_PAGE.check(None), Ok(50));
        assert_eq!(HISTORY_PAGE.check(Some(1000)), Ok(1000));
        assert_eq!(HISTORY_PAGE.check(Some(0)), Err(PageSizeError::Zero));
        assert_eq!(
            HISTORY_PAGE.check(Some(1001)).unwrap_err().to_string(),
            "1001 is over the maximum page size of 1000"
        );
        assert_eq!(LOG_PAGE.clamp(0), 1);
        assert_eq!(LOG_PAGE.clamp(usize::MAX), LOG_PAGE.max);
    }
}
