//! Garbage collection: what no run needs any more goes, histories stay whole.

use super::*;

pub(crate) async fn gc_removes_what_no_run_needs_and_keeps_what_one_does<S: TestStore>(
    f: Fixture<S>,
) {
    let s = &f.store;
    for (digest, bytes) in [("sha256:c1", 10), ("sha256:c2", 20), ("sha256:c3", 30)] {
        s.save_component(digest, "hello", vec![0; bytes])
            .await
            .unwrap();
    }
    let pin = |digest: &str| BTreeMap::from([("hello".to_owned(), digest.to_owned())]);
    // A completed run pinned to c1, a pending one pinned to c2; c3 pinned by none.
    s.create_run(NewRun {
        plugins: pin("sha256:c1"),
        ..new_run("done")
    })
    .await
    .unwrap();
    s.commit_step(commit("done", 1, &[])).await.unwrap();
    s.create_run(NewRun {
        plugins: pin("sha256:c2"),
        ..new_run("waiting")
    })
    .await
    .unwrap();
    // A run moved to another workflow text before its first step: the old text is left
    // to no run and no checkpoint.
    s.create_run(NewRun {
        workflow_digest: "sha256:old".to_owned(),
        workflow_text: "name = \"old\"\n".to_owned(),
        ..new_run("moved")
    })
    .await
    .unwrap();
    s.upgrade_run(RunUpgrade {
        thread: "moved".to_owned(),
        workflow_name: "greet".to_owned(),
        workflow_digest: "sha256:new".to_owned(),
        workflow_text: "name = \"new\"\n".to_owned(),
        plugins: BTreeMap::new(),
    })
    .await
    .unwrap();
    let history = s.history("done").await.unwrap();

    let collected = s.collect_garbage().await.unwrap();
    assert_eq!(
        collected,
        Collected {
            components: 2,
            component_bytes: 40,
            values: 0,
            value_bytes: 0,
            workflows: 1,
        }
    );
    let versions = s.component_versions().await.unwrap();
    let digests: Vec<&str> = versions.iter().map(|v| v.digest.as_str()).collect();
    assert_eq!(digests, ["sha256:c2"]);
    assert_eq!(versions[0].unfinished, ["waiting"]);
    assert_eq!(s.component_bytes("sha256:c1").await.unwrap(), None);
    assert_eq!(
        s.load_run("waiting").await.unwrap().unwrap().plugins,
        pin("sha256:c2")
    );
    assert!(
        s.load_run("done")
            .await
            .unwrap()
            .unwrap()
            .plugins
            .is_empty()
    );
    assert_eq!(s.workflow_text("sha256:old").await.unwrap(), None);
    assert!(s.workflow_text("sha256:new").await.unwrap().is_some());
    assert!(s.workflow_text("sha256:abc").await.unwrap().is_some());
    assert_eq!(
        s.history("done").await.unwrap(),
        history,
        "histories stay whole"
    );

    // Nothing is left to collect.
    assert_eq!(s.collect_garbage().await.unwrap(), Collected::default());
}

conformance! {
    #[tokio::test] gc_removes_what_no_run_needs_and_keeps_what_one_does,
}
