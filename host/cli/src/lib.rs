//! The command line: one file per subcommand. Each parses its arguments with
//! clap, opens what it needs (the store, the plugins folder, the runtime) and
//! prints for a person, or JSON with `--json`. A command that only reads goes
//! straight to the store; one that creates, executes or changes a run goes
//! through the runtime (host/README.md, "Reads go to the store"). This is the only crate that
//! uses `anyhow`. The crates below it, and one step walked through them:
//! `host/README.md`.

mod batch;
mod bundle;
mod cancel;
mod completions;
mod delete;
mod error;
mod events;
mod fork;
mod gc;
mod history;
mod logging;
mod logs;
mod new;
mod output;
mod plugins;
mod resume;
mod run;
mod runs;
mod schedule;
mod serve;
mod signal;
mod signals;
mod start;
mod state;
mod status;
mod update;
mod validate;
mod watch;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

pub use error::{
    EXIT_CODES, Failure, classify, describe_error, exit_code, parse_error, report, wants_json,
};

use savepoint_plugin::{CompileNotice, Compiling, PluginHost};
use savepoint_runtime::Runtime;
use savepoint_store::{AnyStore, DbLocation, StoreError, SystemClock};

const ABOUT: &str = "Durable workflows whose nodes are sandboxed WebAssembly components";

const LONG_ABOUT: &str = "\
savepoint runs workflows whose nodes are WebAssembly components. Drop a node's
.wasm file into the plugins folder, describe the graph in a TOML workflow file,
and run it. After every node savepoint commits a checkpoint (the state, the
next node, the step) to a database (a SQLite file, or a Postgres database that
several hosts share), so a run that is killed continues from its last
checkpoint with `savepoint resume`, not from the start.

The thread id (--thread) names a run: it is the save slot. A run can sleep,
wait for a human (interrupt), or wait to retry: it then parks in the database
and costs nothing until `savepoint resume` or a `savepoint serve` daemon
continues it.";

const AFTER_HELP: &str = concat!(
    "\
Examples (the README's tour: a node `greet` and a workflow `hello.toml`):
  savepoint new node greet --lang rust                 # a node project from a template
  greet/build.sh                                       # builds plugins/greet.wasm
  savepoint validate hello.toml
  savepoint run hello.toml --thread job-1 --input '{\"name\":\"Ada\"}'
  savepoint status job-1
  savepoint state job-1 --json
  savepoint history job-1
  savepoint resume job-1
  savepoint resume job-1 --input '{\"approved\":true}'   # answer an interrupt
  savepoint cancel job-1
  savepoint history job-1 --diff                       # what each step changed
  savepoint events job-1                               # everything that happened
  savepoint update job-1 --values '{\"count\":100}'     # edit the state, then resume
  savepoint resume job-1 --from-step 3                 # replay in place from step 3
  savepoint fork job-1 --step 3 --thread job-1-b       # a new run from step 3
  savepoint delete job-1
  savepoint serve --listen 127.0.0.1:7878              # daemon + HTTP API
  savepoint start hello.toml                           # enqueue for the daemon
  savepoint schedule add nightly hello.toml --cron \"0 2 * * *\"   # a run a night (serve)
  savepoint plugins
  savepoint completions bash > ~/.local/share/bash-completion/completions/savepoint

",
    crate::exit_codes_help!()
);

