//! `savepoint schedule add|list|pause|resume|remove`: runs of a workflow started by the
//! clock. The commands only write and read the schedules in the database; a `savepoint
//! serve` on that database starts the runs (the runtime's `schedule` module).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use serde_json::json;

use super::run::{Cap, parse_object, read_workflow};
use super::{Failure, Global, output};
use savepoint_base::units::parse_duration;
use savepoint_runtime::RuntimeError;
use savepoint_runtime::schedule::{
    NewSchedule, SpecError, check_name, check_spec, show_spec, show_time,
};
use savepoint_store::{CatchUp, CheckpointStore, Schedule, ScheduleSpec};
use savepoint_workflow::{Unfinished, Workflow};

/// Start runs of a workflow by the clock: on a cron expression or every period.
///
/// A schedule lives in the database. Every `savepoint serve` on that database starts
/// one run of its workflow per due time, exactly one across hosts: the run's thread is
/// NAME@TIME (the due time in UTC, e.g. `nightly@2026-11-28T09:00:00Z`), so a second
/// host finds it there and starts nothing, and each run is tagged schedule=NAME
/// (`savepoint runs --tag schedule=NAME` lists them). Without a running `serve`,
/// nothing fires; when one starts again, --catch-up says what happens to the due
/// times missed meanwhile.
#[derive(Debug, Args)]
#[command(after_help = SCHEDULE_EXAMPLES)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    what: What,
}

const SCHEDULE_EXAMPLES: &str = "\
Examples:
  savepoint schedule add report workflows/report.toml --cron \"0 9 * * 1-5\" --tz Europe/Paris
  savepoint schedule add tick workflows/tick.toml --every 5m --input '{\"feed\":\"news\"}'
  savepoint schedule list
  savepoint schedule pause report
  savepoint schedule resume report
  savepoint schedule remove tick
  savepoint runs --tag schedule=report          # the runs it started";

const ADD_EXAMPLES: &str = "\
Examples:
  savepoint schedule add nightly workflows/report.toml --cron \"30 2 * * *\"
  savepoint schedule add weekdays workflows/report.toml --cron \"0 9 * * MON-FRI\" --tz Europe/Paris
  savepoint schedule add hourly workflows/sync.toml --every 1h --catch-up last
  savepoint schedule add report workflows/report.toml     # when: its [schedule] table
  savepoint schedule add nightly workflows/report.toml --cron \"0 3 * * *\" --replace

