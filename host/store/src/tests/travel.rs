//! Time travel: forks, edits and replays in place, and history across branches.

use super::*;

fn edit(node: &str, changes: Value, state: Value, next: &[&str]) -> StateEdit {
    StateEdit {
        node: node.to_owned(),
        as_node: (node != "update").then(|| node.to_owned()),
        values: object(changes.clone()),
        changes: object(changes),
        state: object(state),
        next: next.iter().map(|n| (*n).to_owned()).collect(),
        by: "test".to_owned(),
    }
}

/// Every entry of `thread`'s history, a page of `limit` at a time.
async fn all_entries<S: TestStore>(
    store: &S,
    thread: &str,
    limit: usize,
    detail: HistoryDetail,
    branches: Branches,
) -> Vec<HistoryEntry> {
    let (mut all, mut cursor) = (Vec::new(), None);
    loop {
        let mut page = store
            .history_page(thread, cursor, limit, detail, branches)
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

pub(crate) async fn a_fork_starts_from_the_sources_checkpoint_and_goes_its_own_way<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    s.create_run(NewRun {
        tags: BTreeMap::from([("customer".into(), "acme".into())]),
        ..new_run("src")
    })
    .await
    .unwrap();
    for step in 1..=3 {
        s.commit_step(commit("src", step, &["hello"]))
            .await
            .unwrap();
    }
    let history = all_entries(s, "src", 10, HistoryDetail::ChangedKeys, Branches::Current).await;
    let at_2 = history
        .iter()
        .find(|e| e.step == 2)
        .unwrap()
        .checkpoint
        .clone();
    let fork = ForkRun {
        source: "src".into(),
        step: 2,
        thread: "fork".into(),
        start: vec!["hello".into()],
        edit: None,
        by: "test".into(),
    };
    let forked = s.fork_run(fork.clone()).await.unwrap();
    assert_eq!(
        (forked.status, forked.step, forked.branch),
        (RunStatus::Pending, 2, 0)
    );
    assert_eq!(forked.state, s.state_at("src", 2).await.unwrap().unwrap());
    assert_eq!(forked.tags, s.load_run("src").await.unwrap().unwrap().tags);
    let first = all_entries(s, "fork", 10, HistoryDetail::WholeStates, Branches::Current).await;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].node.as_str(), first[0].step), ("fork", 2));
    assert_eq!(first[0].parent.as_deref(), Some(at_2.as_str()));
    assert_eq!(
        forked.checkpoint.as_deref(),
        Some(first[0].checkpoint.as_str())
    );
    assert_eq!(
        s.state_at("fork", 1).await.unwrap(),
        None,
        "before the fork"
    );
    // Both go on independently.
    let next = s.commit_step(commit("fork", 3, &[])).await.unwrap();
    assert_eq!(next.status, RunStatus::Completed);
    s.commit_step(commit("src", 4, &[])).await.unwrap();
    // A fork of a fork; errors.
    let again = ForkRun {
        source: "fork".into(),
        step: 2,
        thread: "fork-2".into(),
        ..fork.clone()
    };
    s.fork_run(again.clone()).await.unwrap();
    let taken = s.fork_run(again.clone()).await.unwrap_err();
    assert!(
        matches!(taken, StoreError::ThreadExists { .. }),
        "{taken:?}"
    );
    let before = ForkRun {
        step: 1,
        thread: "x".into(),
        ..again.clone()
    };
    let missing = s.fork_run(before).await.unwrap_err();
    assert!(
        matches!(
            missing,
            StoreError::StepMissing {
                step: 1,
                first: 2,
                last: 3,
                ..
            }
        ),
        "{missing:?}"
    );
    let ghost = ForkRun {
        source: "ghost".into(),
        thread: "y".into(),
        ..again
    };
    assert!(matches!(
        s.fork_run(ghost).await,
        Err(StoreError::NotFound { .. })
    ));
    // A fork of the input, with an edit.
    let input = s
        .fork_run(ForkRun {
            step: 0,
            thread: "from-input".into(),
            edit: Some(edit(
                "n1",
                json!({"x": 1}),
                json!({"name": "Ada", "x": 1}),
                &["n2"],
            )),
            ..fork
        })
        .await
        .unwrap();
    assert_eq!(
        (input.step, input.next.as_slice()),
        (1, ["n2".to_owned()].as_slice())
    );
    assert_eq!(input.state, object(json!({"name": "Ada", "x": 1})));
    let entries = all_entries(
        s,
        "from-input",
        10,
        HistoryDetail::Changes,
        Branches::Current,
    )
    .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].node.as_str(), entries[0].parent.as_ref()),
        ("n1", None)
    );
    assert_eq!(
        entries[0].changes.as_deref(),
        Some(
            [KeyChange {
                key: "x".into(),
                before: None,
                after: json!(1)
            }]
            .as_slice()
        )
    );
}

