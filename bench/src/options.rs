//! The command line of `savepoint-bench`, and the two presets (full, `--quick`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// The guest languages whose `counter` the suite can measure, with the file
/// `scripts/build-plugins` builds for each.
pub const LANGS: [(&str, &str); 4] = [
    ("rust", "counter"),
    ("python", "py-counter"),
    ("js", "js-counter"),
    ("c", "c-counter"),
];

/// The benchmark suite of savepoint (bench/README.md): the W1 chain
/// (sequential and concurrent, 100 B and 100 KB states) against the raw
/// SQLite floor, the resume scenario, the per-step host overhead of a small
/// node in each guest language, and the first call of a newly dropped
/// component. `bench/run` builds what it needs and runs this.
///
/// Progress goes to stderr; the results go to stdout, as a table or (with
/// --json) as one JSON object. Exits with 1 if a run failed or a resume
/// check did not hold.
#[derive(Debug, Parser)]
#[command(name = "savepoint-bench", version, args_override_self = true)]
pub struct Options {
    /// A small workload (about a minute on 2 cores): fewer runs, Rust only.
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// W1 sequential: workflows per configuration, one after another
    /// [default: 500; --quick: 200].
    #[arg(long)]
    pub runs: Option<usize>,
    /// W1 concurrent: workflows started at once [default: 100].
    #[arg(long)]
    pub conc: Option<usize>,
    /// W1 concurrent: batches of --conc workflows, one after another
    /// [default: 20; --quick: 6]; the 100 KB configuration runs a third as many.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Guest languages to measure, comma-separated: rust, python, js, c
    /// [default: all four; --quick: rust]. Rust is always measured.
    #[arg(long, value_delimiter = ',')]
    pub langs: Option<Vec<String>>,
    /// Workflows per language for the per-language step overhead
    /// [default: 100; --quick: 20].
    #[arg(long)]
    pub lang_runs: Option<usize>,
    /// Repetitions of the resume scenario; resume_ms is their median
    /// [default: 10; --quick: 5].
    #[arg(long)]
    pub resume_reps: Option<usize>,
    /// Skip the resume scenario (it needs the `savepoint` binary).
    #[arg(long)]
    pub skip_resume: bool,
    /// The `savepoint` binary the resume scenario runs
    /// [default: target/release/savepoint of this repository].
    #[arg(long)]
    pub savepoint: Option<PathBuf>,
    /// The folder with the counter components (counter.wasm, py-counter.wasm,
    /// js-counter.wasm, c-counter.wasm), as `scripts/build-plugins` makes it.
    #[arg(long, default_value = "plugins")]
    pub plugins: PathBuf,
    /// The W1 workflow; every `plugin = "counter"` in it is swapped for the
    /// language's counter [default: examples/workflows/chain.toml].
    #[arg(long)]
    pub workflow: Option<PathBuf>,
    /// Where the scratch folder (savepoint-bench-PID, with the databases)
    /// goes [default: the system's temporary folder]; the disk under it is
    /// part of what is measured.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the scratch folder (and its databases) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// The backends to measure: `sqlite` (every scenario), `postgres` (the
    /// Postgres section: its floor, W1 100 B, resume, one and two `savepoint
    /// serve` hosts), or `both`. Postgres is the server SAVEPOINT_BENCH_PG names
    /// (a URL), else a throwaway one `scripts/pg start` makes in the scratch
    /// folder and stops at the end.
    #[arg(long, value_enum, default_value_t = Backends::Sqlite)]
    pub backend: Backends,
    /// Postgres: how long the floor's 100 clients commit, in all, spread over
    /// the W1 rounds it is interleaved with [default: 10; --quick: 4].
    #[arg(long, value_name = "SECONDS")]
    pub pg_floor_secs: Option<f64>,
    /// Measure run listings instead of the suite: `--search-runs` runs inserted
    /// with raw SQL, then `savepoint runs` filters timed (status, tags, a
    /// workflow, a cursor's second page) on the backends of --backend.
    #[arg(long)]
    pub search: bool,
    /// --search: runs in the database [default: 1000000; --quick: 100000].
    #[arg(long, value_name = "N")]
    pub search_runs: Option<u64>,
    /// --search: timed repetitions of each listing, after one that warms the
    /// cache [default: 20; --quick: 5].
    #[arg(long, value_name = "N")]
    pub search_reps: Option<usize>,
    /// Measure event streams instead of the suite: `--conc` W1 runs at once on one
    /// `savepoint serve` (SQLite), `--rounds` rounds with N clients of `GET /events`
    /// open and as many without, interleaved; the step throughput of each.
    #[arg(long, value_name = "N")]
    pub streams: Option<usize>,
}

