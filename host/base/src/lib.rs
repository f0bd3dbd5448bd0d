//! What every savepoint crate shares and none owns: content digests
//! ([`digest`]), the codes errors are reported with ([`error_code`]), and how
//! outside text is shown on a terminal ([`text`]). Pure: no I/O.

pub mod digest;
pub mod error_code;
pub mod text;
