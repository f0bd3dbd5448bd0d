//! Every scenario in order, each result put into one flat JSON object whose
//! keys bench/README.md documents (the table is printed from it too).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::chain::{self, Chain};
use crate::first_call;
use crate::floor::{self, Floor};
use crate::options::{LANGS, Plan, counter_plugin};
use crate::resume;
use crate::stats::{median, ms, percentile, us};
use crate::w1::{self, Bed, Config, Measured};

/// State sizes of W1: (key suffix, bytes, floor commits before each
/// sequential workflow). At 100 B the floor commits a checkpoint per W1 step;
/// at 100 KB fewer (each one adds 100 KB to its file).
const SIZES: [(&str, usize, usize); 2] = [("100b", 100, 10), ("100kb", 100_000, 2)];
/// Floor commits before each concurrent round, per floor commit before a
/// sequential workflow.
const FLOOR_PER_ROUND: usize = 20;

/// The results, and what did not hold (failed runs, resume checks).
#[derive(Debug)]
pub struct Outcome {
    pub json: Map<String, Value>,
    pub failures: Vec<String>,
}

pub async fn run(plan: &Plan, scratch: &Path) -> anyhow::Result<Outcome> {
    let mut out = Map::new();
    let mut notes: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    machine(plan, &mut out);

    let chain = Chain::read(&plan.workflow)?;
    let bed = Bed {
        plugins: plan.plugins.clone(),
        cache: scratch.join("cache"),
        scratch: scratch.to_path_buf(),
    };
    let rust_counter = plan.plugins.join("counter.wasm");
    if !rust_counter.is_file() {
        anyhow::bail!(
            "no Rust counter at {} (build the plugins with `scripts/build-plugins`, or pass \
             --plugins DIR)",
            rust_counter.display()
        );
    }

    // Per state size: W1 sequential, then concurrent, interleaved with the
    // floor (a few commits before each sequential workflow, a block before
    // each concurrent round), so that the floor sees the same disk and the
    // same neighbours as the figures it is compared with.
    // W1 sequential 100 B is also the Rust counter's per-language run.
    let mut rust_chain = None;
    for (size_key, size, floor_per_run) in SIZES {
        let floor_per_round = floor_per_run * FLOOR_PER_ROUND;
        let rounds = if size_key == "100b" {
            plan.rounds
        } else {
            (plan.rounds / 3).max(1)
        };
        section(&format!(
            "{}: W1 sequential, {} workflows; W1 concurrent, {rounds} x {} workflows at \
             once; floor, {floor_per_run} commits before each workflow, {floor_per_round} \
             before each round",
            size_name(size),
            plan.runs,
            plan.conc,
        ));
        let mut floor = floor::Session::open(&scratch.join(format!("floor-{size_key}.db")), size)?;
        let config = |concurrent: bool| Config {
            name: if concurrent {
                format!("w1_conc100_{size_key}")
            } else {
                format!("w1_seq_{size_key}")
            },
            workflow_path: chain.path.clone(),
            workflow_text: chain.with_plugin("counter", false),
            payload: size,
            concurrent,
        };
        let mut seq = w1::Session::open(&bed, config(false)).await?;
        for _ in 0..plan.runs {
            floor.block(floor_per_run)?;
            seq.round(1).await;
        }
        let seq = seq.close().await;
        let mut conc = w1::Session::open(&bed, config(true)).await?;
        for _ in 0..rounds {
            floor.block(floor_per_round)?;
            conc.round(plan.conc).await;
        }
        let conc = conc.close().await;
        let floor = floor.close();
        if let Some(note) = stalls(&floor, size) {
            notes.push(note);
        }

        result(&format!(
            "floor:      {:.0} commits/s",
            floor.commits_per_s()
        ));
        put_floor(&mut out, size_key, &floor);
        for (name, measured) in [
            (format!("w1_seq_{size_key}"), &seq),
            (format!("w1_conc100_{size_key}"), &conc),
        ] {
            report_errors(&name, measured, &mut failures);
            put_w1(&mut out, &name, measured, &floor);
        }
        result(&format!("sequential: {}", summary(&seq)));
        result(&format!("concurrent: {}", summary(&conc)));
        if size_key == "100b" {
            rust_chain = Some(seq);
        }
    }
    out.insert(
        "w1_bytes_per_step_100kb".into(),
        out["w1_seq_100kb_bytes_per_step"].clone(),
    );

    // Each language: step overhead on the chain, first call of the component.
    for (lang, _) in LANGS {
        let component = plan.plugins.join(format!("{}.wasm", counter_plugin(lang)));
        let selected = plan.langs.iter().any(|l| l == lang);
        if !selected || !component.is_file() {
            if selected {
                notes.push(format!(
                    "{lang}: no {} (build it with `SAVEPOINT_LANGS={lang} scripts/build-plugins`)",
                    component.display()
                ));
            }
            if lang != "rust" {
                put_lang_missing(&mut out, lang);
            }
            out.insert(format!("{lang}_component_bytes"), Value::Null);
            out.insert(format!("{lang}_first_call_cold_ms"), Value::Null);
            out.insert(format!("{lang}_first_call_cached_ms"), Value::Null);
            continue;
        }
        if lang == "rust" {
            if let Some(measured) = &rust_chain {
                put_lang(&mut out, lang, measured);
            }
        } else {
            section(&format!(
                "{lang} counter: {} workflows one after another, 100 B",
                plan.lang_runs
            ));
            let config = Config {
                name: format!("{lang}_chain"),
                workflow_path: chain.path.clone(),
                workflow_text: chain.with_plugin(counter_plugin(lang), false),
                payload: 100,
                concurrent: false,
            };
            let name = config.name.clone();
            let measured = w1::run(&bed, config, plan.lang_runs).await?;
            report_errors(&name, &measured, &mut failures);
            result(&summary(&measured));
            put_lang(&mut out, lang, &measured);
        }
        section(&format!("{lang} counter: first call, cold and cached"));
        let first = first_call::measure(&component, &scratch.join(format!("first-call-{lang}")))
            .await
            .with_context(|| format!("first call of the {lang} counter"))?;
        result(&format!(
            "cold {:.1} ms, cached {:.1} ms",
            ms(first.cold),
            ms(first.cached)
        ));
        out.insert(
            format!("{lang}_component_bytes"),
            json!(first.component_bytes),
        );
        out.insert(format!("{lang}_first_call_cold_ms"), json!(ms(first.cold)));
        out.insert(
            format!("{lang}_first_call_cached_ms"),
            json!(ms(first.cached)),
        );
    }

    // The Rust counter with `reuse = true`, if this savepoint has it.
    let reuse = chain::reuse_supported(&chain);
    let mut reused = None;
    match reuse {
        Ok(()) => {
            section(&format!(
                "Rust counter, reuse = true: {} workflows",
                plan.runs
            ));
            let config = Config {
                name: "rust_reuse".into(),
                workflow_path: chain.path.clone(),
                workflow_text: chain.with_plugin("counter", true),
                payload: 100,
                concurrent: false,
            };
            let measured = w1::run(&bed, config, plan.runs).await?;
            report_errors("rust_reuse", &measured, &mut failures);
            result(&summary(&measured));
            reused = Some(measured);
        }
        Err(why) => notes.push(format!(
            "reuse = true is not supported by this savepoint (rust_step_overhead_reuse_* are \
             null): {why}"
        )),
    }
    let reused = reused.as_ref();
    out.insert(
        "rust_step_overhead_reuse_us_p50".into(),
        num(reused.and_then(|m| percentile(&m.overhead, 50.0)).map(us)),
    );
    out.insert(
        "rust_step_overhead_reuse_us_p99".into(),
        num(reused.and_then(|m| percentile(&m.overhead, 99.0)).map(us)),
    );
    out.insert(
        "rust_node_call_reuse_us_p50".into(),
        num(reused.and_then(|m| percentile(&m.call, 50.0)).map(us)),
    );

    // W2: crash at node 6, resume in a new process.
    if plan.resume_reps > 0 {
        section(&format!(
            "resume: {} x (run, SIGKILL during node 6, `savepoint resume`) with {}",
            plan.resume_reps,
            plan.savepoint.display()
        ));
        let (savepoint, counter, chain) = (plan.savepoint.clone(), rust_counter, chain.clone());
        let (dir, reps) = (scratch.join("resume"), plan.resume_reps);
        let measured = tokio::task::spawn_blocking(move || {
            resume::measure(&savepoint, &counter, &chain, &dir, reps)
        })
        .await??;
        failures.extend(measured.failures.iter().map(|f| format!("resume: {f}")));
        put_resume(&mut out, Some(&measured));
        result(&format!(
            "median {:.1} ms{}",
            ms_median(&measured.wall).unwrap_or(f64::NAN),
            if measured.failures.is_empty() {
                ", checks passed"
            } else {
                ", CHECKS FAILED"
            }
        ));
    } else {
        notes.push("the resume scenario was skipped (--skip-resume)".into());
        put_resume(&mut out, None);
    }

    out.insert("notes".into(), json!(notes));
    out.insert("failures".into(), json!(failures));
    Ok(Outcome {
        json: out,
        failures,
    })
}

