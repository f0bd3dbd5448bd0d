//! End-to-end tests: real guest components (built once per test run by
//! `fixtures`), the real `savepoint` binary, a real SQLite file, and SIGKILL.
//!
//! Golden files for whole outputs and user-facing messages live in
//! `tests/e2e/golden/`; run with `SAVEPOINT_BLESS=1` (or `BLESS=1`) to rewrite
//! them after an intended change, and review the diff.

mod api;
mod bad_input;
mod batch;
mod browser;
mod chain;
mod children;
mod cli;
mod conformance;
mod crash;
mod daemon;
mod delete;
mod durations;
mod errors;
mod fanout;
mod first_compile;
mod fixtures;
mod gc;
mod guest_output;
mod hints;
mod hostile;
mod install;
mod leases;
mod logging;
mod long_running;
mod pinning;
mod polish;
mod polyglot;
mod postgres;
mod quiet;
mod readme;
mod reads;
mod resources;
mod reuse;
mod schedules;
mod signals;
mod storage;
mod travel;
mod untrusted;
mod validate;
mod wit_versions;
