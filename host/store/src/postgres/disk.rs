//! What `gc` reports and does to the database itself on Postgres: the database's size as
//! Postgres counts it, and `VACUUM FULL` of savepoint's tables for `gc --vacuum`.

use super::PgStore;
use super::reads::unsigned;
use crate::{DiskUse, StoreError};

/// savepoint's tables, in the connection's schema.
const TABLES: &str = "runs, checkpoints, state_writes, blobs, logs, pending_writes, \
                      workflows, components, run_plugins, daemons";

impl PgStore {
    /// What the database takes on the server's disk now (all of it, not only savepoint's
    /// schema: what an operator sees). Postgres reuses the space of deleted rows itself
    /// (autovacuum): none of it is counted as free here.
    pub async fn disk_use(&self) -> Result<DiskUse, StoreError> {
        let bytes = self
            .read(|client| {
                Box::pin(async move {
                    let row = client
                        .query_one("SELECT pg_database_size(current_database())", &[])
                        .await?;
                    unsigned(row.get(0), "database size")
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
                    .batch_execute(&format!("VACUUM (FULL, ANALYZE) {TABLES}"))
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
        let (standby, read_only, allowed) = self
            .read(|client| {
                Box::pin(async move {
                    let row = client
                        .query_one(
                            "SELECT pg_is_in_recovery(),
                                    current_setting('default_transaction_read_only') = 'on',
                                    has_table_privilege('runs', 'INSERT, UPDATE, DELETE')",
                            &[],
                        )
                        .await?;
                    Ok((
                        row.get::<_, bool>(0),
                        row.get::<_, bool>(1),
                        row.get::<_, bool>(2),
                    ))
                })
            })
            .await?;
        let reason = if standby {
            "the server is a read-only standby"
        } else if read_only {
            "its sessions are read-only (default_transaction_read_only is on)"
        } else if !allowed {
            "this user may not change savepoint's tables (grant INSERT, UPDATE, DELETE)"
        } else {
            return Ok(());
        };
        Err(StoreError::Rejected {
            db: self.describe().to_owned(),
            reason: reason.to_owned(),
        })
    }
}