pub(crate) async fn an_edit_is_a_checkpoint_and_keeps_the_status<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    f.run_one_step("job-1").await;
    s.setback_step(failure("job-1", 2, 1)).await.unwrap();
    let e = edit(
        "review",
        json!({"step": 10}),
        json!({"name": "Ada", "step": 10}),
        &["after"],
    );
    let wrong = s.edit_run("job-1", 0, e.clone()).await.unwrap_err();
    assert!(matches!(wrong, StoreError::Conflict { .. }), "{wrong:?}");
    let edited = s.edit_run("job-1", 1, e.clone()).await.unwrap();
    assert_eq!(
        (
            edited.status,
            edited.step,
            edited.attempt,
            edited.next.as_slice()
        ),
        (RunStatus::Failed, 2, 0, ["after".to_owned()].as_slice())
    );
    assert_eq!(edited.state, object(json!({"name": "Ada", "step": 10})));
    let entries = all_entries(s, "job-1", 10, HistoryDetail::Changes, Branches::Current).await;
    assert_eq!(
        (
            entries[0].node.as_str(),
            entries[0].component_digest.as_str()
        ),
        ("review", "")
    );
    assert_eq!(
        entries[0].parent.as_deref(),
        Some(entries[1].checkpoint.as_str())
    );
    assert_eq!(
        entries[0].changes.as_deref(),
        Some(
            [KeyChange {
                key: "step".into(),
                before: Some(json!(1)),
                after: json!(10)
            }]
            .as_slice()
        )
    );
    // Refused while someone executes it, and once cancelled.
    s.claim("job-1", "busy", LEASE_MS, &no_dead())
        .await
        .unwrap();
    let busy = s.edit_run("job-1", 2, e.clone()).await.unwrap_err();
    assert!(matches!(busy, StoreError::Leased { .. }), "{busy:?}");
    s.release("busy", "job-1").await.unwrap();
    s.cancel("job-1").await.unwrap();
    let gone = s.edit_run("job-1", 2, e).await.unwrap_err();
    assert!(matches!(gone, StoreError::Cancelled { .. }), "{gone:?}");
}

