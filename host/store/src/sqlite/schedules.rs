//! Schedules on SQLite (issue 18): their rows, and the compare-and-set that moves one on.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::schedule_rows::{COLUMNS, ScheduleRow, encode};
use crate::{Schedule, StoreError};

fn row(row: &Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        name: row.get(0)?,
        spec_json: row.get(1)?,
        workflow_name: row.get(2)?,
        workflow_digest: row.get(3)?,
        workflow_path: row.get(4)?,
        input_json: row.get(5)?,
        catch_up: row.get(6)?,
        paused: row.get(7)?,
        next_due_ms: row.get(8)?,
        last_fired_ms: row.get(9)?,
        created_at_ms: row.get(10)?,
    })
}

fn no_schedule(name: &str) -> StoreError {
    StoreError::NoSchedule {
        name: name.to_owned(),
    }
}

pub(super) fn put_schedule(
    conn: &Connection,
    now_ms: i64,
    schedule: &Schedule,
    workflow_text: &str,
    replace: bool,
) -> Result<(), StoreError> {
    let taken = conn
        .prepare_cached("SELECT 1 FROM schedules WHERE name = ?1")?
        .exists([&schedule.name])?;
    if taken && !replace {
        return Err(StoreError::ScheduleExists {
            name: schedule.name.clone(),
        });
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO workflows (digest, name, text, created_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        schedule.workflow_digest,
        schedule.workflow_name,
        workflow_text,
        now_ms
    ])?;
    let (spec, input) = encode(schedule)?;
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO schedules ({COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        schedule.name,
        spec,
        schedule.workflow_name,
        schedule.workflow_digest,
        schedule.workflow_path,
        input,
        schedule.catch_up.as_str(),
        i64::from(schedule.paused),
        schedule.next_due_ms,
        schedule.last_fired_ms,
        schedule.created_at_ms,
    ])?;
    Ok(())
}

pub(super) fn schedules(conn: &Connection) -> Result<Vec<Schedule>, StoreError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))?;
    let rows = stmt.query_map([], row)?;
    rows.map(|r| r?.decode()).collect()
}

fn schedule(conn: &Connection, name: &str) -> Result<Schedule, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE name = ?1"))?
        .query_row([name], row)
        .optional()?
        .ok_or_else(|| no_schedule(name))?
        .decode()
}

pub(super) fn pause_schedule(
    conn: &Connection,
    name: &str,
    paused: bool,
) -> Result<Schedule, StoreError> {
    let changed = conn
        .prepare_cached("UPDATE schedules SET paused = ?2 WHERE name = ?1")?
        .execute(params![name, i64::from(paused)])?;
    if changed == 0 {
        return Err(no_schedule(name));
    }
    schedule(conn, name)
}

pub(super) fn remove_schedule(conn: &Connection, name: &str) -> Result<(), StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM schedules WHERE name = ?1")?
        .execute([name])?;
    if removed == 0 {
        return Err(no_schedule(name));
    }
    Ok(())
}

pub(super) fn advance_schedule(
    conn: &Connection,
    name: &str,
    expected_next_due_ms: i64,
    next_due_ms: i64,
    fired_ms: Option<i64>,
) -> Result<bool, StoreError> {
    let moved = conn
        .prepare_cached(
            "UPDATE schedules
             SET next_due_at = ?3, last_fired_at = COALESCE(?4, last_fired_at)
             WHERE name = ?1 AND next_due_at = ?2",
        )?
        .execute(params![name, expected_next_due_ms, next_due_ms, fired_ms])?;
    if moved == 0 {
        // Not moved: someone moved it first, or it is gone.
        schedule(conn, name)?;
    }
    Ok(moved > 0)
}
