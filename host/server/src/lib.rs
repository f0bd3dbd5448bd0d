//! The long-running service, `savepoint serve` ([`serve()`]): the runtime's
//! daemon, which drives every run of a database, and the HTTP API ([`api`]) in
//! front of it.
//! [`backend`] is the adapter between them: it implements [`api::Backend`] over
//! a [`savepoint_runtime::Runtime`], so the API's handlers know HTTP and JSON
//! and nothing of how a run is executed or stored. [`view`] holds the JSON
//! shapes of runs, steps and plugins, shared with the CLI's `--json` output.
//! This is the only crate that knows axum.

pub mod api;
mod backend;
mod serve;
pub mod view;

pub use serve::{ServeConfig, serve};