/// A scenario starts (progress on stderr).
fn section(message: &str) {
    eprintln!("== {message}");
}

/// What it measured, in short.
fn result(message: &str) {
    eprintln!("   {message}");
}

fn size_name(size: usize) -> &'static str {
    if size >= 100_000 { "100 KB" } else { "100 B" }
}

fn summary(m: &Measured) -> String {
    format!(
        "{:.0} steps/s, step p50 {:.3} ms, overhead p50 {:.1} us, {:.0} DB bytes/step{}",
        m.steps_per_s(),
        percentile(&m.latency, 50.0).map(ms).unwrap_or(f64::NAN),
        percentile(&m.overhead, 50.0).map(us).unwrap_or(f64::NAN),
        m.bytes_per_step(),
        if m.errors.is_empty() {
            String::new()
        } else {
            format!(", {} FAILED RUNS", m.errors.len())
        }
    )
}

/// A note when the disk stalled during the run: then every commit, the
/// floor's and savepoint's alike, carries the stalls, which pulls the
/// throughput ratios towards 1 (the p50 ratios are not affected).
fn stalls(floor: &Floor, size: usize) -> Option<String> {
    let p50 = percentile(&floor.latency, 50.0)?;
    let p99 = percentile(&floor.latency, 99.0)?;
    let mean = floor.wall / floor.commits.max(1) as u32;
    (p99 > p50 * 10 && p99 > Duration::from_millis(1)).then(|| {
        format!(
            "the disk stalled during the {} runs (floor commit p50 {:.3} ms, p99 {:.3} ms, mean \
             {:.3} ms): throughput ratios to the floor are pulled towards 1; compare the p50 \
             ratios, or rerun on a quiet machine",
            size_name(size),
            ms(p50),
            ms(p99),
            ms(mean)
        )
    })
}

