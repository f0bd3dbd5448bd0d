//! Time travel on Postgres, beyond the conformance suite: a fork of a fork edited and
//! replayed, its history on every branch with states and diffs, its events, and a delete
//! that leaves what another run shares.

use crate::tests::*;

use super::fresh;

/// Every entry of a history, all branches, with `detail`.
async fn all_history(store: &PgStore, thread: &str, detail: HistoryDetail) -> Vec<HistoryEntry> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        // Pages of 2: the cursor crosses from the current branch to the superseded ones.
        let mut page = store
            .history_page(thread, cursor, 2, detail, Branches::All)
            .await
            .unwrap();
        while let Some(entry) = page.next().await.unwrap() {
            all.push(entry);
        }
        cursor = page.next_cursor();
        if cursor.is_none() {
            return all;
        }
    }
}

async fn events(store: &PgStore, thread: &str) -> Vec<(EventKind, u64, Map<String, Value>)> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let mut page = store.events_page(thread, cursor, 2).await.unwrap();
        while let Some(event) = page.next().await.unwrap() {
            all.push((event.kind, event.step, event.data));
        }
        cursor = page.next_cursor();
        if cursor.is_none() {
            return all;
        }
    }
}

fn edit(node: &str, changes: Value, state: Value, next: &[&str]) -> StateEdit {
    StateEdit {
        node: node.to_owned(),
        as_node: Some(node.to_owned()),
        values: object(changes.clone()),
        changes: object(changes),
        state: object(state),
        next: next.iter().map(|n| (*n).to_owned()).collect(),
        by: "cli".to_owned(),
    }
}

