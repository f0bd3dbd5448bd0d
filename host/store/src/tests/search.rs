//! Run listings: filters that combine, tags, cursors stable under new runs, and the
//! finished runs that retention selects.

use super::*;

fn tagged(thread: &str, workflow: &str, tags: &[(&str, &str)]) -> NewRun {
    NewRun {
        workflow_name: workflow.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..new_run(thread)
    }
}

async fn page_of<S: TestStore>(
    store: &S,
    filter: &RunFilter,
    cursor: Option<Cursor>,
    limit: usize,
) -> (Vec<String>, Option<Cursor>) {
    let page = store.list_runs(filter, cursor, limit).await.unwrap();
    let threads = page.runs.into_iter().map(|run| run.thread).collect();
    (threads, page.next_cursor)
}

async fn all_of<S: TestStore>(store: &S, filter: &RunFilter) -> Vec<String> {
    page_of(store, filter, None, RUNS_PAGE.max).await.0
}

pub(crate) async fn list_filters_combine<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    let acme = ("customer", "acme");
    for (thread, workflow, tags) in [
        ("a", "approval", vec![acme, ("priority", "high")]),
        ("b", "approval", vec![("customer", "initech")]),
        ("c", "greet", vec![acme]),
        ("d", "approval", vec![acme]),
        ("e", "approval", vec![]),
    ] {
        f.clock.advance(Duration::from_secs(60));
        s.create_run(tagged(thread, workflow, &tags)).await.unwrap();
    }
    for thread in ["a", "c", "e"] {
        s.setback_step(failure(thread, 1, 1)).await.unwrap();
    }
    let filter = |status, workflow: Option<&str>, tags: &[(&str, &str)], since| RunFilter {
        parent: None,
        status,
        workflow: workflow.map(str::to_owned),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        created_since_ms: since,
        thread_prefix: None,
    };
    let failed = Some(RunStatus::Failed);
    assert_eq!(
        all_of(s, &filter(None, None, &[], None)).await,
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        all_of(s, &filter(failed, None, &[], None)).await,
        ["e", "c", "a"]
    );
    assert_eq!(
        all_of(s, &filter(failed, Some("approval"), &[], None)).await,
        ["e", "a"]
    );
    assert_eq!(
        all_of(s, &filter(failed, Some("approval"), &[acme], None)).await,
        ["a"]
    );
    assert_eq!(
        all_of(s, &filter(None, None, &[acme], None)).await,
        ["d", "c", "a"]
    );
    assert_eq!(
        all_of(s, &filter(None, None, &[acme, ("priority", "high")], None)).await,
        ["a"],
        "every tag must hold"
    );
    assert!(
        all_of(s, &filter(None, None, &[("customer", "nobody")], None))
            .await
            .is_empty()
    );
    // Runs are 60 s apart: the last two were created within the last 90 s.
    let since = Some(f.now() - 90_000);
    assert_eq!(all_of(s, &filter(None, None, &[], since)).await, ["e", "d"]);
    assert_eq!(all_of(s, &filter(failed, None, &[], since)).await, ["e"]);

    // Tags are shown in listings and in the run.
    let listed = s
        .list_runs(&filter(None, None, &[acme], None), None, 1)
        .await;
    let run = &listed.unwrap().runs[0];
    assert_eq!(
        run.tags,
        BTreeMap::from([("customer".into(), "acme".into())])
    );
    let a = s.load_run("a").await.unwrap().unwrap();
    assert_eq!(
        a.tags,
        BTreeMap::from([
            ("customer".into(), "acme".into()),
            ("priority".into(), "high".into())
        ])
    );
    let committed = s.commit_step(commit("d", 1, &["hello"])).await.unwrap();
    assert_eq!(committed.tags, s.load_run("d").await.unwrap().unwrap().tags);
}

pub(crate) async fn list_cursors_are_stable_under_new_runs<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    for i in 0..7 {
        s.create_run(new_run(&format!("r{i}"))).await.unwrap();
    }
    let all = RunFilter::default();
    let (first, cursor) = page_of(s, &all, None, 3).await;
    assert_eq!(first, ["r6", "r5", "r4"]);
    let cursor = cursor.expect("more pages");
    // Runs created (and stepped) between two pages go before the first page; the next
    // page goes on where the last one ended, neither repeating nor skipping a run.
    for i in 7..10 {
        s.create_run(new_run(&format!("r{i}"))).await.unwrap();
    }
    s.commit_step(commit("r3", 1, &["hello"])).await.unwrap();
    let (second, cursor) = page_of(s, &all, Some(cursor), 3).await;
    assert_eq!(second, ["r3", "r2", "r1"]);
    let (third, cursor) = page_of(s, &all, cursor, 3).await;
    assert_eq!((third, cursor), (vec!["r0".to_owned()], None));
    // A page that ends exactly at the oldest run has no next page.
    let (last, cursor) = page_of(s, &all, None, 10).await;
    assert_eq!((last.len(), cursor), (10, None));

    // With a filter too.
    let pending = RunFilter {
        status: Some(RunStatus::Pending),
        ..Default::default()
    };
    let (first, cursor) = page_of(s, &pending, None, 5).await;
    assert_eq!(first, ["r9", "r8", "r7", "r6", "r5"]);
    let (second, cursor) = page_of(s, &pending, cursor, 5).await;
    assert_eq!(
        (second, cursor),
        (
            vec!["r4".into(), "r2".into(), "r1".into(), "r0".into()],
            None
        )
    );
}

