//! `--search`: run listings at scale. A database gets `--search-runs` runs (1,000,000
//! by default) in one transaction of raw SQL: four workflows, statuses as a busy
//! deployment has them (three in four completed, one in twenty failed, ...), creation
//! times spread over the last 90 days in creation order, and tags (`customer=cust-N`
//! over 1000 customers, `priority=high` on one run in ten). Then
//! `CheckpointStore::list_runs`, what `savepoint runs` and `GET /runs` call, is timed
//! for the listings a user asks for: each once to warm the cache, then
//! `--search-reps` times; the median and the slowest are reported, in milliseconds.
//!
//! The runs are copies of four template runs made through the store, so that every
//! column the store keeps is filled as the store fills it, whatever the schema's
//! version: the bulk insert names only what differs (thread, status, step, creation
//! order and times) and copies the rest from the template of its workflow.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Map, json};

use savepoint_store::{
    CheckpointStore, Clock, Cursor, NewRun, RunFilter, RunStatus, RunSummary, RunsPage, SystemClock,
};

use crate::stats::{median, ms};

/// The workflows of the runs, one template each.
const WORKFLOWS: [&str; 4] = ["approval", "etl", "report", "chain"];
/// Customers the `customer` tag spreads over.
pub const CUSTOMERS: u64 = 1000;
/// How far back creation times go.
const SPAN: Duration = Duration::from_secs(90 * 86_400);
/// The page size of every listing measured (the issue's `--limit 50`).
const LIMIT: usize = 50;
/// The target for `runs --status failed --limit 50` among 1M runs.
const TARGET_MS: f64 = 100.0;

/// Run statuses by share (percent, summing to 100), as a deployment that has run for a
/// while holds them: most runs finished.
const STATUSES: [(RunStatus, u64); 8] = [
    (RunStatus::Completed, 75),
    (RunStatus::Failed, 5),
    (RunStatus::Cancelled, 5),
    (RunStatus::Sleeping, 4),
    (RunStatus::Interrupted, 4),
    (RunStatus::Running, 2),
    (RunStatus::Retrying, 2),
    (RunStatus::Pending, 3),
];

/// SQL dialect bits the bulk insert differs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The statement that inserts runs `1..=count` (threads `bench-N`), copying every
/// column but the named ones from the template of their workflow (`tpl-<workflow>`).
/// `columns` is the runs table's columns; `seq0` the creation order before them; `t0`
/// the creation time of run 1, `gap` ms between two runs.
pub fn insert_runs(
    dialect: Dialect,
    columns: &[String],
    count: u64,
    seq0: i64,
    t0: i64,
    gap: i64,
) -> String {
    let mut status = String::from("CASE");
    let mut upto = 0;
    for (state, share) in STATUSES {
        upto += share;
        status += &format!(" WHEN {BUCKET} < {upto} THEN '{}'", state.as_str());
    }
    status += " END";
    let templates: Vec<String> = WORKFLOWS
        .iter()
        .enumerate()
        .map(|(i, name)| format!("WHEN {i} THEN 'tpl-{name}'"))
        .collect();
    let exprs: Vec<String> = columns
        .iter()
        .map(|column| match column.as_str() {
            "thread" => "'bench-' || n.i".to_string(),
            "status" => status.clone(),
            "step" => "n.i % 12".to_string(),
            "seq" => format!("{seq0} + n.i"),
            "created_at" => format!("{t0} + n.i * {gap}"),
            "updated_at" => format!("{t0} + n.i * {gap} + 60000"),
            other => format!("t.{other}"),
        })
        .collect();
    let numbers = numbers(dialect, count);
    format!(
        "{numbers} INSERT INTO runs ({}) SELECT {} FROM n JOIN runs t ON t.thread = \
         (CASE n.i % {} {} END)",
        columns.join(", "),
        exprs.join(", "),
        WORKFLOWS.len(),
        templates.join(" ")
    )
}

/// A number in 0..100 that looks random over `n.i` (Knuth's multiplicative hash), so
/// that statuses do not line up with workflows or customers (the same in both dialects:
/// 64-bit integers).
const BUCKET: &str = "((n.i * 2654435761) % 4294967296) % 100";

/// `n(i)`: the numbers 1 to `count`.
fn numbers(dialect: Dialect, count: u64) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})"
        ),
        Dialect::Postgres => format!("WITH n(i) AS (SELECT generate_series(1, {count})::bigint)"),
    }
}

/// The tags of runs `1..=count`: every run a customer, one in ten `priority=high`.
pub fn insert_tags(dialect: Dialect, count: u64) -> Vec<String> {
    let numbers = numbers(dialect, count);
    vec![
        format!(
            "{numbers} INSERT INTO run_tags (thread, key, value) \
             SELECT 'bench-' || n.i, 'customer', 'cust-' || (n.i % {CUSTOMERS}) FROM n"
        ),
        format!(
            "{numbers} INSERT INTO run_tags (thread, key, value) \
             SELECT 'bench-' || n.i, 'priority', 'high' FROM n WHERE n.i % 10 = 0"
        ),
    ]
}

