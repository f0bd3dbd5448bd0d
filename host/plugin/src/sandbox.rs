//! The sandbox one call runs in: a store whose WASI context grants nothing (no
//! preopened directories, no environment, no sockets, no stdin), whose stdout
//! and stderr are captured (bounded) into the call's log, whose log is
//! bounded by the node's `max_log`, whose memory is capped by the node's
//! limit, and whose outgoing HTTP goes only to the hosts the workflow grants.
//! Log lines, stdout and stderr are redacted (the node's secrets) as they are
//! kept. A warm instance (`reuse`) keeps its store from call to call;
//! [`NodeState::start_call`] gives each call its own log, capture and secrets.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use savepoint_base::units::format_size;

use super::http::HttpGate;
use super::output::{self, Secrets};
use super::{CallLimits, Lease, LogLevel, LogLimit, LogRecord};

/// Table elements a node may grow a table to (the largest table of our
/// example nodes starts at 7,689); also the size of a table slot in the
/// engine's instance pool.
pub const TABLE_ELEMENTS: usize = 1 << 17;
/// Bytes of stdout and of stderr kept per call.
const OUTPUT_LIMIT: usize = 64 << 10;

/// The host side of one call (the `T` of `Store<T>`).
pub struct NodeState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    gate: HttpGate,
    limiter: Limiter,
    max_log: LogLimit,
    logs: Vec<LogRecord>,
    /// Bytes of the kept lines, each counted with [`LogLimit::LINE_COST`].
    log_bytes: usize,
    dropped_logs: usize,
    /// Bytes cut from lines too long for what was left of `max_log`.
    dropped_log_bytes: usize,
    stdout: Captured,
    stderr: Captured,
    secrets: Secrets,
    /// The lease the current call runs under, if any.
    lease: Option<Lease>,
}

impl NodeState {
    pub fn new(limits: &CallLimits) -> NodeState {
        let stdout = Captured::new(OUTPUT_LIMIT);
        let stderr = Captured::new(OUTPUT_LIMIT);
        // Deny by default: the builder starts with no preopens, no env, no
        // args, no network and a closed stdin; we only redirect stdout/stderr.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        NodeState {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            gate: HttpGate::new(limits.allow_http.clone()),
            limiter: Limiter {
                memory: limits.memory,
                hit: false,
                grown: 0,
            },
            max_log: limits.max_log,
            logs: Vec::new(),
            log_bytes: 0,
            dropped_logs: 0,
            dropped_log_bytes: 0,
            stdout,
            stderr,
            secrets: Secrets::default(),
            lease: None,
        }
    }

    /// The lease the next call runs under: its host functions (`log`,
    /// `lease-epoch`, outgoing HTTP) refuse to work once it has expired.
    pub fn set_lease(&mut self, lease: Option<Lease>) {
        self.gate.set_lease(lease.clone());
        self.lease = lease;
    }

    /// A trap once the call's lease has expired: the call must not go on.
    fn check_lease(&self) -> wasmtime::Result<()> {
        match &self.lease {
            Some(lease) if lease.expired() => Err(wasmtime::Error::msg(
                "the lease on the run expired during the call",
            )),
            _ => Ok(()),
        }
    }

    /// Start a call with the node's `secrets`: forget what an earlier call of
    /// a warm instance logged and printed. The guest may hold its stdout and
    /// stderr streams across calls, so the captures are emptied in place
    /// rather than replaced.
    pub fn start_call(&mut self, secrets: &Secrets) {
        self.logs.clear();
        self.log_bytes = 0;
        self.dropped_logs = 0;
        self.dropped_log_bytes = 0;
        // A secret across the capture's bound is redacted whole when the
        // capture holds it whole.
        self.stdout.clear(secrets.longest());
        self.stderr.clear(secrets.longest());
        self.limiter.hit = false;
        self.secrets.clone_from(secrets);
    }

    /// The node's secrets in this call.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub fn limiter(&mut self) -> &mut Limiter {
        &mut self.limiter
    }

    /// Whether the call tried to grow memory past its limit.
    pub fn hit_memory_limit(&self) -> bool {
        self.limiter.hit
    }

    /// Bytes of linear memory the instance has (all its memories together).
    pub fn memory_size(&self) -> usize {
        self.limiter.grown
    }

    /// The call's log: the lines the node logged (with one line saying how
    /// many were dropped and how many bytes cut, if any), then what it
    /// printed.
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        let mut logs = std::mem::take(&mut self.logs);
        let dropped = match (self.dropped_logs, self.dropped_log_bytes) {
            (0, 0) => None,
            (lines, 0) => Some(format!("{lines} log lines dropped")),
            (0, bytes) => Some(format!("{bytes} bytes of log cut")),
            (lines, bytes) => Some(format!(
                "{lines} log lines dropped, {bytes} bytes of log cut"
            )),
        };
        if let Some(dropped) = dropped {
            logs.push(LogRecord {
                level: LogLevel::Warn,
                message: format!(
                    "{dropped} (max_log: a call keeps {} lines, {} of log)",
                    self.max_log.lines,
                    format_size(self.max_log.bytes as u64)
                ),
            });
        }
        for (level, captured) in [
            (LogLevel::Stdout, &self.stdout),
            (LogLevel::Stderr, &self.stderr),
        ] {
            if let Some(text) = captured.text(&self.secrets) {
                logs.push(LogRecord {
                    level,
                    message: text,
                });
            }
        }
        logs
    }

    /// The last few lines the node wrote to stderr (a Rust panic message
    /// lands there), for trap messages.
    pub fn stderr_tail(&self) -> Option<String> {
        let text = self.stderr.text(&self.secrets)?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !is_runtime_noise(l))
            .collect();
        let start = lines.len().saturating_sub(3);
        Some(lines[start..].join(" "))
    }
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for NodeState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

