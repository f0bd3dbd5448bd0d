//! The SQLite scenarios in order: per state size the floor interleaved with
//! W1 sequential and concurrent, then each language's counter, `reuse =
//! true`, and the resume scenario.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::keys::{self, Out, ms_median, num};
use super::{Tally, report_errors, result, section, size_name, summary};
use crate::backend::Sqlite;
use crate::chain::{self, Chain};
use crate::first_call;
use crate::floor::{self, Floor};
use crate::options::{LANGS, Plan, counter_plugin};
use crate::resume;
use crate::stats::{ms, percentile, us};
use crate::w1::{self, Bed, Config};

/// State sizes of W1: (key suffix, bytes, floor commits before each
/// sequential workflow). At 100 B the floor commits a checkpoint per W1 step;
/// at 100 KB fewer (each one adds 100 KB to its file).
const SIZES: [(&str, usize, usize); 2] = [("100b", 100, 10), ("100kb", 100_000, 2)];
/// Floor commits before each concurrent round, per floor commit before a
/// sequential workflow.
const FLOOR_PER_ROUND: usize = 20;
/// The keys of `first_call::measure`, after `LANG_`, in the order it fills them.
const FIRST_CALL_KEYS: [&str; 7] = [
    "first_call_cold_ms",
    "first_call_cached_ms",
    "first_call_cold_cranelift_ms",
    "optimize_ms",
    "call_us_while_optimizing",
    "call_us_winch",
    "call_us_cranelift",
];

/// Every SQLite scenario, its figures into `out`.
pub async fn run(
    plan: &Plan,
    scratch: &Path,
    bed: &Bed,
    chain: &Chain,
    out: &mut Out,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let Tally { notes, failures } = tally;
    let sqlite = Sqlite {
        scratch: scratch.to_path_buf(),
    };
    let rust_counter = plan.plugins.join("counter.wasm");

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
        let mut seq = w1::Session::open(bed, &sqlite, config(false)).await?;
        for _ in 0..plan.runs {
            floor.block(floor_per_run)?;
            seq.round(1).await;
        }
        let seq = seq.close().await;
        let mut conc = w1::Session::open(bed, &sqlite, config(true)).await?;
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
            "floor:      {:.0} commits/s, {:.1} WAL pages/commit",
            floor.commits_per_s(),
            floor.wal.frames_per_unit().unwrap_or(f64::NAN)
        ));
        let suffix = if size_key == "100b" { "" } else { "_100kb" };
        keys::put_floor(out, "", suffix, Some(&floor));
        for (name, measured) in [
            (format!("w1_seq_{size_key}"), &seq),
            (format!("w1_conc100_{size_key}"), &conc),
        ] {
            report_errors(&name, &measured.errors, failures);
            keys::put_w1(out, &name, Some(measured), Some(&floor));
        }
        keys::put_wal(
            out,
            &format!("w1_seq_{size_key}"),
            suffix,
            Some(&seq),
            Some(&floor),
        );
        result(&format!("sequential: {}", summary(&seq)));
        result(&format!("concurrent: {}", summary(&conc)));
        if size_key == "100b" {
            put_cpu(out, Some(&seq), Some(&conc));
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
                keys::put_lang(out, lang, None);
            }
            out.insert(format!("{lang}_component_bytes"), Value::Null);
            for key in FIRST_CALL_KEYS {
                out.insert(format!("{lang}_{key}"), Value::Null);
            }
            continue;
        }
        if lang == "rust" {
            if let Some(measured) = &rust_chain {
                keys::put_lang(out, lang, Some(measured));
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
            let measured = w1::run(bed, &sqlite, config, plan.lang_runs).await?;
            report_errors(&name, &measured.errors, failures);
            result(&summary(&measured));
            keys::put_lang(out, lang, Some(&measured));
        }
        section(&format!(
            "{lang} counter: first call, cold (Cranelift only, then Winch first) and cached; \
             calls on each compiler's code"
        ));
        let first = first_call::measure(&component, &scratch.join(format!("first-call-{lang}")))
            .await
            .with_context(|| format!("first call of the {lang} counter"))?;
        result(&format!(
            "cold {:.1} ms (Cranelift only {:.1} ms), cached {:.1} ms; call p50 {:.1} us on \
             Winch's code, {:.1} us on Cranelift's",
            ms(first.cold),
            ms(first.cold_cranelift),
            ms(first.cached),
            us(first.call_winch),
            us(first.call_cranelift),
        ));
        if let Some(optimize) = first.optimize {
            result(&format!(
                "Cranelift in the background: swapped in {:.0} ms after the first call; a \
                 call meanwhile p50 {} us",
                ms(optimize),
                first
                    .call_while_optimizing
                    .map_or("-".into(), |d| format!("{:.1}", us(d)))
            ));
        }
        out.insert(
            format!("{lang}_component_bytes"),
            json!(first.component_bytes),
        );
        let values = [
            num(Some(ms(first.cold))),
            num(Some(ms(first.cached))),
            num(Some(ms(first.cold_cranelift))),
            num(first.optimize.map(ms)),
            num(first.call_while_optimizing.map(us)),
            num(Some(us(first.call_winch))),
            num(Some(us(first.call_cranelift))),
        ];
        for (key, value) in FIRST_CALL_KEYS.into_iter().zip(values) {
            out.insert(format!("{lang}_{key}"), value);
        }
    }

    // The Rust counter with `reuse = true`, if this savepoint has it.
    let reuse = chain::reuse_supported(chain);
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
            let measured = w1::run(bed, &sqlite, config, plan.runs).await?;
            report_errors("rust_reuse", &measured.errors, failures);
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
        let dir = scratch.join("resume");
        let dbs: Vec<OsString> = (1..=plan.resume_reps)
            .map(|rep| dir.join(format!("resume-{rep}.db")).into_os_string())
            .collect();
        let measured = tokio::task::spawn_blocking(move || {
            resume::measure(&savepoint, &counter, &chain, &dir, &dbs)
        })
        .await??;
        failures.extend(measured.failures.iter().map(|f| format!("resume: {f}")));
        keys::put_resume(out, "", Some(&measured));
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
        keys::put_resume(out, "", None);
    }

    Ok(())
}