/// `0.1.0 (abc1234 2026-11-27)`: the version and the commit it was built from
/// (`unknown` when built outside a git checkout; see host/cli/build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("SAVEPOINT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "savepoint", version = VERSION, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where things live; every flag has an environment variable.
#[derive(Debug, Args)]
struct Global {
    /// The database that holds every run and checkpoint: the path of a SQLite file, or a
    /// postgres:// URL (postgresql:// too) that several hosts can share. Created on first
    /// use (the file, or savepoint's tables in the URL's schema).
    #[arg(
        long,
        global = true,
        env = "SAVEPOINT_DB",
        default_value = "savepoint.db",
        value_name = "PATH|URL",
        value_parser = clap::builder::OsStringValueParser::new().try_map(DbLocation::parse)
    )]
    db: DbLocation,
    /// The folder of node components: every `NAME.wasm` in it is the plugin NAME.
    #[arg(
        long,
        global = true,
        env = "SAVEPOINT_PLUGINS",
        default_value = "plugins",
        value_name = "DIR"
    )]
    plugins: PathBuf,
    /// Where compiled components are cached [default: .savepoint/cache beside the SQLite
    /// file, or in the working directory with a postgres:// --db: the cache stays on each
    /// host's own disk]. Commands that create or execute runs create the default folder;
    /// commands that only read use it when it exists. A folder named here is created by
    /// any command.
    #[arg(long, global = true, env = "SAVEPOINT_CACHE", value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Plugin files larger than this are refused before they are read or compiled.
    // The default is written as text for --help; a test holds it to the plugin
    // crate's DEFAULT_MAX_COMPONENT_SIZE.
    #[arg(
        long,
        global = true,
        env = "SAVEPOINT_MAX_COMPONENT_SIZE",
        default_value = "64MiB",
        value_name = "SIZE",
        value_parser = savepoint_base::units::parse_size
    )]
    max_component_size: u64,
    /// How long a lease on a run lasts without renewal (at least 2s; every process on one
    /// database should use the same). A process that stops renewing (it died, or stalled)
    /// loses its runs to others after this long, and stops its own calls before then.
    #[arg(
        long,
        global = true,
        env = "SAVEPOINT_LEASE",
        default_value = "10s",
        value_name = "DURATION",
        value_parser = parse_lease
    )]
    lease: std::time::Duration,
    /// How log lines are written on stderr: `text` for people, `json` one object per line
    /// for log shippers. `RUST_LOG` chooses which (unset: warnings, and what `serve` always
    /// said; `RUST_LOG=info`: a line per run event and per compile too).
    #[arg(
        long,
        global = true,
        env = "SAVEPOINT_LOG_FORMAT",
        value_enum,
        default_value_t = logging::LogFormat::Text,
        value_name = "FORMAT"
    )]
    log_format: logging::LogFormat,
}

/// A `--lease` duration: at least [`savepoint_runtime::SHORTEST_LEASE`].
fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let lease = savepoint_base::units::parse_duration(text)?;
    if lease < savepoint_runtime::SHORTEST_LEASE {
        return Err(format!(
            "a lease of {text} is too short: renewals every half second need at least 2s"
        ));
    }
    Ok(lease)
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::RunArgs),
    Start(start::StartArgs),
    Resume(resume::ResumeArgs),
    Cancel(cancel::CancelArgs),
    Signal(signal::SignalArgs),
    Signals(signals::SignalsArgs),
    Schedule(schedule::ScheduleArgs),
    Fork(fork::ForkArgs),
    Update(update::UpdateArgs),
    Delete(delete::DeleteArgs),
    Status(status::StatusArgs),
    State(state::StateArgs),
    History(history::HistoryArgs),
    Events(events::EventsArgs),
    Logs(logs::LogsArgs),
    Watch(watch::WatchArgs),
    Runs(runs::RunsArgs),
    Plugins(plugins::PluginsArgs),
    Gc(gc::GcArgs),
    Export(bundle::ExportArgs),
    Import(bundle::ImportArgs),
    Validate(validate::ValidateArgs),
    Serve(serve::ServeArgs),
    New(new::NewArgs),
    Completions(completions::CompletionsArgs),
}

/// The global options (clap id, flag) a hint repeats: see [`output::savepoint`].
const GLOBAL_OPTIONS: [(&str, &str); 5] = [
    ("db", "--db"),
    ("plugins", "--plugins"),
    ("cache", "--cache"),
    ("max_component_size", "--max-component-size"),
    ("lease", "--lease"),
];

