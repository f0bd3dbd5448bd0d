//! What every savepoint crate shares and none owns: content digests
//! ([`digest`]), the codes errors are reported with ([`error_code`]), the
//! limits a node runs under by default ([`limits`]), how outside text is shown
//! on a terminal ([`text`]), and how sizes and durations are written and shown
//! ([`units`]). Pure: no I/O.

pub mod digest;
pub mod error_code;
pub mod limits;
pub mod text;
pub mod units;
