//! Bundles between the backends: a run made in SQLite, imported into Postgres, read back
//! equal page by page, and exported back; and a parked run (pins, pending writes, an
//! interrupt) made on either backend, moved to the other and back, its position equal.

use crate::tests::*;

use super::fresh_schema;

#[tokio::test]
async fn a_run_moves_from_sqlite_to_postgres_and_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Fixture::new(crate::sqlite::tests::fresh).await;
    sqlite.run_one_step("job-0").await;
    let s = &sqlite.store;
    let wasm = b"\0asm\x0d\x00\x01\x00 component".to_vec();
    s.save_component("sha256:c1", "hello", wasm).await.unwrap();
    s.create_run(NewRun {
        plugins: BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]),
        input: object(json!({"name": "Ada", "doc": "d".repeat(3000)})),
        lease: Some(("host-a".to_owned(), LEASE_MS)),
        ..new_run("job-1")
    })
    .await
    .unwrap();
    for k in 1..=40u64 {
        let changes = match k {
            2 => json!({}),
            k if k % 3 == 0 => json!({"count": k, format!("s{k}"): "é".repeat(1000 + k as usize)}),
            k => json!({"count": k}),
        };
        s.commit_step(StepCommit {
            changes: object(changes),
            ..commit("job-1", k, &["hello"])
        })
        .await
        .unwrap();
    }
    s.setback_step(StepSetback {
        pending: vec![pending_write("a", 1), pending_write("b", 2)],
        ..failure("job-1", 41, 1)
    })
    .await
    .unwrap();

    let there = dir.path().join("there.bundle");
    s.export_run("job-1", &there).unwrap();
    let pg = PgStore::connect(&fresh_schema().await, sqlite.clock.clone())
        .await
        .unwrap();
    assert_eq!(pg.import_run(&there).await.unwrap(), "job-1");
    let err = pg.import_run(&there).await.unwrap_err();
    assert!(matches!(err, StoreError::ThreadExists { .. }), "{err:?}");

    assert_eq!(
        pg.history("job-1").await.unwrap(),
        s.history("job-1").await.unwrap()
    );
    assert_eq!(
        pg.logs("job-1").await.unwrap(),
        s.logs("job-1").await.unwrap()
    );
    for limit in [1, 7, 50] {
        for detail in [HistoryDetail::ChangedKeys, HistoryDetail::WholeStates] {
            let mut cursor = None;
            loop {
                let mut a = pg
                    .history_page("job-1", cursor, limit, detail, crate::Branches::Current)
                    .await
                    .unwrap();
                let mut b = s
                    .history_page("job-1", cursor, limit, detail, crate::Branches::Current)
                    .await
                    .unwrap();
                loop {
                    let (x, y) = (a.next().await.unwrap(), b.next().await.unwrap());
                    assert_eq!(x, y);
                    if x.is_none() {
                        break;
                    }
                }
                assert_eq!(a.next_cursor(), b.next_cursor());
                cursor = a.next_cursor();
                if cursor.is_none() {
                    break;
                }
            }
        }
        let mut a = pg.logs_page("job-1", None, limit).await.unwrap();
        let mut b = s.logs_page("job-1", None, limit).await.unwrap();
        // The same lines; each database numbers its own.
        while let Some(x) = a.next().await.unwrap() {
            let y = b.next().await.unwrap().expect("as many lines");
            assert_eq!(LogLine { id: 0, ..x }, LogLine { id: 0, ..y });
        }
        assert_eq!(b.next().await.unwrap(), None);
        assert_eq!(a.next_cursor().is_some(), b.next_cursor().is_some());
    }
    for step in 0..=42 {
        assert_eq!(
            pg.state_at("job-1", step).await.unwrap(),
            s.state_at("job-1", step).await.unwrap(),
            "{step}"
        );
    }
    assert!(matches!(
        pg.state_at("nope", 0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        pg.history_page(
            "nope",
            None,
            5,
            HistoryDetail::WholeStates,
            crate::Branches::Current
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        pg.component_bytes("sha256:c1").await.unwrap(),
        s.component_bytes("sha256:c1").await.unwrap()
    );
    assert_eq!(
        pg.component_versions().await.unwrap(),
        s.component_versions().await.unwrap()
    );
    let pg_runs = crate::tests::listed(&pg, None, 10).await;
    assert_eq!(
        pg_runs,
        crate::tests::listed(s, Some(RunStatus::Failed), 10).await
    );
    assert_eq!(pg.leases().await.unwrap(), vec![]);
    assert_eq!(pg.next_wake().await.unwrap(), None);
    assert_eq!(pg.daemons().await.unwrap(), vec![]);

    let back = dir.path().join("back.bundle");
    pg.export_run("job-1", &back).await.unwrap();
    let again = Fixture::new(crate::sqlite::tests::fresh).await;
    assert_eq!(again.store.import_run(&back).unwrap(), "job-1");
    let mut expected = s.load_run("job-1").await.unwrap().unwrap();
    (expected.lease_owner, expected.lease_expires_ms) = (None, None);
    assert_eq!(
        again.store.load_run("job-1").await.unwrap().unwrap(),
        expected
    );
    assert_eq!(
        again.store.history("job-1").await.unwrap(),
        s.history("job-1").await.unwrap()
    );
    assert_eq!(
        again.store.logs("job-1").await.unwrap(),
        s.logs("job-1").await.unwrap()
    );
    assert!(matches!(
        pg.export_run("nope", &dir.path().join("x")).await,
        Err(StoreError::NotFound { .. })
    ));

    let collected = pg.collect_garbage().await.unwrap();
    assert_eq!(collected, Collected::default());
}

/// A parked run with everything a bundle carries: a pinned component, values long enough
/// to be stored by digest, logs of commits and of failed attempts, pending writes of a
/// parallel step, an interrupt with a deadline, and a lease.
async fn parked_run<S: TestStore>(f: &Fixture<S>, thread: &str) {
    let s = &f.store;
    let wasm = b"\0asm\x0d\x00\x01\x00 component".to_vec();
    s.save_component("sha256:c1", "hello", wasm).await.unwrap();
    s.create_run(NewRun {
        plugins: BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]),
        input: object(json!({"name": "Ada", "doc": "d".repeat(3000)})),
        lease: Some(("host-a".to_owned(), LEASE_MS)),
        ..new_run(thread)
    })
    .await
    .unwrap();
    let owned = |commit: StepCommit| StepCommit {
        owner: Some("host-a".to_owned()),
        ..commit
    };
    s.commit_step(owned(commit(thread, 1, &["hello"])))
        .await
        .unwrap();
    f.clock.advance(Duration::from_millis(5));
    s.commit_step(owned(StepCommit {
        changes: object(json!({"long": "é".repeat(1500), "count": 2})),
        ..commit(thread, 2, &["a", "b"])
    }))
    .await
    .unwrap();
    s.setback_step(StepSetback {
        owner: Some("host-a".to_owned()),
        pending: vec![pending_write("a", 1), pending_write("b", 2)],
        ..failure(thread, 3, 1)
    })
    .await
    .unwrap();
    s.setback_step(StepSetback {
        owner: Some("host-a".to_owned()),
        ..setback(
            thread,
            3,
            2,
            Setback::Interrupted {
                payload: json!({"question": "approve?"}),
                deadline_ms: Some(f.now() + 60_000),
            },
        )
    })
    .await
    .unwrap();
}

