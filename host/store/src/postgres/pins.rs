//! Pinning's reads and gc on Postgres: the stored component versions with the runs
//! pinned to them, and removing what no run needs any more.

use tokio_postgres::error::SqlState;

use super::PgStore;
use super::reads::unsigned;
use crate::{Collected, ComponentVersion, StoreError};

/// [`CheckpointStore::component_versions`](crate::CheckpointStore::component_versions).
pub(super) async fn component_versions(
    store: &PgStore,
) -> Result<Vec<ComponentVersion>, StoreError> {
    // `octet_length` of a stored (TOASTed) value reads its header, not its bytes.
    let rows = store
        .read(|client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached(
                        "SELECT c.digest, c.name, octet_length(c.bytes)::bigint, c.created_at,
                                (SELECT count(*) FROM run_plugins p WHERE p.digest = c.digest),
                                ARRAY(SELECT p.thread FROM run_plugins p JOIN runs r USING (thread)
                                      WHERE p.digest = c.digest
                                        AND r.status NOT IN ('completed', 'cancelled'))
                         FROM components c
                         ORDER BY c.name COLLATE \"C\", c.created_at, c.digest COLLATE \"C\"",
                    )
                    .await?;
                Ok(client.query(&stmt, &[]).await?)
            })
        })
        .await?;
    rows.iter()
        .map(|row| {
            let mut unfinished: Vec<String> = row.get(5);
            unfinished.sort();
            Ok(ComponentVersion {
                digest: row.get(0),
                name: row.get(1),
                bytes: unsigned(row.get(2), "component size")?,
                stored_at_ms: row.get(3),
                runs: unsigned(row.get(4), "run count")?,
                unfinished,
            })
        })
        .collect()
}

/// How many times gc starts over when Postgres chose it as the victim of a deadlock
/// (see [`collect_garbage`]).
pub(super) const GC_ATTEMPTS: usize = 5;

/// [`CheckpointStore::collect_garbage`](crate::CheckpointStore::collect_garbage), in one
/// transaction of its own (not the writer's: it waits for other hosts' writes, and the
/// writer's batches should not wait with it).
///
/// The race it must not lose: a write that refers to a shared row (a state value in
/// `blobs`, a workflow text, a component version) while gc finds that row unreferenced.
/// Under Postgres's snapshots gc does not see a reference that another transaction has
/// written and not committed, and would delete the row under it. Every such write puts
/// the shared row in first, in its own transaction (`INSERT ... ON CONFLICT DO NOTHING`
/// into `blobs` or `workflows`), or, for a pin, writes `run_plugins`: each takes a
/// `ROW EXCLUSIVE` lock on that table until it commits. gc first locks those tables in
/// `SHARE ROW EXCLUSIVE` mode, which conflicts with it: it waits until every such write
/// in flight has committed (so its statements, each with a fresh snapshot under READ
/// COMMITTED, see their references), and such writes that start meanwhile wait until gc
/// has committed (then they put the row back, or, for a pin whose component went, fail
/// with `ComponentMissing` as the trait says). Components are not locked: one stored
/// and not pinned yet may go, by the trait's contract.
///
/// A group commit can hold one of these tables and want another that gc holds: Postgres
/// then breaks the deadlock by failing one side, and if that is gc it starts over.
pub(super) async fn collect_garbage(store: &PgStore) -> Result<Collected, StoreError> {
    let mut client = store.client().await?;
    let mut attempt = 1;
    loop {
        match collect(&mut client).await {
            Err(error)
                if attempt < GC_ATTEMPTS
                    && matches!(
                        error.code(),
                        Some(&SqlState::T_R_DEADLOCK_DETECTED)
                            | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    ) =>
            {
                attempt += 1;
            }
            result => return result.map_err(|error| store.classify(error.into())),
        }
    }
}

