//! What every savepoint crate shares and none owns: content digests
//! ([`digest`]), the codes errors are reported with ([`error_code`]), the
//! limits a node runs under by default ([`limits`]), the timings the metrics keep
//! ([`metrics`]: lock-free histograms), how outside text is shown
//! on a terminal ([`text`]), how sizes and durations are written and shown
//! ([`units`]), the words for runs every layer shares ([`vocab`]: a run's status,
//! a page's size and cursor), and run tags ([`tags`]: `key=value`, checked alike by the
//! CLI and the API). Pure: no I/O.

pub mod digest;
pub mod error_code;
pub mod limits;
pub mod metrics;
pub mod tags;
pub mod text;
pub mod units;
pub mod vocab;