/// Makes the four template runs through the store (their workflow texts, tags and
/// every column as the store writes them).
pub async fn templates<S: CheckpointStore>(store: &S) -> anyhow::Result<()> {
    for name in WORKFLOWS {
        let text = format!(
            "name = \"{name}\"\nstart = \"n1\"\n[nodes.n1]\nplugin = \"counter\"\nnext = \"end\"\n"
        );
        store
            .create_run(NewRun {
                parent: None,
                thread: format!("tpl-{name}"),
                workflow_name: name.to_string(),
                workflow_digest: savepoint_base::digest::sha256(text.as_bytes()),
                workflow_text: text,
                workflow_path: format!("workflows/{name}.toml"),
                input: Map::new(),
                next: vec!["n1".to_string()],
                lease: None,
                plugins: Default::default(),
                tags: [("customer".to_string(), "template".to_string())].into(),
            })
            .await
            .with_context(|| format!("cannot create the template run of {name}"))?;
    }
    Ok(())
}

/// The creation time of run 1 and the gap between runs: `count` runs over [`SPAN`]
/// up to now.
pub fn times(count: u64) -> (i64, i64) {
    let span = SPAN.as_millis() as i64;
    let gap = (span / count.max(1) as i64).max(1);
    (SystemClock.now_ms() - gap * count as i64, gap)
}

/// One listing measured: its key, and the filter.
struct Listing {
    key: &'static str,
    filter: RunFilter,
    /// Start at the cursor the first page of the same filter handed out.
    second_page: bool,
    /// What each run of the page must be, and whether the page must be full, given the
    /// runs in the database.
    check: fn(&RunsPage, u64) -> Result<(), String>,
}

fn tag(key: &str, value: &str) -> Vec<(String, String)> {
    vec![(key.to_string(), value.to_string())]
}

/// A full page, when the database holds at least `expected` matching runs, twice a
/// page (the shares are approximate).
fn full_if(page: &RunsPage, expected: u64) -> Result<(), String> {
    match page.runs.len() {
        n if n < LIMIT && expected >= 2 * LIMIT as u64 => {
            Err(format!("{n} runs, not a full page of {LIMIT}"))
        }
        _ => Ok(()),
    }
}

/// Every run of the page passes `test`.
fn each(page: &RunsPage, what: &str, test: impl Fn(&RunSummary) -> bool) -> Result<(), String> {
    match page.runs.iter().find(|run| !test(run)) {
        None => Ok(()),
        Some(run) => Err(format!("run {} is not {what}", run.thread)),
    }
}

fn listings() -> Vec<Listing> {
    let failed = || RunFilter {
        status: Some(RunStatus::Failed),
        ..Default::default()
    };
    let day_ago = SystemClock.now_ms() - 86_400_000;
    vec![
        Listing {
            key: "failed",
            filter: failed(),
            second_page: false,
            check: |page, count| {
                full_if(page, count / 20)?;
                each(page, "failed", |run| run.status == RunStatus::Failed)
            },
        },
        Listing {
            key: "failed_page2",
            filter: failed(),
            second_page: true,
            check: |page, count| {
                full_if(page, (count / 20).saturating_sub(LIMIT as u64))?;
                each(page, "failed", |run| run.status == RunStatus::Failed)
            },
        },
        Listing {
            key: "tag",
            filter: RunFilter {
                tags: tag("customer", "cust-42"),
                ..Default::default()
            },
            second_page: false,
            check: |page, count| {
                full_if(page, count / CUSTOMERS)?;
                each(page, "cust-42's", |run| {
                    run.tags.get("customer").map(String::as_str) == Some("cust-42")
                })
            },
        },
        Listing {
            key: "tag_common",
            filter: RunFilter {
                tags: tag("priority", "high"),
                ..Default::default()
            },
            second_page: false,
            check: |page, count| {
                full_if(page, count / 10)?;
                each(page, "high priority", |run| {
                    run.tags.contains_key("priority")
                })
            },
        },
        Listing {
            key: "tag_none",
            filter: RunFilter {
                tags: tag("customer", "nobody"),
                ..Default::default()
            },
            second_page: false,
            check: |page, _| match page.runs.len() {
                0 => Ok(()),
                n => Err(format!("{n} runs of a customer no run has")),
            },
        },
        Listing {
            key: "failed_tag",
            filter: RunFilter {
                status: Some(RunStatus::Failed),
                tags: tag("priority", "high"),
                ..Default::default()
            },
            second_page: false,
            check: |page, count| {
                full_if(page, count / 200)?;
                each(page, "failed and high priority", |run| {
                    run.status == RunStatus::Failed && run.tags.contains_key("priority")
                })
            },
        },
        Listing {
            key: "workflow_failed",
            filter: RunFilter {
                status: Some(RunStatus::Failed),
                workflow: Some("approval".into()),
                ..Default::default()
            },
            second_page: false,
            check: |page, count| {
                full_if(page, count / 80)?;
                each(page, "a failed approval", |run| {
                    run.status == RunStatus::Failed && run.workflow_name == "approval"
                })
            },
        },
        Listing {
            key: "failed_since_1d",
            filter: RunFilter {
                status: Some(RunStatus::Failed),
                created_since_ms: Some(day_ago),
                ..Default::default()
            },
            second_page: false,
            check: |page, count| {
                full_if(page, count / 90 / 20)?;
                each(page, "failed", |run| run.status == RunStatus::Failed)
            },
        },
        Listing {
            key: "all",
            filter: RunFilter::default(),
            second_page: false,
            check: |page, count| full_if(page, count),
        },
    ]
}

