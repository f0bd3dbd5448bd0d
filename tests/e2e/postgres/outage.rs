//! The database goes away in the middle of the work (`pg_ctl stop -m
//! immediate`, as a crash of its machine) and comes back 5 s later: every run
//! completes with one checkpoint per step, no call of a step overlaps another,
//! and the hosts never exit.

use std::collections::HashMap;
use std::time::Duration;

use super::chain::{assert_steps_once, create_run, history, report_chain, wait_completed};
use super::cluster::{Host, Server};
use super::witness::{Witness, assert_fenced, assert_no_overlap};
use crate::fixtures::{Db, Env, wait_for};

const HOSTS: usize = 2;
const RUNS: usize = 50;
const STEPS: usize = 10;
/// How long each node call works (the witness holds its first request).
const WORK: Duration = Duration::from_millis(200);
/// How long the database stays away: the scenario, not a wait for
/// anything.
const OUTAGE: Duration = Duration::from_secs(5);

#[test]
fn runs_complete_when_the_database_comes_back() {
    let server = Server::start();
    let witness = Witness::closed(WORK);
    let env = Env::with_db(&["hostile"], Db::Url(server.url().to_string()));
    env.daemon_workflow("chain", &report_chain("chain", STEPS, witness.port()));
    // Few workers, so that the runs are still going when the database stops.
    let args = ["--workers", "4"];
    let mut hosts: Vec<Host> = (0..HOSTS)
        .map(|h| Host::start(&env, &format!("host{}", h + 1), &args))
        .collect();
    let threads: Vec<String> = (0..RUNS).map(|i| format!("run-{i:02}")).collect();
    for (i, thread) in threads.iter().enumerate() {
        create_run(hosts[i % HOSTS].addr(), "chain", thread);
    }
    // Every run exists before the first call ends.
    witness.open();

    let total = RUNS * STEPS;
    wait_for(
        "a third of the steps to be done",
        Duration::from_secs(60),
        || match witness.ended() {
            ended if ended >= total / 3 => Ok(()),
            ended => Err(format!("{ended} of {total} calls ended")),
        },
    );
    server.stop_immediately();
    std::thread::sleep(OUTAGE);
    for host in &mut hosts {
        assert!(
            host.alive(),
            "host {} exited while the database was away",
            host.who()
        );
    }
    server.start_again();
    let back = std::time::Instant::now();

    wait_completed(hosts[0].addr(), RUNS, Duration::from_secs(120));
    eprintln!(
        "every run completed {:?} after the database came back",
        back.elapsed()
    );
    for host in &mut hosts {
        assert!(host.alive(), "host {} exited", host.who());
    }
    assert_eq!(
        witness.strange(),
        Vec::<String>::new(),
        "requests the witness did not expect"
    );
    let calls = witness.calls();
    assert_no_overlap(&calls, &HashMap::new());
    assert_fenced(&calls);
    for thread in &threads {
        assert_steps_once(thread, STEPS, &history(hosts[0].addr(), thread));
    }
}