/// Caps linear memory at the node's `memory` limit and remembers a refused
/// growth, so that the trap that usually follows (an allocation failure) is
/// reported as the limit it is.
pub struct Limiter {
    memory: usize,
    hit: bool,
    /// Bytes of every memory of the instance together (a memory's creation
    /// is a growth from 0; memories never shrink).
    grown: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = true;
            return Ok(false);
        }
        self.grown = self.grown.saturating_add(desired.saturating_sub(current));
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > TABLE_ELEMENTS {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }
}

/// The `host` interface, as every world version's bindings call it.
impl NodeState {
    /// `host.log`: keep the line while the call is within its `max_log`, counting each
    /// line (an empty one too) at its length plus [`LogLimit::LINE_COST`].
    /// A line longer than what is left is cut to fit (to at most
    /// [`output::MESSAGE_LIMIT`], with the cut marker), its other bytes
    /// counted as cut; a line with no room left is only counted. Nothing is
    /// buffered beyond the limit. Traps once the call's lease has expired.
    pub(super) fn log_line(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.check_lease()?;
        let total = message.len();
        let mut message = self.secrets.redact_owned(message);
        if !self
            .max_log
            .admits(self.logs.len(), self.log_bytes, message.len())
        {
            let marker = output::cut_marker(total).len();
            let room = self.max_log.room(self.logs.len(), self.log_bytes);
            let keep = room.saturating_sub(marker).min(output::MESSAGE_LIMIT);
            if keep == 0 || message.is_empty() {
                self.dropped_logs += 1;
                return Ok(());
            }
            let length = message.len();
            message = output::cut(message, keep, total);
            self.dropped_log_bytes += length - (message.len() - marker);
        }
        self.log_bytes += message.len() + LogLimit::LINE_COST;
        self.logs.push(LogRecord { level, message });
        Ok(())
    }

    /// `host.lease-epoch`.
    pub(super) fn epoch(&mut self) -> wasmtime::Result<u64> {
        self.check_lease()?;
        Ok(self.lease.as_ref().map_or(0, Lease::epoch))
    }
}

/// A bounded in-memory stdout/stderr: writes beyond the limit are dropped
/// (and counted), never an error the guest has to handle.
#[derive(Clone)]
struct Captured {
    inner: Arc<Mutex<CapturedInner>>,
}

struct CapturedInner {
    bytes: Vec<u8>,
    /// Bytes shown.
    limit: usize,
    /// Bytes kept beyond `limit`, so that a secret across it is redacted
    /// whole before the text is cut.
    slack: usize,
    dropped: usize,
}

impl Captured {
    fn new(limit: usize) -> Captured {
        Captured {
            inner: Arc::new(Mutex::new(CapturedInner {
                bytes: Vec::new(),
                limit,
                slack: 0,
                dropped: 0,
            })),
        }
    }

    fn clear(&self, slack: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.bytes.clear();
        inner.slack = slack;
        inner.dropped = 0;
    }

    /// What was written, redacted, then cut to the limit (with a marker
    /// giving the bytes written in all).
    fn text(&self, secrets: &Secrets) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.bytes.is_empty() {
            return None;
        }
        let total = inner.bytes.len() + inner.dropped;
        let text = String::from_utf8_lossy(&inner.bytes);
        let text = secrets.redact(text.trim()).into_owned();
        let over = text.len() > inner.limit;
        let mut text = output::cut(text, inner.limit, total);
        if inner.dropped > 0 && !over {
            output::mark_cut(&mut text, total);
        }
        Some(text)
    }
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = (inner.limit + inner.slack).saturating_sub(inner.bytes.len());
        let keep = room.min(buf.len());
        inner.bytes.extend_from_slice(&buf[..keep]);
        inner.dropped += buf.len() - keep;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Lines language runtimes add after the user's message, which would push it
/// out of the short tail a trap message quotes.
fn is_runtime_noise(line: &str) -> bool {
    line.starts_with("note: run with `RUST_BACKTRACE")
        || line.starts_with("Redirecting call to abort() to mozalloc_abort")
}