/// Every listing timed on `store` (which holds the runs): `search_<listing>_ms` (the
/// median) and `search_<listing>_max_ms` into `out` under `prefix`; what did not hold
/// into `failures`.
pub async fn measure<S: CheckpointStore>(
    store: &S,
    count: u64,
    reps: usize,
    prefix: &str,
    out: &mut Map<String, serde_json::Value>,
    failures: &mut Vec<String>,
) -> anyhow::Result<()> {
    for listing in listings() {
        let cursor: Option<Cursor> = match listing.second_page {
            true => {
                let first = store.list_runs(&listing.filter, None, LIMIT).await?;
                first.next_cursor
            }
            false => None,
        };
        let mut times = Vec::with_capacity(reps);
        let mut last = None;
        // One more than measured: the first warms the cache.
        for rep in 0..=reps {
            let started = Instant::now();
            let page = store.list_runs(&listing.filter, cursor, LIMIT).await?;
            if rep > 0 {
                times.push(ms(started.elapsed()));
            }
            last = Some(page);
        }
        if let Some(page) = &last
            && let Err(problem) = (listing.check)(page, count)
        {
            failures.push(format!("{prefix}search_{}: {problem}", listing.key));
        }
        let median = median(&times);
        let max = times.iter().copied().fold(f64::NAN, f64::max);
        crate::suite::result(&format!(
            "{:<16} median {:>8.2} ms, slowest {:>8.2} ms",
            listing.key,
            median.unwrap_or(f64::NAN),
            max
        ));
        out.insert(
            format!("{prefix}search_{}_ms", listing.key),
            crate::suite::keys::num(median),
        );
        out.insert(
            format!("{prefix}search_{}_max_ms", listing.key),
            crate::suite::keys::num(Some(max)),
        );
    }
    Ok(())
}

/// The keys `measure` writes, null: for a backend not measured.
pub fn skipped(prefix: &str, out: &mut Map<String, serde_json::Value>) {
    out.insert(format!("{prefix}search_runs"), json!(null));
    out.insert(format!("{prefix}search_insert_s"), json!(null));
    for listing in listings() {
        out.insert(format!("{prefix}search_{}_ms", listing.key), json!(null));
        out.insert(
            format!("{prefix}search_{}_max_ms", listing.key),
            json!(null),
        );
    }
}

/// The table of `--search` (without `--json`): one line per listing and backend.
pub fn table(json: &Map<String, serde_json::Value>) -> String {
    use std::fmt::Write;
    let get = |key: &str| json.get(key).and_then(serde_json::Value::as_f64);
    let text = |key: &str| {
        json.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
    };
    let mut out = format!(
        "savepoint run listings, {} ({} build); {} cores, {}\n",
        text("measured_at"),
        text("build_profile"),
        get("machine_cores").unwrap_or(0.0),
        text("machine_cpu"),
    );
    for (prefix, backend) in [("", "SQLite"), ("pg_", "Postgres")] {
        let Some(runs) = get(&format!("{prefix}search_runs")) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{backend}: {runs} runs (inserted in {:.1} s); pages of {LIMIT}, ms",
            get(&format!("{prefix}search_insert_s")).unwrap_or(f64::NAN)
        );
        let _ = writeln!(out, "  {:<18} {:>9} {:>9}", "listing", "median", "slowest");
        for listing in listings() {
            let median = get(&format!("{prefix}search_{}_ms", listing.key));
            let max = get(&format!("{prefix}search_{}_max_ms", listing.key));
            let _ = writeln!(
                out,
                "  {:<18} {:>9.2} {:>9.2}",
                listing.key,
                median.unwrap_or(f64::NAN),
                max.unwrap_or(f64::NAN)
            );
        }
        if let Some(failed) = get(&format!("{prefix}search_failed_ms")) {
            let verdict = if failed < TARGET_MS { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "  target (not an assertion): failed < {TARGET_MS} ms at 1M runs: {verdict}"
            );
        }
    }
    out
}
