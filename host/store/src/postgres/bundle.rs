//! Run bundles on Postgres. A bundle stays what SQLite's are (`sqlite/bundle.rs`): a SQLite
//! file with savepoint's own schema, holding one run and what it needs; so a run moves
//! between the backends both ways, and a bundle written by either imports into either.
//!
//! Both directions are one table-driven copy: the tables and the rows of the run in each
//! are SQLite's list ([`TABLES`]), and the columns are the bundle's (its schema is the
//! newest SQLite schema, which Postgres's mirrors column for column). A value crosses as
//! a SQLite value ([`Value`]) and is bound with the type the Postgres column has, so the
//! types' differences (INTEGER / BIGINT, BLOB / BYTEA) live in two small functions. The
//! SQLite side runs on a blocking thread and the two sides pass rows through a short
//! channel: a bundle's size never sits in memory. `logs.id` is not copied in: each database
//! numbers its log lines itself, so rows are copied in its order and numbered anew (into a
//! bundle they keep Postgres's numbers, which grow within the run as SQLite's do).

use std::path::Path;

use deadpool_postgres::GenericClient;
use futures_util::{StreamExt, pin_mut};
use rusqlite::types::Value;
use tokio::sync::mpsc;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{IsolationLevel, Row};

use super::reads::committed_step;
use super::rows::parse_status;
use super::{PgStore, events};
use crate::StoreError;
use crate::sqlite::bundle::{CREATION_ORDER, LINE_NUMBERS, RENUMBERED, TABLES};
use crate::sqlite::schema;

/// How many rows may wait between the two sides of a copy.
const ROWS_IN_FLIGHT: usize = 16;

/// The columns copied of each table of [`TABLES`], in its order.
type Columns = Vec<Vec<String>>;

/// What the reading side of a copy hands the writing side.
enum Copied {
    /// The rows that follow are of `TABLES[index]`.
    Table(usize),
    Row(Vec<Value>),
    /// Every table was copied: the writer commits.
    Done,
}

/// Which way a copy goes: what the bundle's columns are copied into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CopyTo {
    /// The bundle (SQLite), which keeps the run's log line numbers.
    Bundle,
    /// The database (Postgres), which numbers log lines itself.
    Database,
}

/// What an insert does with a row whose key the table has already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// Fails (the rows of a run: a new bundle has none).
    Refused,
    /// Keeps the stored row, and inserts nothing. For shared rows (workflow texts, values,
    /// components) always; on import also for the run's row, so that a run imported
    /// meanwhile by someone else is told apart from another failure.
    Kept,
}

/// The SELECT of the rows of thread `$1` (Postgres) or `?1` (SQLite) of `TABLES[index]`.
fn select(index: usize, columns: &[String], param: &str) -> String {
    let (table, filter, _) = TABLES[index];
    // SQLite's list names the schema its rows come from: here each side reads its own.
    let filter = filter.replace("{src}.", "").replace("?1", param);
    let order = match RENUMBERED
        .iter()
        .chain([&LINE_NUMBERS])
        .find(|(renumbered, _)| *renumbered == table)
    {
        Some((_, column)) => format!(" ORDER BY {column}"),
        None => String::new(),
    };
    format!(
        "SELECT {} FROM {table} WHERE {filter}{order}",
        columns.join(", ")
    )
}

/// The INSERT of a row of `TABLES[index]`, with `placeholder(n)` for the `n`th value
/// (from 1). Shared rows that are there already are kept, and the run's if `taken` says.
fn insert(
    index: usize,
    columns: &[String],
    taken: Taken,
    placeholder: impl Fn(usize) -> String,
) -> String {
    let (table, _, shared) = TABLES[index];
    let values: Vec<String> = (1..=columns.len()).map(placeholder).collect();
    let keep = match (shared, taken, table) {
        (true, _, _) | (false, Taken::Kept, "runs") => " ON CONFLICT DO NOTHING",
        _ => "",
    };
    format!(
        "INSERT INTO {table} ({}) VALUES ({}){keep}",
        columns.join(", "),
        values.join(", ")
    )
}

