//! The JSON keys (bench/README.md documents each): one writer per group of
//! figures, shared by the backends (the Postgres keys are the SQLite ones
//! with `pg_` in front) and the state sizes (`_100kb`). A figure that was not
//! measured is written as null, so that every key is printed on every run.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::cost::Cost;
use crate::floor::Floor;
use crate::options::Plan;
use crate::resume::Resume;
use crate::stats::{median, ms, percentile, us};
use crate::w1::Measured;

pub type Out = Map<String, Value>;

pub fn num(value: Option<f64>) -> Value {
    value
        .filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    num(a.zip(b).map(|(a, b)| a / b))
}

pub fn ms_median(samples: &[Duration]) -> Option<f64> {
    median(&samples.iter().map(|d| ms(*d)).collect::<Vec<_>>())
}

pub fn machine(plan: &Plan, out: &mut Out) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        });
    let now = savepoint_store::SystemClock;
    out.insert(
        "measured_at".into(),
        json!(savepoint_store::format_time(
            savepoint_store::Clock::now_ms(&now)
        )),
    );
    out.insert(
        "machine_cores".into(),
        json!(std::thread::available_parallelism().map_or(0, |n| n.get())),
    );
    out.insert("machine_cpu".into(), json!(cpu));
    out.insert(
        "machine_os".into(),
        json!(format!(
            "{}-{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        )),
    );
    out.insert("sqlite_version".into(), json!(rusqlite::version()));
    out.insert("savepoint_version".into(), json!(env!("CARGO_PKG_VERSION")));
    out.insert(
        "build_profile".into(),
        json!(if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }),
    );
    out.insert("backend".into(), json!(plan.backends.name()));
    out.insert("quick".into(), json!(plan.quick));
    out.insert("runs".into(), json!(plan.runs));
    out.insert("conc".into(), json!(plan.conc));
    out.insert("rounds".into(), json!(plan.rounds));
    out.insert("rounds_100kb".into(), json!((plan.rounds / 3).max(1)));
    out.insert("lang_runs".into(), json!(plan.lang_runs));
    out.insert("resume_reps".into(), json!(plan.resume_reps));
}

/// `{prefix}floor_commits_per_s{suffix}` and the rest of the floor's keys.
pub fn put_floor(out: &mut Out, prefix: &str, suffix: &str, floor: Option<&Floor>) {
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{prefix}{key}{suffix}"), value);
    };
    put("floor_commits_per_s", num(floor.map(Floor::commits_per_s)));
    put(
        "floor_commit_p50_ms",
        num(floor.and_then(|f| percentile(&f.latency, 50.0)).map(ms)),
    );
    put(
        "floor_commit_p99_ms",
        num(floor.and_then(|f| percentile(&f.latency, 99.0)).map(ms)),
    );
    put(
        "floor_bytes_per_commit",
        num(floor.map(Floor::bytes_per_commit)),
    );
}

/// `{name}_steps_per_s` and the rest of a W1 configuration's keys, with its
/// ratios to `floor`.
pub fn put_w1(out: &mut Out, name: &str, m: Option<&Measured>, floor: Option<&Floor>) {
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{name}_{key}"), value);
    };
    let pct = |samples: fn(&Measured) -> &Vec<Duration>, q: f64| {
        m.and_then(|m| percentile(samples(m), q))
    };
    let p50 = pct(|m| &m.latency, 50.0).map(ms);
    let floor_p50 = floor.and_then(|f| percentile(&f.latency, 50.0)).map(ms);
    let steps_per_s = m.map(Measured::steps_per_s);
    let bytes = m.map(Measured::bytes_per_step);
    put("steps_per_s", num(steps_per_s));
    put(
        "floor_ratio",
        ratio(steps_per_s, floor.map(Floor::commits_per_s)),
    );
    put("step_p50_ms", num(p50));
    put("step_p99_ms", num(pct(|m| &m.latency, 99.0).map(ms)));
    put("step_p50_floor_ratio", ratio(p50, floor_p50));
    put("overhead_us_p50", num(pct(|m| &m.overhead, 50.0).map(us)));
    put("overhead_us_p99", num(pct(|m| &m.overhead, 99.0).map(us)));
    put("commit_p50_ms", num(pct(|m| &m.commit, 50.0).map(ms)));
    put("node_call_us_p50", num(pct(|m| &m.call, 50.0).map(us)));
    put("bytes_per_step", num(bytes));
    put(
        "bytes_floor_ratio",
        ratio(bytes, floor.map(Floor::bytes_per_commit)),
    );
    put("errors", m.map_or(Value::Null, |m| json!(m.errors.len())));
}

