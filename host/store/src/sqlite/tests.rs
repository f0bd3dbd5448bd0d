//! What only the SQLite backend has: its factory for the conformance suite
//! (`crate::tests`), and tests of its rows, migrations, indexes and writer thread. Its
//! PRAGMAs, faults and disk handling are tested beside them (`schema`, `fault`, `disk`).

use std::future::Future;
use std::path::PathBuf;

use crate::tests::*;

use super::schema;

/// What one commit writes, page by page.
mod pages;

/// The conformance suite's factory: a store in a temporary folder of its own.
pub(crate) fn fresh(clock: Arc<ManualClock>) -> BoxFuture<'static, Fresh<SqliteStore>> {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut fresh = at(dir.path().join("store.db"), clock);
        fresh.keep = Box::new(dir);
        fresh
    })
}

/// A store in the database file `path`, whose folder the caller keeps.
fn at(path: PathBuf, clock: Arc<ManualClock>) -> Fresh<SqliteStore> {
    Fresh {
        store: SqliteStore::open(&path, clock.clone()).unwrap(),
        reopen: Box::new(move || {
            let store = SqliteStore::open(&path, clock.clone()).unwrap();
            Box::pin(async move { store })
        }),
        keep: Box::new(()),
    }
}

async fn fixture() -> Fixture<SqliteStore> {
    Fixture::new(fresh).await
}

/// Runs a conformance test, then opens its database file to look at the rows it left.
async fn rows_after<F: Future<Output = ()>>(
    test: fn(Fixture<SqliteStore>) -> F,
) -> (tempfile::TempDir, rusqlite::Connection) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let at_path = path.clone();
    test(Fixture::new(move |clock| Box::pin(async move { at(at_path, clock) })).await).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    (dir, raw)
}

// The rows behind three conformance tests.

