//! Two `serve` hosts on one Postgres database, each as a machine of its own, with a
//! schedule every second for 20 s: exactly one run per tick (the test), every
//! run completed once. Both hosts look at the schedule every time it is due; the
//! run's thread (`NAME@TIME`) makes the second host's create a no-op, and the
//! compare-and-set of the next due time moves the schedule on once.

use serde_json::Value;

use super::cluster::{Host, Schema};
use crate::fixtures::{Db, Env, ONCE, wait_for};
use crate::schedules::{assert_one_run_per_due_time, scheduled_runs, time_ms};

/// How long the schedule fires (its due times), in ms.
const FIRING_MS: i64 = 20_000;

fn schedule(env: &Env) -> Value {
    env.json(&["schedule", "list", "--json"])["schedules"][0].clone()
}

#[test]
fn two_hosts_start_exactly_one_run_per_tick() {
    let schema = Schema::fresh();
    let env = Env::with_db(&["counter"], Db::Url(schema.url()));
    let once = env.daemon_workflow("once", ONCE);
    let _hosts = [
        Host::start(&env, "host1", &[]),
        Host::start(&env, "host2", &[]),
    ];
    env.ok(&["schedule", "add", "tick", &once, "--every", "1s"]);
    let created = time_ms(schedule(&env)["created_at"].as_str().unwrap());
    let until = created + FIRING_MS;
    wait_for(
        "20 s of due times fired",
        std::time::Duration::from_millis(FIRING_MS as u64 + 30_000),
        || match schedule(&env)["last_fired"].as_str().map(time_ms) {
            Some(last) if last >= until => Ok(()),
            other => Err(format!("last fired {other:?}")),
        },
    );
    env.ok(&["schedule", "pause", "tick"]);
    wait_for(
        "every scheduled run to complete",
        crate::fixtures::DEADLINE,
        || {
            let runs = scheduled_runs(&env, "tick");
            match runs.values().all(|(_, status)| status == "completed") {
                true => Ok(()),
                false => Err(format!("{runs:?}")),
            }
        },
    );
    let tick = schedule(&env);
    let last = time_ms(tick["last_fired"].as_str().unwrap());
    let runs = scheduled_runs(&env, "tick");
    assert!(runs.len() >= 20, "{} runs", runs.len());
    assert_one_run_per_due_time(&runs, &tick, last);
    for (thread, _) in runs.values() {
        let history = env.history(thread);
        assert_eq!(history.len(), 1, "{thread}: one checkpoint, committed once");
    }
}
