//! Leases: claiming runnable runs fairly, lease epochs and expiry, renewals, daemon records, and fencing of writes under a lost lease.

use super::*;

pub(crate) async fn claim_due_shares_free_slots_fairly_among_workflows<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    let create = |thread: &str, workflow: &str| NewRun {
        workflow_name: workflow.to_owned(),
        ..new_run(thread)
    };
    // Six runs of "slow" became due first, then one of "fast".
    for thread in [
        "slow-1", "slow-2", "slow-3", "slow-4", "slow-5", "slow-6", "fast-1",
    ] {
        f.clock.advance(Duration::from_millis(1));
        let workflow = thread.split('-').next().unwrap();
        s.create_run(create(thread, workflow)).await.unwrap();
    }
    // Four free slots: the fast run gets one, oldest first within each turn.
    let claimed = s.claim_due("me", 4, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["slow-1", "fast-1", "slow-2", "slow-3"]);

    // The fast run ends and another one becomes due: of one free slot, it goes
    // to "fast" (which holds none) before the older slow backlog ("slow" holds 3).
    s.commit_step(commit("fast-1", 1, &[])).await.unwrap();
    f.clock.advance(Duration::from_millis(1));
    s.create_run(create("fast-2", "fast")).await.unwrap();
    let claimed = s.claim_due("me", 1, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["fast-2"]);

    // Another owner's runs do not count against this one's: it holds none,
    // so the slow backlog comes oldest first.
    let claimed = s.claim_due("you", 2, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["slow-4", "slow-5"]);
}

pub(crate) async fn claim_due_takes_runnable_runs_that_no_live_owner_holds<S: TestStore>(
    f: Fixture<S>,
) {
    let t0 = f.now();
    f.runs(&[
        "pending",
        "running",
        "sleeper",
        "late",
        "retry",
        "deadline",
        "waiting",
        "done",
        "failed",
        "cancelled",
        "held",
    ])
    .await;
    let s = &f.store;
    s.commit_step(commit("running", 1, &["hello"]))
        .await
        .unwrap();
    s.commit_step(sleep_commit("sleeper", 1, t0 + 1_000))
        .await
        .unwrap();
    s.commit_step(sleep_commit("late", 1, t0 + 60_000))
        .await
        .unwrap();
    s.setback_step(setback(
        "retry",
        1,
        1,
        Setback::Retry {
            wake_at_ms: t0 + 2_000,
        },
    ))
    .await
    .unwrap();
    let interrupted = |deadline_ms| Setback::Interrupted {
        payload: json!({"question": "ok?"}),
        deadline_ms,
    };
    s.setback_step(setback("deadline", 1, 1, interrupted(Some(t0 + 500))))
        .await
        .unwrap();
    s.setback_step(setback("waiting", 1, 1, interrupted(None)))
        .await
        .unwrap();
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    s.setback_step(failure("failed", 1, 1)).await.unwrap();
    s.cancel("cancelled").await.unwrap();
    s.claim("held", "other", LEASE_MS, &no_dead())
        .await
        .unwrap();

    // Before the sleepers are due: only pending and running runs.
    let claimed = s.claim_due("me", 100, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["pending", "running"]);
    let now = f.now();
    for run in &claimed {
        assert_eq!(run.lease_owner.as_deref(), Some("me"));
        assert_eq!(run.lease_expires_ms, Some(now + LEASE_MS));
    }
    for thread in ["pending", "running"] {
        s.release("me", thread).await.unwrap();
    }

    // Later: the due sleeper, retry and interrupt deadline too, in the order they became
    // runnable (last update for pending and running runs, wake time for parked ones).
    f.clock.set(t0 + 5_000);
    let claimed = s.claim_due("me", 100, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(
        threads(&claimed),
        ["pending", "running", "deadline", "sleeper", "retry"]
    );
    assert!(claimed[2].timed_out, "a passed deadline is a time-out");
    assert_eq!(claimed[2].status, RunStatus::Interrupted);
    assert_eq!(claimed.iter().filter(|run| run.timed_out).count(), 1);
    assert_eq!(
        claimed[3].status,
        RunStatus::Sleeping,
        "claiming keeps the status"
    );
    assert!(
        s.claim_due("you", 100, LEASE_MS, &no_dead())
            .await
            .unwrap()
            .is_empty(),
        "all leased to a live owner"
    );
    assert!(
        s.claim_due("me", 0, LEASE_MS, &no_dead())
            .await
            .unwrap()
            .is_empty()
    );
    // An owner does not get back what it already holds (it is driving it).
    let again = s.claim_due("me", 2, LEASE_MS, &no_dead()).await.unwrap();
    assert!(threads(&again).is_empty(), "{:?}", threads(&again));
    let late = s.load_run("late").await.unwrap().unwrap();
    assert_eq!(late.lease_owner, None);
}

pub(crate) async fn a_claim_counts_a_lost_call_and_starts_a_new_lease_epoch<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    let created = s
        .create_run(NewRun {
            lease: Some(("one".to_owned(), 10_000)),
            ..new_run("job")
        })
        .await
        .unwrap();
    assert_eq!((created.attempt, created.lease_epoch), (0, 1));

    // "one" died while its first call may have been in flight: the call counts.
    let run = s
        .claim("job", "two", 10_000, &["one".to_owned()])
        .await
        .unwrap();
    assert_eq!((run.attempt, run.lease_epoch), (1, 2));
    // A renewal is the same lease.
    s.renew("two", &["job".to_owned()], 10_000).await.unwrap();
    assert_eq!(s.load_run("job").await.unwrap().unwrap().lease_epoch, 2);

    // "two" committed step 1 and goes on; its lease expires: "three" counts the
    // first call of step 2 that "two" may have made.
    s.commit_step(commit("job", 1, &["hello"])).await.unwrap();
    f.clock.advance(Duration::from_secs(11));
    let claimed = s.claim_due("three", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|r| (r.attempt, r.lease_epoch))
            .collect::<Vec<_>>(),
        [(1, 3)]
    );

    // A parked run had no call in flight: claiming it counts nothing.
    let wake_at_ms = f.now();
    s.setback_step(setback("job", 2, 2, Setback::Retry { wake_at_ms }))
        .await
        .unwrap();
    s.release("three", "job").await.unwrap();
    let claimed = s.claim_due("four", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!((claimed[0].attempt, claimed[0].lease_epoch), (2, 4));
    assert_eq!(claimed[0].status, RunStatus::Retrying);
}