#[tokio::test]
async fn the_commit_of_a_step_deletes_the_rows_of_its_pending_writes() {
    let (_dir, raw) = rows_after(steps::pending_writes_are_kept_until_the_step_commits).await;
    let count: i64 = raw
        .query_row("SELECT count(*) FROM pending_writes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_step_writes_a_row_per_key_it_changed() {
    let test = values::a_step_writes_only_the_keys_it_changed_and_reads_see_whole_states;
    let (_dir, raw) = rows_after(test).await;
    // The input's three keys, then one key, none, two.
    let per_step: Vec<(u64, i64)> = raw
        .prepare("SELECT step, COUNT(*) FROM state_writes GROUP BY step ORDER BY step")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(per_step, [(0, 3), (1, 1), (3, 2)]);
}

#[tokio::test]
async fn a_large_value_is_one_blob_row() {
    let test = values::a_large_value_is_stored_once_however_many_runs_hold_it;
    let (_dir, raw) = rows_after(test).await;
    let (blobs, bytes): (i64, i64) = raw
        .query_row("SELECT COUNT(*), SUM(LENGTH(data)) FROM blobs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(
        (blobs, bytes),
        (1, 50_002),
        "one copy of the document's JSON"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_all_land() {
    const RUNS: u64 = 32;
    const STEPS: u64 = 10;
    let f = fixture().await;
    // Hold the writer for a moment so that the first commands queue up behind it and
    // share a commit.
    let gate = f.store.writer().submit(|_, _| {
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    });

    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                let thread = format!("job-{i}");
                store.create_run(new_run(&thread)).await.unwrap();
                for step in 1..=STEPS {
                    let next: &[&str] = if step == STEPS { &[] } else { &["hello"] };
                    store
                        .commit_step(commit(&thread, step, next))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    gate.unwrap().await.unwrap().unwrap();

    let runs = crate::tests::listed(&f.store, None, 100).await;
    assert_eq!(runs.len(), usize::try_from(RUNS).unwrap());
    for run in runs {
        assert_eq!(
            (run.status, run.step),
            (RunStatus::Completed, STEPS),
            "{run:?}"
        );
        let history = f.store.history(&run.thread).await.unwrap();
        assert_eq!(history.len(), usize::try_from(STEPS).unwrap());
    }
    let commands = 1 + RUNS * (STEPS + 1);
    let commits = f.store.writer().commits();
    assert!(
        commits < commands,
        "{commits} commits for {commands} commands"
    );
}

#[tokio::test]
async fn unreadable_json_is_reported_as_corrupt() {
    let f = fixture().await;
    f.run_one_step("job-1").await;
    let raw = rusqlite::Connection::open(f.store.path()).unwrap();
    raw.execute(
        "UPDATE state_writes SET value_json = '[1' WHERE thread = 'job-1' AND step = 1",
        [],
    )
    .unwrap();
    drop(raw);

    let err = f.store.load_run("job-1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string().contains(r#"thread "job-1" step 1"#),
        "{err}"
    );
    assert!(matches!(
        f.store.history("job-1").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_with_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let t0: i64 = 1_700_000_000_000;
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        old.execute_batch(include_str!("migrations/0001_init.sql"))
            .unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute_batch(&format!(
            "INSERT INTO workflows VALUES ('sha256:abc', 'greet', 'name = \"greet\"', {t0});
             INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, input_json, error, error_node, attempt,
                               created_at, updated_at)
             VALUES ('old-1', 'greet', 'sha256:abc', 'greet.toml', 'failed', 1, '[\"hello\"]',
                     '{{\"name\":\"Ada\"}}', 'boom', 'hello', 2, {t0}, {t0}),
                    ('old-2', 'greet', 'sha256:abc', 'greet.toml', 'pending', 0, '[\"hello\"]',
                     '{{\"name\":\"Bob\"}}', NULL, NULL, 0, {t0}, {t0});
             INSERT INTO checkpoints VALUES ('old-1', 1, 'hello', '{{\"name\":\"Ada\",\"n\":1}}',
                                             '[\"hello\"]', 'sha256:c', 'sha256:abc', {t0});
             INSERT INTO logs (thread, step, node, attempt, level, message, at)
             VALUES ('old-1', 2, 'hello', 2, 'error', 'boom', {t0});"
        ))
        .unwrap();
    }

    let clock = Arc::new(ManualClock::new(t0 + 1_000));
    let store = SqliteStore::open(&path, clock.clone()).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, i64::try_from(schema::MIGRATIONS.len()).unwrap());

    let run = store.load_run("old-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.step, run.attempt, run.error.as_deref()),
        (RunStatus::Failed, 1, 2, Some("boom"))
    );
    assert_eq!(run.state, object(json!({"name": "Ada", "n": 1})));
    assert_eq!(
        (
            run.wake_at_ms,
            run.interrupt,
            run.resume,
            run.timed_out,
            run.wakes,
            run.retry_base
        ),
        (None, None, None, false, 0, 0)
    );
    assert!(run.joins.is_empty() && run.pending.is_empty());
    assert_eq!((run.lease_owner, run.lease_expires_ms), (None, None));
    assert_eq!(store.logs("old-1").await.unwrap().len(), 1);
    let history = store.history("old-1").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, object(json!({"name": "Ada", "n": 1})));
    let input = store.load_run("old-2").await.unwrap().unwrap();
    assert_eq!(input.state, object(json!({"name": "Bob"})));

    // The old runs take part in everything new.
    let claimed = store
        .claim_due("me", 10, LEASE_MS, &no_dead())
        .await
        .unwrap();
    assert_eq!(threads(&claimed), ["old-2"]);
    let run = store
        .resume_input("old-1", None, RunStatus::Running, None)
        .await
        .unwrap();
    assert_eq!(run.retry_base, 2);
    store
        .setback_step(StepSetback {
            pending: vec![pending_write("b", 1)],
            ..failure("old-1", 2, 3)
        })
        .await
        .unwrap();
    store.commit_step(commit("old-1", 2, &[])).await.unwrap();
    let run = store.load_run("old-1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.step, run.retry_base),
        (RunStatus::Completed, 2, 0)
    );
    assert_eq!(store.history("old-1").await.unwrap().len(), 2);
    drop(store);
    // Opening the upgraded file again migrates nothing more.
    SqliteStore::open(&path, clock).unwrap();
}

#[test]
fn a_steps_writes_are_found_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("store.db")).unwrap();
    let plan: Vec<String> = conn
        .prepare("EXPLAIN QUERY PLAN SELECT key FROM state_writes WHERE thread = ?1 AND step = ?2")
        .unwrap()
        .query_map(["t", "1"], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("state_writes_by_step")),
        "{plan:?}"
    );
}

