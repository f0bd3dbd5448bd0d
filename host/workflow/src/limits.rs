//! Resource limits of a node: memory, fuel, the size of its update, how much of
//! its log is kept, and the hosts it may call over HTTP. In the file, `memory`,
//! `fuel`, `max_state`, `max_log` and `allow_http` at the top level (the
//! workflow's defaults) and per node (each key replacing the default; each key
//! of `max_log` on its own). Pure parsing and matching; enforcing them is the
//! runtime's job. An `allow_http` entry is a [`HttpGrant`] (`grant.rs`).

use savepoint_base::limits;

use crate::HttpGrant;

/// What one call of a node may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of linear memory (and the matching table limit) one call may grow to;
    /// in `[MIN_MEMORY, MAX_MEMORY]`.
    pub memory: u64,
    /// Instruction budget of one call; `None` = no limit. Never zero.
    pub fuel: Option<u64>,
    /// Largest update (as JSON text, in bytes) a node may return; at least
    /// `MIN_MAX_STATE`.
    pub max_state: u64,
    /// How much of one call's log is kept.
    pub max_log: MaxLog,
    /// Hosts the node may call over HTTP; empty = none. No duplicates.
    pub allow_http: Vec<HttpGrant>,
}

/// `max_log = { lines = 10000, bytes = "1MiB" }`: one call keeps at most
/// `lines` log lines and `bytes` bytes of log, each line counting 64 bytes
/// more than its text (so empty lines are not free); past either, lines are
/// dropped, and one line says how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxLog {
    pub lines: u64,
    pub bytes: u64,
}

impl MaxLog {
    /// When the file does not say: 10,000 lines, 1 MiB.
    pub const DEFAULT: MaxLog = MaxLog {
        lines: limits::DEFAULT_LOG_LINES,
        bytes: limits::DEFAULT_LOG_BYTES,
    };
}

/// The defaults and bounds are `savepoint_base::limits`' (the plugin crate's
/// defaults for a call without a workflow are the same), named here too so
/// that a reader of the workflow's limits finds them beside the struct.
impl Limits {
    /// `memory` when the file does not say: 256 MiB.
    pub const DEFAULT_MEMORY: u64 = limits::DEFAULT_MEMORY;
    /// The smallest `memory` a file may set: 1 MiB.
    pub const MIN_MEMORY: u64 = limits::MIN_MEMORY;
    /// The largest `memory` a file may set: 4 GiB (all a 32-bit memory addresses).
    pub const MAX_MEMORY: u64 = limits::MAX_MEMORY;
    /// `max_state` when the file does not say: 4 MiB.
    pub const DEFAULT_MAX_STATE: u64 = limits::DEFAULT_MAX_STATE;
    /// The smallest `max_state` a file may set: 1 KiB.
    pub const MIN_MAX_STATE: u64 = limits::MIN_MAX_STATE;

    /// Does some grant of `allow_http` allow `host:port`? (See [`HttpGrant::allows`].)
    pub fn allows_http(&self, host: &str, port: u16) -> bool {
        self.allow_http.iter().any(|g| g.allows(host, port))
    }
}

impl Default for Limits {
    /// 256 MiB of memory, no fuel limit, 4 MiB of state, 10,000 lines / 1 MiB
    /// of log per call, no HTTP.
    fn default() -> Self {
        Limits {
            memory: Limits::DEFAULT_MEMORY,
            fuel: None,
            max_state: Limits::DEFAULT_MAX_STATE,
            max_log: MaxLog::DEFAULT,
            allow_http: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use savepoint_base::units::{GIB, KIB, MIB};

    use super::*;

    #[test]
    fn default_limits() {
        let limits = Limits::default();
        assert_eq!(limits.memory, 256 * MIB);
        assert_eq!(limits.memory, Limits::DEFAULT_MEMORY);
        assert_eq!(limits.fuel, None);
        assert_eq!(limits.max_state, 4 * MIB);
        assert_eq!(limits.max_state, Limits::DEFAULT_MAX_STATE);
        assert_eq!(
            limits.max_log,
            MaxLog {
                lines: 10_000,
                bytes: MIB
            }
        );
        assert!(limits.allow_http.is_empty());
        assert!(!limits.allows_http("localhost", 80));
        assert_eq!(
            (
                Limits::MIN_MEMORY,
                Limits::MAX_MEMORY,
                Limits::MIN_MAX_STATE
            ),
            (MIB, 4 * GIB, KIB)
        );
    }
}
