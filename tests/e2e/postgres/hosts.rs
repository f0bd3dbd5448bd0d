//! Several hosts on one Postgres, one of them SIGKILLed again and again: every
//! run completes with one checkpoint per step, no call of a step overlaps
//! another call of it, and a killed host's runs go on elsewhere within the
//! lease time (plus a margin).
//!
//! Each host runs as a machine of its own (a host name of its own), so the
//! others cannot see that it died: they take its runs over only when its
//! leases expire, as on separate machines. Its nodes name it to the
//! [`Witness`], which times every call on the test's clock.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::chain::{assert_steps_once, create_run, history, report_chain, wait_completed};
use super::cluster::{Host, Schema};
use super::witness::{Call, Witness, assert_fenced, assert_no_overlap};
use crate::fixtures::{Db, Env, POLL, now_ms, parse_time};

const HOSTS: usize = 3;
const RUNS: usize = 300;
const STEPS: usize = 10;
const KILLS: usize = 12;
/// Short, so that a killed host's runs wait little; `LEASE_MS` is the same.
const LEASE: &str = "3s";
const LEASE_MS: i64 = 3_000;
/// How long each node call works (the witness holds its first request).
const WORK: Duration = Duration::from_millis(250);
/// Runs going at once: fewer than one host's node-call slots (`--workers`,
/// 64 by default), so that a run taken over starts its next call at once
/// rather than queue behind a host's backlog, and few enough that the work
/// lasts through all the kills.
const IN_FLIGHT: usize = 30;
/// How long the work may take, kills and all (it takes well under a minute).
const WORK_DEADLINE: Duration = Duration::from_secs(150);
/// How late a killed host's run may commit its next step after the kill:
/// the lease, then a claim (a 200 ms poll or a notice) and a call; twice
/// that when the host that took it over is the next one killed. A
/// correctness bound (the run was not left behind until, say, its host came
/// back), not a speed target: a loaded 2-core machine gets a generous margin.
const TAKEOVER_BOUND_MS: i64 = LEASE_MS + 12_000;

/// A kill: which incarnation died, and when (test clock, and unix ms to
/// compare with checkpoint times).
struct Kill {
    who: String,
    at: Instant,
    at_ms: i64,
}

#[test]
fn three_hosts_share_the_runs_and_survive_kills() {
    let witness = Witness::start(WORK);
    let schema = Schema::fresh();
    let env = Env::with_db(&["hostile"], Db::Url(schema.url()));
    env.daemon_workflow("chain", &report_chain("chain", STEPS, witness.port()));
    let args = ["--lease", LEASE];
    let mut lives = [1usize; HOSTS];
    let mut hosts: Vec<Host> = (0..HOSTS)
        .map(|h| Host::start(&env, &incarnation(h, 1), &args))
        .collect();

    // Runs are started as others finish, at most `IN_FLIGHT` at once; kill k
    // comes once k/(KILLS + 2) of all the steps are done, so every kill lands
    // in the middle of the work however fast the machine is.
    let threads: Vec<String> = (0..RUNS).map(|i| format!("run-{i:03}")).collect();
    let total = RUNS * STEPS;
    let mut kills: Vec<Kill> = Vec::new();
    let started = Instant::now();
    let mut created = 0;
    while created < RUNS || kills.len() < KILLS {
        assert!(
            started.elapsed() < WORK_DEADLINE,
            "gave up after {WORK_DEADLINE:?}: {created} runs created, {} calls ended, {} kills",
            witness.ended(),
            kills.len()
        );
        let finished = witness.finished(STEPS as u64);
        while created < RUNS && created - finished.min(created) < IN_FLIGHT {
            create_run(hosts[created % HOSTS].addr(), "chain", &threads[created]);
            created += 1;
        }
        if kills.len() < KILLS && witness.ended() >= total * (kills.len() + 1) / (KILLS + 2) {
            let victim = busiest(&witness.calls(), &hosts, kills.len());
            let at = hosts[victim].kill();
            kills.push(Kill {
                who: hosts[victim].who().to_string(),
                at,
                at_ms: now_ms(),
            });
            lives[victim] += 1;
            hosts[victim] = Host::start(&env, &incarnation(victim, lives[victim]), &args);
        }
        std::thread::sleep(POLL);
    }
    wait_completed(hosts[0].addr(), RUNS, Duration::from_secs(120));

    let calls = witness.calls();
    assert_eq!(
        witness.strange(),
        Vec::<String>::new(),
        "requests the witness did not expect"
    );
    let deaths: HashMap<String, Instant> = kills.iter().map(|k| (k.who.clone(), k.at)).collect();
    assert_no_overlap(&calls, &deaths);
    assert_fenced(&calls);

    let returned: HashSet<(&str, u64)> = calls
        .iter()
        .filter(|c| c.end.is_some())
        .map(|c| (c.thread.as_str(), c.step))
        .collect();
    let mut commits: HashMap<String, Vec<i64>> = HashMap::new();
    for thread in &threads {
        let history = history(hosts[0].addr(), thread);
        assert_steps_once(thread, STEPS, &history);
        for step in 1..=STEPS as u64 {
            assert!(
                returned.contains(&(thread.as_str(), step)),
                "thread {thread} step {step} was committed, but no call of it returned"
            );
        }
        let times = history
            .iter()
            .map(|c| parse_time(c["created_at"].as_str().expect("created_at")))
            .collect();
        commits.insert(thread.clone(), times);
    }
    assert_takeovers(&kills, &calls, &commits);
}

