//! The schema in a Postgres database: numbered migrations, applied in order on first use
//! and recorded in `savepoint_schema`, in the first schema of the connection's
//! `search_path` (`public` unless the URL's `options` say otherwise).
//!
//! Several hosts may start at once on a new database: migrations run in one transaction
//! under a transaction-level advisory lock, and each host looks at the version again once
//! it holds the lock. A database whose schema has tables but no `savepoint_schema` is
//! someone else's: it is refused, not written into. A version newer than this savepoint
//! knows is refused too.

use deadpool_postgres::GenericClient;

use crate::StoreError;

/// Schema migrations in order; migration `i` brings the version from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_time_travel.sql"),
    include_str!("migrations/0003_thread_prefix.sql"),
    include_str!("migrations/0004_due_indexes.sql"),
    include_str!("migrations/0005_composition.sql"),
    include_str!("migrations/0006_schedules.sql"),
];

/// The advisory lock migrations hold (any constant shared by every savepoint host; the
/// text "savepnt" in hex).
const MIGRATION_LOCK: i64 = 0x0073_6176_6570_6e74;

/// What [`state`] found in the database.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// No tables at all: a database to create the schema in.
    Empty,
    /// savepoint's schema at this version.
    Version(usize),
    /// Tables, but not savepoint's: their names (a few).
    Foreign(Vec<String>),
}

/// Which schema the connection's tables go to, and what it holds.
pub(super) async fn state(client: &impl GenericClient) -> Result<Found, StoreError> {
    let tables: Vec<String> = client
        .query(
            // pg_class, not information_schema: the latter lists only the tables this
            // user may use, so a user without grants would find "no database".
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
             ORDER BY c.relname LIMIT 20",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if tables.is_empty() {
        return Ok(Found::Empty);
    }
    if !tables.iter().any(|table| table == "savepoint_schema") {
        return Ok(Found::Foreign(tables.into_iter().take(5).collect()));
    }
    let version: Option<i64> = client
        .query_one("SELECT max(version) FROM savepoint_schema", &[])
        .await?
        .get(0);
    let version = version.unwrap_or(0);
    usize::try_from(version)
        .map(Found::Version)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {version}")))
}

/// Creates or migrates the schema; `db` names the database in messages (its password
/// hidden).
pub(super) async fn migrate(
    client: &mut deadpool_postgres::Object,
    db: &str,
) -> Result<(), StoreError> {
    if check(db, state(&*client).await?)? == MIGRATIONS.len() {
        return Ok(());
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // Another host may have migrated while this one waited for the lock.
    let from = check(db, state(&tx).await?)?;
    if from == 0 {
        tx.batch_execute("CREATE TABLE IF NOT EXISTS savepoint_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            .await?;
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.batch_execute(sql).await?;
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO savepoint_schema (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The version to migrate from, or why this database cannot be used.
fn check(db: &str, found: Found) -> Result<usize, StoreError> {
    match found {
        Found::Empty => Ok(0),
        Found::Version(version) if version > MIGRATIONS.len() => Err(StoreError::Corrupt(format!(
            "{db}: schema version {version} is newer than this savepoint supports ({}); \
             upgrade savepoint",
            MIGRATIONS.len()
        ))),
        Found::Version(version) => Ok(version),
        // Nothing is wrong with the database: it is someone else's, a setup mistake the
        // user fixes in the URL.
        Found::Foreign(tables) => Err(StoreError::Rejected {
            db: db.to_owned(),
            reason: format!(
                "it is not a savepoint database: its schema has other tables ({}) and no \
                 savepoint_schema; give savepoint a database (or a schema, with \
                 ?options=-csearch_path%3DNAME) of its own",
                tables.join(", ")
            ),
        }),
    }
}

/// Whether the schema holds tables (savepoint's, of any version, or another's), without
/// creating any.
pub(super) async fn exists(client: &impl GenericClient) -> Result<bool, StoreError> {
    // Another's tables count too: opening then refuses them as not savepoint's, as SQLite
    // refuses a file that is not its database, rather than a reader saying there is none.
    Ok(state(client).await? != Found::Empty)
}

/// The migrations, for tests that build an older schema.
#[cfg(test)]
pub(super) fn migrations() -> &'static [&'static str] {
    MIGRATIONS
}

/// The newest version this savepoint knows.
#[cfg(test)]
pub(super) fn latest() -> usize {
    MIGRATIONS.len()
}