/// The columns of each table of the bundle `conn` (at the newest schema), in [`TABLES`]'
/// order, without those each database numbers itself (log line numbers: only Postgres).
fn bundle_columns(conn: &rusqlite::Connection, into: CopyTo) -> Result<Columns, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    TABLES
        .iter()
        .map(|(table, _, _)| {
            let names = stmt.query_map([table], |row| row.get::<_, String>(0))?;
            let mut columns = Vec::new();
            for name in names {
                let name = name?;
                // A run copied in is the newest there: its creation order is the
                // database's next (`runs.seq`'s default), not the number it had.
                let own = (*table, name.as_str());
                let numbered_here = own == LINE_NUMBERS && into == CopyTo::Database;
                if !RENUMBERED.contains(&own) && own != CREATION_ORDER && !numbered_here {
                    columns.push(name);
                }
            }
            Ok(columns)
        })
        .collect()
}

/// Runs `work` on the blocking pool (SQLite's calls block).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(StoreError::Closed),
    }
}

// Each copy is a reading side and a writing side joined by a channel. A side that fails
// returns its error and drops its end of the channel, which stops the other side without
// an error of its own: the writing side commits only on [`Copied::Done`].

/// [`PgStore::export_run`]: writes run `thread` as a new bundle file at `to`, from one
/// snapshot of the database; the bundle's run holds no lease.
pub(super) async fn export_run(store: &PgStore, thread: &str, to: &Path) -> Result<(), StoreError> {
    let to = to.to_path_buf();
    let (bundle, columns) = blocking(move || {
        let bundle = schema::open_writer(&to)?;
        let columns = bundle_columns(&bundle, CopyTo::Bundle)?;
        Ok((bundle, columns))
    })
    .await?;
    let (sender, receiver) = mpsc::channel(ROWS_IN_FLIGHT);
    let reading = async {
        let mut client = store.client().await?;
        read_run(&mut client, thread, &columns, sender)
            .await
            .map_err(|error| store.classify(error))
    };
    let writing = {
        let columns = columns.clone();
        blocking(move || write_bundle(bundle, &columns, receiver))
    };
    let (read, written) = tokio::join!(reading, writing);
    read.and(written)
}

/// Sends the rows of `thread`, table by table, from one snapshot (a run that is being
/// executed commits meanwhile: the bundle holds it as it was at one moment).
async fn read_run(
    client: &mut deadpool_postgres::Object,
    thread: &str,
    columns: &Columns,
    sender: mpsc::Sender<Copied>,
) -> Result<(), StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    committed_step(&tx, thread).await?;
    for (index, columns) in columns.iter().enumerate() {
        if sender.send(Copied::Table(index)).await.is_err() {
            return Ok(());
        }
        let rows = tx
            .query_raw(select(index, columns, "$1").as_str(), [thread])
            .await?;
        pin_mut!(rows);
        while let Some(row) = rows.next().await {
            let row = to_values(&row?)?;
            if sender.send(Copied::Row(row)).await.is_err() {
                return Ok(());
            }
        }
    }
    let _ = sender.send(Copied::Done).await;
    Ok(())
}

