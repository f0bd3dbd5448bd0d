//! `savepoint start WORKFLOW --batch FILE`: one run per line of a JSON-lines file,
//! every line checked before any run is created, then created in chunks of
//! [`CHUNK`] runs, each one store transaction.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use serde_json::{Map, Value, json};

use super::run::Cap;
use super::{Failure, output};
use savepoint_base::units::format_size;
use savepoint_runtime::{Batch, BatchRun, Runtime, RuntimeError, batch_thread};
use savepoint_store::CheckpointStore;

/// Runs per store transaction. Large enough that the commit (an fsync) is a small part
/// of a chunk's cost, small enough that a daemon's steps, which share the writer, wait
/// for one chunk no longer than some tens of milliseconds.
const CHUNK: usize = 2_000;

/// The lines of a batch file, read whole (`-`: standard input).
pub struct BatchFile {
    /// The file as named on the command line, for messages (`FILE:LINE`).
    name: String,
    text: String,
}

impl BatchFile {
    pub fn read(name: &str) -> anyhow::Result<BatchFile> {
        let mut bytes = Vec::new();
        let read = match name {
            "-" => std::io::stdin().lock().read_to_end(&mut bytes),
            path => {
                std::fs::File::open(Path::new(path)).and_then(|mut f| f.read_to_end(&mut bytes))
            }
        };
        let shown = match name {
            "-" => "standard input".to_owned(),
            path => path.to_owned(),
        };
        read.map_err(|error| {
            Failure::usage(format!(
                "--batch: cannot read {}: {error}",
                output::safe(&shown)
            ))
        })?;
        let text = String::from_utf8(bytes).map_err(|error| {
            let offset = error.utf8_error().valid_up_to();
            let line = 1 + error.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            Failure::usage(format!("{}:{line}: not UTF-8 text", output::safe(&shown)))
        })?;
        Ok(BatchFile { name: shown, text })
    }

    /// The runs' lines: (line number from 1, text), blank lines left out.
    fn runs(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line))
            .filter(|(_, line)| !line.trim().is_empty())
    }

    /// Checks every run's line as `--input` is checked (a JSON object of at most
    /// `cap.bytes`); returns how many runs there are. The first bad line is the error,
    /// named `FILE:LINE`.
    pub fn check(&self, cap: Cap) -> anyhow::Result<usize> {
        let mut count = 0;
        for (line, text) in self.runs() {
            self.parse(line, text, cap)?;
            count += 1;
        }
        if count == 0 {
            bail!(Failure::usage(format!(
                "{}: no runs (one JSON object per line, the input of one run)",
                output::safe(&self.name)
            )));
        }
        Ok(count)
    }

    fn parse(&self, line: usize, text: &str, cap: Cap) -> anyhow::Result<Map<String, Value>> {
        let at = format!("{}:{line}", output::safe(&self.name));
        if text.len() as u64 > cap.bytes {
            bail!(Failure::usage(format!(
                "{at}: the input is larger than {} ({} bytes), {}; raise max_state in the \
                 workflow file for a larger state",
                format_size(cap.bytes),
                cap.bytes,
                cap.what
            )));
        }
        match serde_json::from_str(text) {
            Ok(Value::Object(input)) => Ok(input),
            Ok(other) => bail!(Failure::usage(format!(
                "{at}: a run's input must be a JSON object, not {}",
                output::json_line(&other)
            ))),
            Err(error) => {
                // serde's "at line 1 column N": the line is the file's, told already.
                let text = error.to_string();
                let problem = text.rsplit_once(" at line ").map_or(&*text, |(p, _)| p);
                bail!(Failure::usage(format!(
                    "{at}:{}: not valid JSON: {problem}",
                    error.column()
                )))
            }
        }
    }
}

/// What `start --batch` was asked for.
pub struct BatchStart {
    pub file: BatchFile,
    /// The runs' threads are `PREFIX-1`, `PREFIX-2`, ... in the order of their lines.
    pub prefix: String,
    pub tags: BTreeMap<String, String>,
    pub cap: Cap,
    pub json: bool,
}

/// Creates the runs of `start` (checked already, `count` of them) with `batch`'s
/// workflow, chunk by chunk, and prints the summary.
pub async fn create<S: CheckpointStore>(
    runtime: &Runtime<S>,
    batch: &Batch,
    start: &BatchStart,
    count: usize,
) -> anyhow::Result<()> {
    if let Some((thread, status)) = runtime.taken_in_batch(&start.prefix, count).await? {
        bail!(RuntimeError::ThreadExists { thread, status });
    }
    let began = Instant::now();
    let mut created = 0;
    let mut lines = start.file.runs().enumerate();
    loop {
        let chunk: Vec<BatchRun> = lines
            .by_ref()
            .take(CHUNK)
            .map(|(index, (line, text))| {
                Ok(BatchRun {
                    thread: batch_thread(&start.prefix, index + 1),
                    input: start.file.parse(line, text, start.cap)?,
                    tags: start.tags.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        if chunk.is_empty() {
            break;
        }
        let first = chunk[0].thread.clone();
        match runtime.create_batch(batch, chunk).await {
            Ok(n) => created += n,
            Err(error) if created == 0 => return Err(error.into()),
            Err(error) => {
                // The chunks before this one are committed: say what exists.
                return Err(anyhow::Error::new(error).context(format!(
                    "created {created} of {count} runs ({} to {}); none from {} on",
                    output::safe(&batch_thread(&start.prefix, 1)),
                    output::safe(&batch_thread(&start.prefix, created)),
                    output::safe(&first),
                )));
            }
        }
    }
    let elapsed = began.elapsed();
    if start.json {
        let threads: Vec<String> = (1..=created)
            .map(|n| batch_thread(&start.prefix, n))
            .collect();
        output::print_json(&json!({ "created": created, "threads": threads }));
    } else {
        println!(
            "created {created} runs ({} to {}) in {:.1}s ({:.0} runs/s)",
            output::safe(&batch_thread(&start.prefix, 1)),
            output::safe(&batch_thread(&start.prefix, created)),
            elapsed.as_secs_f64(),
            created as f64 / elapsed.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

/// The thread prefix a batch without `--thread` gets: a new thread id, as `start` makes
/// one (its random part keeps two batches apart; the numbers keep the runs of one apart).
pub fn generated_prefix() -> String {
    savepoint_runtime::new_thread_id()
}

/// The error of a `--thread` prefix whose last thread is no valid id.
pub fn check_prefix(prefix: &str, count: usize) -> anyhow::Result<()> {
    savepoint_runtime::check_thread_id(&batch_thread(prefix, count))
        .map_err(|problem| Failure::usage(format!("--thread: {problem}")).into())
}
