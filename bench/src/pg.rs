//! The Postgres server the Postgres section measures: the one SAVEPOINT_BENCH_PG
//! names, or a throwaway one `scripts/pg start` makes in the scratch folder (as
//! the tests make theirs) and [`Server::stop`] stops. Every configuration gets
//! a fresh schema on it (the tests' isolation: the URL with
//! `options=-csearch_path%3D<schema>`), dropped at the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context, bail};
use savepoint_store::DbLocation;
use tokio_postgres::{Client, NoTls};

use crate::options::repo_root;

/// The variable that names a server to use instead of starting one.
pub const BENCH_PG: &str = "SAVEPOINT_BENCH_PG";

/// A Postgres server and an admin connection to it.
pub struct Server {
    url: String,
    /// The data folder of a server this benchmark started (and stops).
    started: Option<PathBuf>,
    admin: Client,
    /// Schemas made so far, dropped by [`Server::stop`].
    schemas: Mutex<Vec<String>>,
    /// Keep the schemas (`--keep`).
    keep: bool,
}

impl Server {
    /// The server of SAVEPOINT_BENCH_PG, or a new one in `scratch/pg`.
    pub async fn open(scratch: &Path, keep: bool) -> anyhow::Result<Server> {
        let named = std::env::var(BENCH_PG).ok();
        Server::open_named(named.as_deref(), scratch, keep).await
    }

    /// The server at `named`, or a new one in `scratch/pg`.
    pub async fn open_named(
        named: Option<&str>,
        scratch: &Path,
        keep: bool,
    ) -> anyhow::Result<Server> {
        let (url, started) = match named.map(str::trim) {
            Some(url) if !url.is_empty() => {
                if !matches!(DbLocation::parse(url), Ok(DbLocation::Postgres(_))) {
                    bail!("{BENCH_PG} must be a postgres:// or postgresql:// URL");
                }
                (url.to_owned(), None)
            }
            _ => {
                let dir = scratch.join("pg");
                (start(&dir)?, Some(dir))
            }
        };
        let admin = match connect(&url).await {
            Ok(admin) => admin,
            Err(error) => {
                if let Some(dir) = &started {
                    stop(dir);
                }
                return Err(error);
            }
        };
        Ok(Server {
            url,
            started,
            admin,
            schemas: Mutex::new(Vec::new()),
            keep,
        })
    }

    /// Where the server is, for messages (without a password).
    pub fn shown(&self) -> String {
        redact(&self.url)
    }

    /// Whether this benchmark started the server (else SAVEPOINT_BENCH_PG named it).
    pub fn started_here(&self) -> bool {
        self.started.is_some()
    }

    /// `SELECT version()`, and the settings that make a commit durable.
    pub async fn describe(&self) -> anyhow::Result<Settings> {
        let show = |name: &'static str| async move {
            let row = self.admin.query_one(&format!("SHOW {name}"), &[]).await?;
            anyhow::Ok(row.get::<_, String>(0))
        };
        Ok(Settings {
            version: show("server_version").await?,
            fsync: show("fsync").await?,
            synchronous_commit: show("synchronous_commit").await?,
            max_connections: show("max_connections").await?.parse().unwrap_or(0),
        })
    }

    /// A fresh, empty schema for `name`, and the URL whose connections use it.
    pub async fn schema(&self, name: &str) -> anyhow::Result<String> {
        let schema = schema_name(name);
        self.admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .with_context(|| format!("cannot create schema {schema} on {}", self.shown()))?;
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(schema.clone());
        Ok(self.url_of(name))
    }

    /// The URL whose connections use `name`'s schema.
    pub fn url_of(&self, name: &str) -> String {
        in_schema(&self.url, &schema_name(name))
    }

    /// The bytes of every table of `name`'s schema with its indexes and
    /// TOAST (`pg_total_relation_size`): what the configuration made the
    /// database hold (in 8 KiB pages, with their free space).
    pub async fn bytes(&self, name: &str) -> anyhow::Result<u64> {
        let row = self
            .admin
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                &[&schema_name(name)],
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// The process id of the admin connection's backend on the server.
    pub async fn backend_pid(&self) -> anyhow::Result<u32> {
        let row = self.admin.query_one("SELECT pg_backend_pid()", &[]).await?;
        Ok(u32::try_from(row.get::<_, i32>(0))?)
    }

    /// WAL flushes since the server's statistics were reset (`pg_stat_wal`).
    pub async fn wal_syncs(&self) -> anyhow::Result<u64> {
        let row = self
            .admin
            .query_one("SELECT wal_sync FROM pg_stat_wal", &[])
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0))?)
    }

    /// Drop the schemas (unless `--keep`), and stop the server if this
    /// benchmark started it.
    pub async fn stop(self) {
        let schemas = std::mem::take(
            &mut *self
                .schemas
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if !self.keep {
            for schema in schemas {
                let _ = self
                    .admin
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
            }
        }
        drop(self.admin);
        if let Some(dir) = &self.started {
            stop(dir);
        }
    }
}