/// Asserts that `b`'s run `thread` reads as `a`'s does, but for the lease (a bundle's
/// run holds none).
async fn assert_same_run(a: &impl TestStore, b: &impl TestStore, thread: &str) {
    let mut expected = a.load_run(thread).await.unwrap().unwrap();
    (expected.lease_owner, expected.lease_expires_ms) = (None, None);
    assert_eq!(b.load_run(thread).await.unwrap().unwrap(), expected);
    assert_eq!(
        b.workflow_text(&expected.workflow_digest).await.unwrap(),
        a.workflow_text(&expected.workflow_digest).await.unwrap()
    );
    assert_eq!(
        b.history(thread).await.unwrap(),
        a.history(thread).await.unwrap()
    );
    assert_eq!(b.logs(thread).await.unwrap(), a.logs(thread).await.unwrap());
    for step in 0..=expected.step {
        assert_eq!(
            b.state_at(thread, step).await.unwrap(),
            a.state_at(thread, step).await.unwrap()
        );
    }
    assert_eq!(
        b.component_bytes("sha256:c1").await.unwrap(),
        a.component_bytes("sha256:c1").await.unwrap()
    );
    assert_eq!(
        b.component_versions().await.unwrap(),
        a.component_versions().await.unwrap()
    );
}

#[tokio::test]
async fn a_parked_run_moves_from_sqlite_to_postgres_and_back_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Fixture::new(crate::sqlite::tests::fresh).await;
    // Another run first, so that the run's log lines are not numbered from 1.
    sqlite.run_one_step("job-0").await;
    parked_run(&sqlite, "job-1").await;
    let postgres = Fixture::new(super::fresh).await;

    let there = dir.path().join("there.bundle");
    sqlite.store.export_run("job-1", &there).unwrap();
    assert_eq!(postgres.store.import_run(&there).await.unwrap(), "job-1");
    assert_same_run(&sqlite.store, &postgres.store, "job-1").await;
    let imported = postgres.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(imported.status, RunStatus::Interrupted);
    assert_eq!(imported.pending.len(), 2);

    let err = postgres.store.import_run(&there).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ThreadExists { thread, status }
            if thread == "job-1" && *status == RunStatus::Interrupted),
        "{err:?}"
    );

    let back = dir.path().join("back.bundle");
    postgres.store.export_run("job-1", &back).await.unwrap();
    let again = Fixture::new(crate::sqlite::tests::fresh).await;
    // A database with log lines of its own: the imported lines are numbered after them.
    again.run_one_step("other").await;
    assert_eq!(again.store.import_run(&back).unwrap(), "job-1");
    assert_same_run(&sqlite.store, &again.store, "job-1").await;
}

