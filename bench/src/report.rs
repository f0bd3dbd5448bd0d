//! The table for people, printed from the same JSON object `--json` prints.

use std::fmt::Write;

use serde_json::{Map, Value};

/// Every figure of `json` as tables, with the targets of the performance
/// issue (for reading, not assertions).
pub fn table(json: &Map<String, Value>) -> String {
    let get = |key: &str| json.get(key).and_then(Value::as_f64);
    let text = |key: &str| json.get(key).and_then(Value::as_str).unwrap_or("?");
    let mut out = String::new();
    let w = &mut out;

    let _ = writeln!(
        w,
        "savepoint benchmarks, {} ({} build)\nmachine: {} cores, {}, {}; SQLite {}",
        text("measured_at"),
        text("build_profile"),
        get("machine_cores").unwrap_or(0.0),
        text("machine_cpu"),
        text("machine_os"),
        text("sqlite_version"),
    );
    let backend = text("backend");
    let (sqlite, postgres) = (backend != "postgres", backend != "sqlite");
    if postgres {
        let _ = writeln!(w, "PostgreSQL {}", text("postgres_version"));
    }
    let _ = writeln!(
        w,
        "workload: W1 = the 10-node chain, state {{count, payload}}; {} sequential workflows, \
         {} at once x {} rounds (100 KB: {} rounds)",
        get("runs").unwrap_or(0.0),
        get("conc").unwrap_or(0.0),
        get("rounds").unwrap_or(0.0),
        get("rounds_100kb").unwrap_or(0.0),
    );

    if sqlite {
        sqlite_tables(w, json);
    }
    if postgres {
        postgres_tables(w, json);
    }

    let _ = writeln!(
        w,
        "\n{:<48} {:>10} {:>10}",
        "targets (not assertions)", "measured", "target"
    );
    let targets: [(&str, &str, f64, bool); 10] = [
        (
            "W1 sequential 100 B, x floor commits/s",
            "w1_seq_100b_floor_ratio",
            0.9,
            true,
        ),
        (
            "W1 100 concurrent 100 B, steps/s",
            "w1_conc100_100b_steps_per_s",
            25_000.0,
            true,
        ),
        (
            "W1 100 concurrent 100 B, x floor commits/s",
            "w1_conc100_100b_floor_ratio",
            6.0,
            true,
        ),
        (
            "W1 100 concurrent 100 B, host CPU/step, us",
            "w1_conc100_cpu_us_per_step",
            40.0,
            false,
        ),
        (
            "DB bytes per step, 100 KB state",
            "w1_bytes_per_step_100kb",
            2_000.0,
            false,
        ),
        ("resume, ms", "resume_ms", 50.0, false),
        (
            "Rust step overhead p50, fresh instance, us",
            "rust_step_overhead_us_p50",
            50.0,
            false,
        ),
        (
            "Rust step overhead p50, reused instance, us",
            "rust_step_overhead_reuse_us_p50",
            10.0,
            false,
        ),
        (
            "Postgres, W1 100 concurrent 100 B, x its floor",
            "pg_w1_conc100_100b_floor_ratio",
            1.0,
            true,
        ),
        (
            "Postgres, two hosts, x one host",
            "pg_two_hosts_vs_one",
            1.0,
            true,
        ),
    ];
    for (label, key, target, at_least) in targets {
        // A backend that was not measured has no targets to show.
        let measured_backend = if key.starts_with("pg_") {
            postgres
        } else {
            sqlite
        };
        if !measured_backend {
            continue;
        }
        let measured = get(key);
        let verdict = match measured {
            None => "not measured",
            Some(m) if (at_least && m >= target) || (!at_least && m <= target) => "met",
            Some(_) => "missed",
        };
        let shown = if target < 10.0 {
            fixed(measured, 2)
        } else {
            group(measured)
        };
        let bound = if target < 10.0 {
            format!("{target:.2}")
        } else {
            group(Some(target))
        };
        let _ = writeln!(
            w,
            "{label:<48} {shown:>10} {:>10}  {verdict}",
            format!("{}{bound}", if at_least { ">= " } else { "<= " })
        );
    }

    for (title, key) in [("notes", "notes"), ("FAILURES", "failures")] {
        let items: Vec<&str> = json
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !items.is_empty() {
            let _ = writeln!(w, "\n{title}:");
            for item in items {
                let _ = writeln!(w, "  - {item}");
            }
        }
    }
    out
}