pub(crate) async fn a_daemon_record_is_renewed_expires_and_is_retired<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    assert!(s.daemons().await.unwrap().is_empty());
    let started = f.now();
    s.announce_daemon("d1", 10_000).await.unwrap();
    s.announce_daemon("d2", 10_000).await.unwrap();
    f.clock.advance(Duration::from_secs(5));
    s.announce_daemon("d1", 10_000).await.unwrap();
    assert_eq!(
        s.daemons().await.unwrap(),
        [
            ("d1".to_owned(), f.now() + 10_000),
            ("d2".to_owned(), started + 10_000)
        ]
    );
    // d2 stopped renewing: the next announcement forgets it.
    f.clock.advance(Duration::from_secs(6));
    s.announce_daemon("d1", 10_000).await.unwrap();
    assert_eq!(
        s.daemons().await.unwrap(),
        [("d1".to_owned(), f.now() + 10_000)]
    );
    s.retire_daemon("d1").await.unwrap();
    assert!(s.daemons().await.unwrap().is_empty());
}

pub(crate) async fn expired_leases_and_dead_owners_are_taken_over<S: TestStore>(f: Fixture<S>) {
    f.runs(&["a", "b"]).await;
    let s = &f.store;
    let claimed = s.claim_due("one", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["a", "b"]);
    assert!(
        claimed.iter().all(|run| run.taken_over_from.is_none()),
        "free runs are not taken over"
    );

    f.clock.advance(Duration::from_secs(5));
    assert!(
        s.claim_due("two", 10, 10_000, &no_dead())
            .await
            .unwrap()
            .is_empty()
    );
    let err = s.claim("a", "two", 10_000, &no_dead()).await.unwrap_err();
    let expires_ms = f.now() + 5_000;
    assert!(
        matches!(&err, StoreError::Leased { thread, owner, expires_ms: e }
            if thread == "a" && owner == "one" && *e == expires_ms),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            r#"thread "a" is being executed by one (lease until {})"#,
            format_time(expires_ms)
        )
    );
    assert_eq!(s.leases().await.unwrap(), [("one".to_owned(), expires_ms)]);

    // The runtime decided that "one" is dead.
    let dead = vec!["one".to_owned()];
    let run = s.claim("a", "two", 10_000, &dead).await.unwrap();
    assert_eq!(run.lease_owner.as_deref(), Some("two"));
    assert_eq!(run.taken_over_from.as_deref(), Some("one"));
    let claimed = s.claim_due("three", 10, 10_000, &dead).await.unwrap();
    assert_eq!(threads(&claimed), ["b"]);
    assert_eq!(claimed[0].taken_over_from.as_deref(), Some("one"));
    // Only the claim says so: the stored run does not.
    assert_eq!(
        s.load_run("b").await.unwrap().unwrap().taken_over_from,
        None
    );
    // An owner that claims its own run again takes over nothing.
    let again = s.claim("a", "two", 10_000, &no_dead()).await.unwrap();
    assert_eq!(again.taken_over_from, None);
    let leases = s.leases().await.unwrap();
    assert_eq!(
        leases,
        [
            ("three".to_owned(), f.now() + 10_000),
            ("two".to_owned(), f.now() + 10_000)
        ]
    );

    // Once the leases expire, anyone takes the runs.
    f.clock.advance(Duration::from_secs(10));
    let claimed = s.claim_due("four", 10, 10_000, &no_dead()).await.unwrap();
    assert_eq!(threads(&claimed), ["a", "b"]);
    // A lease expiring exactly now is expired.
    f.clock.advance(Duration::from_secs(10));
    s.claim("b", "five", 10_000, &no_dead()).await.unwrap();
    // Claiming one run ignores its status; an owner re-claims its own run.
    s.commit_step(commit("b", 1, &[])).await.unwrap();
    let run = s.claim("b", "five", 20_000, &no_dead()).await.unwrap();
    assert_eq!(
        (run.status, run.lease_expires_ms),
        (RunStatus::Completed, Some(f.now() + 20_000))
    );
    assert!(matches!(
        s.claim("ghost", "five", 1, &no_dead()).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub(crate) async fn concurrent_claims_never_share_a_run<S: TestStore>(f: Fixture<S>) {
    const RUNS: usize = 60;
    const TASKS_PER_OWNER: usize = 8;
    for i in 0..RUNS {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    // Two stores on one file, as two processes would have.
    let stores = [f.store.clone(), f.open_again().await];
    let mut tasks = Vec::new();
    for (owner, store) in ["A", "B"].into_iter().zip(stores) {
        for _ in 0..TASKS_PER_OWNER {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let claimed = store.claim_due(owner, 2, LEASE_MS, &[]).await.unwrap();
                    if claimed.is_empty() {
                        return done;
                    }
                    for run in claimed {
                        let finish = StepCommit {
                            owner: Some(owner.to_owned()),
                            ..commit(&run.thread, 1, &[])
                        };
                        match store.commit_step(finish).await {
                            Ok(_) => done.push((run.thread, owner)),
                            // Another task of the same owner finished it first.
                            Err(StoreError::Conflict { .. }) => {}
                            Err(error) => panic!("{owner}: {error}"),
                        }
                    }
                }
            }));
        }
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(task.await.unwrap());
    }
    done.sort();
    let finished: BTreeSet<&str> = done.iter().map(|(thread, _)| thread.as_str()).collect();
    assert_eq!(done.len(), RUNS, "every run completed exactly once");
    assert_eq!(finished.len(), RUNS);

    let runs = super::listed(&f.store, None, 100).await;
    assert!(runs.iter().all(|run| run.status == RunStatus::Completed));
    // The completing commit released each run's lease.
    for (thread, _) in &done {
        let run = f.store.load_run(thread).await.unwrap().unwrap();
        assert_eq!(run.lease_owner, None, "{thread}");
    }
}