/// `w1_seq_cpu_us_per_step`, `w1_conc100_cpu_us_per_step`: the host's CPU per
/// step (this process: user + system, every thread) in W1 100 B.
fn put_cpu(out: &mut Out, seq: Option<&w1::Measured>, conc: Option<&w1::Measured>) {
    for (key, measured) in [
        ("w1_seq_cpu_us_per_step", seq),
        ("w1_conc100_cpu_us_per_step", conc),
    ] {
        out.insert(key.into(), num(measured.map(w1::Measured::cpu_us_per_step)));
    }
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

/// The SQLite keys, all null (`--backend postgres`).
pub fn skipped(out: &mut Out) {
    for (suffix, size_key) in [("", "100b"), ("_100kb", "100kb")] {
        keys::put_floor(out, "", suffix, None);
        keys::put_wal(out, &format!("w1_seq_{size_key}"), suffix, None, None);
    }
    for name in [
        "w1_seq_100b",
        "w1_seq_100kb",
        "w1_conc100_100b",
        "w1_conc100_100kb",
    ] {
        keys::put_w1(out, name, None, None);
    }
    out.insert("w1_bytes_per_step_100kb".into(), Value::Null);
    put_cpu(out, None, None);
    for (lang, _) in LANGS {
        keys::put_lang(out, lang, None);
        for key in ["component_bytes"].into_iter().chain(FIRST_CALL_KEYS) {
            out.insert(format!("{lang}_{key}"), Value::Null);
        }
    }
    for key in [
        "rust_step_overhead_reuse_us_p50",
        "rust_step_overhead_reuse_us_p99",
        "rust_node_call_reuse_us_p50",
    ] {
        out.insert(key.into(), Value::Null);
    }
    keys::put_resume(out, "", None);
}
