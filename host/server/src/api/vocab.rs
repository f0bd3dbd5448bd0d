//! The words of a request about runs: a run status (`?status=`), a page
//! (`?limit=&cursor=`) and how much of history (`?states=`, `?diff=`, `?all=`). They are
//! `savepoint_base::vocab`'s, which the store and the CLI use too, so a status or a
//! cursor is spelled, accepted and refused alike everywhere; what a cursor points at
//! is the backend's business.

pub use savepoint_base::vocab::{
    Branches, Cursor, EVENTS_PAGE, HISTORY_PAGE, HistoryDetail, LOG_PAGE, PageSize,
    ParseStatusError, RUNS_PAGE, RunStatus,
};

/// A checked page request (`?limit=&cursor=`): `limit` is within the page size of its
/// kind, the default when the request gave none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    pub cursor: Option<Cursor>,
    pub limit: usize,
}