/// The writing side of an export: the rows as they come, in one transaction of the
/// bundle, committed on [`Copied::Done`].
fn write_bundle(
    mut bundle: rusqlite::Connection,
    columns: &Columns,
    mut receiver: mpsc::Receiver<Copied>,
) -> Result<(), StoreError> {
    let tx = bundle.transaction()?;
    let mut statement = None;
    while let Some(copied) = receiver.blocking_recv() {
        match copied {
            Copied::Table(index) => {
                let sql = insert(index, &columns[index], Taken::Refused, |n| format!("?{n}"));
                statement = Some(tx.prepare(&sql)?);
            }
            Copied::Row(row) => {
                let insert = statement
                    .as_mut()
                    .expect("a bundle's rows come after their table");
                insert.execute(rusqlite::params_from_iter(row))?;
            }
            Copied::Done => {
                drop(statement);
                tx.execute(
                    "UPDATE runs SET lease_owner = NULL, lease_expires = NULL",
                    [],
                )?;
                tx.commit()?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// [`PgStore::import_run`]: adds the run of the bundle file at `from` (brought up to the
/// newest SQLite schema first, so `from` is changed if it is older) to the database, in
/// one transaction; returns its thread. [`StoreError::ThreadExists`] if the database has
/// that thread already.
pub(super) async fn import_run(store: &PgStore, from: &Path) -> Result<String, StoreError> {
    let path = from.to_path_buf();
    let (bundle, columns, thread) = blocking(move || open_bundle(&path)).await?;
    let mut client = store.client().await?;
    let tx = client
        .transaction()
        .await
        .map_err(|error| store.classify(error.into()))?;
    // Checked first, so that a taken thread reads no rows; and again when the run's row
    // goes in, which another import may race.
    if let Some(taken) = thread_taken(&tx, &thread).await {
        return Err(store.classify(taken));
    }
    let (sender, receiver) = mpsc::channel(ROWS_IN_FLIGHT);
    let reading = {
        let (columns, thread) = (columns.clone(), thread.clone());
        blocking(move || read_bundle(&bundle, &columns, &thread, sender))
    };
    let writing = async {
        let done = write_run(&tx, &columns, &thread, receiver).await?;
        if done {
            // The run may be runnable: hosts that wait for work look now.
            tx.execute("SELECT pg_notify('savepoint_work', '')", &[])
                .await?;
        }
        Ok::<_, StoreError>(done)
    };
    let (read, written) = tokio::join!(reading, writing);
    read?;
    match written {
        Ok(true) => {}
        Ok(false) => return Err(StoreError::Closed),
        Err(error) => return Err(store.classify(error)),
    }
    tx.commit()
        .await
        .map_err(|error| store.classify(error.into()))?;
    Ok(thread)
}

/// [`StoreError::ThreadExists`] if the database has a run `thread`.
async fn thread_taken(client: &impl GenericClient, thread: &str) -> Option<StoreError> {
    let found = client
        .query_opt("SELECT status FROM runs WHERE thread = $1", &[&thread])
        .await;
    match found {
        Ok(None) => None,
        Ok(Some(row)) => Some(match parse_status(thread, row.get(0)) {
            Ok(status) => StoreError::ThreadExists {
                thread: thread.to_owned(),
                status,
            },
            Err(error) => error,
        }),
        Err(error) => Some(error.into()),
    }
}

/// The writing side of an import: inserts the rows as they come; `true` once all came.
async fn write_run(
    tx: &deadpool_postgres::Transaction<'_>,
    columns: &Columns,
    thread: &str,
    mut receiver: mpsc::Receiver<Copied>,
) -> Result<bool, StoreError> {
    let mut statement = None;
    while let Some(copied) = receiver.recv().await {
        match copied {
            Copied::Table(index) => {
                if TABLES[index].0 == "events" {
                    // Its ids must follow commit order too (see `events`): the events
                    // table is the last copied, so the lock is held for the end only.
                    events::lock(tx).await?;
                }
                let sql = insert(index, &columns[index], Taken::Kept, |n| format!("${n}"));
                statement = Some((TABLES[index].0, tx.prepare(&sql).await?));
            }
            Copied::Row(row) => {
                let (table, insert) = statement
                    .as_ref()
                    .expect("a bundle's rows come after their table");
                let values = to_params(row, insert.params())?;
                let params: Vec<&(dyn ToSql + Sync)> =
                    values.iter().map(|value| &**value as _).collect();
                let inserted = tx.execute(insert, &params).await?;
                if *table == "runs"
                    && inserted == 0
                    && let Some(taken) = thread_taken(tx, thread).await
                {
                    return Err(taken);
                }
            }
            Copied::Done => return Ok(true),
        }
    }
    Ok(false)
}

/// Opens the bundle at `path`, bringing it up to the newest schema; its columns, and the
/// thread of its one run.
fn open_bundle(path: &Path) -> Result<(rusqlite::Connection, Columns, String), StoreError> {
    let bundle = schema::open_writer(path)?;
    let columns = bundle_columns(&bundle, CopyTo::Database)?;
    let threads: Vec<String> = bundle
        .prepare("SELECT thread FROM runs")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let [thread] = <[String; 1]>::try_from(threads).map_err(|threads| {
        StoreError::Corrupt(format!(
            "{}: a run bundle holds one run, this file holds {}",
            path.display(),
            threads.len()
        ))
    })?;
    Ok((bundle, columns, thread))
}

/// The reading side of an import: the rows of `thread`, table by table.
fn read_bundle(
    bundle: &rusqlite::Connection,
    columns: &Columns,
    thread: &str,
    sender: mpsc::Sender<Copied>,
) -> Result<(), StoreError> {
    for (index, columns) in columns.iter().enumerate() {
        if sender.blocking_send(Copied::Table(index)).is_err() {
            return Ok(());
        }
        let mut stmt = bundle.prepare(&select(index, columns, "?1"))?;
        let mut rows = stmt.query([thread])?;
        while let Some(row) = rows.next()? {
            let values = (0..columns.len())
                .map(|i| row.get::<_, Value>(i))
                .collect::<Result<_, _>>()?;
            if sender.blocking_send(Copied::Row(values)).is_err() {
                return Ok(());
            }
        }
    }
    let _ = sender.blocking_send(Copied::Done);
    Ok(())
}

/// A Postgres row as SQLite values, by the types of its columns.
fn to_values(row: &Row) -> Result<Vec<Value>, StoreError> {
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = column.type_();
            let value = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)?.map(Value::Integer)
            } else if *ty == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)?
                    .map(|n| Value::Integer(n.into()))
            } else if *ty == Type::INT2 {
                row.try_get::<_, Option<i16>>(i)?
                    .map(|n| Value::Integer(n.into()))
            } else if *ty == Type::BYTEA {
                row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
            } else {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            };
            Ok(value.unwrap_or(Value::Null))
        })
        .collect()
}

