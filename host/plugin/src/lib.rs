//! Plugins: WebAssembly components that implement the `savepoint:node` world.
//!
//! This module owns everything wasmtime: the [`Engine`](wasmtime::Engine) and its
//! epoch ticker, loading a `.wasm` file (digest, component check, world check,
//! the on-disk cache of compiled code), the sandbox each call runs in, and the
//! one `bindgen!` of the WIT contract. Generated types never leave this module:
//! a call takes a [`CallInput`] and gives back a [`CallOutput`] made of our own
//! types, which the runtime turns into a checkpoint. It knows nothing of SQLite
//! or of the workflow file.
//!
//! Layout: `engine` (the wasmtime configuration: pooling allocator, copy-on-write
//! memory images, one engine per compiler), `tier` (Winch's code first, Cranelift's
//! compiled in the background and swapped in), `file` (reading a plugin file safely: regular files only, size-capped,
//! off the async threads with a time limit), `load` (plugin files -> [`Plugin`]), `compile`
//! (the compile pool), `describe` (what a component says about itself, once per digest),
//! `cache` (compiled code and `describe()` results on disk), `call` (one call: a fresh or a warm instance),
//! `pool` (instance slots and the idle warm instances), `budget` (the memory
//! budget of all live instances together), `sandbox` (what a call
//! may touch), `http` (the `allow_http` gate), `bindings` (the WIT types),
//! `output` (every string a guest returns: secrets redacted, length bounded), `lease`
//! (the local deadline of the lease a call runs under, and its fencing epoch), `schema`
//! (a node's config checked against the JSON Schema its `describe()` declares).

mod bindings;
mod budget;
mod cache;
mod call;
mod compile;
mod describe;
mod engine;
mod file;
mod http;
mod lease;
mod load;
mod output;
mod pool;
mod sandbox;
mod schema;
mod ticker;
mod tier;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use savepoint_base::error_code::ErrorCode;
use savepoint_base::limits;
use savepoint_base::units::{format_size, humanize};

pub use bindings::WitVersion;
pub use budget::{MemoryUse, default_budget};
pub use cache::Pruned;
pub use compile::{COMPILES, CompileNotice, Compiling, NOTICE_AFTER};
pub use engine::{Compiler, WINCH_FROM};
pub use file::off_thread;
pub use file::{
    DEFAULT_MAX_COMPONENT_SIZE, READ_TIMEOUT, plugin_name, plugin_names, read_file,
    read_plugin_file, scan_dir,
};
pub use lease::Lease;
pub use load::at_most;
pub use load::{LOADS, PluginHost, PluginLoad, Tiering};
pub use output::{MESSAGE_LIMIT, REDACTED, Secrets};
pub use schema::{BadSchema, ConfigProblem, ConfigSchema};

/// A loaded component that implements the node world, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    /// The file stem, which workflow files use in `plugin = "..."`.
    pub name: String,
    /// The file it was loaded from.
    pub path: PathBuf,
    /// `sha256:<hex>` of the file's bytes.
    pub digest: String,
    /// What the component's `describe()` returned.
    pub info: NodeInfo,
    /// The version of the `savepoint:node` world it implements.
    pub wit: WitVersion,
    /// The code calls instantiate: Winch's, swapped for Cranelift's once
    /// compiled (shared by every load of this version in the host).
    code: std::sync::Arc<tier::CodeSlot<call::Code>>,
    instances: std::sync::Arc<call::Instances>,
}

impl Plugin {
    /// Whose code a call that starts now runs.
    pub fn compiler(&self) -> Compiler {
        use tier::Tiered;
        self.code.current().compiler()
    }

    /// Calls started on `compiler`'s code so far (by every load of this
    /// version in the host).
    pub fn calls_on(&self, compiler: Compiler) -> u64 {
        self.code.calls(compiler)
    }

    /// Wait until calls run Cranelift's code: at once when they do, after the
    /// background compile otherwise (never, with [`Tiering::WinchOnly`], or
    /// when that compile fails: it is logged).
    pub async fn optimized(&self) {
        self.code.until(Compiler::Cranelift).await
    }

