//! The Postgres section: on one server (SAVEPOINT_BENCH_PG, or a throwaway one),
//! the floor (100 clients, one INSERT per commit) interleaved with W1 100 B
//! sequential and 100 at once, in-process as on SQLite (the same code, the
//! backend a parameter); the resume scenario with `--db URL`; and one, then
//! two, `savepoint serve` hosts sharing 100-at-once W1 runs.

use std::ffi::OsString;
use std::path::Path;

use serde_json::{Value, json};

use super::keys::{self, Out, ms_median, num, ratio};
use super::{Tally, report_errors, result, section, summary};
use crate::chain::Chain;
use crate::cost::{Cost, Meter};
use crate::floor::Floor;
use crate::hosts::{self, Shared};
use crate::options::Plan;
use crate::pg::Server;
use crate::pg_floor::{self, CLIENTS};
use crate::resume;
use crate::stats::{ms, percentile};
use crate::w1::{self, Bed, Config};

/// The state size of the Postgres section's W1 (the figures are at 100 B).
const SIZE: usize = 100;
/// Connections the section holds at once at most: the floor's clients, a
/// store's pool, writer and listener, and two hosts' of each.
const CONNECTIONS: u32 = CLIENTS as u32 + 50;

pub async fn run(
    plan: &Plan,
    scratch: &Path,
    bed: &Bed,
    chain: &Chain,
    out: &mut Out,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    section("Postgres: the server");
    let server = Server::open(scratch, plan.keep).await?;
    result(&format!(
        "{} ({})",
        server.shown(),
        if server.started_here() {
            "started for this run, stopped at its end"
        } else {
            crate::pg::BENCH_PG
        }
    ));
    let section = Section {
        plan,
        scratch,
        bed,
        chain,
        server: &server,
    };
    let measured = section.measure(out, tally).await;
    server.stop().await;
    measured
}

/// What every part of the section uses.
struct Section<'a> {
    plan: &'a Plan,
    scratch: &'a Path,
    bed: &'a Bed,
    chain: &'a Chain,
    server: &'a Server,
}

