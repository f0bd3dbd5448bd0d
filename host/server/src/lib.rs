//! The long-running service, `savepoint serve` ([`start()`], [`Serving`]): the runtime's
//! daemon, which drives every run of a database, and the HTTP API ([`api`]) in
//! front of it.
//! `backend` is the adapter between them: it implements [`api::Backend`] over
//! the daemon's [`savepoint_runtime::Runtime`] (what changes a run) and its store
//! (what reads one), so the API's handlers know HTTP, JSON and their own words,
//! and nothing of how a run is executed or stored. [`view`] holds the JSON
//! shapes of runs, steps and plugins, shared with the CLI's `--json` output.
//! `dashboard` is the web dashboard: HTML pages built from the same backend.
//! `metrics` writes `GET /metrics` (the Prometheus text format) from the runtime's
//! counters and the store's run counts.
//! This is the only crate that knows axum.

pub mod api;
mod backend;
mod dashboard;
pub mod follow;
mod metrics;
mod patch;
mod serve;
pub mod view;

pub use api::signals::check_signal_name;
pub use serve::{ServeConfig, Serving, start};