pub(crate) async fn concurrent_claimers_each_get_different_runs<S: TestStore>(f: Fixture<S>) {
    const RUNS: usize = 40;
    for i in 0..RUNS {
        f.store
            .create_run(new_run(&format!("job-{i}")))
            .await
            .unwrap();
    }
    // Two stores on one file, as two processes would have.
    let stores = [f.store.clone(), f.open_again().await];
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let owner = format!("owner-{i}");
                let claimed = store.claim_due(&owner, 3, LEASE_MS, &[]).await.unwrap();
                (owner, claimed)
            })
        })
        .collect();
    let mut seen = BTreeMap::new();
    for task in tasks {
        let (owner, claimed) = task.await.unwrap();
        for run in claimed {
            assert_eq!(run.lease_owner.as_deref(), Some(owner.as_str()));
            if let Some(first) = seen.insert(run.thread.clone(), owner.clone()) {
                panic!("{} claimed by {first} and {owner}", run.thread);
            }
        }
    }
    assert_eq!(seen.len(), RUNS, "48 slots for 40 runs: all are taken");
}

pub(crate) async fn renew_extends_leases_and_reports_lost_and_cancelled_runs<S: TestStore>(
    f: Fixture<S>,
) {
    f.runs(&["kept", "taken", "cancelled", "released"]).await;
    let s = &f.store;
    s.claim_due("me", 10, 10_000, &no_dead()).await.unwrap();

    f.clock.advance(Duration::from_secs(11));
    s.claim("taken", "you", 10_000, &no_dead()).await.unwrap();
    s.cancel("cancelled").await.unwrap();
    s.release("me", "released").await.unwrap();
    // Releasing what one does not hold does nothing.
    s.release("me", "taken").await.unwrap();
    s.release("me", "ghost").await.unwrap();
    assert_eq!(
        s.load_run("taken")
            .await
            .unwrap()
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("you")
    );

    let all: Vec<String> = ["kept", "taken", "cancelled", "released", "ghost"]
        .map(str::to_owned)
        .to_vec();
    let stopped = s.renew("me", &all, 10_000).await.unwrap();
    assert_eq!(stopped, ["taken", "cancelled", "released", "ghost"]);
    let kept = s.load_run("kept").await.unwrap().unwrap();
    assert_eq!(
        (kept.lease_owner.as_deref(), kept.lease_expires_ms),
        (Some("me"), Some(f.now() + 10_000)),
        "an expired lease nobody took is renewed"
    );
    let released = s.load_run("released").await.unwrap().unwrap();
    assert_eq!(
        (released.lease_owner, released.lease_expires_ms),
        (None, None)
    );
    assert!(s.renew("me", &[], 10_000).await.unwrap().is_empty());
}