    /// What is odd about the plugin without stopping it from working: a
    /// `describe()` name other than the file's (workflows use the file's).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.info.name != self.name {
            warnings.push(format!(
                "describe() says its name is {:?}, but workflows name it after its file: \
                 plugin = {:?}",
                self.info.name, self.name
            ));
        }
        warnings
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("digest", &self.digest)
            .field("info", &self.info)
            .field("wit", &self.wit)
            .finish_non_exhaustive()
    }
}

/// What a node says about itself (also the on-disk `describe()` cache entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: Option<Value>,
}

impl NodeInfo {
    /// Bytes a `describe()` answer may hold, all fields together: a long
    /// description and a detailed config schema take a few KiB.
    pub const LIMIT: usize = 64 << 10;

    /// The answer's bytes, as [`NodeInfo::LIMIT`] counts them.
    pub fn size(&self) -> usize {
        self.name.len()
            + self.version.len()
            + self.description.len()
            + self
                .config_schema
                .as_ref()
                .map_or(0, |s| s.to_string().len())
    }
}

/// Everything the host passes to one call of a node's `run`.
#[derive(Debug, Clone)]
pub struct CallInput {
    pub thread: String,
    pub node: String,
    pub step: u64,
    pub attempt: u32,
    pub config: Value,
    pub resume: Option<Value>,
    /// The call follows an interrupt whose deadline passed unanswered.
    pub interrupt_timed_out: bool,
    /// Consecutive sleeps of this node that ended in a wake-up.
    pub wakes: u32,
    pub idempotency_key: String,
    /// The signal the call receives: the node waited for one and it came (a
    /// 0.2.0 node sees it in `ctx.signal`).
    pub signal: Option<Signal>,
    /// For a call made for a send: its index among the step's sends.
    pub send_index: Option<u32>,
    /// Stop the call (as a timeout) when it runs longer than this.
    pub timeout: Option<Duration>,
    /// What the call may use.
    pub limits: CallLimits,
    /// Run in a warm instance of this plugin, node and limits when an earlier
    /// call left one idle, and keep the instance warm after a successful call.
    /// `false`: a fresh instance, dropped after the call.
    pub reuse: bool,
    /// The resolved secrets of the node's config: redacted from everything
    /// the call returns or writes (see `output.rs`).
    pub secrets: Secrets,
    /// The lease on the run the call is made under: the call does not start,
    /// or is stopped, once it expires (see [`Lease`]). `None`: no run, no
    /// lease (the node sees epoch 0).
    pub lease: Option<Lease>,
}

impl CallInput {
    /// A first plain call of `node` at `step` of `thread`: attempt 1, config
    /// `{}`, no resume value, no timeout, default limits, a fresh instance.
    pub fn new(thread: &str, node: &str, step: u64) -> CallInput {
        CallInput {
            thread: thread.to_owned(),
            node: node.to_owned(),
            step,
            attempt: 1,
            config: Value::Object(Default::default()),
            resume: None,
            interrupt_timed_out: false,
            wakes: 0,
            idempotency_key: format!("{thread}/{step}/{node}"),
            signal: None,
            send_index: None,
            timeout: None,
            limits: CallLimits::default(),
            reuse: false,
            secrets: Secrets::default(),
            lease: None,
        }
    }
}

/// The resources one call may use; each breach is its own [`CallError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLimits {
    /// Bytes of linear memory.
    pub memory: usize,
    /// Instructions (wasmtime fuel units); `None`: no budget.
    pub fuel: Option<u64>,
    /// Bytes of the JSON text of an update, a sleep update or an interrupt
    /// payload.
    pub max_state: usize,
    /// Log lines one call keeps.
    pub max_log: LogLimit,
    /// Hosts the node may reach over `wasi:http`.
    pub allow_http: Vec<HttpAllow>,
}

/// How much of a call's log is kept: at most `lines` lines and `bytes` bytes,
/// each line counting [`LogLimit::LINE_COST`] bytes more than its text (so an
/// empty line is not free). Past either, lines are dropped and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    pub lines: usize,
    pub bytes: usize,
}