impl Section<'_> {
    async fn measure(&self, out: &mut Out, tally: &mut Tally) -> anyhow::Result<()> {
        let Section {
            plan,
            bed,
            chain,
            server,
            ..
        } = *self;
        let settings = server.describe().await?;
        result(&format!(
            "PostgreSQL {}, fsync {}, synchronous_commit {}, max_connections {}",
            settings.version, settings.fsync, settings.synchronous_commit, settings.max_connections
        ));
        out.insert("postgres_version".into(), json!(settings.version));
        if settings.fsync != "on" || settings.synchronous_commit != "on" {
            tally.notes.push(format!(
                "the Postgres server runs with fsync {} and synchronous_commit {}: its commits are \
             not durable, and its figures not comparable",
                settings.fsync, settings.synchronous_commit
            ));
        }
        if settings.max_connections < CONNECTIONS {
            tally.notes.push(format!(
                "the Postgres server allows {} connections; the section needs about {CONNECTIONS}",
                settings.max_connections
            ));
        }

        // The floor in blocks of a fixed time, one before each chunk of the
        // sequential workflows and one before each concurrent round, so that it
        // sees the same server load and disk as the figures it is compared with.
        let rounds = plan.rounds;
        let block = plan.pg_floor / (2 * rounds) as u32;
        section(&format!(
            "Postgres, 100 B: W1 sequential, {} workflows; W1 concurrent, {rounds} x {} at once; \
         floor, {CLIENTS} clients for {:.0} ms before each of {} chunks and rounds",
            plan.runs,
            plan.conc,
            ms(block),
            2 * rounds
        ));
        let mut floor = pg_floor::Session::open(server, "pg_floor", SIZE).await?;
        let config = |concurrent: bool| Config {
            name: if concurrent {
                "pg_w1_conc100_100b".into()
            } else {
                "pg_w1_seq_100b".into()
            },
            workflow_path: chain.path.clone(),
            workflow_text: chain.with_plugin("counter", false),
            payload: SIZE,
            concurrent,
        };
        // CPU and WAL flushes are counted around the timed parts only.
        let meter = Meter::new(server).await;
        let (mut floor_cost, mut seq_cost, mut conc_cost) =
            (Cost::default(), Cost::default(), Cost::default());
        let mut seq = w1::Session::open(bed, server, config(false)).await?;
        for chunk in 0..rounds {
            let before = meter.sample(&[]).await;
            floor.block(block).await?;
            meter.add(&mut floor_cost, &before, &[]).await;
            let workflows = plan.runs * (chunk + 1) / rounds - plan.runs * chunk / rounds;
            let before = meter.sample(&[]).await;
            for _ in 0..workflows {
                seq.round(1).await;
            }
            meter.add(&mut seq_cost, &before, &[]).await;
        }
        let seq = seq.close().await;
        let mut conc = w1::Session::open(bed, server, config(true)).await?;
        for _ in 0..rounds {
            let before = meter.sample(&[]).await;
            floor.block(block).await?;
            meter.add(&mut floor_cost, &before, &[]).await;
            let before = meter.sample(&[]).await;
            conc.round(plan.conc).await;
            meter.add(&mut conc_cost, &before, &[]).await;
        }
        let conc = conc.close().await;
        let floor = floor.close(server).await;
        result(&format!(
            "floor:      {:.0} commits/s, commit p50 {:.3} ms",
            floor.commits_per_s(),
            percentile(&floor.latency, 50.0).map_or(f64::NAN, ms)
        ));
        result(&format!("sequential: {}", summary(&seq)));
        result(&format!("concurrent: {}", summary(&conc)));
        keys::put_floor(out, "pg_", "", Some(&floor));
        let commits = floor.commits as u64;
        keys::put_cost(
            out,
            "pg_floor",
            "client",
            "commit",
            Some((&floor_cost, commits)),
        );
        result(&cost_line("floor, per commit", &floor_cost, commits));
        for (name, measured, cost) in [
            ("pg_w1_seq_100b", &seq, &seq_cost),
            ("pg_w1_conc100_100b", &conc, &conc_cost),
        ] {
            report_errors(name, &measured.errors, &mut tally.failures);
            keys::put_w1(out, name, Some(measured), Some(&floor));
            keys::put_cost(out, name, "host", "step", Some((cost, measured.steps)));
            result(&cost_line(
                &format!("{name}, per step"),
                cost,
                measured.steps,
            ));
        }

        self.resume(out, tally).await?;
        self.hosts(&meter, &floor, out, tally).await
    }

    /// W2 with `--db URL`, each repetition on a fresh schema.
    async fn resume(&self, out: &mut Out, tally: &mut Tally) -> anyhow::Result<()> {
        let Section {
            plan,
            scratch,
            chain,
            server,
            ..
        } = *self;
        if plan.resume_reps == 0 {
            keys::put_resume(out, "pg_", None);
            return Ok(());
        }
        section(&format!(
            "Postgres resume: {} x (run, SIGKILL during node 6, `savepoint resume`)",
            plan.resume_reps
        ));
        let mut dbs: Vec<OsString> = Vec::with_capacity(plan.resume_reps);
        for rep in 1..=plan.resume_reps {
            dbs.push(server.schema(&format!("pg_resume_{rep}")).await?.into());
        }
        let (savepoint, counter) = (plan.savepoint.clone(), plan.plugins.join("counter.wasm"));
        let chain = chain.clone();
        let dir = scratch.join("pg-resume");
        let measured = tokio::task::spawn_blocking(move || {
            resume::measure(&savepoint, &counter, &chain, &dir, &dbs)
        })
        .await??;
        tally
            .failures
            .extend(measured.failures.iter().map(|f| format!("pg resume: {f}")));
        keys::put_resume(out, "pg_", Some(&measured));
        result(&format!(
            "median {:.1} ms{}",
            ms_median(&measured.wall).unwrap_or(f64::NAN),
            if measured.failures.is_empty() {
                ", checks passed"
            } else {
                ", CHECKS FAILED"
            }
        ));
        Ok(())
    }

    /// One host, then two, on fresh schemas, sharing `conc`-at-once W1 runs.
    async fn hosts(
        &self,
        meter: &Meter<'_>,
        floor: &Floor,
        out: &mut Out,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        let Section {
            plan,
            scratch,
            bed,
            chain,
            server,
        } = *self;
        if !plan.savepoint.is_file() {
            tally.notes.push(format!(
                "no savepoint binary at {}: the hosts scenario was skipped",
                plan.savepoint.display()
            ));
            put_hosts(out, None, None, Some(floor));
            return Ok(());
        }
        let hosts_plan = hosts::Plan {
            bed,
            savepoint: &plan.savepoint,
            scratch,
            workflow_path: chain.path.clone(),
            workflow_text: chain.with_plugin("counter", false),
            payload: SIZE,
            conc: plan.conc,
            rounds: plan.rounds,
            meter: Some(meter),
        };
        let mut shared = Vec::new();
        for (hosts, name) in [(1, "pg_one_host"), (2, "pg_two_hosts")] {
            section(&format!(
                "Postgres, {hosts} x `savepoint serve`: {} x {} W1 runs at once, created here",
                plan.rounds, plan.conc
            ));
            let measured = hosts::measure(server, name, hosts, &hosts_plan).await?;
            result(&format!(
                "{:.0} steps/s; runs completed by each host: {:?}{}",
                measured.steps_per_s(),
                measured.completed_by,
                if measured.errors.is_empty() {
                    String::new()
                } else {
                    format!(", {} FAILED RUNS", measured.errors.len())
                }
            ));
            result(&cost_line("per step", &measured.cost, measured.steps));
            report_errors(name, &measured.errors, &mut tally.failures);
            shared.push(measured);
        }
        put_hosts(out, shared.first(), shared.get(1), Some(floor));
        Ok(())
    }
}

