//! Pages: how the reads that grow with a run (its history, its logs) and with the
//! database (run listings) are bounded. A page holds at most a fixed number of entries
//! ([`PageSize`]), is handed over one entry at a time ([`Page::next`]), and ends with the
//! [`Cursor`] that starts the next page.

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::StoreError;

pub use savepoint_base::vocab::{
    Branches, Cursor, EVENTS_PAGE, HISTORY_PAGE, HistoryDetail, LOG_PAGE, PageSize, PageSizeError,
    ParseCursorError, RUNS_PAGE,
};

/// A page of history with whole states ends after the entry that brings its states to
/// this many bytes of JSON (64 MiB), whatever its entry limit: one request never sends
/// more than this plus one state.
pub const STATE_PAGE_BYTES: u64 = 64 << 20;

/// One committed step, as history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The checkpoint's id: stable, unique in the database.
    pub checkpoint: String,
    /// The checkpoint before it: in this run, or, for a fork's first checkpoint, the one
    /// in the other run that it was forked from. `None` for a run's first checkpoint.
    pub parent: Option<String>,
    /// The branch it was written on (0, and one more with every replay in place).
    pub branch: u64,
    /// A replay in place went back before it: it is not on the run's current branch.
    pub superseded: bool,
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
    /// With [`HistoryDetail::Changes`]: each key the step wrote, in the order written,
    /// with its value before the step (`None`: the key is new) and after.
    pub changes: Option<Vec<KeyChange>>,
}

/// One key a step wrote: its value before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChange {
    pub key: String,
    pub before: Option<Value>,
    pub after: Value,
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
