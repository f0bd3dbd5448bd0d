//! Where the library crates' log events go: stderr, filtered by `RUST_LOG`, in the
//! format `--log-format` names. (What a command prints for a person, its progress and
//! its errors, is not logging: each command prints that itself.)
//!
//! Without `RUST_LOG`, `text` prints what savepoint printed before it logged with
//! `tracing`, byte for byte: warnings and errors, and the daemon's own notices (the
//! plugin version new runs use, the database working again, the runs retention
//! deleted), one line each, as
//! `savepoint serve: MESSAGE` when the daemon says it and `savepoint: MESSAGE` when the
//! process does (the instance pool's fallback); nothing else. With `RUST_LOG`, every
//! event it selects, with its time, level, target, spans and fields: `RUST_LOG=info`
//! adds a line per run event (`savepoint_runtime::events`) and per compile. `json`
//! writes one object per line, `RUST_LOG` or not: `timestamp`, `level`, `target`,
//! `message`, the event's fields, and the `span` it happened in (`run`: `thread`,
//! `workflow`).

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Directive;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// What is logged without `RUST_LOG`: what was printed before there was a log. Targets
/// match as prefixes (`savepoint` is every crate of ours; other crates log nothing).
/// The span `serve` (in `savepoint_server::serve`) is on so that [`Lines`] can tell
/// the daemon's lines.
const DEFAULT_FILTER: &str = "savepoint=warn,savepoint_runtime::daemon=info,\
                              savepoint_runtime::pins=info,savepoint_runtime::retain=info,\
                              savepoint_server::serve=info";

/// Send log events to stderr in `format`, filtered by `RUST_LOG` (an invalid directive
/// in it is ignored, and said so on stderr).
pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty());
    let filter = match &asked {
        Some(directives) => {
            let (filter, invalid) = parse(directives);
            for (directive, error) in invalid {
                eprintln!(
                    "savepoint: RUST_LOG: ignoring {}: {error}",
                    super::output::safe(&directive)
                );
            }
            filter
        }
        None => EnvFilter::new(DEFAULT_FILTER),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // Only the first call counts (a test may make a second).
    let _ = match (format, asked) {
        (LogFormat::Json, _) => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        (LogFormat::Text, Some(_)) => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .try_init(),
        (LogFormat::Text, None) => registry.with(layer.event_format(Lines)).try_init(),
    };
}

/// The filter of `directives` (`RUST_LOG`), and the directives in it that are invalid,
/// each with what is wrong with it.
fn parse(directives: &str) -> (EnvFilter, Vec<(String, String)>) {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for directive in directives.split(',').filter(|d| !d.trim().is_empty()) {
        match directive.parse::<Directive>() {
            Ok(_) => valid.push(directive),
            Err(error) => invalid.push((directive.to_string(), error.to_string())),
        }
    }
    (EnvFilter::new(valid.join(",")), invalid)
}

/// The lines savepoint printed before it logged: `savepoint serve: MESSAGE` for an
/// event inside the span `serve` (the daemon's), `savepoint: MESSAGE` for the others,
/// the message made safe for a terminal; no level, no fields.
struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let daemon = ctx
            .event_scope()
            .is_some_and(|mut scope| scope.any(|span| span.name() == "serve"));
        let mut message = Message::default();
        event.record(&mut message);
        let who = if daemon {
            "savepoint serve"
        } else {
            "savepoint"
        };
        writeln!(writer, "{who}: {}", super::output::safe_lines(&message.0))
    }
}

/// An event's message, without its other fields.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// What a subscriber wrote.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Written {
        type Writer = Written;

        fn make_writer(&'a self) -> Written {
            self.clone()
        }
    }

    #[test]
    fn without_rust_log_the_daemon_says_what_it_always_said_and_nothing_more() {
        let written = Written::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(DEFAULT_FILTER))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(written.clone())
                    .event_format(Lines),
            );
        tracing::subscriber::with_default(subscriber, || {
            // Outside the daemon: the process speaks.
            tracing::warn!(target: "savepoint_plugin::engine", "no pool\x1b[2J");
            let serve = tracing::info_span!(target: "savepoint_server::serve", "serve");
            let _in = serve.enter();
            tracing::info!(target: "savepoint_runtime::pins", plugin = "p", "plugin p: new");
            tracing::warn!(target: "savepoint_runtime::daemon", thread = "t", "thread t: lost");
            // Not before: run events, compiles, other crates' warnings.
            tracing::info!(target: "savepoint_runtime::events", thread = "t", "run created");
            tracing::info!(target: "savepoint_plugin::compile", "component compiled");
            tracing::warn!(target: "hyper", "not ours");
        });
        let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "savepoint: no pool\\u{1b}[2J\n\
             savepoint serve: plugin p: new\n\
             savepoint serve: thread t: lost\n"
        );
    }

    #[test]
    fn an_invalid_rust_log_directive_is_named_and_the_others_kept() {
        let (filter, invalid) = parse("savepoint=info,bad[,,warn");
        assert_eq!(filter.to_string(), "savepoint=info,warn");
        assert_eq!(invalid.len(), 1, "{invalid:?}");
        assert_eq!(invalid[0].0, "bad[");
    }
}
