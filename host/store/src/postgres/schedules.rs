//! Schedules on Postgres (issue 18): their rows, and the compare-and-set that moves one on
//! (of several hosts firing the same due time, one moves it).

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::PgStore;
use crate::schedule_rows::{COLUMNS, ScheduleRow, encode};
use crate::{Schedule, StoreError};

fn row(row: &Row) -> ScheduleRow {
    ScheduleRow {
        name: row.get(0),
        spec_json: row.get(1),
        workflow_name: row.get(2),
        workflow_digest: row.get(3),
        workflow_path: row.get(4),
        input_json: row.get(5),
        catch_up: row.get(6),
        paused: row.get(7),
        next_due_ms: row.get(8),
        last_fired_ms: row.get(9),
        created_at_ms: row.get(10),
    }
}

fn no_schedule(name: &str) -> StoreError {
    StoreError::NoSchedule {
        name: name.to_owned(),
    }
}

/// What `put_schedule` writes.
pub(super) struct Put {
    pub schedule: Schedule,
    pub workflow_text: String,
    pub replace: bool,
}

pub(super) async fn put(put: &Put, tx: &Transaction<'_>, now_ms: i64) -> Result<(), StoreError> {
    let schedule = &put.schedule;
    let workflow = tx
        .prepare_cached(
            "INSERT INTO workflows (digest, name, text, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (digest) DO NOTHING",
        )
        .await?;
    tx.execute(
        &workflow,
        &[
            &schedule.workflow_digest,
            &schedule.workflow_name,
            &put.workflow_text,
            &now_ms,
        ],
    )
    .await?;
    // A name that is taken is not an error of the statement (the writer's batch goes on):
    // the insert does nothing, and says so by its count.
    let on_conflict = if put.replace {
        "ON CONFLICT (name) DO UPDATE SET spec_json = excluded.spec_json,
             workflow_name = excluded.workflow_name,
             workflow_digest = excluded.workflow_digest,
             workflow_path = excluded.workflow_path, input_json = excluded.input_json,
             catch_up = excluded.catch_up, paused = excluded.paused,
             next_due_at = excluded.next_due_at, last_fired_at = excluded.last_fired_at,
             created_at = excluded.created_at"
    } else {
        "ON CONFLICT (name) DO NOTHING"
    };
    let insert = tx
        .prepare_cached(&format!(
            "INSERT INTO schedules ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) {on_conflict}"
        ))
        .await?;
    let (spec, input) = encode(schedule)?;
    let written = tx
        .execute(
            &insert,
            &[
                &schedule.name,
                &spec,
                &schedule.workflow_name,
                &schedule.workflow_digest,
                &schedule.workflow_path,
                &input,
                &schedule.catch_up.as_str(),
                &i64::from(schedule.paused),
                &schedule.next_due_ms,
                &schedule.last_fired_ms,
                &schedule.created_at_ms,
            ],
        )
        .await?;
    if written == 0 {
        return Err(StoreError::ScheduleExists {
            name: schedule.name.clone(),
        });
    }
    Ok(())
}

async fn one(client: &impl GenericClient, name: &str) -> Result<Schedule, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE name = $1"))
        .await?;
    let found = client.query_opt(&stmt, &[&name]).await?;
    row(&found.ok_or_else(|| no_schedule(name))?).decode()
}

pub(super) async fn all(store: &PgStore) -> Result<Vec<Schedule>, StoreError> {
    store
        .read(|client| {
            Box::pin(async move {
                // By name in bytes, as SQLite orders them.
                let stmt = client
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM schedules ORDER BY name COLLATE \"C\""
                    ))
                    .await?;
                let rows = client.query(&stmt, &[]).await?;
                rows.iter().map(|r| row(r).decode()).collect()
            })
        })
        .await
}

pub(super) async fn pause(
    target: &(String, bool),
    tx: &Transaction<'_>,
    _now_ms: i64,
) -> Result<Schedule, StoreError> {
    let (name, paused) = target;
    let stmt = tx
        .prepare_cached("UPDATE schedules SET paused = $2 WHERE name = $1")
        .await?;
    if tx.execute(&stmt, &[name, &i64::from(*paused)]).await? == 0 {
        return Err(no_schedule(name));
    }
    one(tx, name).await
}

pub(super) async fn remove(
    name: &String,
    tx: &Transaction<'_>,
    _now_ms: i64,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("DELETE FROM schedules WHERE name = $1")
        .await?;
    if tx.execute(&stmt, &[name]).await? == 0 {
        return Err(no_schedule(name));
    }
    Ok(())
}

/// (name, expected next due, next due, fired)
pub(super) type Advance = (String, i64, i64, Option<i64>);

pub(super) async fn advance(
    advance: &Advance,
    tx: &Transaction<'_>,
    _now_ms: i64,
) -> Result<bool, StoreError> {
    let (name, expected, next, fired) = advance;
    let stmt = tx
        .prepare_cached(
            "UPDATE schedules
             SET next_due_at = $3, last_fired_at = COALESCE($4, last_fired_at)
             WHERE name = $1 AND next_due_at = $2",
        )
        .await?;
    let moved = tx.execute(&stmt, &[name, expected, next, fired]).await?;
    if moved == 0 {
        // Not moved: another host moved it first, or it is gone.
        one(tx, name).await?;
    }
    Ok(moved > 0)
}