pub(crate) async fn a_replay_supersedes_the_later_checkpoints_and_keeps_them<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    paged_run(&f, "job-1", 5).await;
    let before = all_entries(
        s,
        "job-1",
        10,
        HistoryDetail::WholeStates,
        Branches::Current,
    )
    .await;
    let replay = ReplayRun {
        thread: "job-1".into(),
        from_step: 2,
        start: vec!["hello".into()],
        by: "test".into(),
    };
    let run = s.replay_run(replay.clone()).await.unwrap();
    assert_eq!(
        (run.step, run.branch, run.status),
        (2, 1, RunStatus::Pending)
    );
    assert_eq!(
        run.checkpoint.as_deref(),
        Some(before[3].checkpoint.as_str())
    );
    assert_eq!(run.state, before[3].state.clone().unwrap());
    // The new branch goes on.
    s.commit_step(StepCommit {
        changes: object(json!({"count": 300})),
        ..commit("job-1", 3, &["hello"])
    })
    .await
    .unwrap();
    assert_eq!(
        s.state_at("job-1", 3).await.unwrap().unwrap()["count"],
        json!(300)
    );
    let current = all_entries(
        s,
        "job-1",
        10,
        HistoryDetail::WholeStates,
        Branches::Current,
    )
    .await;
    let steps: Vec<(u64, u64)> = current.iter().map(|e| (e.step, e.branch)).collect();
    assert_eq!(steps, [(3, 1), (2, 0), (1, 0)]);
    assert_eq!(
        current[0].parent.as_deref(),
        Some(before[3].checkpoint.as_str())
    );
    for limit in [1, 2, 10] {
        let all = all_entries(s, "job-1", limit, HistoryDetail::WholeStates, Branches::All).await;
        let shape: Vec<(u64, u64, bool)> = all
            .iter()
            .map(|e| (e.step, e.branch, e.superseded))
            .collect();
        assert_eq!(
            shape,
            [
                (3, 1, false),
                (2, 0, false),
                (1, 0, false),
                (5, 0, true),
                (4, 0, true),
                (3, 0, true)
            ],
            "limit {limit}"
        );
        // Each superseded checkpoint keeps the state it had.
        for (entry, old) in all[3..].iter().zip(&before[..3]) {
            assert_eq!(entry.checkpoint, old.checkpoint);
            assert_eq!(entry.state, old.state, "step {}", entry.step);
        }
    }
    // A second replay, to the input.
    let run = s
        .replay_run(ReplayRun {
            from_step: 0,
            ..replay.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        (run.step, run.branch, run.checkpoint.as_deref()),
        (0, 2, None)
    );
    assert_eq!(run.next, ["hello"]);
    let all = all_entries(s, "job-1", 3, HistoryDetail::Changes, Branches::All).await;
    let shape: Vec<(u64, u64)> = all.iter().map(|e| (e.step, e.branch)).collect();
    // Nothing is left on the current branch: every checkpoint is superseded now.
    assert_eq!(shape, [(3, 1), (5, 0), (4, 0), (3, 0), (2, 0), (1, 0)]);
    assert!(all.iter().all(|e| e.superseded));
    let changed = all[0].changes.as_ref().unwrap();
    assert_eq!(
        changed[0],
        KeyChange {
            key: "count".into(),
            before: Some(json!(1)),
            after: json!(300)
        }
    );
    let missing = s
        .replay_run(ReplayRun {
            from_step: 1,
            ..replay
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            StoreError::StepMissing {
                step: 1,
                first: 0,
                last: 0,
                ..
            }
        ),
        "{missing:?}"
    );
}

