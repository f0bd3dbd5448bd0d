//! Runs created many at once (`create_runs`): each exactly as `create_run` makes it, and
//! all or none.

use super::events::events_of;
use super::*;

/// A run with tags, pins and an input with a long value (stored as a blob).
fn rich_run(thread: &str) -> NewRun {
    NewRun {
        input: object(json!({"name": "Ada", "long": "x".repeat(2 * crate::rows::BLOB_MIN)})),
        tags: BTreeMap::from([("customer".into(), "acme".into())]),
        plugins: BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]),
        ..new_run(thread)
    }
}

async fn save_component<S: TestStore>(f: &Fixture<S>) {
    f.store
        .save_component("sha256:c1", "hello", b"\0asm\x0d\x00\x01\x00 c".to_vec())
        .await
        .unwrap();
}

/// `run` as it would be on thread `thread`.
fn on_thread(run: RunRecord, thread: &str) -> RunRecord {
    RunRecord {
        thread: thread.to_owned(),
        ..run
    }
}

pub(crate) async fn create_runs_makes_what_create_run_makes<S: TestStore>(f: Fixture<S>) {
    save_component(&f).await;
    let one = f.store.create_run(rich_run("one")).await.unwrap();
    let threads = ["many-1", "many-2", "many-3"];
    let created = f
        .store
        .create_runs(threads.iter().map(|t| rich_run(t)).collect())
        .await
        .unwrap();
    assert_eq!(created, 3);
    let one_events = events_of(&f.store, "one", 100).await;
    for thread in threads {
        let run = f.store.load_run(thread).await.unwrap().unwrap();
        assert_eq!(run, on_thread(one.clone(), thread));
        assert_eq!(
            f.store.state_at(thread, 0).await.unwrap(),
            Some(one.state.clone())
        );
        assert_eq!(events_of(&f.store, thread, 100).await, one_events);
    }
    // Created in the order given, after the runs before them.
    let page = f
        .store
        .list_runs(&RunFilter::default(), None, 10)
        .await
        .unwrap();
    let listed: Vec<&str> = page.runs.iter().map(|r| r.thread.as_str()).collect();
    assert_eq!(listed, ["many-3", "many-2", "many-1", "one"]);
    // A run of the batch moves on as any run does.
    f.store
        .commit_step(commit("many-2", 1, &["hello"]))
        .await
        .unwrap();
    assert_eq!(f.store.create_runs(Vec::new()).await.unwrap(), 0);
}

pub(crate) async fn a_taken_thread_fails_the_whole_batch<S: TestStore>(f: Fixture<S>) {
    save_component(&f).await;
    f.store.create_run(new_run("job-2")).await.unwrap();
    let none_created = |threads: &'static [&'static str]| {
        let store = f.store.clone();
        async move {
            for thread in threads {
                assert_eq!(store.load_run(thread).await.unwrap(), None, "{thread}");
            }
        }
    };
    let batch = ["job-1", "job-2", "job-3"].map(rich_run).to_vec();
    let err = f.store.create_runs(batch).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ThreadExists { thread, status: RunStatus::Pending } if thread == "job-2"),
        "{err:?}"
    );
    none_created(&["job-1", "job-3"]).await;
    // A thread given twice in one batch: the second is taken by the first.
    let twice = ["x-1", "x-2", "x-1"].map(rich_run).to_vec();
    let err = f.store.create_runs(twice).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ThreadExists { thread, .. } if thread == "x-1"),
        "{err:?}"
    );
    none_created(&["x-1", "x-2"]).await;
    // A pin to a version that is not stored.
    let unknown = NewRun {
        plugins: BTreeMap::from([("hello".to_owned(), "sha256:none".to_owned())]),
        ..rich_run("y-2")
    };
    let err = f
        .store
        .create_runs(vec![rich_run("y-1"), unknown])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ComponentMissing { digest } if digest == "sha256:none"),
        "{err:?}"
    );
    none_created(&["y-1", "y-2"]).await;
    // The batch without the taken thread goes through.
    let batch = ["job-1", "job-3"].map(rich_run).to_vec();
    assert_eq!(f.store.create_runs(batch).await.unwrap(), 2);
}

conformance! {
    #[tokio::test] create_runs_makes_what_create_run_makes,
    #[tokio::test] a_taken_thread_fails_the_whole_batch,
}
