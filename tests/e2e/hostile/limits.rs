//! Nodes that loop, recurse, hoard memory, abort, return garbage or a huge
//! state: each fails at its node, and the good run completes.

use std::time::Instant;

use super::{Arena, hostile};
use crate::fixtures::{DEADLINE, proc_status_kib};

#[test]
fn an_infinite_loop_is_stopped_by_its_timeout() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "spinner",
        &hostile("loop", "timeout = \"1s\""),
    );
    let started = Instant::now();
    let status = arena.play();
    arena.assert_failed(&status, "spinner", &["timed out after 1s"]);
    assert!(
        started.elapsed() < DEADLINE,
        "the timeout stopped the loop: {:?}",
        started.elapsed()
    );
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    // The timeout is only a backstop: fuel must stop the loop first.
    let arena = Arena::new(
        &["counter", "hostile"],
        "burner",
        &hostile("loop", "fuel = 1000000\ntimeout = \"10s\""),
    );
    let status = arena.play();
    arena.assert_failed(&status, "burner", &["out of fuel", "1000000"]);
}

#[test]
fn unbounded_recursion_traps_on_stack_overflow() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "diver",
        &hostile("recursion", "timeout = \"10s\""),
    );
    let status = arena.play();
    let error = arena.assert_failed(&status, "diver", &["trapped"]);
    assert!(
        error.contains("stack"),
        "the trap says the stack overflowed: {error}"
    );
}

#[test]
fn a_memory_bomb_hits_its_memory_limit() {
    let arena = Arena::new(
        &["counter", "hostile"],
        "bomb",
        &hostile("memory", "memory = \"64MiB\"\ntimeout = \"10s\""),
    );
    let rss_before = proc_status_kib(arena.daemon.pid(), "VmRSS");
    let status = arena.play();
    arena.assert_failed(&status, "bomb", &["exceeded its memory limit (64 MiB)"]);
    // The guest could touch at most its 64 MiB; allow as much again for the
    // host's own work meanwhile.
    let peak = proc_status_kib(arena.daemon.pid(), "VmHWM");
    assert!(
        peak.saturating_sub(rss_before) < 128 << 10,
        "the daemon's peak RSS grew from {rss_before} KiB to {peak} KiB"
    );
}

#[test]
fn abort_traps_and_names_the_node() {
    let arena = Arena::new(&["counter", "hostile"], "quitter", &hostile("abort", ""));
    let status = arena.play();
    arena.assert_failed(&status, "quitter", &["trapped", "unreachable"]);
}

#[test]
fn invalid_json_fails_the_node() {
    let arena = Arena::new(
        &["counter", "badjson"],
        "garbler",
        "plugin = \"badjson\"\nconfig = { mode = \"not-json\" }",
    );
    let status = arena.play();
    arena.assert_failed(&status, "garbler", &["not JSON"]);
}

#[test]
fn a_100_mib_state_is_refused_by_max_state() {
    let bytes: usize = 100 << 20;
    let arena = Arena::new(
        &["counter", "hostile"],
        "hoarder",
        &hostile(
            "huge_state",
            "memory = \"256MiB\"\nmax_state = \"4MiB\"\ntimeout = \"20s\"",
        ),
    );
    let status = arena.play();
    // `{"big": "` + the x's + `"}`.
    let size = bytes + 11;
    arena.assert_failed(
        &status,
        "hoarder",
        &[&format!(
            "returned a state of {size} bytes, over its max_state of 4 MiB"
        )],
    );
    // Not a byte of it reached the database.
    let stored = arena.env.stored_bytes();
    assert!(
        stored < 16 << 20,
        "the database holds {stored} bytes after a refused 100 MiB state"
    );
}