impl Cli {
    /// Parses the command line (as `Cli::try_parse`), remembering which global options
    /// it gave, for the commands that hints print.
    pub fn parse_args() -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().try_get_matches()?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut Cli::command()))?;
        output::remember_options(&matches);
        Ok(cli)
    }

    /// Whether this is `savepoint serve`.
    pub fn is_daemon(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

/// Run the parsed command line; the exit code says whether the run (if any)
/// completed.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    logging::init(global.log_format);
    // One box per command: unboxed, this future would hold every command's future
    // (serve's nests the daemon, the API and the step loop), a type deeper than
    // rustc's default query depth (128) allows when it computes the layout.
    let command: CommandFuture<'_> = match cli.command {
        Command::Run(args) => Box::pin(run::main(&global, args)),
        Command::Start(args) => Box::pin(start::main(&global, args)),
        Command::Resume(args) => Box::pin(resume::main(&global, args)),
        Command::Cancel(args) => Box::pin(cancel::main(&global, args)),
        Command::Signal(args) => Box::pin(signal::main(&global, args)),
        Command::Signals(args) => Box::pin(signals::main(&global, args)),
        Command::Schedule(args) => Box::pin(schedule::main(&global, args)),
        Command::Fork(args) => Box::pin(fork::main(&global, args)),
        Command::Update(args) => Box::pin(update::main(&global, args)),
        Command::Delete(args) => Box::pin(delete::main(&global, args)),
        Command::Events(args) => Box::pin(events::main(&global, args)),
        Command::Serve(args) => Box::pin(serve::main(&global, args)),
        Command::New(args) => Box::pin(new::main(&global, args)),
        Command::Completions(args) => return completions::main(args),
        Command::Status(args) => Box::pin(status::main(&global, args)),
        Command::State(args) => Box::pin(state::main(&global, args)),
        Command::History(args) => Box::pin(history::main(&global, args)),
        Command::Logs(args) => Box::pin(logs::main(&global, args)),
        Command::Watch(args) => Box::pin(watch::main(&global, args)),
        Command::Runs(args) => Box::pin(runs::main(&global, args)),
        Command::Plugins(args) => Box::pin(plugins::main(&global, args)),
        Command::Gc(args) => Box::pin(gc::main(&global, args)),
        Command::Export(args) => Box::pin(bundle::export(&global, args)),
        Command::Import(args) => Box::pin(bundle::import(&global, args)),
        Command::Validate(args) => Box::pin(validate::main(&global, args)),
    };
    command.await
}

/// A subcommand's `main`, boxed (see [`run`]).
type CommandFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<ExitCode>> + 'a>>;

impl Global {
    /// The store, creating the database if needed.
    async fn open_store(&self) -> anyhow::Result<Arc<AnyStore>> {
        let store = AnyStore::open(&self.db, Arc::new(SystemClock))
            .await
            .map_err(|error| match (&self.db, error) {
                // These name the file and say what to do.
                (_, error @ (StoreError::DiskFull { .. } | StoreError::ReadOnly { .. })) => {
                    anyhow::Error::from(error)
                }
                (DbLocation::Sqlite(path), other) => anyhow::Error::from(other)
                    .context(format!("cannot open the database {}", path.display())),
                // The Postgres backend's errors name the URL and say why.
                (DbLocation::Postgres(_), other) => other.into(),
            })?;
        Ok(Arc::new(store))
    }

    /// The store, for a command that writes: first checks that the database can be
    /// written, so that a read-only database stops the command at once, with a message
    /// that names it.
    async fn writable_store(&self) -> anyhow::Result<Arc<AnyStore>> {
        let store = self.open_store().await?;
        store.check_writable().await?;
        Ok(store)
    }

    /// The store of an existing database: commands that only read never
    /// create an empty database by accident.
    async fn existing_store(&self) -> anyhow::Result<Arc<AnyStore>> {
        if !self.database_exists().await? {
            // What a script asks (`status ID`) does not exist here: not found.
            let db = self.db.to_string();
            bail!(
                Failure::not_found(format!(
                    "no database at {db} (start a run with `savepoint run`, or point --db / \
                     SAVEPOINT_DB at an existing database)",
                ))
                .with_details(serde_json::json!({ "db": db }))
            );
        }
        self.open_store().await
    }

    /// Whether `--db` names a database that holds something (see [`AnyStore::exists`]).
    async fn database_exists(&self) -> anyhow::Result<bool> {
        Ok(AnyStore::exists(&self.db).await?)
    }

    fn cache_dir(&self) -> PathBuf {
        match &self.cache {
            Some(dir) => dir.clone(),
            None => match &self.db {
                DbLocation::Sqlite(path) => db_dir(path).join(".savepoint").join("cache"),
                // The compiled code stays on each host's disk, not in a shared database.
                DbLocation::Postgres(_) => Path::new(".savepoint").join("cache"),
            },
        }
    }