fn report_errors(name: &str, m: &Measured, failures: &mut Vec<String>) {
    for error in m.errors.iter().take(5) {
        failures.push(format!("{name}: {error}"));
    }
    if m.errors.len() > 5 {
        failures.push(format!("{name}: {} more failed runs", m.errors.len() - 5));
    }
}

fn num(value: Option<f64>) -> Value {
    value
        .filter(|v| v.is_finite())
        .map_or(Value::Null, |v| json!(v))
}

fn ratio(a: f64, b: f64) -> Value {
    num(Some(a / b))
}

fn ms_median(samples: &[Duration]) -> Option<f64> {
    median(&samples.iter().map(|d| ms(*d)).collect::<Vec<_>>())
}

fn machine(plan: &Plan, out: &mut Map<String, Value>) {
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
    out.insert("quick".into(), json!(plan.quick));
    out.insert("runs".into(), json!(plan.runs));
    out.insert("conc".into(), json!(plan.conc));
    out.insert("rounds".into(), json!(plan.rounds));
    out.insert("rounds_100kb".into(), json!((plan.rounds / 3).max(1)));
    out.insert("lang_runs".into(), json!(plan.lang_runs));
    out.insert("resume_reps".into(), json!(plan.resume_reps));
}

fn put_floor(out: &mut Map<String, Value>, size_key: &str, floor: &Floor) {
    let suffix = if size_key == "100b" { "" } else { "_100kb" };
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{key}{suffix}"), value);
    };
    put("floor_commits_per_s", json!(floor.commits_per_s()));
    put(
        "floor_commit_p50_ms",
        num(percentile(&floor.latency, 50.0).map(ms)),
    );
    put(
        "floor_commit_p99_ms",
        num(percentile(&floor.latency, 99.0).map(ms)),
    );
    put("floor_bytes_per_commit", json!(floor.bytes_per_commit()));
}

