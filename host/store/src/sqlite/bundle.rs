//! Run bundles: one run with everything it needs to go on elsewhere (its row,
//! checkpoints, state values, logs, pending writes, mailbox, the workflow texts of its
//! run and history, and the bytes of the component versions it is pinned to),
//! as a SQLite file with savepoint's own schema. Exporting and importing copy
//! rows between the database and the attached bundle in one transaction.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::rows::parse_status;
use super::schema;
use crate::StoreError;

/// The tables of a bundle in an order that satisfies their foreign keys, each
/// with the rows of thread `?1` that belong in it. Shared rows (workflow texts,
/// values, components) are kept if the database has them already.
pub(crate) const TABLES: &[(&str, &str, bool)] = &[
    (
        "workflows",
        "digest IN (SELECT workflow_digest FROM {src}.runs WHERE thread = ?1
                    UNION SELECT workflow_digest FROM {src}.checkpoints WHERE thread = ?1
                    UNION SELECT workflow_digest FROM {src}.superseded_checkpoints
                          WHERE thread = ?1)",
        true,
    ),
    (
        "blobs",
        "digest IN (SELECT blob FROM {src}.state_writes WHERE thread = ?1
                    UNION SELECT blob FROM {src}.superseded_writes WHERE thread = ?1)",
        true,
    ),
    (
        "components",
        "digest IN (SELECT digest FROM {src}.run_plugins WHERE thread = ?1)",
        true,
    ),
    ("runs", "thread = ?1", false),
    ("checkpoints", "thread = ?1", false),
    ("state_writes", "thread = ?1", false),
    ("logs", "thread = ?1", false),
    ("pending_writes", "thread = ?1", false),
    ("run_plugins", "thread = ?1", false),
    ("run_tags", "thread = ?1", false),
    ("superseded_checkpoints", "thread = ?1", false),
    ("superseded_writes", "thread = ?1", false),
    ("branches", "thread = ?1", false),
    ("events", "thread = ?1", false),
    ("signals", "thread = ?1", false),
];

impl SqliteStore {
    /// Writes run `thread` as a new bundle file at `to` (which must not exist).
    /// The bundle's run holds no lease.
    pub fn export_run(&self, thread: &str, to: &Path) -> Result<(), StoreError> {
        drop(schema::open_writer(to)?);
        let conn = schema::open_plain(self.path())?;
        attach(&conn, to)?;
        let tx = conn.unchecked_transaction()?;
        super::guards::position(&tx, thread)?;
        copy(&tx, "main", "bundle", thread)?;
        tx.execute(
            "UPDATE bundle.runs SET lease_owner = NULL, lease_expires = NULL",
            [],
        )?;
        tx.commit()?;
        conn.execute("DETACH bundle", [])?;
        Ok(())
    }

    /// Adds the run of the bundle file at `from` (brought up to this schema
    /// first, so `from` is changed if it is older) to the database; returns
    /// its thread. [`StoreError::ThreadExists`] if the database has that
    /// thread already.
    pub fn import_run(&self, from: &Path) -> Result<String, StoreError> {
        drop(schema::open_writer(from)?);
        let conn = schema::open_plain(self.path())?;
        attach(&conn, from)?;
        let threads: Vec<String> = conn
            .prepare("SELECT thread FROM bundle.runs")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let [thread] = threads.as_slice() else {
            return Err(StoreError::Corrupt(format!(
                "{}: a run bundle holds one run, this file holds {}",
                from.display(),
                threads.len()
            )));
        };
        let tx = conn.unchecked_transaction()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT status FROM main.runs WHERE thread = ?1",
                [thread],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(status) = existing {
            return Err(StoreError::ThreadExists {
                thread: thread.clone(),
                status: parse_status(thread, &status)?,
            });
        }
        copy(&tx, "bundle", "main", thread)?;
        tx.commit()?;
        conn.execute("DETACH bundle", [])?;
        Ok(thread.clone())
    }
}

fn attach(conn: &Connection, bundle: &Path) -> Result<(), StoreError> {
    let path = bundle
        .to_str()
        .ok_or_else(|| StoreError::Corrupt(format!("{}: not a UTF-8 path", bundle.display())))?;
    conn.execute("ATTACH ?1 AS bundle", params![path])?;
    Ok(())
}

/// The columns of tables that each database numbers itself (`events.id`: a row's place
/// among all the database's rows, which a cursor goes on from). A copy leaves them out
/// and copies the rows in their order, so they are numbered anew after the rows the
/// database has: a bundle's numbers would collide with those.
pub(crate) const RENUMBERED: &[(&str, &str)] = &[("events", "id"), ("signals", "id")];

/// Log line numbers (`logs.id`, which a reader of a run's lines goes on from): SQLite
/// numbers a run's lines within the run (migration 0012), Postgres across the database.
/// A copy into SQLite keeps them (the run is new there, so they collide with nothing); a
/// copy into Postgres leaves them out and copies the rows in their order, as
/// [`RENUMBERED`].
pub(crate) const LINE_NUMBERS: (&str, &str) = ("logs", "id");

/// The run's place in creation order (`runs.seq`), which listings page by: a run copied
/// into a database is its newest there (the bundle's number would collide).
pub(crate) const CREATION_ORDER: (&str, &str) = ("runs", "seq");

/// The columns of `table` in schema `schema` but `column`, in their order.
fn columns_but(
    conn: &Connection,
    table: &str,
    schema: &str,
    column: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(conn
        .prepare("SELECT name FROM pragma_table_info(?1, ?2) WHERE name <> ?3")?
        .query_map(params![table, schema, column], |row| row.get(0))?
        .collect::<Result<_, _>>()?)
}

/// Copies the rows of `thread` from schema `src` to schema `dst`.
fn copy(conn: &Connection, src: &str, dst: &str, thread: &str) -> Result<(), StoreError> {
    for (table, filter, shared) in TABLES {
        let or_ignore = if *shared { " OR IGNORE" } else { "" };
        let filter = filter.replace("{src}", src);
        let renumbered = RENUMBERED
            .iter()
            .find(|(renumbered, _)| renumbered == table);
        let (into, select, order) = match (renumbered, CREATION_ORDER) {
            (Some((_, column)), _) => {
                let columns = columns_but(conn, table, dst, column)?.join(", ");
                (
                    format!(" ({columns})"),
                    columns,
                    format!(" ORDER BY {column}"),
                )
            }
            (None, (runs, seq)) if runs == *table => {
                let mut columns = columns_but(conn, table, dst, seq)?;
                let values = columns.join(", ");
                columns.push(seq.to_owned());
                (
                    format!(" ({})", columns.join(", ")),
                    format!("{values}, (SELECT COALESCE(MAX({seq}), 0) + 1 FROM {dst}.{runs})"),
                    String::new(),
                )
            }
            _ => (String::new(), "*".to_owned(), String::new()),
        };
        conn.execute(
            &format!(
                "INSERT{or_ignore} INTO {dst}.{table}{into} SELECT {select} FROM {src}.{table} \
                 WHERE {filter}{order}"
            ),
            [thread],
        )?;
    }
    Ok(())
}
