//! Lines for the run's log, stored with the run, the step, the node and the
//! attempt, and shown by `savepoint logs`.
//!
//! ```no_run
//! use savepoint_sdk::log;
//!
//! log::info!("fetched {} items", 3);
//! log::log(log::Level::Warn, "the cache is cold");
//! ```
//!
//! Outside WebAssembly (in a node's native unit tests) the lines go to
//! standard error.

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Append a line to the run's log.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::__bindings::savepoint::node::host;
        let level = match level {
            Level::Trace => host::Level::Trace,
            Level::Debug => host::Level::Debug,
            Level::Info => host::Level::Info,
            Level::Warn => host::Level::Warn,
            Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::log($crate::log::Level::$level, &::std::format!($($arg)+))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)+) => { $crate::__log!(Trace, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::__log!(Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => { $crate::__log!(Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::__log!(Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => { $crate::__log!(Error, $($arg)+) };
}

/// Log a `trace` line, formatted like [`format!`].
#[doc(inline)]
pub use crate::__log_trace as trace;

/// Log a `debug` line, formatted like [`format!`].
#[doc(inline)]
pub use crate::__log_debug as debug;

/// Log an `info` line, formatted like [`format!`].
#[doc(inline)]
pub use crate::__log_info as info;

/// Log a `warn` line, formatted like [`format!`].
#[doc(inline)]
pub use crate::__log_warn as warn;

/// Log an `error` line, formatted like [`format!`].
#[doc(inline)]
pub use crate::__log_error as error;