/// Random steps, forks, edits and replays over a few threads (seeded, so a failure
/// repeats): then every checkpoint of every thread, on every branch, has the state that
/// folding the changes along its parent chain gives, from the input of the run the chain
/// starts in; and each run's state at each step is what a model of the operations says.
pub(crate) async fn every_checkpoints_state_is_the_fold_of_its_chain<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    for seed in 0..4u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let root = format!("s{seed}-0");
        s.create_run(new_run(&root)).await.unwrap();
        // thread -> (first step, states from the first step on)
        let mut model: BTreeMap<String, (u64, Vec<Map<String, Value>>)> = BTreeMap::new();
        model.insert(root.clone(), (0, vec![object(json!({"name": "Ada"}))]));
        for op in 0..24 {
            let threads: Vec<String> = model.keys().cloned().collect();
            let thread = threads[rng.usize(..threads.len())].clone();
            let (first, states) = model[&thread].clone();
            let last = first + states.len() as u64 - 1;
            let mut changes = Map::new();
            for _ in 0..rng.usize(1..3) {
                let key = format!("k{}", rng.u8(..4));
                let value = if rng.u8(..5) == 0 {
                    json!("x".repeat(1500 + rng.usize(..10)))
                } else {
                    json!(rng.u32(..100))
                };
                changes.insert(key, value);
            }
            let mut after = states.last().unwrap().clone();
            after.extend(changes.clone());
            match rng.u8(..6) {
                0 | 1 => {
                    s.commit_step(StepCommit {
                        changes,
                        state: after.clone(),
                        ..commit(&thread, last + 1, &["hello"])
                    })
                    .await
                    .unwrap();
                    model.get_mut(&thread).unwrap().1.push(after);
                }
                2 => {
                    let at = first + rng.u64(..=last - first);
                    let new = format!("s{seed}-{op}");
                    let state = states[usize::try_from(at - first).unwrap()].clone();
                    s.fork_run(ForkRun {
                        source: thread.clone(),
                        step: at,
                        thread: new.clone(),
                        start: vec!["hello".into()],
                        edit: None,
                        by: "test".into(),
                    })
                    .await
                    .unwrap();
                    model.insert(new, (at, vec![state]));
                }
                3 | 4 => {
                    let e = StateEdit {
                        node: "update".into(),
                        as_node: None,
                        values: changes.clone(),
                        changes,
                        state: after.clone(),
                        next: vec!["hello".into()],
                        by: "test".into(),
                    };
                    s.edit_run(&thread, last, e).await.unwrap();
                    model.get_mut(&thread).unwrap().1.push(after);
                }
                _ => {
                    let from = first + rng.u64(..=last - first);
                    s.replay_run(ReplayRun {
                        thread: thread.clone(),
                        from_step: from,
                        start: vec!["hello".into()],
                        by: "test".into(),
                    })
                    .await
                    .unwrap();
                    let keep = usize::try_from(from - first).unwrap() + 1;
                    model.get_mut(&thread).unwrap().1.truncate(keep);
                }
            }
        }
        // Every checkpoint: its parent, its changes, its state.
        let mut checkpoints = BTreeMap::new();
        for thread in model.keys() {
            let states = all_entries(s, thread, 7, HistoryDetail::WholeStates, Branches::All).await;
            let changes = all_entries(s, thread, 5, HistoryDetail::Changes, Branches::All).await;
            assert_eq!(states.len(), changes.len());
            for (whole, diff) in states.into_iter().zip(changes) {
                assert_eq!(whole.checkpoint, diff.checkpoint);
                let written: Map<String, Value> = diff
                    .changes
                    .unwrap()
                    .into_iter()
                    .map(|c| (c.key, c.after))
                    .collect();
                checkpoints.insert(
                    whole.checkpoint.clone(),
                    (thread.clone(), whole.parent, written, whole.state.unwrap()),
                );
            }
        }
        for (id, (thread, _, _, state)) in &checkpoints {
            let mut chain = vec![id.clone()];
            while let Some(parent) = checkpoints[chain.last().unwrap()].1.clone() {
                chain.push(parent);
            }
            let start = &checkpoints[chain.last().unwrap()].0;
            // A chain without a parent starts at a run's input (a fork's first checkpoint
            // points into its source).
            let mut folded = s
                .state_at(start, 0)
                .await
                .unwrap()
                .expect("a chain starts in a run that has its input");
            for link in chain.iter().rev() {
                folded.extend(checkpoints[link].2.clone());
            }
            assert_eq!(&folded, state, "seed {seed}, {thread} checkpoint {id}");
        }
        // And the model.
        for (thread, (first, states)) in &model {
            let run = s.load_run(thread).await.unwrap().unwrap();
            assert_eq!(run.step, first + states.len() as u64 - 1, "{thread}");
            assert_eq!(&run.state, states.last().unwrap(), "seed {seed}, {thread}");
            for (i, state) in states.iter().enumerate() {
                let at = first + i as u64;
                let stored = s.state_at(thread, at).await.unwrap();
                assert_eq!(
                    stored.as_ref(),
                    Some(state),
                    "seed {seed}, {thread} step {at}"
                );
            }
            if *first > 0 {
                assert_eq!(s.state_at(thread, first - 1).await.unwrap(), None);
            }
        }
    }
}

conformance! {
    #[tokio::test] every_checkpoints_state_is_the_fold_of_its_chain,
    #[tokio::test] a_fork_starts_from_the_sources_checkpoint_and_goes_its_own_way,
    #[tokio::test] an_edit_is_a_checkpoint_and_keeps_the_status,
    #[tokio::test] a_replay_supersedes_the_later_checkpoints_and_keeps_them,
}