/// What the server says about itself.
#[derive(Debug, Clone)]
pub struct Settings {
    pub version: String,
    pub fsync: String,
    pub synchronous_commit: String,
    pub max_connections: u32,
}

/// A connection whose driver runs on a task of its own.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to Postgres at {}", redact(url)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `scripts/pg start DIR`: a throwaway server; its URL.
fn start(dir: &Path) -> anyhow::Result<String> {
    let script = repo_root().join("scripts/pg");
    eprintln!(
        "   starting a throwaway Postgres server in {}",
        dir.display()
    );
    let output = Command::new(&script)
        .arg("start")
        .arg(dir)
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "`{} start {}` failed ({}): {}",
            script.display(),
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with("postgres://") || l.starts_with("postgresql://"))
    {
        Some(url) => Ok(url.to_owned()),
        None => {
            stop(dir);
            bail!(
                "`{} start` printed no URL: {}",
                script.display(),
                stdout.trim()
            )
        }
    }
}

/// `scripts/pg stop DIR` (a failure is only reported: the run's figures stand).
fn stop(dir: &Path) {
    let script = repo_root().join("scripts/pg");
    match Command::new(&script).arg("stop").arg(dir).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "warning: `{} stop {}` failed: {}",
            script.display(),
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(error) => eprintln!("warning: cannot run {}: {error}", script.display()),
    }
}

/// The schema of configuration `name` in this process: lowercase letters,
/// digits and `_` only, so it needs no quoting.
fn schema_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("bench_{}_{name}", std::process::id())
}

/// `url` with every connection's search_path set to `schema`.
fn in_schema(url: &str, schema: &str) -> String {
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}options=-csearch_path%3D{schema}")
}

/// `url` for messages: its password as `***` (the store's one redaction).
pub fn redact(url: &str) -> String {
    match DbLocation::parse(url) {
        Ok(DbLocation::Postgres(url)) => url.to_string(),
        Ok(DbLocation::Sqlite(_)) => "(not a postgres:// URL)".to_owned(),
        Err(message) => message,
    }
}

/// The test server: SAVEPOINT_TEST_PG, else the developer server of
/// `scripts/pg ensure` (as the store's tests find theirs), asked once per
/// process (two `ensure`s at once would both initdb).
#[cfg(test)]
pub async fn test_server(scratch: &Path) -> Server {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let named = URL.get_or_init(|| match std::env::var("SAVEPOINT_TEST_PG") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let script = repo_root().join("scripts/pg");
            let output = Command::new(&script).arg("ensure").output().unwrap();
            assert!(
                output.status.success(),
                "`scripts/pg ensure` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        }
    });
    Server::open_named(Some(named), scratch, false)
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schemas_are_made_measured_and_dropped() {
        let scratch = tempfile::tempdir().unwrap();
        let server = test_server(scratch.path()).await;
        let url = server.schema("unit test").await.unwrap();
        let client = connect(&url).await.unwrap();
        client
            .batch_execute("CREATE TABLE t (x TEXT); INSERT INTO t VALUES (repeat('x', 100000))")
            .await
            .unwrap();
        assert!(server.bytes("unit test").await.unwrap() > 1000);
        let settings = server.describe().await.unwrap();
        assert!(!settings.version.is_empty());
        drop(client);
        let admin = connect(&server.url).await.unwrap();
        server.stop().await;
        let left = admin
            .query_one(
                "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                &[&schema_name("unit test")],
            )
            .await
            .unwrap();
        assert_eq!(left.get::<_, i64>(0), 0);
    }

    #[test]
    fn schema_urls() {
        assert_eq!(
            in_schema("postgres://u@h:5/db", "s"),
            "postgres://u@h:5/db?options=-csearch_path%3Ds"
        );
        assert_eq!(
            in_schema("postgres://u@h/db?host=/tmp", "s"),
            "postgres://u@h/db?host=/tmp&options=-csearch_path%3Ds"
        );
        let schema = schema_name("W1-conc 100b");
        assert!(schema.ends_with("_w1_conc_100b"), "{schema}");
    }
}