/// The SQLite scenarios: W1 and the floor, each language's counter, resume.
fn sqlite_tables(w: &mut String, json: &Map<String, Value>) {
    let get = |key: &str| json.get(key).and_then(Value::as_f64);
    let _ = writeln!(
        w,
        "\n{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
        "W1 chain, Rust counter",
        "steps/s",
        "x floor",
        "step p50",
        "step p99",
        "x floor",
        "overhead",
        "commit",
        "DB B/step",
        "x floor"
    );
    let _ = writeln!(
        w,
        "{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
        "", "", "", "ms", "ms", "", "p50 us", "p50 ms", "", ""
    );
    for (label, name) in [
        ("sequential, 100 B", "w1_seq_100b"),
        ("sequential, 100 KB", "w1_seq_100kb"),
        ("concurrent, 100 B", "w1_conc100_100b"),
        ("concurrent, 100 KB", "w1_conc100_100kb"),
    ] {
        let f = |key: &str| get(&format!("{name}_{key}"));
        let _ = writeln!(
            w,
            "{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
            label,
            group(f("steps_per_s")),
            fixed(f("floor_ratio"), 2),
            fixed(f("step_p50_ms"), 3),
            fixed(f("step_p99_ms"), 3),
            fixed(f("step_p50_floor_ratio"), 2),
            fixed(f("overhead_us_p50"), 1),
            fixed(f("commit_p50_ms"), 3),
            group(f("bytes_per_step")),
            fixed(f("bytes_floor_ratio"), 2),
        );
    }
    for (label, suffix) in [
        ("floor (rusqlite), 100 B", ""),
        ("floor (rusqlite), 100 KB", "_100kb"),
    ] {
        let f = |key: &str| get(&format!("{key}{suffix}"));
        let _ = writeln!(
            w,
            "{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
            label,
            group(f("floor_commits_per_s")),
            "1",
            fixed(f("floor_commit_p50_ms"), 3),
            fixed(f("floor_commit_p99_ms"), 3),
            "1",
            "",
            "",
            group(f("floor_bytes_per_commit")),
            "1",
        );
    }
    let _ = writeln!(
        w,
        "(floor: one INSERT of the state JSON per BEGIN IMMEDIATE..COMMIT, same PRAGMAs; its \
         step columns are per commit;\n overhead = step latency - the step's wait for its \
         durable commit; concurrent: {} workflows at once)",
        get("conc").unwrap_or(0.0)
    );
    let _ = writeln!(
        w,
        "WAL pages (frames) per sequential step: 100 B {} ({} commits/step; floor {} per \
         commit), 100 KB {} ({} commits/step; floor {} per commit)",
        fixed(get("w1_seq_100b_wal_pages_per_step"), 1),
        fixed(get("w1_seq_100b_commits_per_step"), 2),
        fixed(get("floor_wal_pages_per_commit"), 1),
        fixed(get("w1_seq_100kb_wal_pages_per_step"), 1),
        fixed(get("w1_seq_100kb_commits_per_step"), 2),
        fixed(get("floor_wal_pages_per_commit_100kb"), 1),
    );

    let _ = writeln!(
        w,
        "\n{:<22} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "counter on the chain",
        "component",
        "first call",
        "first call",
        "node call",
        "overhead",
        "overhead",
        "step p50"
    );
    let _ = writeln!(
        w,
        "{:<22} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "(100 B state)", "bytes", "cold ms", "cached ms", "p50 us", "p50 us", "p99 us", "ms"
    );
    for (label, lang) in [
        ("Rust", "rust"),
        ("Python", "python"),
        ("JavaScript", "js"),
        ("C", "c"),
    ] {
        let f = |key: &str| get(&format!("{lang}_{key}"));
        let _ = writeln!(
            w,
            "{:<22} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>9}",
            label,
            group(f("component_bytes")),
            fixed(f("first_call_cold_ms"), 1),
            fixed(f("first_call_cached_ms"), 1),
            fixed(f("node_call_us_p50"), 1),
            fixed(f("step_overhead_us_p50"), 1),
            fixed(f("step_overhead_us_p99"), 1),
            fixed(f("step_p50_ms"), 3),
        );
        if lang == "rust" {
            let _ = writeln!(
                w,
                "{:<22} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>9}",
                "Rust, reuse = true",
                "",
                "",
                "",
                fixed(get("rust_node_call_reuse_us_p50"), 1),
                fixed(get("rust_step_overhead_reuse_us_p50"), 1),
                fixed(get("rust_step_overhead_reuse_us_p99"), 1),
                "",
            );
        }
    }

    let _ = writeln!(
        w,
        "\n{:<22} {:>14} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "compilers (counter)",
        "cold Cranelift",
        "cold tiered",
        "optimize ms",
        "call Winch",
        "call Cranel.",
        "call meanw."
    );
    for (label, lang) in [
        ("Rust", "rust"),
        ("Python", "python"),
        ("JavaScript", "js"),
        ("C", "c"),
    ] {
        let f = |key: &str| get(&format!("{lang}_{key}"));
        let _ = writeln!(
            w,
            "{:<22} {:>14} {:>12} {:>12} {:>12} {:>12} {:>12}",
            label,
            fixed(f("first_call_cold_cranelift_ms"), 1),
            fixed(f("first_call_cold_ms"), 1),
            fixed(f("optimize_ms"), 0),
            fixed(f("call_us_winch"), 1),
            fixed(f("call_us_cranelift"), 1),
            fixed(f("call_us_while_optimizing"), 1),
        );
    }
    let _ = writeln!(
        w,
        "(first calls in ms; calls: fresh instance + run, p50 us; tiered: Winch first from \
         1 MB, Cranelift in the background, swapped in after optimize ms)"
    );

    let _ = writeln!(
        w,
        "\nresume (process 1 SIGKILLed during node 6; `savepoint resume`, spawn to exit): \
         median {} ms (min {}, max {}) over {}, checks {}; bare process start {} ms",
        fixed(get("resume_ms"), 1),
        fixed(get("resume_ms_min"), 1),
        fixed(get("resume_ms_max"), 1),
        get("resume_reps").unwrap_or(0.0),
        match json.get("resume_ok").and_then(Value::as_bool) {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "not run",
        },
        fixed(get("process_start_ms"), 1),
    );
}