/// The name of host `h`'s `life`-th process: its machine name, and what its
/// nodes tell the witness.
fn incarnation(h: usize, life: usize) -> String {
    format!("host{}-life{life}", h + 1)
}

/// The host with the most calls in flight now (so that its death matters);
/// among equals, the first from the `k`-th on, so that each gets its turn.
fn busiest(calls: &[Call], hosts: &[Host], k: usize) -> usize {
    let in_flight = |host: &Host| {
        calls
            .iter()
            .filter(|c| c.who == host.who() && c.end.is_none() && c.gone.is_none())
            .count()
    };
    let mut best: Option<(usize, usize)> = None;
    for i in (0..hosts.len()).map(|i| (i + k) % hosts.len()) {
        let count = in_flight(&hosts[i]);
        if best.is_none_or(|(_, most)| count > most) {
            best = Some((i, count));
        }
    }
    best.expect("some host").0
}

/// Check that every run a killed host was driving (its last call before the
/// kill was that host's) committed its next step within [`TAKEOVER_BOUND_MS`]
/// of the kill, unless it had completed before; and that the kills did take
/// runs away from their hosts.
fn assert_takeovers(kills: &[Kill], calls: &[Call], commits: &HashMap<String, Vec<i64>>) {
    let mut waits = Vec::new();
    let mut late = Vec::new();
    for kill in kills {
        let mut last: HashMap<&str, &Call> = HashMap::new();
        for call in calls.iter().filter(|c| c.start < kill.at) {
            last.insert(&call.thread, call);
        }
        for (thread, call) in last {
            if call.who != kill.who {
                continue;
            }
            let times = &commits[thread];
            let Some(next) = times.iter().copied().filter(|&t| t > kill.at_ms).min() else {
                // Every commit came before the kill: it had completed.
                continue;
            };
            let wait = next - kill.at_ms;
            waits.push(wait);
            if wait > TAKEOVER_BOUND_MS {
                late.push(format!(
                    "{thread}: {wait} ms after the kill of {}",
                    kill.who
                ));
            }
        }
    }
    assert!(
        late.is_empty(),
        "runs of killed hosts committed their next step later than {TAKEOVER_BOUND_MS} ms \
         (lease {LEASE_MS} ms) after the kill:\n{}",
        late.join("\n")
    );
    assert!(
        waits.len() >= kills.len(),
        "the {} kills took only {} runs from their hosts",
        kills.len(),
        waits.len()
    );
    waits.sort_unstable();
    eprintln!(
        "{} runs taken over from {} killed hosts; their next commit came {} ms (median), \
         {} ms (slowest) after the kill",
        waits.len(),
        kills.len(),
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );
}
