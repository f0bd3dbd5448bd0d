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