/// SQLite values bound as the parameters of a Postgres statement, by their types.
fn to_params(
    row: Vec<Value>,
    types: &[Type],
) -> Result<Vec<Box<dyn ToSql + Sync + Send>>, StoreError> {
    let out_of_range = |n: i64, ty: &Type| StoreError::Corrupt(format!("{n} does not fit a {ty}"));
    row.into_iter()
        .zip(types)
        .map(
            |(value, ty)| -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
                Ok(match value {
                    Value::Integer(n) if *ty == Type::INT4 => {
                        Box::new(i32::try_from(n).map_err(|_| out_of_range(n, ty))?)
                    }
                    Value::Integer(n) if *ty == Type::INT2 => {
                        Box::new(i16::try_from(n).map_err(|_| out_of_range(n, ty))?)
                    }
                    Value::Integer(n) => Box::new(n),
                    Value::Real(x) => Box::new(x),
                    Value::Text(text) => Box::new(text),
                    Value::Blob(bytes) => Box::new(bytes),
                    // A NULL of the column's type: Postgres checks a parameter's type even then.
                    Value::Null if *ty == Type::INT8 => Box::new(None::<i64>),
                    Value::Null if *ty == Type::INT4 => Box::new(None::<i32>),
                    Value::Null if *ty == Type::INT2 => Box::new(None::<i16>),
                    Value::Null if *ty == Type::BYTEA => Box::new(None::<Vec<u8>>),
                    Value::Null => Box::new(None::<String>),
                })
            },
        )
        .collect()
}