#[tokio::test]
async fn forks_edits_and_replays_keep_every_checkpoint_and_its_state() {
    let f = Fixture::new(fresh).await;
    let s = &f.store;
    let big = "x".repeat(2000);
    s.create_run(NewRun {
        tags: BTreeMap::from([("customer".to_owned(), "acme".to_owned())]),
        ..new_run("src")
    })
    .await
    .unwrap();
    for k in 1..=3 {
        s.commit_step(StepCommit {
            changes: object(json!({"count": k, "doc": big})),
            ..commit("src", k, &["hello"])
        })
        .await
        .unwrap();
    }
    let src = s.load_run("src").await.unwrap().unwrap();

    // A fork at step 2, edited as node n4.
    let fork = s
        .fork_run(ForkRun {
            source: "src".to_owned(),
            step: 2,
            thread: "fork".to_owned(),
            start: vec!["hello".to_owned()],
            edit: Some(edit(
                "n4",
                json!({"count": 100}),
                json!({"name": "Ada", "count": 100, "doc": big}),
                &["n5"],
            )),
            by: "cli".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(
        (fork.status, fork.step, fork.next.clone()),
        (RunStatus::Pending, 3, vec!["n5".to_owned()])
    );
    assert_eq!(
        fork.state,
        object(json!({"name": "Ada", "count": 100, "doc": big}))
    );
    assert_eq!(fork.tags, src.tags);
    let history = all_history(s, "fork", HistoryDetail::Changes).await;
    let nodes: Vec<(&str, u64)> = history.iter().map(|e| (e.node.as_str(), e.step)).collect();
    assert_eq!(nodes, [("n4", 3), ("fork", 2)]);
    let src_history = all_history(s, "src", HistoryDetail::ChangedKeys).await;
    assert_eq!(history[1].parent.as_ref(), Some(&src_history[1].checkpoint));
    assert_eq!(history[0].parent.as_ref(), Some(&history[1].checkpoint));
    assert_eq!(fork.checkpoint.as_ref(), Some(&history[0].checkpoint));
    assert_eq!(
        history[0].changes,
        Some(vec![KeyChange {
            key: "count".to_owned(),
            before: Some(json!(2)),
            after: json!(100),
        }])
    );
    assert_eq!(s.state_at("fork", 1).await.unwrap(), None);
    let err = s
        .fork_run(ForkRun {
            source: "fork".to_owned(),
            step: 1,
            thread: "fork2".to_owned(),
            start: Vec::new(),
            edit: None,
            by: "cli".to_owned(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::StepMissing {
                step: 1,
                first: 2,
                last: 3,
                ..
            }
        ),
        "{err:?}"
    );

    // Two more steps, then a replay from step 3 and another from step 2.
    for k in 4..=5 {
        s.commit_step(StepCommit {
            changes: object(json!({"count": k * 10})),
            ..commit("fork", k, &["hello"])
        })
        .await
        .unwrap();
    }
    let replayed = s
        .replay_run(ReplayRun {
            thread: "fork".to_owned(),
            from_step: 3,
            start: Vec::new(),
            by: "cli".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(
        (replayed.status, replayed.step, replayed.branch),
        (RunStatus::Pending, 3, 1)
    );
    s.commit_step(StepCommit {
        changes: object(json!({"count": 7})),
        ..commit("fork", 4, &["hello"])
    })
    .await
    .unwrap();
    let replayed = s
        .replay_run(ReplayRun {
            thread: "fork".to_owned(),
            from_step: 2,
            start: Vec::new(),
            by: "cli".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!((replayed.step, replayed.branch), (2, 2));
    assert_eq!(
        replayed.state,
        object(json!({"name": "Ada", "count": 2, "doc": big}))
    );
    assert_eq!(replayed.next, ["hello"]);

    let history = all_history(s, "fork", HistoryDetail::WholeStates).await;
    let seen: Vec<(u64, u64, bool, Value)> = history
        .iter()
        .map(|e| {
            let state = e.state.as_ref().unwrap();
            (e.branch, e.step, e.superseded, state["count"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, 2, false, json!(2)),
            (1, 4, true, json!(7)),
            (0, 5, true, json!(50)),
            (0, 4, true, json!(40)),
            (0, 3, true, json!(100)),
        ]
    );
    let current = s.history("fork").await.unwrap();
    assert_eq!(current.len(), 1);

    let kinds: Vec<EventKind> = events(s, "fork").await.into_iter().map(|e| e.0).collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        [Forked, Edited, Step, Step, Replayed, Step, Replayed]
    );
    let (_, step, data) = events(s, "fork").await.pop().unwrap();
    assert_eq!(step, 2);
    assert_eq!(
        Value::Object(data),
        json!({"from_step": 2, "branch": 2, "superseded": 2, "by": "cli"})
    );
}

#[tokio::test]
async fn edits_are_refused_while_a_live_owner_runs_the_run() {
    let f = Fixture::new(fresh).await;
    let s = &f.store;
    s.create_run(NewRun {
        lease: Some(("host-a".to_owned(), LEASE_MS)),
        ..new_run("job")
    })
    .await
    .unwrap();
    let edited = edit("n", json!({"x": 1}), json!({"name": "Ada", "x": 1}), &[]);
    let err = s.edit_run("job", 0, edited.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");
    s.release("host-a", "job").await.unwrap();
    let err = s.edit_run("job", 1, edited.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let run = s.edit_run("job", 0, edited).await.unwrap();
    assert_eq!(
        (run.step, run.status, run.next.len()),
        (1, RunStatus::Running, 0)
    );
}

#[tokio::test]
async fn a_delete_frees_only_what_no_other_run_refers_to() {
    let f = Fixture::new(fresh).await;
    let s = &f.store;
    let wasm = b"\0asm component".to_vec();
    for digest in ["sha256:shared", "sha256:own"] {
        s.save_component(digest, "hello", wasm.clone())
            .await
            .unwrap();
    }
    let (shared, own) = ("s".repeat(2000), "o".repeat(3000));
    let pinned = |digest: &str| BTreeMap::from([("hello".to_owned(), digest.to_owned())]);
    s.create_run(NewRun {
        plugins: pinned("sha256:shared"),
        input: object(json!({"doc": shared})),
        ..new_run("other")
    })
    .await
    .unwrap();
    s.create_run(NewRun {
        plugins: BTreeMap::from([
            ("hello".to_owned(), "sha256:shared".to_owned()),
            ("own".to_owned(), "sha256:own".to_owned()),
        ]),
        input: object(json!({"doc": shared})),
        ..new_run("gone")
    })
    .await
    .unwrap();
    // More rows than one job deletes.
    for k in 1..=1200 {
        let changes = match k {
            7 => json!({"mine": own}),
            k => json!({"count": k}),
        };
        s.commit_step(StepCommit {
            changes: object(changes),
            logs: Vec::new(),
            ..commit("gone", k, &["hello"])
        })
        .await
        .unwrap();
    }
    let err = s.delete_run("gone", false).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unfinished {
                status: RunStatus::Running,
                ..
            }
        ),
        "{err:?}"
    );
    s.replay_run(ReplayRun {
        thread: "gone".to_owned(),
        from_step: 1100,
        start: Vec::new(),
        by: "cli".to_owned(),
    })
    .await
    .unwrap();
    let deleted = s.delete_run("gone", true).await.unwrap();
    assert_eq!(
        (deleted.checkpoints, deleted.logs, deleted.events),
        (1200, 0, 1 + 1200 + 1)
    );
    assert_eq!(
        (
            deleted.freed.values,
            deleted.freed.value_bytes,
            deleted.freed.components,
            deleted.freed.workflows
        ),
        (1, own.len() as u64 + 2, 1, 0)
    );
    assert_eq!(s.load_run("gone").await.unwrap(), None);
    assert!(matches!(
        s.events_page("gone", None, 10).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    // The other run reads its state and goes on; the thread can be used again.
    assert_eq!(
        s.load_run("other").await.unwrap().unwrap().state,
        object(json!({"doc": shared}))
    );
    s.commit_step(commit("other", 1, &[])).await.unwrap();
    s.create_run(new_run("gone")).await.unwrap();
    let again = s.load_run("gone").await.unwrap().unwrap();
    assert_eq!((again.step, again.branch, again.checkpoint), (0, 0, None));
    let events = events(s, "gone").await;
    assert_eq!(events.len(), 1, "{events:?}");
}