A workflow file's own schedule:
  [schedule]
  cron = \"0 9 * * 1-5\"        # or: every = \"1h\"
  tz = \"Europe/Paris\"
  catch_up = \"last\"
  input = { report = \"daily\" }";

#[derive(Debug, Subcommand)]
enum What {
    Add(AddArgs),
    List(ListArgs),
    Pause(NameArgs),
    Resume(ResumeArgs),
    Remove(RemoveArgs),
}

/// Add a schedule: one run of WORKFLOW per due time, while a `savepoint serve` runs.
///
/// When it is due: --cron, a cron expression of 5 fields (minute hour day-of-month
/// month day-of-week; 6 with seconds first) read in --tz (default UTC), or --every, a
/// period (at least 1s) counted from now. Without either, the workflow file's
/// `[schedule]` table says (`cron` or `every`, `tz`, `catch_up`, `input`; flags given
/// win over it). The workflow file is checked as `run` checks it (its plugins too),
/// and every run is pinned to its text as it is now: add it again with --replace after
/// changing it.
#[derive(Debug, Args)]
#[command(after_help = ADD_EXAMPLES)]
struct AddArgs {
    /// The schedule's name: 1 to 100 letters, digits, '_', '.' or '-'. Its runs' threads
    /// are NAME@TIME.
    name: String,
    /// The workflow file (TOML).
    workflow: PathBuf,
    /// A cron expression, e.g. "*/5 * * * *" (every 5 minutes), "0 9 * * 1-5" (9:00 on
    /// weekdays), "@daily"; 6 fields when the first is seconds.
    #[arg(long, value_name = "EXPR", conflicts_with = "every")]
    cron: Option<String>,
    /// A period: one run every DURATION (e.g. 30s, 5m, 1h, 1d; at least 1s), the first
    /// one DURATION from now.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    every: Option<Duration>,
    /// The IANA time zone --cron is read in (e.g. Europe/Paris, America/New_York)
    /// [default: UTC]. Daylight saving time is followed.
    #[arg(long, value_name = "ZONE", requires = "cron")]
    tz: Option<String>,
    /// The input (initial state) of every run: a JSON object, or @FILE [default: the
    /// file's [schedule] input, else {}].
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// What to do with the due times missed while no `serve` ran (or while paused):
    /// `none` skips them, `last` starts one run for the latest, `all` one for each (at
    /// most the latest 100). A due time less than 5 s late is never missed
    /// [default: the file's [schedule] catch_up, else none].
    #[arg(long, value_name = "POLICY", value_parser = catch_up_parser())]
    catch_up: Option<CatchUp>,
    /// Replace the schedule of that name if there is one (else a taken name is refused).
    #[arg(long)]
    replace: bool,
    /// Print the schedule as one JSON object (as `schedule list --json` lists it).
    #[arg(long)]
    json: bool,
}

/// List the schedules: when each fires, its workflow, its next due time, the last due
/// time it started a run for, its catch-up policy, and whether it is paused.
#[derive(Debug, Args)]
struct ListArgs {
    /// Print one JSON object: {schedules: [{name, workflow, workflow_path, spec, input,
    /// catch_up, paused, next_due, last_fired, created_at}]} (spec: {kind: "cron", expr,
    /// tz} or {kind: "every", every_ms}).
    #[arg(long)]
    json: bool,
}

/// Pause a schedule: it starts no run until `savepoint schedule resume NAME`. Runs it
/// started go on.
#[derive(Debug, Args)]
struct NameArgs {
    /// The schedule's name.
    name: String,
    /// Print the schedule as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Resume a paused schedule. The due times that came while it was paused count as
/// missed: its catch-up policy says which of them get a run (none: none).
#[derive(Debug, Args)]
struct ResumeArgs {
    #[command(flatten)]
    schedule: NameArgs,
}

/// Remove a schedule. The runs it started stay (`savepoint runs --tag schedule=NAME`).
#[derive(Debug, Args)]
struct RemoveArgs {
    /// The schedule's name.
    name: String,
    /// Print {"name", "removed": true}.
    #[arg(long)]
    json: bool,
}

fn catch_up_parser() -> impl TypedValueParser<Value = CatchUp> {
    PossibleValuesParser::new(CatchUp::ALL.map(CatchUp::as_str))
        .try_map(|word| word.parse::<CatchUp>())
}

pub async fn main(global: &Global, args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Add(args) => add(global, args).await,
        What::List(args) => list(global, args).await,
        What::Pause(args) => pause(global, args, true).await,
        What::Resume(args) => pause(global, args.schedule, false).await,
        What::Remove(args) => remove(global, args).await,
    }
}

/// The spec the flags give (`None`: the file's), checked, each problem naming its flag.
fn flag_spec(args: &AddArgs) -> anyhow::Result<Option<ScheduleSpec>> {
    let spec = match (&args.cron, args.every) {
        (Some(expr), _) => ScheduleSpec::Cron {
            expr: expr.clone(),
            tz: args.tz.clone(),
        },
        (None, Some(every)) => ScheduleSpec::Every {
            every_ms: i64::try_from(every.as_millis()).unwrap_or(i64::MAX),
        },
        (None, None) => return Ok(None),
    };
    check_spec(&spec).map_err(|error| {
        Failure::usage(match error {
            SpecError::Cron { expr, reason } => format!("--cron {expr:?}: {reason}"),
            SpecError::Zone(reason) => format!("--tz: {reason}"),
            SpecError::Every(reason) => format!("--every {reason}"),
        })
    })?;
    Ok(Some(spec))
}

async fn add(global: &Global, args: AddArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name).map_err(Failure::usage)?;
    let spec = flag_spec(&args)?;
    let workflow_path = args.workflow.display().to_string();
    let workflow_text = read_workflow(&args.workflow)?;
    let input = match &args.input {
        Some(text) => {
            // Capped at the workflow's max_state (a file with problems is refused below,
            // with every problem).
            let max_state = match Workflow::parse_unfinished(&workflow_path, &workflow_text) {
                Ok(workflow) => workflow.max_state,
                Err(Unfinished {
                    nodes: Some(nodes), ..
                }) => nodes.max_state,
                Err(Unfinished { problems, .. }) => bail!(RuntimeError::Workflow(problems)),
            };
            Some(parse_object(text, "--input", Cap::max_state(max_state))?)
        }
        None => None,
    };
    let store = global.writable_store().await?;
    let runtime = global.runtime(store)?;
    let schedule = runtime
        .add_schedule(NewSchedule {
            name: args.name,
            spec,
            workflow_path,
            workflow_text,
            input,
            catch_up: args.catch_up,
            replace: args.replace,
        })
        .await?;
    if args.json {
        output::print_json(&savepoint_server::view::schedule(&schedule));
    } else {
        eprintln!(
            "schedule {}: {}, workflow \"{}\" ({}); next due {}; catch-up {}",
            output::safe(&schedule.name),
            output::safe(&show_spec(&schedule.spec)),
            output::safe(&schedule.workflow_name),
            output::safe(&schedule.workflow_path),
            show_time(schedule.next_due_ms),
            schedule.catch_up
        );
        eprintln!(
            "runs start while `{} serve` runs on this database (threads {}@TIME)",
            output::savepoint(),
            output::safe(&schedule.name)
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(global: &Global, args: ListArgs) -> anyhow::Result<ExitCode> {
    // No database holds no schedules (and nothing is created), as `runs` says.
    let schedules = if global.database_exists().await? {
        global
            .existing_store()
            .await?
            .schedules()
            .await
            .map_err(RuntimeError::from)?
    } else {
        Vec::new()
    };
    if args.json {
        output::print_json(&savepoint_server::view::schedules(&schedules));
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        eprintln!(
            "no schedules (add one with `{} schedule add NAME WORKFLOW --cron EXPR`)",
            output::savepoint()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<16} {:<32} {:<16} {:<21} {:<21} {:<8} STATE",
        "NAME", "WHEN", "WORKFLOW", "NEXT DUE", "LAST FIRED", "CATCH-UP"
    );
    for schedule in &schedules {
        println!(
            "{:<16} {:<32} {:<16} {:<21} {:<21} {:<8} {}",
            output::safe(&schedule.name),
            output::safe(&show_spec(&schedule.spec)),
            output::safe(&schedule.workflow_name),
            show_time(schedule.next_due_ms),
            schedule.last_fired_ms.map_or("-".to_owned(), show_time),
            schedule.catch_up,
            state(schedule)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn state(schedule: &Schedule) -> &'static str {
    if schedule.paused { "paused" } else { "active" }
}

async fn pause(global: &Global, args: NameArgs, paused: bool) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    store.check_writable().await?;
    let schedule = store
        .pause_schedule(&args.name, paused)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        output::print_json(&savepoint_server::view::schedule(&schedule));
    } else if paused {
        eprintln!(
            "schedule {}: paused; it starts no run until `{} schedule resume {}`",
            output::safe(&schedule.name),
            output::savepoint(),
            output::shell_word(&schedule.name)
        );
    } else {
        eprintln!(
            "schedule {}: active; catch-up {} applies to the due times it missed while paused",
            output::safe(&schedule.name),
            schedule.catch_up
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn remove(global: &Global, args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    store.check_writable().await?;
    store
        .remove_schedule(&args.name)
        .await
        .map_err(RuntimeError::from)?;
    if args.json {
        output::print_json(&json!({ "name": args.name, "removed": true }));
    } else {
        eprintln!(
            "schedule {}: removed (the runs it started stay: `{} runs --tag schedule={}`)",
            output::safe(&args.name),
            output::savepoint(),
            output::shell_word(&args.name)
        );
    }
    Ok(ExitCode::SUCCESS)
}