    /// A plugin host for a command that only reads (`plugins`, `validate`, ...): it
    /// uses the default compile cache if its folder exists, and creates nothing that
    /// was not asked for (a `--cache` named by the user is used as asked).
    fn plugin_host(&self) -> anyhow::Result<PluginHost> {
        let dir = self.cache_dir();
        let asked = self.cache.is_some();
        self.plugin_host_caching_in((asked || dir.is_dir()).then_some(dir))
    }

    /// A plugin host for a command that creates or executes runs: it creates the
    /// compile cache's folder on first use, as it creates the database.
    fn plugin_host_for_runs(&self) -> anyhow::Result<PluginHost> {
        self.plugin_host_caching_in(Some(self.cache_dir()))
    }

    fn plugin_host_caching_in(&self, cache: Option<PathBuf>) -> anyhow::Result<PluginHost> {
        let host = PluginHost::new(cache).map_err(|e| {
            Failure::environment(format!("cannot start the WebAssembly engine: {e:#}"))
        })?;
        let mut host = host
            .with_max_component_size(self.max_component_size)
            .with_compile_notice(Some(self.compile_notice("")));
        // The e2e tests' way to make the notice certain (0) or impossible (a
        // large number) whatever the machine's speed; not a user setting.
        if let Some(ms) = std::env::var("SAVEPOINT_COMPILE_NOTICE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            host = host.with_notice_after(std::time::Duration::from_millis(ms));
        }
        Ok(host)
    }

    /// The line a command prints on stderr (after `prefix`) while it compiles a plugin
    /// that is not in the compile cache, once the compile has taken half a second
    /// (`savepoint_plugin::NOTICE_AFTER`): a pause that long needs saying. Never for a
    /// cache hit.
    fn compile_notice(&self, prefix: &'static str) -> CompileNotice {
        let default_cache = self.cache_dir();
        Arc::new(move |compiling: &Compiling<'_>| {
            let shown = |dir: &Path| {
                let dir = dir.strip_prefix(".").unwrap_or(dir);
                output::safe(&dir.display().to_string()).into_owned()
            };
            let kept = match compiling.cache {
                Some(dir) => format!("once per version, then cached in {}", shown(dir)),
                None => format!(
                    "not cached: {} does not exist yet, and commands that run workflows create it",
                    shown(&default_cache)
                ),
            };
            let file = compiling
                .path
                .file_name()
                .unwrap_or(compiling.path.as_os_str());
            eprintln!(
                "{prefix}compiling {} ({:.1} MB; {kept})…",
                output::safe(&file.to_string_lossy()),
                compiling.bytes as f64 / 1e6
            );
        })
    }

    fn runtime(&self, store: Arc<AnyStore>) -> anyhow::Result<Runtime<AnyStore>> {
        Ok(self.runtime_with(store, self.plugin_host_for_runs()?))
    }

    /// [`Global::runtime`]; `quiet` (`-q`) leaves out the line that says a plugin is
    /// compiled.
    fn runtime_quiet(
        &self,
        store: Arc<AnyStore>,
        quiet: bool,
    ) -> anyhow::Result<Runtime<AnyStore>> {
        let mut plugins = self.plugin_host_for_runs()?;
        if quiet {
            plugins = plugins.with_compile_notice(None);
        }
        Ok(self.runtime_with(store, plugins))
    }

    /// A runtime over `store` calling nodes through `plugins`.
    fn runtime_with(&self, store: Arc<AnyStore>, plugins: PluginHost) -> Runtime<AnyStore> {
        Runtime::new(store, plugins, self.plugins.clone(), Arc::new(SystemClock))
            .with_lease(self.lease)
    }
}

fn db_dir(db: &Path) -> PathBuf {
    match db.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn max_component_size_defaults_to_the_plugin_crate_s_default() {
        let cli = Cli::try_parse_from(["savepoint", "validate", "x.toml"]).unwrap();
        assert_eq!(
            cli.global.max_component_size,
            savepoint_plugin::DEFAULT_MAX_COMPONENT_SIZE
        );
    }
}
