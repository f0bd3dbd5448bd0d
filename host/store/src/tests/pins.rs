//! Exact-code pinning: component versions stored once, and the runs pinned to them.

use super::*;

pub(crate) async fn a_run_keeps_its_pinned_components_and_each_is_stored_once<S: TestStore>(
    f: Fixture<S>,
) {
    let wasm = b"\0asm\x0d\x00\x01\x00 component".to_vec();
    for _ in 0..2 {
        f.store
            .save_component("sha256:c1", "hello", wasm.clone())
            .await
            .unwrap();
    }
    let pins = BTreeMap::from([("hello".to_owned(), "sha256:c1".to_owned())]);
    let created = f
        .store
        .create_run(NewRun {
            plugins: pins.clone(),
            ..new_run("job-1")
        })
        .await
        .unwrap();
    assert_eq!(created.plugins, pins);
    f.store
        .commit_step(commit("job-1", 1, &["hello"]))
        .await
        .unwrap();
    let run = f.store.load_run("job-1").await.unwrap().unwrap();
    assert_eq!(run.plugins, pins);
    assert_eq!(
        f.store.component_bytes("sha256:c1").await.unwrap(),
        Some(wasm)
    );
    assert_eq!(f.store.component_bytes("sha256:none").await.unwrap(), None);
    // A pin must name a stored component.
    let unknown = BTreeMap::from([("hello".to_owned(), "sha256:none".to_owned())]);
    let err = f
        .store
        .create_run(NewRun {
            plugins: unknown,
            ..new_run("job-2")
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ComponentMissing { digest } if digest == "sha256:none"),
        "{err:?}"
    );
    assert!(f.store.load_run("job-2").await.unwrap().is_none());
}

conformance! {
    #[tokio::test] a_run_keeps_its_pinned_components_and_each_is_stored_once,
}
