//! Shared printing for people (the JSON shapes are in [`savepoint_server::view`]).
//!
//! Every string the CLI prints that came from a node (log lines, messages,
//! describe() fields, interrupt payloads, states) or from a file (workflow names,
//! file names, source lines in errors) goes through [`safe`] (or [`safe_lines`],
//! [`json_text`]), so that it cannot act on the terminal: see [`savepoint_base::text`].

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use serde_json::Value;

use savepoint_base::text::{Style, escape};
use savepoint_base::units::humanize;
use savepoint_runtime::{Event, Observer};
use savepoint_store::{RunRecord, RunStatus, Setback, format_time};

/// An untrusted string made safe to print on one line of a terminal: control,
/// bidirectional and zero-width characters (newlines and tabs too) are shown as
/// escapes such as `\u{1b}`; anything else prints as itself.
pub fn safe(text: &str) -> Cow<'_, str> {
    escape(text, Style::Line)
}

/// As [`safe`], but newlines and tabs are kept: for text that may span lines (a
/// log line, an error message with a source excerpt).
pub fn safe_lines(text: &str) -> Cow<'_, str> {
    escape(text, Style::Lines)
}

/// JSON text as serde_json wrote it, made safe to print: the characters serde_json
/// leaves raw that act on a terminal (DEL, C1 controls, bidirectional and
/// zero-width characters) become JSON escapes, so it is still JSON, with the same
/// value.
pub fn json_text(text: &str) -> Cow<'_, str> {
    escape(text, Style::Json)
}

/// A JSON value on one line, safe to print.
pub fn json_line(value: &Value) -> String {
    json_text(&value.to_string()).into_owned()
}

/// Bytes of a node's value (an interrupt payload) that text output shows.
pub const PREVIEW_BYTES: usize = 1 << 10;

/// A node's JSON value (an interrupt payload, as big as `max_state` allows)
/// for text output: on one line, safe to print, and at most
/// [`PREVIEW_BYTES`] of it, followed by `… (N bytes in all; see `savepoint
/// status THREAD --json`)` when it is longer. Only the start is kept in
/// memory, however large the value; `--json` output shows it whole.
pub fn preview(value: &Value, thread: &str) -> String {
    /// Keeps the first `cap` bytes written, and counts them all.
    struct Head {
        text: Vec<u8>,
        cap: usize,
        total: usize,
    }
    impl Write for Head {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let room = self.cap.saturating_sub(self.text.len());
            self.text.extend_from_slice(&bytes[..bytes.len().min(room)]);
            self.total += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut head = Head {
        text: Vec::new(),
        cap: PREVIEW_BYTES,
        total: 0,
    };
    let _ = serde_json::to_writer(&mut head, value);
    if head.total <= PREVIEW_BYTES {
        return json_text(&String::from_utf8_lossy(&head.text)).into_owned();
    }
    // Cut at a character boundary (a partial character would show as U+FFFD).
    let text = match std::str::from_utf8(&head.text) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&head.text[..error.valid_up_to()]).unwrap_or_default(),
    };
    format!(
        "{}… ({} bytes in all; see `{} status {} --json`)",
        json_text(text),
        head.total,
        savepoint(),
        shell_word(thread)
    )
}

/// A list of names from a run or a file, joined with `, `, safe to print.
fn names(items: &[String]) -> String {
    safe(&collapse_sends(items).join(", ")).into_owned()
}