#[test]
fn the_store_is_shareable() {
    fn shareable<T: CheckpointStore + Clone + Send + Sync + 'static>() {}
    shareable::<SqliteStore>();
}

#[tokio::test]
async fn a_version_7_database_gets_checkpoint_ids_parents_heads_and_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let t0: i64 = 1_700_000_000_000;
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for sql in &schema::MIGRATIONS[..7] {
            old.execute_batch(sql).unwrap();
        }
        old.pragma_update(None, "user_version", 7).unwrap();
        // Two runs, created in the order b, a (their threads sort the other way).
        old.execute_batch(&format!(
            "INSERT INTO workflows VALUES ('sha256:abc', 'greet', 'name = \"greet\"', {t0});
             INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, created_at, updated_at)
             VALUES ('a', 'greet', 'sha256:abc', 'greet.toml', 'running', 2, '[\"hello\"]',
                     {t1}, {t1}),
                    ('b', 'greet', 'sha256:abc', 'greet.toml', 'pending', 0, '[\"hello\"]',
                     {t0}, {t0});
             INSERT INTO checkpoints VALUES
                 ('a', 1, 'hello', '[\"hello\"]', 'sha256:c', 'sha256:abc', {t1}),
                 ('a', 2, 'hello', '[\"hello\"]', 'sha256:c', 'sha256:abc', {t1});
             INSERT INTO state_writes (thread, step, key, ord, value_json) VALUES
                 ('a', 0, 'n', 0, '0'), ('a', 1, 'n', 0, '1'), ('a', 2, 'n', 0, '2'),
                 ('b', 0, 'n', 0, '0');",
            t1 = t0 + 1
        ))
        .unwrap();
    }
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(t0 + 10))).unwrap();
    let history = store
        .history_page("a", None, 10, HistoryDetail::ChangedKeys, Branches::Current)
        .await
        .unwrap();
    let mut history = history;
    let (two, one) = (
        history.next().await.unwrap().unwrap(),
        history.next().await.unwrap().unwrap(),
    );
    assert_eq!(
        (one.parent, two.parent.as_deref()),
        (None, Some(one.checkpoint.as_str()))
    );
    assert_ne!(one.checkpoint, two.checkpoint);
    assert_eq!(one.checkpoint.len(), 16);
    let a = store.load_run("a").await.unwrap().unwrap();
    assert_eq!(
        (a.checkpoint.as_deref(), a.branch),
        (Some(two.checkpoint.as_str()), 0)
    );
    assert_eq!(store.load_run("b").await.unwrap().unwrap().checkpoint, None);
    // Listings are by creation: b was first; a new run comes after both.
    store.create_run(new_run("c")).await.unwrap();
    let listed: Vec<String> = crate::tests::listed(&store, None, 10)
        .await
        .into_iter()
        .map(|run| run.thread)
        .collect();
    assert_eq!(listed, ["c", "a", "b"]);
    // The next commit chains on.
    let three = store.commit_step(commit("a", 3, &[])).await.unwrap();
    let mut history = store
        .history_page("a", None, 1, HistoryDetail::ChangedKeys, Branches::Current)
        .await
        .unwrap();
    let entry = history.next().await.unwrap().unwrap();
    assert_eq!(entry.parent.as_deref(), Some(two.checkpoint.as_str()));
    assert_eq!(three.checkpoint, Some(entry.checkpoint));
}

