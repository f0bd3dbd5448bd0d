//! What every savepoint crate shares and none owns: content digests
//! ([`digest`]), the codes errors are reported with ([`error_code`]), how
//! outside text is shown on a terminal ([`text`]), and how sizes and durations
//! are written and shown ([`units`]). Pure: no I/O.

pub mod digest;
pub mod error_code;
pub mod text;
pub mod units;
