//! Counting runs: per status, and the due-and-waiting backlog as time passes and leases
//! are taken and run out.

use super::*;

pub(crate) async fn an_empty_database_counts_nothing<S: TestStore>(f: Fixture<S>) {
    let counts = f.store.count_runs(f.now()).await.unwrap();
    assert_eq!(counts, RunCounts::default());
}

pub(crate) async fn runs_are_counted_by_status_and_due_backlog<S: TestStore>(f: Fixture<S>) {
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
    let retry = Setback::Retry {
        wake_at_ms: t0 + 2_000,
    };
    s.setback_step(setback("retry", 1, 1, retry)).await.unwrap();
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
    // A live owner holds this pending run: it is being executed, not waiting.
    s.claim("held", "other", LEASE_MS, &no_dead())
        .await
        .unwrap();

    let by_status = |counts: &RunCounts| {
        counts
            .by_status
            .iter()
            .map(|(status, n)| (status.as_str(), *n))
            .collect::<Vec<_>>()
    };
    let counts = s.count_runs(f.now()).await.unwrap();
    assert_eq!(
        by_status(&counts),
        [
            ("pending", 2),
            ("running", 1),
            ("sleeping", 2),
            ("interrupted", 2),
            ("retrying", 1),
            ("completed", 1),
            ("failed", 1),
            ("cancelled", 1),
        ]
    );
    assert_eq!(
        counts.due_waiting, 2,
        "the unleased pending and running runs"
    );

    // Later the sleeper, the retry and the passed deadline are due too, while the
    // interrupt without a deadline and the late sleeper still wait for their time.
    let later = t0 + 5_000;
    assert_eq!(s.count_runs(later).await.unwrap().due_waiting, 5);
    // What a claim takes is no longer waiting ...
    f.clock.set(later);
    let claimed = s.claim_due("me", 2, LEASE_MS, &no_dead()).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(s.count_runs(later).await.unwrap().due_waiting, 3);
    // ... until its lease runs out unrenewed (its process died): then every lease has.
    let expired = later + LEASE_MS;
    let counts = s.count_runs(expired).await.unwrap();
    assert_eq!(
        counts.due_waiting, 6,
        "the held run too; the late sleeper is not due yet"
    );
    assert_eq!(
        counts.by_status.values().sum::<u64>(),
        11,
        "counting changes no status"
    );
}

conformance! {
    #[tokio::test] an_empty_database_counts_nothing,
    #[tokio::test] runs_are_counted_by_status_and_due_backlog,
}
