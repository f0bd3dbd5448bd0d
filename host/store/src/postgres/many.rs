//! Statements that write the rows of many runs at once: state values and log lines, given
//! as arrays (one round trip and one statement for a whole batch of steps, which is what
//! lets a batch of commits cost a few statements instead of a few per step).

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Statement;

use super::reads::signed;
use super::rows::StoredValue;
use crate::{LogLine, StoreError};

/// The keys steps (0: a run's input) changed, collected as columns.
#[derive(Default)]
pub(super) struct StateRows<'a> {
    threads: Vec<&'a str>,
    steps: Vec<i64>,
    branches: Vec<i64>,
    keys: Vec<&'a str>,
    ords: Vec<i64>,
    inline: Vec<Option<&'a str>>,
    blobs: Vec<Option<&'a str>>,
    long_digests: Vec<&'a str>,
    long_data: Vec<&'a str>,
}

impl<'a> StateRows<'a> {
    /// Adds what step `step` of `thread`, on its branch `branch`, wrote.
    pub(super) fn add(
        &mut self,
        thread: &'a str,
        step: u64,
        branch: u64,
        values: &'a [StoredValue],
    ) {
        for (ord, value) in values.iter().enumerate() {
            self.threads.push(thread);
            self.steps.push(signed(step));
            self.branches.push(signed(branch));
            self.keys.push(&value.key);
            self.ords.push(i64::try_from(ord).unwrap_or(i64::MAX));
            match &value.blob {
                None => {
                    self.inline.push(Some(&value.json));
                    self.blobs.push(None);
                }
                Some(digest) => {
                    self.inline.push(None);
                    self.blobs.push(Some(digest));
                    self.long_digests.push(digest);
                    self.long_data.push(&value.json);
                }
            }
        }
    }

    /// The statement that writes them, long values into `blobs` once.
    pub(super) async fn prepare(tx: &Transaction<'_>) -> Result<Statement, StoreError> {
        // The blobs are inserted (or found) in the same statement as the rows that refer
        // to them, which a concurrent gc (it locks `blobs` against writers) cannot split.
        Ok(tx
            .prepare_cached(
                "WITH long AS (
                     INSERT INTO blobs (digest, data, created_at)
                     SELECT digest, data, $1 FROM unnest($8::text[], $9::text[]) AS b (digest, data)
                     ON CONFLICT (digest) DO NOTHING
                 )
                 INSERT INTO state_writes (thread, step, key, ord, value_json, blob, branch)
                 SELECT * FROM unnest($2::text[], $3::int8[], $4::text[], $5::int8[],
                                      $6::text[], $7::text[], $10::int8[])",
            )
            .await?)
    }

    pub(super) async fn execute(
        &self,
        tx: &Transaction<'_>,
        stmt: &Statement,
        now_ms: i64,
    ) -> Result<u64, tokio_postgres::Error> {
        if self.threads.is_empty() {
            return Ok(0);
        }
        tx.execute(
            stmt,
            &[
                &now_ms,
                &self.threads,
                &self.steps,
                &self.keys,
                &self.ords,
                &self.inline,
                &self.blobs,
                &self.long_digests,
                &self.long_data,
                &self.branches,
            ],
        )
        .await
    }
}

/// Log lines of many runs, collected as columns, in the order added.
#[derive(Default)]
pub(super) struct LogRows<'a> {
    threads: Vec<&'a str>,
    steps: Vec<i64>,
    nodes: Vec<&'a str>,
    attempts: Vec<i64>,
    levels: Vec<&'a str>,
    messages: Vec<&'a str>,
    at: Vec<i64>,
}

impl<'a> LogRows<'a> {
    pub(super) fn add(&mut self, thread: &'a str, logs: &'a [LogLine]) {
        for line in logs {
            self.threads.push(thread);
            self.steps.push(signed(line.step));
            self.nodes.push(&line.node);
            self.attempts.push(i64::from(line.attempt));
            self.levels.push(&line.level);
            self.messages.push(&line.message);
            self.at.push(line.at_ms);
        }
    }

    pub(super) async fn prepare(tx: &Transaction<'_>) -> Result<Statement, StoreError> {
        // Ids follow the order of the lines (WITH ORDINALITY, ORDER BY), as SQLite's do.
        Ok(tx
            .prepare_cached(
                "INSERT INTO logs (thread, step, node, attempt, level, message, at)
                 SELECT thread, step, node, attempt, level, message, at
                 FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[],
                             $6::text[], $7::int8[]) WITH ORDINALITY
                      AS l (thread, step, node, attempt, level, message, at, n)
                 ORDER BY n",
            )
            .await?)
    }

    pub(super) async fn execute(
        &self,
        tx: &Transaction<'_>,
        stmt: &Statement,
    ) -> Result<u64, tokio_postgres::Error> {
        if self.threads.is_empty() {
            return Ok(0);
        }
        tx.execute(
            stmt,
            &[
                &self.threads,
                &self.steps,
                &self.nodes,
                &self.attempts,
                &self.levels,
                &self.messages,
                &self.at,
            ],
        )
        .await
    }
}
