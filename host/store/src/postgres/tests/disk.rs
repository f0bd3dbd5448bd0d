//! What `gc` does to a Postgres database itself (sizes, VACUUM FULL), and the check that
//! savepoint may write it before a command starts.

use crate::tests::*;

use super::fresh_schema;

async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
    drop(client);
    let _ = driver.await;
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_795_611_197_123))
}

#[tokio::test]
async fn vacuum_gives_back_what_a_gc_removed_and_sizes_count_savepoint_s_tables() {
    let url = fresh_schema().await;
    let store = PgStore::connect(&url, clock()).await.unwrap();
    store.check_writable().await.unwrap();
    let empty = store.disk_use().await.unwrap();
    // Random bytes: TOAST does not compress them away.
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    store
        .save_component("sha256:aa", "big", bytes)
        .await
        .unwrap();
    let full = store.disk_use().await.unwrap();
    assert!(
        full.bytes >= empty.bytes + (1 << 20),
        "{empty:?} then {full:?}"
    );
    assert_eq!((full.free_bytes, full.used_bytes), (0, full.bytes));

    // Another schema's tables are not savepoint's: they do not count.
    let other = fresh_schema().await;
    sql(
        &other,
        "CREATE TABLE ballast AS SELECT repeat('x', 1000000) AS x",
    )
    .await;
    assert_eq!(store.disk_use().await.unwrap(), full);

    assert_eq!(store.collect_garbage().await.unwrap().components, 1);
    store.empty_wal().await.unwrap();
    store.vacuum().await.unwrap();
    let vacuumed = store.disk_use().await.unwrap();
    assert!(
        vacuumed.bytes + (1 << 20) <= full.bytes,
        "{full:?} then {vacuumed:?}"
    );
}

#[tokio::test]
async fn a_user_that_may_not_change_every_table_is_refused_before_a_write() {
    let url = fresh_schema().await;
    drop(PgStore::connect(&url, clock()).await.unwrap());
    let schema = url.rsplit("%3D").next().unwrap().to_owned();
    let role = format!("r_{schema}");
    // INSERT everywhere but no DELETE on daemons: "any of them" would let it pass.
    sql(
        &url,
        &format!(
            "CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {schema} TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}; \
             REVOKE DELETE ON {schema}.daemons FROM {role}"
        ),
    )
    .await;
    let user_url = url.replacen("://savepoint@", &format!("://{role}@"), 1);
    assert_ne!(user_url, url, "the test server's URL names its user");
    let store = PgStore::connect(&user_url, clock()).await.unwrap();
    let error = store.check_writable().await.unwrap_err();
    drop(store);
    sql(&url, &format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;
    assert_eq!(error.kind(), StoreErrorKind::Unusable, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "the database {} refused savepoint: this user may not change savepoint's tables \
             daemons (grant INSERT, UPDATE, DELETE on them)",
            PgUrl::new(&user_url)
        )
    );
}