/// What sequential W1 configuration `name` wrote to the WAL per step, and the
/// floor per commit (SQLite): `{name}_wal_pages_per_step`,
/// `{name}_commits_per_step`, `floor_wal_pages_per_commit{suffix}`.
pub fn put_wal(
    out: &mut Out,
    name: &str,
    suffix: &str,
    m: Option<&Measured>,
    floor: Option<&Floor>,
) {
    out.insert(
        format!("{name}_wal_pages_per_step"),
        num(m.and_then(|m| m.wal.frames_per_unit())),
    );
    out.insert(
        format!("{name}_commits_per_step"),
        num(m.and_then(|m| m.wal.commits_per_unit())),
    );
    out.insert(
        format!("floor_wal_pages_per_commit{suffix}"),
        num(floor.and_then(|f| f.wal.frames_per_unit())),
    );
}

pub fn put_lang(out: &mut Out, lang: &str, m: Option<&Measured>) {
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{lang}_{key}"), value);
    };
    let pct = |samples: fn(&Measured) -> &Vec<Duration>, q: f64| {
        m.and_then(|m| percentile(samples(m), q))
    };
    put(
        "step_overhead_us_p50",
        num(pct(|m| &m.overhead, 50.0).map(us)),
    );
    put(
        "step_overhead_us_p99",
        num(pct(|m| &m.overhead, 99.0).map(us)),
    );
    put("node_call_us_p50", num(pct(|m| &m.call, 50.0).map(us)));
    put("step_p50_ms", num(pct(|m| &m.latency, 50.0).map(ms)));
    put("steps_per_s", num(m.map(Measured::steps_per_s)));
}

/// `{prefix}resume_ms` and the rest of the resume scenario's keys.
pub fn put_resume(out: &mut Out, prefix: &str, resume: Option<&Resume>) {
    let walls: Vec<f64> = resume
        .map(|r| r.wall.iter().map(|d| ms(*d)).collect())
        .unwrap_or_default();
    let min = walls.iter().copied().reduce(f64::min);
    let max = walls.iter().copied().reduce(f64::max);
    out.insert(format!("{prefix}resume_ms"), num(median(&walls)));
    out.insert(format!("{prefix}resume_ms_min"), num(min));
    out.insert(format!("{prefix}resume_ms_max"), num(max));
    out.insert(
        format!("{prefix}resume_ok"),
        resume.map_or(Value::Null, |r| json!(r.failures.is_empty())),
    );
    out.insert(
        format!("{prefix}process_start_ms"),
        num(resume.and_then(|r| ms_median(&r.process_start))),
    );
}

/// Where the time went (Postgres): `{name}_{client}_cpu_us_per_{unit}`,
/// `{name}_server_cpu_us_per_{unit}`, `{name}_wal_syncs_per_{unit}`.
pub fn put_cost(out: &mut Out, name: &str, client: &str, unit: &str, cost: Option<(&Cost, u64)>) {
    out.insert(
        format!("{name}_{client}_cpu_us_per_{unit}"),
        num(cost.and_then(|(c, n)| c.client_us_per(n))),
    );
    out.insert(
        format!("{name}_server_cpu_us_per_{unit}"),
        num(cost.and_then(|(c, n)| c.server_us_per(n))),
    );
    out.insert(
        format!("{name}_wal_syncs_per_{unit}"),
        num(cost.and_then(|(c, n)| c.wal_syncs_per(n))),
    );
}