/// Branch names with each run of a fan-out's consecutive sends of one node shortened:
/// `double#0`, ..., `double#999` is `double#0..#999 (1000 sends)`. A short run (three
/// or fewer) stays as it is.
pub fn collapse_sends(items: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let Some((node, first)) = send_of(&items[i]) else {
            out.push(items[i].clone());
            i += 1;
            continue;
        };
        let mut last = first;
        let mut j = i + 1;
        while let Some((n, index)) = items.get(j).and_then(|item| send_of(item)) {
            if n != node || Some(index) != last.checked_add(1) {
                break;
            }
            last = index;
            j += 1;
        }
        if j - i > 3 {
            out.push(format!("{node}#{first}..#{last} ({} sends)", j - i));
        } else {
            out.extend(items[i..j].iter().cloned());
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod collapse_tests {
    use super::collapse_sends;

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runs_of_sends_are_shortened_and_the_rest_kept() {
        let mut items = names(&["split"]);
        items.extend((0..1000).map(|i| format!("double#{i}")));
        items.extend(names(&["x#1", "x#2", "sum"]));
        assert_eq!(
            collapse_sends(&items),
            names(&["split", "double#0..#999 (1000 sends)", "x#1", "x#2", "sum"])
        );
        let gap = names(&["a#0", "a#1", "a#2", "a#3", "a#5"]);
        assert_eq!(collapse_sends(&gap), names(&["a#0..#3 (4 sends)", "a#5"]));
    }
}

/// `("double", 7)` for `double#7`.
fn send_of(branch: &str) -> Option<(&str, u64)> {
    let (node, index) = branch.rsplit_once('#')?;
    Some((node, index.parse().ok()?))
}

/// A run's next node(s), safe to print: `(end)` when there are none.
pub fn next_nodes(next: &[String]) -> String {
    if next.is_empty() {
        "(end)".to_string()
    } else {
        names(next)
    }
}

pub fn print_status(run: &RunRecord) {
    let next = next_nodes(&run.next);
    let thread = safe(&run.thread);
    println!("thread:    {thread}");
    println!(
        "workflow:  {} ({}, {})",
        safe(&run.workflow_name),
        safe(&run.workflow_path),
        short_digest(&run.workflow_digest)
    );
    println!("status:    {}", run.status);
    println!("step:      {}", run.step);
    println!("next:      {next}");
    if !run.tags.is_empty() {
        println!("tags:      {}", tag_list(&run.tags));
    }
    if let Some(error) = &run.error {
        println!("error:     {}", safe_lines(error));
    }
    if run.status == RunStatus::Waiting {
        println!(
            "waiting:   {}",
            waiting_for(run).trim_start_matches("waiting ")
        );
        if let Some(savepoint_store::Wait::Signal { name, .. }) = &run.waiting {
            println!(
                "           send it with: {} signal {} {} --data JSON",
                savepoint(),
                shell_word(&run.thread),
                shell_word(name)
            );
        }
    }
    if let Some(question) = &run.interrupt {
        println!("waiting:   {}", preview(question, &run.thread));
        println!(
            "           answer with: {} resume {} --input JSON",
            savepoint(),
            shell_word(&run.thread)
        );
    }
    if let Some(wake) = run.wake_at_ms {
        let what = match run.status {
            RunStatus::Interrupted | RunStatus::Waiting => "deadline:",
            RunStatus::Retrying => "retry at:",
            _ => "wakes at:",
        };
        println!("{what:<10} {}", format_time(wake));
    }
    if !run.pending.is_empty() {
        let done: Vec<String> = run.pending.iter().map(|w| w.node.clone()).collect();
        println!("done:      {} (kept for this step)", names(&done));
    }
    println!("updated:   {}", format_time(run.updated_at_ms));
}

/// `customer=acme priority=high`: a run's tags as `--tag` takes them (values quoted when
/// a shell would split them).
pub fn tag_list(tags: &std::collections::BTreeMap<String, String>) -> String {
    let tags: Vec<String> = tags
        .iter()
        .map(|(key, value)| shell_word(&format!("{key}={value}")))
        .collect();
    tags.join(" ")
}

/// `sha256:0123456789ab`: enough to tell versions apart in a table.
pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let mut cut = hex.len().min(12);
    while !hex.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("sha256:{}", safe(&hex[..cut]))
}

/// A one-line rendering of a JSON value, cut to `max` characters, safe to print. Only
/// the start of the value is serialized, however large it is.
pub fn one_line(value: &impl serde::Serialize, max: usize) -> String {
    /// Takes bytes until it holds `cap`, then refuses (which ends serializing).
    struct Capped {
        text: Vec<u8>,
        cap: usize,
    }
    impl Write for Capped {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let room = self.cap - self.text.len();
            if room == 0 {
                return Err(std::io::Error::other("enough"));
            }
            let taken = bytes.len().min(room);
            self.text.extend_from_slice(&bytes[..taken]);
            Ok(taken)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // A character is at most 4 bytes: this holds more than `max` of them when cut.
    let mut capped = Capped {
        text: Vec::new(),
        cap: max.saturating_mul(4).saturating_add(4),
    };
    let _ = serde_json::to_writer(&mut capped, value);
    json_text(&cut(&String::from_utf8_lossy(&capped.text), max)).into_owned()
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// The global options (`--db`, `--plugins`, ...) given on this command line, each
/// followed by its value as a shell word, with a space before each: see [`savepoint`].
static GIVEN_OPTIONS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remembers the global options the command line gave (set once, before the command
/// runs), for the commands hints print.
pub fn remember_options(matches: &clap::ArgMatches) {
    let _ = GIVEN_OPTIONS.set(given_options(matches));
}

/// ` --db PATH --plugins DIR ...`: the global options `matches` got from the command
/// line (not from environment variables, which apply to the next command again),
/// quoted for the shell.
fn given_options(matches: &clap::ArgMatches) -> String {
    let mut given = String::new();
    for (id, flag) in super::GLOBAL_OPTIONS {
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        if let Some(value) = matches.get_raw(id).and_then(|mut values| values.next()) {
            let mut value = value.to_string_lossy().into_owned();
            if id == "db" {
                // A hint never shows a Postgres URL's password.
                value =
                    savepoint_store::DbLocation::parse(&*value).map_or(value, |db| db.to_string());
            }
            given.push_str(&format!(" {flag} {}", shell_word(&value)));
        }
    }
    given
}

/// `savepoint` and the global options this command line gave: how a hint starts a
/// command (`format!("{} resume {thread}", savepoint())`), so that it finds the same
/// database and plugins.
pub fn savepoint() -> String {
    format!(
        "savepoint{}",
        GIVEN_OPTIONS.get().map_or("", String::as_str)
    )
}

/// `word` as a shell would read it back: as is if it is plain, else in single quotes
/// (and safe to print).
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", safe(&word.replace('\'', "'\\''")))
    }
}

/// A piece of JSON text (as [`savepoint_server::view::JsonPage`] writes it) to `out`, safe to
/// print.
pub fn write_json(out: &mut impl Write, piece: &[u8]) -> std::io::Result<()> {
    let text = String::from_utf8_lossy(piece);
    out.write_all(json_text(&text).as_bytes())
}

/// One JSON value on one line (`--json` output), safe to print.
pub fn print_json(value: &Value) {
    println!("{}", json_line(value));
}

/// One JSON value, indented, safe to print.
pub fn print_pretty(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", json_text(&text));
}

/// Prints one line per committed step (and setback) to stderr, so that
/// stdout keeps only the result.
pub fn progress(enabled: bool) -> Option<Observer> {
    if !enabled {
        return None;
    }
    Some(Arc::new(|event: &Event| match event {
        Event::Committed {
            step,
            nodes,
            digests,
            elapsed,
            next,
            status,
            ..
        } => {
            let next = match (status, next.is_empty()) {
                (RunStatus::Sleeping, _) => format!("sleeping, then {}", names(next)),
                (_, true) => "end".to_string(),
                (_, false) => names(next),
            };
            // One digest per component, not one per branch (a fan-out calls one many times).
            let mut digests: Vec<String> = digests.iter().map(|d| short_digest(d)).collect();
            digests.dedup();
            eprintln!(
                "step {step:>4}  {:<16} {}  {:>8.2} ms  -> {next}",
                names(nodes),
                digests.join(","),
                elapsed.as_secs_f64() * 1000.0
            );
        }
        Event::Setback {
            thread,
            step,
            node,
            kind,
            error,
        } => {
            let error = safe_lines(error.as_deref().unwrap_or(""));
            let node = safe(node);
            match kind {
                Setback::Failed => eprintln!("step {step:>4}  {node:<16} FAILED: {error}"),
                Setback::Retry { wake_at_ms } => eprintln!(
                    "step {step:>4}  {node:<16} failed, retrying at {}: {error}",
                    format_time(*wake_at_ms)
                ),
                Setback::Interrupted { payload, .. } => {
                    let payload = preview(payload, thread);
                    eprintln!("step {step:>4}  {node:<16} waiting for input: {payload}")
                }
                Setback::Waiting { wait, .. } => match wait {
                    savepoint_store::Wait::Signal { name, .. } => {
                        eprintln!(
                            "step {step:>4}  {node:<16} waiting for signal {}",
                            safe(name)
                        )
                    }
                    savepoint_store::Wait::Children { threads } => eprintln!(
                        "step {step:>4}  {node:<16} waiting for child run(s) {}",
                        safe(&threads.join(", "))
                    ),
                },
            }
        }
        Event::Started {
            thread,
            workflow_path,
        } => eprintln!("thread {}: running {}", safe(thread), safe(workflow_path)),
        Event::Resuming { thread, step, was } => eprintln!(
            "thread {}: resuming at step {step} ({} committed, was {was})",
            safe(thread),
            super::run::plural(step.saturating_sub(1), "step"),
        ),
        Event::Waiting { thread, until_ms } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            let wait = std::time::Duration::from_millis(until_ms.saturating_sub(now).max(0) as u64);
            eprintln!(
                "thread {}: parked until {} (in {}); waiting (Ctrl-C leaves it parked)",
                safe(thread),
                format_time(*until_ms),
                humanize(wait)
            );
        }
    }))
}

/// What a `waiting` run waits for, in words: `waiting for signal "go"` or `waiting for
/// child run(s) a, b`.
pub fn waiting_for(run: &savepoint_store::RunRecord) -> String {
    match &run.waiting {
        Some(savepoint_store::Wait::Signal { name, .. }) => {
            format!("waiting for signal {}", safe(&format!("{name:?}")))
        }
        Some(savepoint_store::Wait::Children { threads }) => {
            format!("waiting for child run(s) {}", safe(&threads.join(", ")))
        }
        None => "waiting".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hints_repeat_the_global_options_given_on_the_command_line_quoted() {
        use clap::CommandFactory;
        let given = |args: &[&str]| {
            let matches = super::super::Cli::command()
                .try_get_matches_from(args)
                .unwrap();
            given_options(&matches)
        };
        assert_eq!(given(&["savepoint", "runs"]), "");
        assert_eq!(
            given(&[
                "savepoint",
                "--db",
                "/tmp/o b.db",
                "logs",
                "c1",
                "--plugins=p",
                "--cache",
                "it's",
                "--lease",
                "3s",
                "--max-component-size",
                "1MiB",
            ]),
            " --db '/tmp/o b.db' --plugins p --cache 'it'\\''s' --max-component-size 1MiB \
             --lease 3s"
        );
        assert_eq!(
            given(&["savepoint", "--db", "postgres://ada:s3cret@db/sp", "runs"]),
            " --db 'postgres://ada:***@db/sp'"
        );
    }

    #[test]
    fn a_preview_is_whole_when_short_and_cut_at_a_character_when_long() {
        assert_eq!(preview(&json!({"a": [1, 2]}), "t"), r#"{"a":[1,2]}"#);
        // Escapes act on no terminal, cut or not.
        assert_eq!(preview(&json!("\u{9b}"), "t"), r#""\u009b""#);
        let long = json!("é".repeat(PREVIEW_BYTES));
        let total = 2 * PREVIEW_BYTES + 2;
        assert_eq!(
            preview(&long, "a b"),
            format!(
                "\"{}… ({total} bytes in all; see `savepoint status 'a b' --json`)",
                "é".repeat(PREVIEW_BYTES / 2 - 1)
            )
        );
    }
}