#[test]
fn listings_walk_an_index_down_creation_order_without_sorting() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("store.db")).unwrap();
    let plan = |sql: &str| -> String {
        let lines: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        lines.join("; ")
    };
    let by_status = plan(
        "SELECT thread FROM runs WHERE seq < 10 AND status = 'failed' ORDER BY seq DESC LIMIT 51",
    );
    assert!(by_status.contains("runs_by_status"), "{by_status}");
    assert!(!by_status.contains("TEMP B-TREE"), "{by_status}");
    let by_workflow = plan(
        "SELECT thread FROM runs WHERE seq < 10 AND workflow_name = 'w' ORDER BY seq DESC LIMIT 51",
    );
    assert!(by_workflow.contains("runs_by_workflow"), "{by_workflow}");
    assert!(!by_workflow.contains("TEMP B-TREE"), "{by_workflow}");
    let all = plan("SELECT thread FROM runs WHERE seq < 10 ORDER BY seq DESC LIMIT 51");
    assert!(all.contains("runs_by_seq"), "{all}");
    // A thread prefix is a range of the primary key: the runs it matches are read, then
    // sorted, not every run walked down `seq` for the few that match.
    let by_prefix = plan(
        "SELECT thread FROM runs WHERE seq < 10 AND thread >= 'job-' AND thread < 'job.'
         ORDER BY seq DESC LIMIT 51",
    );
    assert!(
        by_prefix.contains("sqlite_autoindex_runs_1 (thread>? AND thread<?)"),
        "{by_prefix}"
    );
}

#[tokio::test]
async fn an_imported_run_is_the_newest_and_its_events_are_numbered_anew() {
    let from = fixture().await;
    from.runs(&["older", "moved"]).await;
    from.store
        .commit_step(commit("moved", 1, &[]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("moved.bundle");
    from.store.export_run("moved", &bundle).unwrap();

    let to = fixture().await;
    to.runs(&["a", "b", "c"]).await;
    assert_eq!(to.store.import_run(&bundle).unwrap(), "moved");
    let listed: Vec<String> = crate::tests::listed(&to.store, None, 10)
        .await
        .into_iter()
        .map(|run| run.thread)
        .collect();
    assert_eq!(listed, ["moved", "c", "b", "a"]);
    let moved = to.store.load_run("moved").await.unwrap().unwrap();
    assert_eq!(
        moved.checkpoint,
        from.store
            .load_run("moved")
            .await
            .unwrap()
            .unwrap()
            .checkpoint
    );
    let kinds = |events: Vec<(u64, EventKind, Value)>| -> Vec<EventKind> {
        events.into_iter().map(|(_, kind, _)| kind).collect()
    };
    let events = crate::tests::events::events_of(&to.store, "moved", 10).await;
    assert_eq!(kinds(events), [EventKind::Created, EventKind::Step]);
    // Numbered after the events the database had.
    let mut page = to.store.events_page("moved", None, 1).await.unwrap();
    let first = page.next().await.unwrap().unwrap();
    let mut last_of_c = to.store.events_page("c", None, 10).await.unwrap();
    let c = last_of_c.next().await.unwrap().unwrap();
    assert!(first.id > c.id, "{} after {}", first.id, c.id);
}

#[tokio::test]
async fn a_database_from_before_0012_keeps_its_log_and_event_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let before = schema::MIGRATIONS
        .iter()
        .position(|sql| sql.starts_with("-- 0012"))
        .unwrap();
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        for sql in &schema::MIGRATIONS[..before] {
            old.execute_batch(sql).unwrap();
        }
        old.pragma_update(None, "user_version", before).unwrap();
        // Two runs whose log lines and events interleave; the newest event was deleted,
        // so AUTOINCREMENT's sequence (5) is past the largest id left (4).
        old.execute_batch(
            "INSERT INTO workflows VALUES ('sha256:abc', 'greet', 'name = \"greet\"', 1);
             INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, created_at, updated_at, seq)
             VALUES ('a', 'greet', 'sha256:abc', 'greet.toml', 'running', 0, '[\"hello\"]',
                     1, 1, 1),
                    ('b', 'greet', 'sha256:abc', 'greet.toml', 'running', 0, '[\"hello\"]',
                     1, 1, 2);
             INSERT INTO logs (thread, step, node, attempt, level, message, at) VALUES
                 ('a', 1, 'hello', 1, 'info', 'a1', 1), ('b', 1, 'hello', 1, 'info', 'b1', 1),
                 ('a', 1, 'hello', 2, 'info', 'a2', 1), ('b', 1, 'hello', 2, 'info', 'b2', 1);
             INSERT INTO events (thread, at, step, kind, data_json) VALUES
                 ('a', 1, 0, 'created', '{}'), ('b', 1, 0, 'created', '{}'),
                 ('a', 1, 0, 'resumed', '{}'), ('b', 1, 0, 'resumed', '{}'),
                 ('b', 1, 0, 'cancelled', '{}');
             DELETE FROM events WHERE id = 5;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path, Arc::new(ManualClock::new(10))).unwrap();
    // (`logs` of the test helpers blanks the ids.)
    let ids = async |thread: &str| -> Vec<(String, u64)> {
        let mut page = store.logs_page(thread, None, 10).await.unwrap();
        let mut lines = Vec::new();
        while let Some(line) = page.next().await.unwrap() {
            lines.push((line.message, line.id));
        }
        lines
    };
    assert_eq!(ids("a").await, [("a1".to_owned(), 1), ("a2".to_owned(), 3)]);
    // A run's next line comes after its own; a new run's lines start at 1.
    store.commit_step(commit("a", 1, &["hello"])).await.unwrap();
    store.create_run(new_run("c")).await.unwrap();
    store.commit_step(commit("c", 1, &["hello"])).await.unwrap();
    assert_eq!(
        ids("a").await,
        [
            ("a1".to_owned(), 1),
            ("a2".to_owned(), 3),
            ("step 1".to_owned(), 4)
        ]
    );
    assert_eq!(ids("c").await, [("step 1".to_owned(), 1)]);
    // Event 5 was used, if deleted: the next event is 6.
    let events = store
        .events_after(&EventFilter::default(), Some(4), 10)
        .await
        .unwrap();
    let numbered: Vec<(u64, &str)> = events.iter().map(|e| (e.id, e.thread.as_str())).collect();
    assert_eq!(numbered, [(6, "a"), (7, "c"), (8, "c")]);
}

