//! What only the Postgres backend has: its factory for the conformance suite
//! (`crate::tests`), on the test server (`SAVEPOINT_TEST_PG`, else the developer server
//! `scripts/pg ensure` starts), each store in a schema of its own; and tests of its
//! schema, refusals and faults, and of bundles between the backends.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::tests::*;

mod bundles;
mod disk;
mod events;
mod schema;
mod travel;

/// The URL of the test server.
pub(crate) fn server() -> String {
    if let Ok(url) = std::env::var("SAVEPOINT_TEST_PG")
        && !url.is_empty()
    {
        return url;
    }
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg");
        let output = std::process::Command::new(script)
            .arg("ensure")
            .output()
            .expect("run scripts/pg ensure");
        assert!(
            output.status.success(),
            "scripts/pg ensure failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
    .clone()
}

/// A schema of its own on the test server: its URL (the server's with the schema as
/// `search_path`).
pub(crate) async fn fresh_schema() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let server = server();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNT.fetch_add(1, Ordering::SeqCst)
    );
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}options=-csearch_path%3D{schema}")
}

/// The conformance suite's factory: a store in a fresh schema.
pub(crate) fn fresh(clock: Arc<ManualClock>) -> BoxFuture<'static, Fresh<PgStore>> {
    Box::pin(async move {
        let url = fresh_schema().await;
        let store = PgStore::connect(&url, clock.clone()).await.unwrap();
        Fresh {
            store,
            reopen: Box::new(move || {
                let (url, clock) = (url.clone(), clock.clone());
                Box::pin(async move { PgStore::connect(&url, clock).await.unwrap() })
            }),
            keep: Box::new(()),
        }
    })
}