/// The Postgres section: W1 and the floor, resume, one and two hosts.
fn postgres_tables(w: &mut String, json: &Map<String, Value>) {
    let get = |key: &str| json.get(key).and_then(Value::as_f64);
    let _ = writeln!(
        w,
        "\n{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
        "Postgres, W1, 100 B",
        "steps/s",
        "x floor",
        "step p50",
        "step p99",
        "x floor",
        "overhead",
        "commit",
        "DB B/step",
        "x floor"
    );
    for (label, name) in [
        ("sequential", "pg_w1_seq_100b"),
        ("concurrent", "pg_w1_conc100_100b"),
    ] {
        let f = |key: &str| get(&format!("{name}_{key}"));
        let _ = writeln!(
            w,
            "{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
            label,
            group(f("steps_per_s")),
            fixed(f("floor_ratio"), 2),
            fixed(f("step_p50_ms"), 3),
            fixed(f("step_p99_ms"), 3),
            fixed(f("step_p50_floor_ratio"), 2),
            fixed(f("overhead_us_p50"), 1),
            fixed(f("commit_p50_ms"), 3),
            group(f("bytes_per_step")),
            fixed(f("bytes_floor_ratio"), 2),
        );
    }
    let _ = writeln!(
        w,
        "{:<26} {:>9} {:>7} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>7}",
        "floor (100 clients)",
        group(get("pg_floor_commits_per_s")),
        "1",
        fixed(get("pg_floor_commit_p50_ms"), 3),
        fixed(get("pg_floor_commit_p99_ms"), 3),
        "1",
        "",
        "",
        group(get("pg_floor_bytes_per_commit")),
        "1",
    );
    let _ = writeln!(
        w,
        "(floor: 100 connections, each one autocommit INSERT of the state JSON per transaction, \
         synchronous_commit on)"
    );
    let _ = writeln!(
        w,
        "\n{:<26} {:>12} {:>12} {:>12}",
        "Postgres, per step/commit", "client CPU", "server CPU", "WAL flushes"
    );
    for (label, name, client, unit) in [
        ("floor", "pg_floor", "client", "commit"),
        ("W1 sequential", "pg_w1_seq_100b", "host", "step"),
        ("W1 concurrent", "pg_w1_conc100_100b", "host", "step"),
        ("one serve host", "pg_one_host_conc100_100b", "host", "step"),
        (
            "two serve hosts",
            "pg_two_hosts_conc100_100b",
            "host",
            "step",
        ),
    ] {
        let _ = writeln!(
            w,
            "{:<26} {:>12} {:>12} {:>12}",
            label,
            fixed(get(&format!("{name}_{client}_cpu_us_per_{unit}")), 1),
            fixed(get(&format!("{name}_server_cpu_us_per_{unit}")), 1),
            fixed(get(&format!("{name}_wal_syncs_per_{unit}")), 3),
        );
    }
    let _ = writeln!(
        w,
        "(CPU in us; client = the bench process, and the serve hosts)"
    );
    let _ = writeln!(
        w,
        "\nPostgres resume (`--db URL`): median {} ms (min {}, max {}), checks {}",
        fixed(get("pg_resume_ms"), 1),
        fixed(get("pg_resume_ms_min"), 1),
        fixed(get("pg_resume_ms_max"), 1),
        match json.get("pg_resume_ok").and_then(Value::as_bool) {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "not run",
        },
    );
    let _ = writeln!(
        w,
        "Postgres hosts (`savepoint serve`, {} runs at once): one host {} steps/s, two hosts {} \
         steps/s (x one host {}, x floor {}; the busier host ran {} of the runs)",
        get("conc").unwrap_or(0.0),
        group(get("pg_one_host_conc100_100b_steps_per_s")),
        group(get("pg_two_hosts_conc100_100b_steps_per_s")),
        fixed(get("pg_two_hosts_vs_one"), 2),
        fixed(get("pg_two_hosts_floor_ratio"), 2),
        fixed(get("pg_two_hosts_busiest_share"), 2),
    );
}

/// `12,345` (rounded), or `-` when not measured.
fn group(value: Option<f64>) -> String {
    let Some(value) = value else {
        return "-".into();
    };
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// A number with `decimals` decimals, or `-` when not measured.
fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping() {
        assert_eq!(group(Some(1234567.4)), "1,234,567");
        assert_eq!(group(Some(999.6)), "1,000");
        assert_eq!(group(Some(12.0)), "12");
        assert_eq!(group(None), "-");
        assert_eq!(fixed(Some(0.12345), 3), "0.123");
    }
}