async fn collect(
    client: &mut deadpool_postgres::Object,
) -> Result<Collected, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(
        "LOCK TABLE workflows, blobs, run_plugins IN SHARE ROW EXCLUSIVE MODE;
         DELETE FROM run_plugins WHERE thread IN
             (SELECT thread FROM runs WHERE status IN ('completed', 'cancelled'));",
    )
    .await?;
    // (count, bytes) of the rows a DELETE ... RETURNING size removed.
    let removed = |delete: &str| {
        format!("WITH gone AS ({delete}) SELECT count(*), coalesce(sum(size), 0)::bigint FROM gone")
    };
    let components = tx
        .query_one(
            &removed(
                "DELETE FROM components c
                 WHERE NOT EXISTS (SELECT 1 FROM run_plugins p WHERE p.digest = c.digest)
                 RETURNING octet_length(c.bytes) AS size",
            ),
            &[],
        )
        .await?;
    let values = tx
        .query_one(
            &removed(
                "DELETE FROM blobs b
                 WHERE NOT EXISTS (SELECT 1 FROM state_writes w WHERE w.blob = b.digest)
                   AND NOT EXISTS (SELECT 1 FROM superseded_writes w WHERE w.blob = b.digest)
                 RETURNING octet_length(b.data) AS size",
            ),
            &[],
        )
        .await?;
    let workflows = tx
        .execute(
            "DELETE FROM workflows f
             WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM superseded_checkpoints c
                               WHERE c.workflow_digest = f.digest)
               AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.workflow_digest = f.digest)",
            &[],
        )
        .await?;
    tx.commit().await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(Collected {
        components: count(components.get(0)),
        component_bytes: count(components.get(1)),
        values: count(values.get(0)),
        value_bytes: count(values.get(1)),
        workflows,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::ManualClock;

    /// The race of [`super::collect_garbage`]: a write that refers to a stored value no
    /// step refers to yet, in flight while gc runs, keeps it.
    #[tokio::test]
    async fn gc_waits_for_a_write_that_refers_to_an_unreferenced_value() {
        let clock = Arc::new(ManualClock::new(1_795_611_197_123));
        let store = super::super::tests::fresh(clock).await.store;
        let mut writer = store.client().await.unwrap();
        writer
            .batch_execute(
                "INSERT INTO workflows (digest, name, text, created_at) VALUES ('w', 'w', '', 0);
                 INSERT INTO runs (thread, workflow_name, workflow_digest, workflow_path, status,
                                   step, next_json, created_at, updated_at)
                 VALUES ('job-1', 'w', 'w', 'w.toml', 'running', 0, '[]', 0, 0);
                 INSERT INTO blobs (digest, data, created_at) VALUES ('sha256:v', '\"v\"', 0);",
            )
            .await
            .unwrap();
        // A commit in flight: it has put the value in (it was there) and not yet referred
        // to it.
        let commit = writer.transaction().await.unwrap();
        commit
            .execute(
                "INSERT INTO blobs (digest, data, created_at) VALUES ('sha256:v', '\"v\"', 0)
                 ON CONFLICT DO NOTHING",
                &[],
            )
            .await
            .unwrap();
        let gc = tokio::spawn({
            let store = store.clone();
            async move { super::collect_garbage(&store).await }
        });
        // gc waits for the commit's lock (seen in Postgres's own view of who waits), unless
        // it takes none and is done.
        let watcher = store.client().await.unwrap();
        while !gc.is_finished() {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_locks
                     WHERE relation = 'blobs'::regclass AND NOT granted",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        commit
            .execute(
                "INSERT INTO state_writes (thread, step, key, ord, blob)
                 VALUES ('job-1', 1, 'k', 0, 'sha256:v')",
                &[],
            )
            .await
            .unwrap();
        commit.commit().await.unwrap();
        let collected = gc.await.unwrap().unwrap();
        assert_eq!(collected.values, 0, "{collected:?}");
        let kept: i64 = watcher
            .query_one("SELECT count(*) FROM blobs WHERE digest = 'sha256:v'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(kept, 1);
        // Once nothing refers to it, it goes.
        watcher
            .execute("DELETE FROM state_writes", &[])
            .await
            .unwrap();
        let collected = super::collect_garbage(&store).await.unwrap();
        assert_eq!(
            (collected.values, collected.value_bytes),
            (1, 3),
            "{collected:?}"
        );
    }
}
