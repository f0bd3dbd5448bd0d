//! History pages: newest first, whole states or changed keys, cursors.

use super::*;

/// Every page of `thread`'s history, `limit` at a time: (steps, next cursor) per page.
async fn history_pages(
    store: &impl CheckpointStore,
    thread: &str,
    limit: usize,
    detail: HistoryDetail,
) -> Vec<(Vec<HistoryEntry>, Option<String>)> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let mut page = store
            .history_page(thread, cursor, limit, detail, crate::Branches::Current)
            .await
            .unwrap();
        let mut entries = Vec::new();
        while let Some(entry) = page.next().await.unwrap() {
            entries.push(entry);
        }
        cursor = page.next_cursor();
        pages.push((entries, cursor.map(|c| c.to_string())));
        if cursor.is_none() {
            return pages;
        }
    }
}

pub(crate) async fn history_pages_walk_down_from_the_latest_step_each_step_once<S: TestStore>(
    f: Fixture<S>,
) {
    paged_run(&f, "job-1", 7).await;
    let pages = history_pages(&f.store, "job-1", 3, HistoryDetail::ChangedKeys).await;
    let shape: Vec<(Vec<u64>, Option<&str>)> = pages
        .iter()
        .map(|(entries, next)| (entries.iter().map(|e| e.step).collect(), next.as_deref()))
        .collect();
    assert_eq!(
        shape,
        [
            (vec![7, 6, 5], Some("5")),
            (vec![4, 3, 2], Some("2")),
            (vec![1], None)
        ]
    );
    let entries: Vec<&HistoryEntry> = pages.iter().flat_map(|(e, _)| e).collect();
    assert!(entries.iter().all(|e| e.state.is_none()), "no states asked");
    let changed = |step: u64| &entries[7 - usize::try_from(step).unwrap()].changed;
    assert_eq!(changed(7), &[("count".to_owned(), 1)]);
    assert_eq!(
        changed(6),
        &[("count".to_owned(), 1), ("s6".to_owned(), 2002)],
        "sizes of the JSON, a long value's too"
    );
    assert!(changed(2).is_empty());
    assert_eq!(entries[0].node, "node-7");
    assert_eq!(entries[0].next, ["hello"]);

    // A page that ends exactly at step 1 has no next page.
    let pages = history_pages(&f.store, "job-1", 7, HistoryDetail::ChangedKeys).await;
    assert_eq!((pages.len(), pages[0].0.len(), &pages[0].1), (1, 7, &None));
}

pub(crate) async fn history_pages_put_whole_states_together_as_state_at_does<S: TestStore>(
    f: Fixture<S>,
) {
    paged_run(&f, "job-1", 10).await;
    for limit in [1, 4, 10] {
        let pages = history_pages(&f.store, "job-1", limit, HistoryDetail::WholeStates).await;
        let entries: Vec<HistoryEntry> = pages.into_iter().flat_map(|(e, _)| e).collect();
        let steps: Vec<u64> = entries.iter().map(|e| e.step).collect();
        assert_eq!(steps, (1..=10).rev().collect::<Vec<_>>(), "limit {limit}");
        for entry in entries {
            let expected = f
                .store
                .state_at("job-1", entry.step)
                .await
                .unwrap()
                .unwrap();
            let state = entry.state.unwrap();
            assert_eq!(state, expected, "step {} (limit {limit})", entry.step);
            // Keys in the order first written, also after walking down.
            assert_eq!(keys(&state), keys(&expected), "step {}", entry.step);
        }
        let pages = history_pages(&f.store, "job-1", 10, HistoryDetail::WholeStates).await;
        let at_4 = pages[0].0[6].state.as_ref().unwrap();
        assert_eq!(keys(at_4), ["name", "count", "s3"]);
        assert_eq!(at_4["count"], json!(4));
    }
}

pub(crate) async fn history_page_cursors_and_missing_runs<S: TestStore>(f: Fixture<S>) {
    paged_run(&f, "job-1", 5).await;
    let cursor: Cursor = "3".parse().unwrap();
    let mut page = f
        .store
        .history_page(
            "job-1",
            Some(cursor),
            10,
            HistoryDetail::ChangedKeys,
            crate::Branches::Current,
        )
        .await
        .unwrap();
    let mut steps = Vec::new();
    while let Some(entry) = page.next().await.unwrap() {
        steps.push(entry.step);
    }
    assert_eq!((steps, page.next_cursor()), (vec![2, 1], None));

    // A run without checkpoints has an empty page; no run at all fails before any entry.
    f.store.create_run(new_run("job-2")).await.unwrap();
    let mut page = f
        .store
        .history_page(
            "job-2",
            None,
            10,
            HistoryDetail::WholeStates,
            crate::Branches::Current,
        )
        .await
        .unwrap();
    assert!(page.next().await.unwrap().is_none());
    let missing = f
        .store
        .history_page(
            "ghost",
            None,
            10,
            HistoryDetail::ChangedKeys,
            crate::Branches::Current,
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));
    let missing = f.store.logs_page("ghost", None, 10).await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));

    // A reader that stops early stops the reading (nothing waits forever).
    let mut page = f
        .store
        .history_page(
            "job-1",
            None,
            1000,
            HistoryDetail::WholeStates,
            crate::Branches::Current,
        )
        .await
        .unwrap();
    assert_eq!(page.next().await.unwrap().unwrap().step, 5);
    drop(page);
    assert_eq!(f.store.history("job-1").await.unwrap().len(), 5);
}

pub(crate) async fn checkpoints_have_ids_each_the_parent_of_the_next<S: TestStore>(f: Fixture<S>) {
    let created = f.store.create_run(new_run("job-1")).await.unwrap();
    assert_eq!((created.checkpoint, created.branch), (None, 0));
    let mut heads = Vec::new();
    for step in 1..=3 {
        let run = f
            .store
            .commit_step(commit("job-1", step, &["hello"]))
            .await
            .unwrap();
        heads.push(run.checkpoint.clone().expect("a commit moves the head"));
        assert_eq!(run, f.store.load_run("job-1").await.unwrap().unwrap());
    }
    let pages = history_pages(&f.store, "job-1", 10, HistoryDetail::ChangedKeys).await;
    let entries = &pages[0].0;
    let ids: Vec<&str> = entries
        .iter()
        .rev()
        .map(|e| e.checkpoint.as_str())
        .collect();
    assert_eq!(ids, heads);
    for id in &ids {
        assert!(
            id.len() == 16
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id:?}"
        );
    }
    let parents: Vec<Option<&str>> = entries.iter().rev().map(|e| e.parent.as_deref()).collect();
    assert_eq!(parents, [None, Some(ids[0]), Some(ids[1])]);
    assert!(entries.iter().all(|e| e.branch == 0 && !e.superseded));
    // Another run's ids are its own.
    f.run_one_step("job-2").await;
    let other = f.store.load_run("job-2").await.unwrap().unwrap();
    assert!(!ids.contains(&other.checkpoint.as_deref().unwrap()));
}

conformance! {
    #[tokio::test] checkpoints_have_ids_each_the_parent_of_the_next,
    #[tokio::test] history_pages_walk_down_from_the_latest_step_each_step_once,
    #[tokio::test] history_pages_put_whole_states_together_as_state_at_does,
    #[tokio::test] history_page_cursors_and_missing_runs,
}
