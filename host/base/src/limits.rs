//! What one call of a node may use when the workflow file does not say, and
//! the bounds a file may set. The workflow crate checks files against them and
//! fills in its defaults from them; the plugin crate's `CallLimits::default()`
//! (a call made without a workflow: `describe()`, tests) and its engine's
//! largest memory use them too. One copy here, as neither crate may know the
//! other.

use std::time::Duration;

use crate::units::{GIB, KIB, MIB};

/// `memory` when the file does not say: 256 MiB of linear memory.
pub const DEFAULT_MEMORY: u64 = 256 * MIB;
/// The smallest `memory` a file may set: 1 MiB.
pub const MIN_MEMORY: u64 = MIB;
/// The largest `memory` a file may set: 4 GiB (all a 32-bit memory addresses).
pub const MAX_MEMORY: u64 = 4 * GIB;
/// `max_state` when the file does not say: 4 MiB of JSON.
pub const DEFAULT_MAX_STATE: u64 = 4 * MIB;
/// The smallest `max_state` a file may set: 1 KiB.
pub const MIN_MAX_STATE: u64 = KIB;
/// `max_log.lines` when the file does not say.
pub const DEFAULT_LOG_LINES: u64 = 10_000;
/// `max_log.bytes` when the file does not say: 1 MiB.
pub const DEFAULT_LOG_BYTES: u64 = MIB;

/// How long one attempt of a node may take when neither the node nor the
/// workflow sets `timeout` (`timeout = "none"` opts out): a node that sleeps or
/// loops inside the guest holds a worker of the daemon, so without a bound
/// enough of them (64 on the default `--workers`) stop every other run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