/// Which backends a run measures (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backends {
    Sqlite,
    Postgres,
    Both,
}

impl Backends {
    pub fn sqlite(self) -> bool {
        matches!(self, Backends::Sqlite | Backends::Both)
    }

    pub fn postgres(self) -> bool {
        matches!(self, Backends::Postgres | Backends::Both)
    }

    pub fn name(self) -> &'static str {
        match self {
            Backends::Sqlite => "sqlite",
            Backends::Postgres => "postgres",
            Backends::Both => "both",
        }
    }
}

/// The options with every default filled in.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub json: bool,
    pub runs: usize,
    pub conc: usize,
    pub rounds: usize,
    /// Always starts with rust.
    pub langs: Vec<String>,
    pub lang_runs: usize,
    /// 0: skip the resume scenario.
    pub resume_reps: usize,
    pub savepoint: PathBuf,
    pub plugins: PathBuf,
    pub workflow: PathBuf,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub backends: Backends,
    /// The Postgres floor's whole duration.
    pub pg_floor: Duration,
    /// `--search`: the run listings only.
    pub search: bool,
    pub search_runs: u64,
    pub search_reps: usize,
    /// `--streams N`: the event streams' cost only (0: not this mode).
    pub streams: usize,
}

impl Options {
    pub fn plan(self) -> anyhow::Result<Plan> {
        let quick = self.quick;
        let pick = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full }).max(1)
        };
        let mut langs = vec!["rust".to_owned()];
        let given = self.langs.unwrap_or_else(|| {
            let all = if quick { &LANGS[..1] } else { &LANGS[..] };
            all.iter().map(|(lang, _)| lang.to_string()).collect()
        });
        for lang in given {
            let lang = lang.trim().to_lowercase();
            if !LANGS.iter().any(|(known, _)| *known == lang) {
                anyhow::bail!("unknown language {lang:?} in --langs (rust, python, js, c)");
            }
            if !langs.contains(&lang) {
                langs.push(lang);
            }
        }
        let repo = repo_root();
        Ok(Plan {
            quick,
            json: self.json,
            runs: pick(self.runs, 500, 200),
            conc: pick(self.conc, 100, 100),
            rounds: pick(self.rounds, 20, 6),
            langs,
            lang_runs: pick(self.lang_runs, 100, 20),
            resume_reps: if self.skip_resume {
                0
            } else {
                pick(self.resume_reps, 10, 5)
            },
            // Absolute: the hosts scenario runs the binary in folders of its own.
            savepoint: absolute(
                self.savepoint
                    .unwrap_or_else(|| repo.join("target/release/savepoint")),
            )?,
            plugins: absolute(self.plugins)?,
            workflow: self
                .workflow
                .unwrap_or_else(|| repo.join("examples/workflows/chain.toml")),
            dir: self.dir.map(absolute).transpose()?,
            keep: self.keep,
            backends: self.backend,
            pg_floor: pg_floor(self.pg_floor_secs, quick)?,
            search: self.search,
            search_runs: self
                .search_runs
                .unwrap_or(if quick { 100_000 } else { 1_000_000 })
                .max(1),
            search_reps: pick(self.search_reps, 20, 5),
            streams: self.streams.unwrap_or(0),
        })
    }
}

fn absolute(path: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&path)
        .map_err(|e| anyhow::anyhow!("cannot make {} absolute: {e}", path.display()))
}

fn pg_floor(given: Option<f64>, quick: bool) -> anyhow::Result<Duration> {
    let secs = given.unwrap_or(if quick { 4.0 } else { 10.0 });
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--pg-floor-secs must be a positive number, not {secs}"))
}

/// The plugin (file stem) of a language's counter.
pub fn counter_plugin(lang: &str) -> &'static str {
    LANGS
        .iter()
        .find(|(known, _)| *known == lang)
        .map(|(_, plugin)| *plugin)
        .unwrap_or("counter")
}

/// The repository this binary was built from (for the default paths).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}