#[tokio::test]
async fn a_parked_run_moves_from_postgres_to_sqlite_and_back_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = Fixture::new(super::fresh).await;
    postgres.run_one_step("job-0").await;
    parked_run(&postgres, "job-1").await;
    let sqlite = Fixture::new(crate::sqlite::tests::fresh).await;
    sqlite.run_one_step("other").await;

    let there = dir.path().join("there.bundle");
    postgres.store.export_run("job-1", &there).await.unwrap();
    assert_eq!(sqlite.store.import_run(&there).unwrap(), "job-1");
    assert_same_run(&postgres.store, &sqlite.store, "job-1").await;

    let back = dir.path().join("back.bundle");
    sqlite.store.export_run("job-1", &back).unwrap();
    let again = Fixture::new(super::fresh).await;
    assert_eq!(again.store.import_run(&back).await.unwrap(), "job-1");
    assert_same_run(&postgres.store, &again.store, "job-1").await;

    let missing = postgres
        .store
        .export_run("job-9", &dir.path().join("none.bundle"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
}

/// A child run that sent, then waits for a signal it already has (woken), with a mailbox
/// of delivered and undelivered signals: what composition adds to a run's rows.
async fn waiting_child<S: TestStore>(f: &Fixture<S>) {
    let s = &f.store;
    s.create_run(NewRun {
        parent: Some("parent".into()),
        ..new_run("parent/1/a")
    })
    .await
    .unwrap();
    let first = s
        .send_signal("parent/1/a", "go", json!({"n": 1}))
        .await
        .unwrap();
    s.commit_step(StepCommit {
        consumed_signal: Some(first.id),
        send_inputs: BTreeMap::from([("double#0".to_owned(), json!({"item": 1}))]),
        ..commit("parent/1/a", 1, &["double#0"])
    })
    .await
    .unwrap();
    s.send_signal("parent/1/a", "go", json!({"n": 2}))
        .await
        .unwrap();
    s.setback_step(setback(
        "parent/1/a",
        2,
        0,
        Setback::Waiting {
            wait: Wait::Signal {
                name: "go".into(),
                node: "double#0".into(),
            },
            deadline_ms: Some(f.now() + 60_000),
        },
    ))
    .await
    .unwrap();
}

/// The mailbox as it reads but for the ids, which each database numbers itself.
async fn mailbox(s: &impl TestStore, thread: &str) -> Vec<(String, Value, i64, Option<u64>)> {
    let signals = s.signals(thread, 100).await.unwrap();
    signals
        .into_iter()
        .map(|m| (m.name, m.data, m.sent_at_ms, m.delivered_step))
        .collect()
}

#[tokio::test]
async fn a_waiting_child_moves_between_the_backends_with_its_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Fixture::new(crate::sqlite::tests::fresh).await;
    waiting_child(&sqlite).await;
    let postgres = Fixture::new(super::fresh).await;
    // Signals of its own first: the imported ones are numbered after them.
    postgres.run_one_step("other").await;
    postgres
        .store
        .send_signal("other", "x", json!(null))
        .await
        .unwrap();

    let there = dir.path().join("there.bundle");
    sqlite.store.export_run("parent/1/a", &there).unwrap();
    postgres.store.import_run(&there).await.unwrap();
    let moved = postgres
        .store
        .load_run("parent/1/a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        moved,
        sqlite.store.load_run("parent/1/a").await.unwrap().unwrap()
    );
    assert_eq!(moved.parent.as_deref(), Some("parent"));
    assert_eq!(moved.send_inputs.len(), 1);
    assert!(moved.waiting.is_some());
    let expected = mailbox(&sqlite.store, "parent/1/a").await;
    assert_eq!(mailbox(&postgres.store, "parent/1/a").await, expected);
    let ids: Vec<u64> = postgres
        .store
        .signals("parent/1/a", 10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    let other = postgres.store.signals("other", 10).await.unwrap()[0].id;
    assert!(ids.iter().all(|&id| id > other), "{ids:?} after {other}");

    let back = dir.path().join("back.bundle");
    postgres
        .store
        .export_run("parent/1/a", &back)
        .await
        .unwrap();
    let again = Fixture::new(crate::sqlite::tests::fresh).await;
    again.store.import_run(&back).unwrap();
    assert_eq!(
        again.store.load_run("parent/1/a").await.unwrap().unwrap(),
        moved
    );
    assert_eq!(mailbox(&again.store, "parent/1/a").await, expected);
    // Woken by the signal it had before it parked: a claim there is not a time-out.
    let taken = again
        .store
        .claim("parent/1/a", "me", LEASE_MS, &no_dead())
        .await
        .unwrap();
    assert!(!taken.timed_out);
    assert_eq!(taken.waiting, moved.waiting);
}