pub(crate) async fn list_by_thread_prefix<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    let threads = [
        "job-1",
        "job-10",
        "Job-2",
        "job-2",
        "jo",
        "jobs",
        "other",
        "a_b",
        "axb",
        "a%",
        "é-1",
        "é",
        "f",
        "\u{10FFFF}-1",
        "\u{10FFFF}",
        "\u{D7FF}x",
        "\u{E000}",
    ];
    for thread in threads {
        s.create_run(new_run(thread)).await.unwrap();
    }
    s.setback_step(failure("job-10", 1, 1)).await.unwrap();
    let prefix = |prefix: &str| RunFilter {
        thread_prefix: Some(prefix.to_owned()),
        ..Default::default()
    };
    // Newest created first, as every listing; case matters; `_` and `%` are no wildcards.
    assert_eq!(
        all_of(s, &prefix("job-")).await,
        ["job-2", "job-10", "job-1"]
    );
    assert_eq!(
        all_of(s, &prefix("job")).await,
        ["jobs", "job-2", "job-10", "job-1"]
    );
    assert_eq!(
        all_of(s, &prefix("jo")).await,
        ["jobs", "jo", "job-2", "job-10", "job-1"]
    );
    assert_eq!(all_of(s, &prefix("Job")).await, ["Job-2"]);
    assert_eq!(all_of(s, &prefix("job-1")).await, ["job-10", "job-1"]);
    assert_eq!(all_of(s, &prefix("job-10")).await, ["job-10"]);
    assert_eq!(all_of(s, &prefix("a_")).await, ["a_b"]);
    assert_eq!(all_of(s, &prefix("a%")).await, ["a%"]);
    assert!(all_of(s, &prefix("job-3")).await.is_empty());
    // Past ASCII: the next character after the prefix's last, a surrogate skipped, and
    // the last character there is.
    assert_eq!(all_of(s, &prefix("é")).await, ["é", "é-1"]);
    assert_eq!(all_of(s, &prefix("\u{D7FF}")).await, ["\u{D7FF}x"]);
    assert_eq!(
        all_of(s, &prefix("\u{10FFFF}")).await,
        ["\u{10FFFF}", "\u{10FFFF}-1"]
    );
    // The empty prefix is every thread's.
    assert_eq!(all_of(s, &prefix("")).await.len(), threads.len());
    // With the other filters, and paged.
    let failed = RunFilter {
        status: Some(RunStatus::Failed),
        ..prefix("job")
    };
    assert_eq!(all_of(s, &failed).await, ["job-10"]);
    let (first, cursor) = page_of(s, &prefix("jo"), None, 2).await;
    assert_eq!(first, ["jobs", "jo"]);
    let (second, cursor) = page_of(s, &prefix("jo"), cursor, 2).await;
    assert_eq!(second, ["job-2", "job-10"]);
    let (third, cursor) = page_of(s, &prefix("jo"), cursor, 2).await;
    assert_eq!((third, cursor), (vec!["job-1".to_owned()], None));
}

pub(crate) async fn retention_selects_old_finished_runs_oldest_first<S: TestStore>(f: Fixture<S>) {
    let s = &f.store;
    f.runs(&["done", "failed", "cancelled", "parked", "running", "young"])
        .await;
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    f.clock.advance(Duration::from_millis(5));
    s.setback_step(failure("failed", 1, 1)).await.unwrap();
    f.clock.advance(Duration::from_millis(5));
    s.cancel("cancelled").await.unwrap();
    s.setback_step(setback(
        "parked",
        1,
        1,
        Setback::Interrupted {
            payload: json!({"ask": "ok?"}),
            deadline_ms: None,
        },
    ))
    .await
    .unwrap();
    s.commit_step(sleep_commit("running", 1, f.now() + 1))
        .await
        .unwrap();
    f.clock.advance(Duration::from_millis(5));
    let cutoff = f.now();
    f.clock.advance(Duration::from_millis(5));
    s.commit_step(commit("young", 1, &[])).await.unwrap();

    let old = s.finished_before(cutoff, 10).await.unwrap();
    assert_eq!(old, ["done", "failed", "cancelled"]);
    assert_eq!(
        s.finished_before(cutoff, 2).await.unwrap(),
        ["done", "failed"]
    );
    assert!(s.finished_before(0, 10).await.unwrap().is_empty());
}

conformance! {
    #[tokio::test] list_filters_combine,
    #[tokio::test] list_cursors_are_stable_under_new_runs,
    #[tokio::test] list_by_thread_prefix,
    #[tokio::test] retention_selects_old_finished_runs_oldest_first,
}
