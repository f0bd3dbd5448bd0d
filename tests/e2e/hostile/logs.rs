//! Nodes that flood the log: the log and the daemon stay bounded.

use std::time::Instant;

use serde_json::Value;

use super::{Arena, hostile};
use crate::fixtures::proc_status_kib;

#[test]
fn a_million_log_lines_keep_the_log_and_the_daemon_bounded() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "chatty",
        &hostile("log_flood", "timeout = \"30s\""),
    );
    // Load the plugins first, so the baseline holds their code.
    arena.start("warm", "warm");
    assert_eq!(arena.wait_end("warm")["status"], "completed");
    let pid = arena.daemon.pid();
    let rss_before = proc_status_kib(pid, "VmRSS");

    let started = Instant::now();
    let status = arena.play();
    let took = started.elapsed();
    arena.assert_completed(&status, "chatty");

    let logs = arena.env.logs("bad");
    let chatty: Vec<&Value> = logs.iter().filter(|l| l["node"] == "chatty").collect();
    let bytes: usize = chatty
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().len())
        .sum();
    assert!(
        bytes < 4 << 20,
        "the run's log holds {bytes} bytes in {} lines",
        chatty.len()
    );
    assert!(
        chatty.len() < 1_000_000,
        "the log kept all {} lines",
        chatty.len()
    );
    assert!(
        chatty
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains("dropped"))),
        "the log says lines were dropped: {:?}",
        chatty.last()
    );

    let rss_after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    eprintln!(
        "log flood: {took:?}, {} lines / {bytes} bytes kept; daemon RSS {rss_before} -> \
         {rss_after} KiB (peak {peak} KiB)",
        chatty.len()
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 << 10,
        "the daemon's RSS grew from {rss_before} KiB to {rss_after} KiB (peak {peak} KiB)"
    );
    arena.assert_serving();
}

/// Empty lines cost a row each too: a million of them keep at most
/// `max_log` lines (10,000) plus the line that counts the dropped ones, and
/// the daemon's memory stays flat (before `max_log`, 5,000,000 took 1.27 GB).
#[test]
fn a_million_empty_log_lines_keep_max_log_lines_and_the_daemon_bounded() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "mute",
        &hostile("empty_log_flood", "timeout = \"30s\""),
    );
    arena.start("warm", "warm");
    assert_eq!(arena.wait_end("warm")["status"], "completed");
    let pid = arena.daemon.pid();
    let rss_before = proc_status_kib(pid, "VmRSS");

    let status = arena.play();
    arena.assert_completed(&status, "mute");
    let mute = arena
        .env
        .sql_number("SELECT count(*) FROM logs WHERE thread = 'bad' AND node = 'mute'");
    assert_eq!(
        mute,
        Some(10_001),
        "the log of the node that logged 1,000,001 lines"
    );

    let rss_after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");
    eprintln!("empty log flood: daemon RSS {rss_before} -> {rss_after} KiB (peak {peak} KiB)");
    assert!(
        peak.saturating_sub(rss_before) < 64 << 10,
        "the daemon's peak RSS grew from {rss_before} KiB to {peak} KiB"
    );
    arena.assert_serving();
}