#[test]
fn claims_and_the_next_wake_read_the_due_time_indexes_without_sorting() {
    let dir = tempfile::tempdir().unwrap();
    let conn = schema::open_writer(&dir.path().join("store.db")).unwrap();
    let plan = |sql: &str| -> String {
        let lines: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        lines.join("; ")
    };
    let next_wake = plan(super::due::NEXT_WAKE);
    assert!(next_wake.contains("runs_parked_by_wake"), "{next_wake}");
    assert!(!next_wake.contains("SCAN"), "{next_wake}");
    let parked = plan(
        "SELECT wake_at, updated_at, thread FROM runs INDEXED BY runs_parked_by_workflow
         WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting') AND workflow_name = 'w'
           AND wake_at <= 5 ORDER BY wake_at, updated_at, thread LIMIT 10",
    );
    assert!(
        parked.contains("runs_parked_by_workflow (workflow_name=? AND wake_at<?)"),
        "{parked}"
    );
    // Ties on the wake time are ordered among themselves only.
    assert!(!parked.contains("USE TEMP B-TREE FOR ORDER BY"), "{parked}");
    let ready = plan(
        "SELECT created_at, updated_at, thread FROM runs INDEXED BY runs_ready_by_workflow
         WHERE status IN ('pending', 'running') AND workflow_name = 'w'
         ORDER BY created_at, updated_at, thread LIMIT 10",
    );
    assert!(
        ready.contains("runs_ready_by_workflow (workflow_name=?)"),
        "{ready}"
    );
    assert!(!ready.contains("USE TEMP B-TREE FOR ORDER BY"), "{ready}");
    let next_workflow = plan(
        "SELECT workflow_name FROM runs INDEXED BY runs_parked_by_workflow
         WHERE status IN ('sleeping', 'retrying', 'interrupted', 'waiting')
         AND workflow_name > 'w' ORDER BY workflow_name LIMIT 1",
    );
    assert!(
        next_workflow.contains("runs_parked_by_workflow (workflow_name>?)"),
        "{next_workflow}"
    );
    let owners = plan(
        "SELECT lease_owner, max(ifnull(lease_expires, 0)) FROM runs
         WHERE lease_owner IS NOT NULL GROUP BY lease_owner ORDER BY lease_owner",
    );
    assert!(owners.contains("runs_by_owner"), "{owners}");
}