fn put_w1(out: &mut Map<String, Value>, name: &str, m: &Measured, floor: &Floor) {
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{name}_{key}"), value);
    };
    let p50 = percentile(&m.latency, 50.0).map(ms);
    let floor_p50 = percentile(&floor.latency, 50.0).map(ms);
    put("steps_per_s", json!(m.steps_per_s()));
    put("floor_ratio", ratio(m.steps_per_s(), floor.commits_per_s()));
    put("step_p50_ms", num(p50));
    put("step_p99_ms", num(percentile(&m.latency, 99.0).map(ms)));
    put(
        "step_p50_floor_ratio",
        num(p50.zip(floor_p50).map(|(a, b)| a / b)),
    );
    put(
        "overhead_us_p50",
        num(percentile(&m.overhead, 50.0).map(us)),
    );
    put(
        "overhead_us_p99",
        num(percentile(&m.overhead, 99.0).map(us)),
    );
    put("commit_p50_ms", num(percentile(&m.commit, 50.0).map(ms)));
    put("node_call_us_p50", num(percentile(&m.call, 50.0).map(us)));
    put("bytes_per_step", json!(m.bytes_per_step()));
    put(
        "bytes_floor_ratio",
        ratio(m.bytes_per_step(), floor.bytes_per_commit()),
    );
    put("errors", json!(m.errors.len()));
}

fn put_lang(out: &mut Map<String, Value>, lang: &str, m: &Measured) {
    let mut put = |key: &str, value: Value| {
        out.insert(format!("{lang}_{key}"), value);
    };
    put(
        "step_overhead_us_p50",
        num(percentile(&m.overhead, 50.0).map(us)),
    );
    put(
        "step_overhead_us_p99",
        num(percentile(&m.overhead, 99.0).map(us)),
    );
    put("node_call_us_p50", num(percentile(&m.call, 50.0).map(us)));
    put("step_p50_ms", num(percentile(&m.latency, 50.0).map(ms)));
    put("steps_per_s", json!(m.steps_per_s()));
}

fn put_lang_missing(out: &mut Map<String, Value>, lang: &str) {
    for key in [
        "step_overhead_us_p50",
        "step_overhead_us_p99",
        "node_call_us_p50",
        "step_p50_ms",
        "steps_per_s",
    ] {
        out.insert(format!("{lang}_{key}"), Value::Null);
    }
}

fn put_resume(out: &mut Map<String, Value>, resume: Option<&resume::Resume>) {
    let walls: Vec<f64> = resume
        .map(|r| r.wall.iter().map(|d| ms(*d)).collect())
        .unwrap_or_default();
    let min = walls.iter().copied().reduce(f64::min);
    let max = walls.iter().copied().reduce(f64::max);
    out.insert("resume_ms".into(), num(median(&walls)));
    out.insert("resume_ms_min".into(), num(min));
    out.insert("resume_ms_max".into(), num(max));
    out.insert(
        "resume_ok".into(),
        resume.map_or(Value::Null, |r| json!(r.failures.is_empty())),
    );
    out.insert(
        "process_start_ms".into(),
        num(resume.and_then(|r| ms_median(&r.process_start))),
    );
}
