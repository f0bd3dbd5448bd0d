//! The Postgres floor: what "a durable checkpoint after every node" costs on
//! this server when nothing batches for you but Postgres itself. 100 clients
//! (one connection and one task each) commit one INSERT of a 100-byte row per
//! transaction (an autocommit INSERT: one round trip, one commit) with
//! `synchronous_commit = on`, for a fixed time. Postgres flushes the WAL of
//! commits that arrive together in one write (its own group commit), so this
//! floor is what plain concurrency gets without any engine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_postgres::{Client, Statement};

use crate::floor::Floor;
use crate::pg::{self, Server};

/// Clients committing at once.
pub const CLIENTS: usize = 100;

/// The floor in progress: the clients, connected to a fresh schema, that
/// commit in blocks of a fixed time when asked (interleaved with the W1
/// rounds it is compared with) until it is closed.
pub struct Session {
    /// Each client with its prepared INSERT.
    clients: Vec<(Arc<Client>, Statement)>,
    name: String,
    payload: Arc<str>,
    commits: usize,
    wall: Duration,
    latency: Vec<Duration>,
}

impl Session {
    pub async fn open(server: &Server, name: &str, size: usize) -> anyhow::Result<Session> {
        let url = server.schema(name).await?;
        let admin = pg::connect(&url).await?;
        admin
            .batch_execute(
                "CREATE TABLE ckpt (wf TEXT, step BIGINT, state TEXT, PRIMARY KEY (wf, step))",
            )
            .await
            .context("cannot create the floor's table")?;
        let mut clients = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let client = pg::connect(&url).await?;
            client
                .batch_execute("SET synchronous_commit = on")
                .await
                .context("the floor's connection")?;
            let insert = client
                .prepare("INSERT INTO ckpt VALUES ($1, $2, $3)")
                .await?;
            clients.push((Arc::new(client), insert));
        }
        Ok(Session {
            clients,
            name: name.to_owned(),
            payload: "x".repeat(size).into(),
            commits: 0,
            wall: Duration::ZERO,
            latency: Vec::new(),
        })
    }

    /// Every client commits checkpoints (10 per workflow id, as W1) for
    /// `time`, as fast as its commits return.
    pub async fn block(&mut self, time: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let deadline = started + time;
        let block = self.commits;
        let mut tasks = JoinSet::new();
        for (c, (client, insert)) in self.clients.iter().enumerate() {
            let (client, insert) = (Arc::clone(client), insert.clone());
            let payload = Arc::clone(&self.payload);
            tasks.spawn(async move {
                let mut latency = Vec::new();
                // At least one commit per client and block, however late
                // the task starts.
                for i in 0usize.. {
                    let state = json!({"count": i % 10 + 1, "payload": &*payload}).to_string();
                    let wf = format!("wf-{block}-{c}-{}", i / 10);
                    let committing = Instant::now();
                    client
                        .execute(&insert, &[&wf, &((i % 10) as i64), &state])
                        .await?;
                    let done = Instant::now();
                    latency.push(done - committing);
                    if done >= deadline {
                        break;
                    }
                }
                anyhow::Ok(latency)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let latency = joined.context("a floor client died")??;
            self.commits += latency.len();
            self.latency.extend(latency);
        }
        self.wall += started.elapsed();
        Ok(())
    }

    /// Disconnect, and measure the table.
    pub async fn close(self, server: &Server) -> Floor {
        drop(self.clients);
        Floor {
            commits: self.commits,
            wall: self.wall,
            latency: self.latency,
            db_bytes: server.bytes(&self.name).await.unwrap_or(0),
            wal: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hundred_clients_commit_in_blocks() {
        let scratch = tempfile::tempdir().unwrap();
        let server = crate::pg::test_server(scratch.path()).await;
        let mut session = Session::open(&server, "floor unit test", 100)
            .await
            .unwrap();
        session.block(Duration::from_millis(50)).await.unwrap();
        session.block(Duration::from_millis(50)).await.unwrap();
        let floor = session.close(&server).await;
        // Every client commits at least once per block: it starts before the deadline.
        assert!(floor.commits >= 2 * CLIENTS, "{}", floor.commits);
        assert_eq!(floor.latency.len(), floor.commits);
        assert!(floor.db_bytes > 0);
        server.stop().await;
    }
}
