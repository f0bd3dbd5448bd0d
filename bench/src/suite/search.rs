//! `--search`: the run listings of `search` on SQLite and (with `--backend postgres`
//! or `both`) Postgres, each on a database of `--search-runs` runs.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use super::keys::Out;
use super::{Tally, result, section};
use crate::backend::{Backend, Sqlite};
use crate::options::Plan;
use crate::pg::{self, Server};
use crate::search::{self, Dialect};

pub async fn run(
    plan: &Plan,
    scratch: &Path,
    out: &mut Out,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let count = plan.search_runs;
    if plan.backends.sqlite() {
        section(&format!("SQLite: run listings among {count} runs"));
        let sqlite = Sqlite {
            scratch: scratch.to_path_buf(),
        };
        let store = sqlite.open("search").await?;
        search::templates(&store).await?;
        let started = Instant::now();
        fill_sqlite(Path::new(&sqlite.location("search")), count)?;
        inserted(out, "", count, started);
        search::measure(
            &store,
            count,
            plan.search_reps,
            "",
            out,
            &mut tally.failures,
        )
        .await?;
    } else {
        search::skipped("", out);
    }
    if plan.backends.postgres() {
        section(&format!("Postgres: run listings among {count} runs"));
        let server = Server::open(scratch, plan.keep).await?;
        result(&server.shown());
        let measured = async {
            let store = server.open("search").await?;
            search::templates(&store).await?;
            let started = Instant::now();
            fill_postgres(&server.url_of("search"), count).await?;
            inserted(out, "pg_", count, started);
            search::measure(
                &store,
                count,
                plan.search_reps,
                "pg_",
                out,
                &mut tally.failures,
            )
            .await
        }
        .await;
        server.stop().await;
        measured?;
    } else {
        search::skipped("pg_", out);
    }
    Ok(())
}

fn inserted(out: &mut Out, prefix: &str, count: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    result(&format!(
        "{count} runs inserted in {secs:.1} s (raw SQL, one transaction)"
    ));
    out.insert(format!("{prefix}search_runs"), json!(count));
    out.insert(format!("{prefix}search_insert_s"), json!(secs));
}

/// The runs and their tags into the SQLite file, in one transaction beside the store's
/// own connection (which is idle: WAL lets one writer in).
fn fill_sqlite(db: &Path, count: u64) -> anyhow::Result<()> {
    let mut conn =
        rusqlite::Connection::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('runs')")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let tx = conn.transaction()?;
    let seq0: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM runs", [], |r| r.get(0))?;
    let (t0, gap) = search::times(count);
    tx.execute_batch(&search::insert_runs(
        Dialect::Sqlite,
        &columns,
        count,
        seq0,
        t0,
        gap,
    ))
    .context("cannot insert the runs")?;
    for statement in search::insert_tags(Dialect::Sqlite, count) {
        tx.execute_batch(&statement)
            .context("cannot insert the tags")?;
    }
    tx.commit()?;
    Ok(())
}

/// The runs and their tags into the Postgres schema, in one transaction; then the
/// sequence of creation order moves past them, and ANALYZE gives the planner the
/// statistics autovacuum would gather on its own a moment later.
async fn fill_postgres(url: &str, count: u64) -> anyhow::Result<()> {
    let mut client = pg::connect(url).await?;
    let columns: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'runs'
             ORDER BY ordinal_position",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let tx = client.transaction().await?;
    let seq0: i64 = tx
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM runs", &[])
        .await?
        .get(0);
    let (t0, gap) = search::times(count);
    tx.batch_execute(&search::insert_runs(
        Dialect::Postgres,
        &columns,
        count,
        seq0,
        t0,
        gap,
    ))
    .await
    .context("cannot insert the runs")?;
    for statement in search::insert_tags(Dialect::Postgres, count) {
        tx.batch_execute(&statement)
            .await
            .context("cannot insert the tags")?;
    }
    tx.batch_execute("SELECT setval('runs_seq', (SELECT MAX(seq) FROM runs))")
        .await?;
    tx.commit().await?;
    client
        .batch_execute("ANALYZE runs; ANALYZE run_tags")
        .await?;
    Ok(())
}
