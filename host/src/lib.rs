//! savepoint: durable workflows whose nodes are sandboxed WebAssembly components.
//!
//! # One step, from the command line to the disk
//!
//! `savepoint run chain.toml --thread job-1` enters through [`cli`] (`cli/run.rs`),
//! which opens the [`store`] (a SQLite file), a [`plugin::PluginHost`] (the
//! wasmtime engine) and a [`runtime::Runtime`] over both, then calls
//! [`runtime::Runtime::start`]. From there every step is the same:
//!
//! 1. [`workflow`] has parsed and validated the workflow file (pure: no I/O);
//!    the run is pinned to that exact text, and to the exact bytes of every
//!    plugin it names, both stored by digest.
//! 2. [`runtime`] takes the run's position (its latest checkpoint: state, next
//!    node, step) and asks [`plugin`] to call the next node.
//! 3. [`plugin`] instantiates the node's component in a fresh sandbox from a
//!    pre-linked, pooled instance slot (or, with `reuse = true`, takes a warm
//!    instance of that node; one that failed in any way is never reused) with
//!    no files, no environment, no network, stdout and stderr captured, and calls `run`
//!    with the context and the state; the answer comes back as our own
//!    [`plugin::Outcome`] or [`plugin::CallError`], never as generated types.
//! 4. [`runtime`] merges the update with the workflow's reducers and routes
//!    ([`workflow::Workflow::apply_update`], [`workflow::Workflow::route`]).
//! 5. [`store`] commits the new checkpoint (only the state keys the step
//!    changed), the node's log lines and the run's new position in one SQLite
//!    transaction, batched with other runs' commits (group commit)
//!    ([`store::CheckpointStore::commit_step`]). Nothing a node returned counts
//!    before that commit, so a process killed at any point resumes from the
//!    last checkpoint ([`runtime::Runtime::resume`]).
//!
//! A step that cannot commit records a setback instead (a failure, a retry
//! wait, an interrupt), and a node may park the run (sleep, interrupt): the
//! run then waits in the database until `savepoint resume` or the daemon
//! ([`runtime::daemon`], `savepoint serve`) continues it. Whoever executes a
//! run holds a lease on it first, so two processes do not run the same step
//! at once; a process that stalls past its lease stops its call when it
//! wakes, and its result is discarded ([`plugin::Lease`]).
//! The daemon answers HTTP through [`api`], whose [`api::Backend`] trait it
//! implements; [`view`] holds the JSON shapes the CLI and the API share, and
//! [`error_code`] the codes both report errors with (each error enum says its own
//! code; the CLI maps a code to an exit code, the API to an HTTP status).
//!
//! Data flows one way: `cli` -> `runtime` -> (`workflow`, `plugin`, `store`);
//! `api` calls back into `runtime` only through its `Backend` trait.
//! `workflow` knows nothing of wasmtime or SQLite, `store` nothing of wasmtime,
//! `plugin` nothing of SQLite.

pub mod api;
pub mod cli;
pub mod digest;
pub mod error_code;
pub mod plugin;
pub mod runtime;
pub mod store;
pub mod text;
pub mod view;
pub mod workflow;