impl LogLimit {
    /// What a stored line costs beside its text: its row (thread, step, node,
    /// attempt, level, time) and index entry take about this much in SQLite.
    pub const LINE_COST: usize = 64;

    /// Whether a call that kept `lines` lines of `bytes` bytes in all may
    /// keep one more of `len` bytes of text.
    pub fn admits(&self, lines: usize, bytes: usize, len: usize) -> bool {
        lines < self.lines && bytes.saturating_add(len + Self::LINE_COST) <= self.bytes
    }

    /// Bytes of text that a call that kept `lines` lines of `bytes` bytes in
    /// all may still keep in one more line (0 when no line fits).
    pub fn room(&self, lines: usize, bytes: usize) -> usize {
        if lines >= self.lines {
            return 0;
        }
        self.bytes
            .saturating_sub(bytes.saturating_add(Self::LINE_COST))
    }
}

impl Default for LogLimit {
    /// What a workflow file's `max_log` is when it does not say: 10,000
    /// lines, 1 MiB.
    fn default() -> LogLimit {
        LogLimit {
            lines: limits::DEFAULT_LOG_LINES as usize,
            bytes: limits::DEFAULT_LOG_BYTES as usize,
        }
    }
}

impl Default for CallLimits {
    /// The limits of a node whose workflow file sets none (256 MiB of memory,
    /// no fuel budget, 4 MiB of state, the default log, no HTTP): also what a
    /// call made without a workflow runs under (`describe()`).
    fn default() -> CallLimits {
        CallLimits {
            memory: limits::DEFAULT_MEMORY as usize,
            fuel: None,
            max_state: limits::DEFAULT_MAX_STATE as usize,
            max_log: LogLimit::default(),
            allow_http: Vec::new(),
        }
    }
}

/// One `allow_http` grant: a host, and a port or any port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAllow {
    pub host: String,
    pub port: Option<u16>,
}

/// A signal a call receives (`ctx.signal`).
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub name: String,
    pub data: Value,
}

/// One call of a node that an update asks for in the next step (fan-out).
#[derive(Debug, Clone, PartialEq)]
pub struct Send {
    /// A node of the workflow (the runtime checks it).
    pub node: String,
    /// The whole state that call sees.
    pub input: Map<String, Value>,
}

/// What a successful call asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Merge `state` (a JSON object) with the reducers and go on, optionally along
    /// `goto`; or, when `sends` is not empty, along the sends (fan-out).
    Update {
        state: Map<String, Value>,
        goto: Option<String>,
        sends: Vec<Send>,
    },
    /// Park until resumed with input; the payload says what the run waits
    /// for; past `timeout` the node runs again without input.
    Interrupt {
        payload: Value,
        timeout: Option<Duration>,
    },
    /// Commit `state`, park for `duration`, then run the node again.
    Sleep {
        duration: Duration,
        state: Map<String, Value>,
    },
    /// Park until a signal named `name` is in the run's mailbox, then run the
    /// node again with it; past `timeout` without one, run it again without.
    WaitSignal {
        name: String,
        timeout: Option<Duration>,
    },
}

