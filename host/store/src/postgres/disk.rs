//! What `gc` reports and does to the database itself on Postgres: the size of savepoint's
//! tables as Postgres counts it, and `VACUUM FULL` of them for `gc --vacuum`; and whether
//! savepoint may write the database at all.

use super::PgStore;
use super::reads::unsigned;
use crate::{DiskUse, StoreError};

/// savepoint's tables, in the connection's schema, but `savepoint_schema` (changed only
/// by migrations).
const TABLES: [&str; 17] = [
    "runs",
    "checkpoints",
    "state_writes",
    "blobs",
    "logs",
    "pending_writes",
    "workflows",
    "components",
    "run_plugins",
    "daemons",
    "run_tags",
    "superseded_checkpoints",
    "superseded_writes",
    "branches",
    "events",
    "signals",
    "schedules",
];

fn tables() -> Vec<String> {
    TABLES.iter().map(|table| table.to_string()).collect()
}

impl PgStore {
    /// What savepoint's tables take on the server's disk now, with their indexes and
    /// TOAST tables: the part of the database that `gc` changes (a database may hold
    /// other schemas, another savepoint's or anyone's). Postgres reuses the space of
    /// deleted rows itself (autovacuum), and does not say how much of it there is without
    /// an extension: none of it is counted as free here.
    pub async fn disk_use(&self) -> Result<DiskUse, StoreError> {
        let bytes = self
            .read(|client| {
                Box::pin(async move {
                    let row = client
                        .query_one(
                            "SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)
                                    ::bigint
                             FROM unnest($1::text[]) AS t",
                            &[&tables()],
                        )
                        .await?;
                    unsigned(row.get(0), "size of savepoint's tables")
                })
            })
            .await?;
        Ok(DiskUse {
            bytes,
            free_bytes: 0,
            used_bytes: bytes,
        })
    }

    /// Nothing to do: Postgres's WAL is the server's to manage.
    pub async fn empty_wal(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Rewrites savepoint's tables without their dead rows (`VACUUM FULL`), giving the
    /// space back to the server's volume: every host's writes wait meanwhile.
    pub async fn vacuum(&self) -> Result<(), StoreError> {
        self.read(|client| {
            Box::pin(async move {
                client
                    .batch_execute(&format!("VACUUM (FULL, ANALYZE) {}", TABLES.join(", ")))
                    .await?;
                Ok(())
            })
        })
        .await
    }
}

impl PgStore {
    /// Checks that savepoint may write the database: not a read-only standby, not a
    /// read-only session, and a user allowed to change savepoint's tables
    /// ([`StoreError::Rejected`] says which). Commands about to write call it first.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let (standby, read_only, denied) = self
            .read(|client| {
                Box::pin(async move {
                    // One privilege at a time: given several, has_table_privilege says
                    // whether any of them is held.
                    let row = client
                        .query_one(
                            "SELECT pg_is_in_recovery(),
                                    current_setting('default_transaction_read_only') = 'on',
                                    array(SELECT t FROM unnest($1::text[]) AS t
                                          WHERE NOT (has_table_privilege(t, 'INSERT')
                                                     AND has_table_privilege(t, 'UPDATE')
                                                     AND has_table_privilege(t, 'DELETE')))",
                            &[&tables()],
                        )
                        .await?;
                    Ok((
                        row.get::<_, bool>(0),
                        row.get::<_, bool>(1),
                        row.get::<_, Vec<String>>(2),
                    ))
                })
            })
            .await?;
        let reason = if standby {
            "the server is a read-only standby".to_owned()
        } else if read_only {
            "its sessions are read-only (default_transaction_read_only is on)".to_owned()
        } else if !denied.is_empty() {
            format!(
                "this user may not change savepoint's tables {} (grant INSERT, UPDATE, \
                 DELETE on them)",
                denied.join(", ")
            )
        } else {
            return Ok(());
        };
        Err(StoreError::Rejected {
            db: self.describe().to_owned(),
            reason,
        })
    }
}