pub(crate) async fn writes_under_a_lost_lease_are_refused<S: TestStore>(f: Fixture<S>) {
    f.runs(&["job-1"]).await;
    let s = &f.store;
    s.claim("job-1", "me", 10_000, &no_dead()).await.unwrap();
    f.clock.advance(Duration::from_secs(11));
    let taken = s.claim("job-1", "you", 10_000, &no_dead()).await.unwrap();
    assert_eq!(
        taken.taken_over_from.as_deref(),
        Some("me"),
        "its lease expired"
    );
    // As stored: only the claim's answer says whom it was taken from.
    let taken = RunRecord {
        taken_over_from: None,
        ..taken
    };

    let lost = |result: Result<(), StoreError>| match result {
        Err(StoreError::LeaseLost { thread, owner }) => {
            assert_eq!((thread.as_str(), owner.as_str()), ("job-1", "me"));
        }
        other => panic!("{other:?}"),
    };
    lost(
        s.commit_step(StepCommit {
            owner: Some("me".to_owned()),
            ..commit("job-1", 1, &["hello"])
        })
        .await
        .map(drop),
    );
    lost(
        s.setback_step(StepSetback {
            owner: Some("me".to_owned()),
            pending: vec![pending_write("a", 1)],
            ..failure("job-1", 1, 1)
        })
        .await,
    );
    lost(
        s.resume_input("job-1", Some(json!(1)), RunStatus::Running, Some("me"))
            .await
            .map(drop),
    );
    let err = StoreError::LeaseLost {
        thread: "job-1".to_owned(),
        owner: "me".to_owned(),
    };
    assert!(err.to_string().contains("me no longer holds"), "{err}");
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap(), taken);
    assert!(s.history("job-1").await.unwrap().is_empty());
    assert!(s.logs("job-1").await.unwrap().is_empty());

    // The holder writes; so does a caller that takes no lease.
    s.commit_step(StepCommit {
        owner: Some("you".to_owned()),
        ..commit("job-1", 1, &["hello"])
    })
    .await
    .unwrap();
    s.commit_step(commit("job-1", 2, &[])).await.unwrap();
    assert_eq!(s.load_run("job-1").await.unwrap().unwrap().step, 2);
}

conformance! {
    #[tokio::test] claim_due_shares_free_slots_fairly_among_workflows,
    #[tokio::test] claim_due_takes_runnable_runs_that_no_live_owner_holds,
    #[tokio::test] a_claim_counts_a_lost_call_and_starts_a_new_lease_epoch,
    #[tokio::test] a_daemon_record_is_renewed_expires_and_is_retired,
    #[tokio::test] expired_leases_and_dead_owners_are_taken_over,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)] concurrent_claims_never_share_a_run,
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)] concurrent_claimers_each_get_different_runs,
    #[tokio::test] renew_extends_leases_and_reports_lost_and_cancelled_runs,
    #[tokio::test] writes_under_a_lost_lease_are_refused,
}