/// Why a call did not produce an [`Outcome`]. Every variant's message is
/// complete on its own; the runtime prefixes the node's name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The node returned `failure.retryable`.
    #[error("retryable failure: {0}")]
    Retryable(String),
    /// The node returned `failure.fatal`.
    #[error("fatal failure: {0}")]
    Fatal(String),
    /// The guest trapped (panic, abort, unreachable, stack overflow, ...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The node returned something that breaks the contract (JSON that does
    /// not parse, an update that is not an object).
    #[error("{0}")]
    InvalidOutput(String),
    /// The call ran longer than its timeout.
    #[error("timed out after {}", humanize(*.0))]
    Timeout(Duration),
    /// The call tried to grow its memory past the node's `memory` limit.
    #[error("exceeded its memory limit ({})", format_size(*limit as u64))]
    MemoryLimit { limit: usize },
    /// The call used up the node's `fuel`.
    #[error("ran out of fuel ({fuel} unit{})", if *fuel == 1 { "" } else { "s" })]
    OutOfFuel { fuel: u64 },
    /// The update, sleep update or interrupt payload (`what`) is bigger than
    /// the node's `max_state`.
    #[error("returned {what} of {size} bytes, over its max_state of {}", format_size(*limit as u64))]
    StateTooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// The host's instance pool had no room for the call's instance (too many
    /// calls at once); the node did not run, and a retry later can succeed.
    #[error("could not be instantiated: the host's instance pool is full ({0}); retry later")]
    PoolExhausted(String),
    /// The node's memory limit alone is more than the host's whole memory
    /// budget: the call could never get room.
    #[error(
        "has a memory limit of {}, more than the host's whole memory budget of {} \
         (savepoint serve --max-memory); lower the node's `memory` or raise --max-memory",
        format_size(*limit as u64),
        format_size(*budget)
    )]
    OverMemoryBudget { limit: usize, budget: u64 },
    /// The lease on the run expired before or during the call (this process
    /// stalled, or could not reach the database to renew it): the call was not
    /// made or was stopped, and whatever it produced must be discarded.
    #[error("was stopped: the lease on the run expired during the call")]
    LeaseExpired,
}

impl CallError {
    /// Whether a retry policy may try the call again.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            CallError::Fatal(_) | CallError::InvalidOutput(_) | CallError::OverMemoryBudget { .. }
        )
    }
}

/// Severity of a log line, as in the WIT `host.level` (plus the captured
/// `stdout`/`stderr` streams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Stdout,
    Stderr,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Stdout => "stdout",
            LogLevel::Stderr => "stderr",
        }
    }
}

/// One line a node logged during a call.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
}

/// The result of one call: the outcome or the error, and the call's log lines
/// either way.
#[derive(Debug)]
pub struct CallOutput {
    pub result: Result<Outcome, CallError>,
    pub logs: Vec<LogRecord>,
}

/// Why a plugin file could not be used. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a regular file (a FIFO, a directory, a device, a kernel file):
    /// refused before anything is read from it.
    #[error("{path} is {kind}: skipped (a plugin is a regular *.wasm file)")]
    NotAFile { path: PathBuf, kind: &'static str },
    /// A read (or `stat`) of the file did not return in time: a hung mount
    /// or a file that blocks. `earlier`: one from before still has not.
    #[error(
        "cannot read {path}: {}; skipped (a hung network or FUSE mount, or a file that blocks?)",
        if *earlier { format!("an earlier read has not returned after {}s", after.as_secs()) }
        else { format!("reading it did not finish within {}s", after.as_secs()) }
    )]
    ReadTimedOut {
        path: PathBuf,
        after: Duration,
        earlier: bool,
    },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error("{path} does not compile: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error(
        "{path} does not implement the `node` world of savepoint:node@0.2.0 or @0.1.0: \
         {reason} (build it against wit/node.wit, e.g. with the savepoint-sdk crate)"
    )]
    WrongWorld { path: PathBuf, reason: String },
    #[error("{path}: describe() failed: {reason}")]
    Describe { path: PathBuf, reason: String },
    /// Checked before the file is read (or a stored component compiled).
    #[error(
        "{path} is {size} bytes, over the largest component size allowed ({}); raise the \
         limit with --max-component-size SIZE (or SAVEPOINT_MAX_COMPONENT_SIZE) if you trust \
         the file",
        format_size(*limit)
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
}

impl PluginError {
    /// What the caller does next: see [`ErrorCode`]. A file that cannot be read is in
    /// the way ([`ErrorCode::Environment`]); one that is read but cannot be used is
    /// wrong ([`ErrorCode::Invalid`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            PluginError::Io { .. } | PluginError::ReadTimedOut { .. } => ErrorCode::Environment,
            PluginError::NotAFile { .. }
            | PluginError::NotAComponent { .. }
            | PluginError::Compile { .. }
            | PluginError::WrongWorld { .. }
            | PluginError::Describe { .. }
            | PluginError::TooLarge { .. } => ErrorCode::Invalid,
        }
    }
}
