//! The schema on Postgres: created once, also by hosts starting at once; newer versions
//! and other people's databases refused; an unreachable server said so.

use crate::tests::*;

use super::super::schema::latest;
use super::{fresh_schema, server};

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
async fn hosts_starting_at_once_create_the_schema_once() {
    let url = fresh_schema().await;
    assert!(!PgStore::exists(&url).await.unwrap());
    let opens = (0..4).map(|_| PgStore::connect(&url, clock()));
    let stores = futures_util::future::join_all(opens).await;
    for store in stores {
        store.unwrap();
    }
    assert!(PgStore::exists(&url).await.unwrap());
    // And once more, as a host that starts later.
    PgStore::connect(&url, clock()).await.unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let url = fresh_schema().await;
    PgStore::connect(&url, clock()).await.unwrap();
    sql(
        &url,
        &format!(
            "INSERT INTO savepoint_schema (version) VALUES ({})",
            latest() + 1
        ),
    )
    .await;
    let error = PgStore::connect(&url, clock()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Corrupt, "{error}");
    assert!(
        error
            .to_string()
            .contains("newer than this savepoint supports"),
        "{error}"
    );
}

#[tokio::test]
async fn a_database_that_is_not_ours_is_refused_and_left_alone() {
    let url = fresh_schema().await;
    sql(&url, "CREATE TABLE orders (id BIGINT PRIMARY KEY)").await;
    let error = PgStore::connect(&url, clock()).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("is not a savepoint database"), "{message}");
    assert!(message.contains("orders"), "{message}");
    // A reader opens it too, and is refused the same way (it does not say "no database").
    assert!(PgStore::exists(&url).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_server_is_retry_later_and_named_without_its_password() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://savepoint:secret@127.0.0.1:{port}/savepoint");
    let error = PgStore::connect(&url, clock()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::RetryLater, "{error}");
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

#[tokio::test]
async fn no_such_database_is_rejected() {
    let server = server();
    let url = server.replace("/savepoint", "/no_such_database_here");
    let error = PgStore::connect(&url, clock()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unusable, "{error}");
    assert!(
        error.to_string().contains("no_such_database_here"),
        "{error}"
    );
}

#[tokio::test]
async fn migrating_to_time_travel_names_every_checkpoint_and_chains_them() {
    let url = fresh_schema().await;
    // A database of schema 1 with two runs, created in the order b, a.
    sql(
        &url,
        &format!(
            "CREATE TABLE savepoint_schema (version BIGINT PRIMARY KEY,
                                            applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             {}
             INSERT INTO savepoint_schema (version) VALUES (1);
             INSERT INTO workflows VALUES ('w', 'greet', 'name = \"greet\"', 0);
             INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                               step, next_json, created_at, updated_at)
             VALUES ('a', 'greet', 'w', 'w.toml', 'running', 2, '[]', 20, 20),
                    ('b', 'greet', 'w', 'w.toml', 'pending', 0, '[]', 10, 10);
             INSERT INTO checkpoints VALUES ('a', 1, 'n', '[]', '', 'w', 20),
                                            ('a', 2, 'n', '[]', '', 'w', 20);",
            super::super::schema::migrations()[0]
        ),
    )
    .await;
    let store = PgStore::connect(&url, clock()).await.unwrap();
    let client = store.client().await.unwrap();
    let rows = client
        .query(
            "SELECT step, id, parent FROM checkpoints ORDER BY step",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<String> = rows.iter().map(|row| row.get(1)).collect();
    assert!(
        ids.iter()
            .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        "{ids:?}"
    );
    assert_ne!(ids[0], ids[1]);
    let parents: Vec<Option<String>> = rows.iter().map(|row| row.get(2)).collect();
    assert_eq!(parents, [None, Some(ids[0].clone())]);
    let a = store.load_run("a").await.unwrap().unwrap();
    assert_eq!(
        (a.checkpoint.as_deref(), a.branch),
        (Some(ids[1].as_str()), 0)
    );
    assert_eq!(store.load_run("b").await.unwrap().unwrap().checkpoint, None);
    // Listed newest created first, and new runs after the old ones.
    store.create_run(new_run("c")).await.unwrap();
    let listed: Vec<String> = listed(&store, None, 10)
        .await
        .into_iter()
        .map(|run| run.thread)
        .collect();
    assert_eq!(listed, ["c", "a", "b"]);
}