/// CPU and WAL flushes, in short.
fn cost_line(what: &str, cost: &Cost, units: u64) -> String {
    let us = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} us"));
    format!(
        "{what}: client CPU {}, server CPU {}, WAL flushes {:.3}",
        us(cost.client_us_per(units)),
        us(cost.server_us_per(units)),
        cost.wal_syncs_per(units).unwrap_or(f64::NAN)
    )
}

fn put_hosts(out: &mut Out, one: Option<&Shared>, two: Option<&Shared>, floor: Option<&Floor>) {
    let one_rate = one.map(Shared::steps_per_s);
    let two_rate = two.map(Shared::steps_per_s);
    out.insert("pg_one_host_conc100_100b_steps_per_s".into(), num(one_rate));
    out.insert(
        "pg_two_hosts_conc100_100b_steps_per_s".into(),
        num(two_rate),
    );
    out.insert(
        "pg_two_hosts_floor_ratio".into(),
        ratio(two_rate, floor.map(Floor::commits_per_s)),
    );
    out.insert("pg_two_hosts_vs_one".into(), ratio(two_rate, one_rate));
    out.insert(
        "pg_two_hosts_busiest_share".into(),
        num(two.and_then(Shared::busiest_share)),
    );
    let errors = one.zip(two).map(|(a, b)| a.errors.len() + b.errors.len());
    out.insert("pg_hosts_errors".into(), json!(errors));
    for (name, shared) in [
        ("pg_one_host_conc100_100b", one),
        ("pg_two_hosts_conc100_100b", two),
    ] {
        keys::put_cost(
            out,
            name,
            "host",
            "step",
            shared.map(|s| (&s.cost, s.steps)),
        );
    }
}

/// The Postgres keys, all null (`--backend sqlite`).
pub fn skipped(out: &mut Out) {
    out.insert("postgres_version".into(), Value::Null);
    keys::put_floor(out, "pg_", "", None);
    keys::put_cost(out, "pg_floor", "client", "commit", None);
    for name in ["pg_w1_seq_100b", "pg_w1_conc100_100b"] {
        keys::put_w1(out, name, None, None);
        keys::put_cost(out, name, "host", "step", None);
    }
    keys::put_resume(out, "pg_", None);
    put_hosts(out, None, None, None);
}
