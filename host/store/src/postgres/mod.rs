//! [`CheckpointStore`] on a Postgres database, which several hosts share: writes go through
//! the [writer task](writer) and are group-committed; reads take a connection of the pool
//! each; a [listener](notices) hears the other hosts' wake-ups.
//!
//! Files: the adapter (here), the schema and its migrations (`schema`, `migrations/`),
//! Postgres's failures (`fault`), the writer task (`writer`), the writes that move a run
//! (`runs`) and its lease (`leases`), the row decoding (`rows`), reads (`reads`, `paged`),
//! pins and gc (`pins`), bundles (`bundle`) and wake-ups (`notices`).

mod batch;
mod branches;
mod bundle;
mod commits;
mod compose;
mod counts;
mod delete;
mod disk;
mod due;
mod events;
mod fault;
mod leases;
mod many;
mod notices;
mod paged;
mod pins;
mod reads;
mod rows;
mod runs;
mod schedules;
mod schema;
mod search;
mod travel;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio_postgres::NoTls;

use crate::{
    Branches, CheckpointStore, Clock, Collected, ComponentVersion, Cursor, Deleted, EventFilter,
    ForkRun, HistoryDetail, HistoryEntry, LogLine, NewRun, Page, PgUrl, ReplayRun, RunEvent,
    RunFilter, RunRecord, RunStatus, RunUpgrade, RunsPage, StateEdit, StepCommit, StepSetback,
    StoreError,
};
use rows::{encode_values, to_json};
use writer::{Wake, Writer};

/// Connections in the pool, for reads (the writer and the listener hold one more each).
const POOL_SIZE: usize = 16;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// After this long without traffic a connection is probed every [`KEEPALIVE_IDLE`] / 2,
/// and dropped after three unanswered probes; data the server does not acknowledge for
/// [`UNACKNOWLEDGED`] drops it too. A server behind a cut network is noticed in about half
/// a minute, not after the kernel's defaults (two hours idle, a quarter of an hour
/// sending), and the host reconnects when the network is back. (The lease, not this,
/// decides when other hosts take a silent host's runs.)
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const UNACKNOWLEDGED: Duration = Duration::from_secs(30);

/// A [`CheckpointStore`] in a Postgres database. Cloning is cheap and shares the pool, the
/// writer and the listener.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    writer: Arc<Writer>,
    notices: watch::Receiver<u64>,
    /// Bumped at every host's commit that added events.
    event_notices: watch::Receiver<u64>,
    /// The URL without its password, for messages.
    db: Arc<str>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url`, creates or migrates savepoint's schema in it,
    /// and starts the writer and the listener. `clock` stamps every write.
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<PgStore, StoreError> {
        let shown = PgUrl::new(url).redacted();
        let config = config(url, &shown)?;
        let pool = pool_of(config.clone(), POOL_SIZE)?;
        let mut client = pool
            .get()
            .await
            .map_err(|error| fault::classify(&shown, error.into()))?;
        schema::migrate(&mut client, &shown)
            .await
            .map_err(|error| fault::classify(&shown, error))?;
        drop(client);
        let writer = Writer::spawn(pool_of(config.clone(), 1)?, clock, shown.clone())?;
        let (notices, event_notices) = notices::listen(config);
        Ok(PgStore {
            pool,
            writer: Arc::new(writer),
            notices,
            event_notices,
            db: Arc::from(shown),
        })
    }

    /// Whether the schema at `url` holds tables (savepoint's, or another's that
    /// [`PgStore::connect`] refuses), without creating any: for commands that only read,
    /// which find no database in an empty schema.
    pub async fn exists(url: &str) -> Result<bool, StoreError> {
        let shown = PgUrl::new(url).redacted();
        let pool = pool_of(config(url, &shown)?, 1)?;
        let client = pool
            .get()
            .await
            .map_err(|error| fault::classify(&shown, error.into()))?;
        schema::exists(&client)
            .await
            .map_err(|error| fault::classify(&shown, error))
    }

    /// The database's URL without its password.
    pub fn describe(&self) -> &str {
        &self.db
    }

    /// A connection of the pool.
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| self.classify(error.into()))
    }

    /// `error` as the caller acts on it (see `fault`).
    pub(super) fn classify(&self, error: StoreError) -> StoreError {
        fault::classify(&self.db, error)
    }

    /// Writes run `thread` as a new bundle file at `to` (which must not exist): a SQLite
    /// file, as SQLite's store writes it. The bundle's run holds no lease.
    pub async fn export_run(&self, thread: &str, to: &Path) -> Result<(), StoreError> {
        bundle::export_run(self, thread, to).await
    }

    /// Adds the run of the bundle file at `from` (written by either backend); returns its
    /// thread. [`StoreError::ThreadExists`] if the database has that thread already.
    pub async fn import_run(&self, from: &Path) -> Result<String, StoreError> {
        bundle::import_run(self, from).await
    }
}

/// `url` as tokio-postgres's configuration, with savepoint's timeouts unless the URL sets
/// its own.
fn config(url: &str, shown: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|error| StoreError::Rejected {
        db: shown.to_owned(),
        reason: format!("not a Postgres URL: {error}"),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_IDLE / 2)
        .keepalives_retries(3)
        .tcp_user_timeout(UNACKNOWLEDGED);
    if config.get_application_name().is_none() {
        config.application_name("savepoint");
    }
    Ok(config)
}

/// A pool of up to `size` connections made with `config`.
fn pool_of(config: tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT))
        .wait_timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|error| StoreError::Database {
            source: Box::new(error),
        })
}

impl CheckpointStore for PgStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        let input = encode_values(&run.input)?;
        let wake = match run.lease {
            Some(_) => Wake::Nobody,
            None => Wake::Others,
        };
        let creation = runs::Creation { run, input };
        self.writer
            .call(creation, wake, |c, tx, now| {
                Box::pin(runs::create_run(c, tx, now))
            })
            .await
    }

    async fn create_runs(&self, runs: Vec<NewRun>) -> Result<usize, StoreError> {
        if runs.is_empty() {
            return Ok(0);
        }
        let inputs = runs
            .iter()
            .map(|run| encode_values(&run.input))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // A leased run is its creator's to drive; any other wakes the daemons.
        let wake = match runs.iter().all(|run| run.lease.is_some()) {
            true => Wake::Nobody,
            false => Wake::Others,
        };
        let creations = batch::Creations { runs, inputs };
        self.writer
            .call(creations, wake, |c, tx, now| {
                Box::pin(batch::create_runs(c, tx, now))
            })
            .await
    }

    async fn load_run(&self, thread: &str) -> Result<Option<RunRecord>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |client| Box::pin(async move { rows::load_run(client, &thread).await }))
            .await
    }

    async fn workflow_text(&self, digest: &str) -> Result<Option<String>, StoreError> {
        let digest = digest.to_owned();
        self.read(move |client| {
            Box::pin(async move {
                let stmt = client
                    .prepare_cached("SELECT text FROM workflows WHERE digest = $1")
                    .await?;
                Ok(client
                    .query_opt(&stmt, &[&digest])
                    .await?
                    .map(|row| row.get(0)))
            })
        })
        .await
    }

    async fn set_status(&self, thread: &str, status: RunStatus) -> Result<(), StoreError> {
        let wake = match status {
            RunStatus::Pending => Wake::Others,
            _ => Wake::Nobody,
        };
        self.writer
            .call((thread.to_owned(), status), wake, |c, tx, now| {
                Box::pin(runs::set_status(c, tx, now))
            })
            .await
    }

    async fn commit_step(&self, mut commit: StepCommit) -> Result<RunRecord, StoreError> {
        let changes = encode_values(&commit.changes)?;
        // The state goes back to the caller as given.
        let state = std::mem::take(&mut commit.state);
        let committed = self
            .writer
            .commit(commits::Commit { commit, changes })
            .await?;
        // The pending writes of the step were deleted with the commit, and those of the
        // next step cannot exist yet.
        let commits::Committed { run, plugins, tags } = committed;
        run.decode(state, Vec::new(), plugins, tags)
    }

    async fn setback_step(&self, setback: StepSetback) -> Result<(), StoreError> {
        self.writer
            .call(setback, Wake::Nobody, |s, tx, now| {
                Box::pin(runs::setback_step(s, tx, now))
            })
            .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<Vec<RunRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let claim = leases::ClaimDue {
            owner: owner.to_owned(),
            limit,
            lease_ms,
            dead_owners: dead_owners.to_vec(),
        };
        self.writer
            .call(claim, Wake::Nobody, |c, tx, now| {
                Box::pin(leases::claim_due(c, tx, now))
            })
            .await
    }

    async fn claim(
        &self,
        thread: &str,
        owner: &str,
        lease_ms: i64,
        dead_owners: &[String],
    ) -> Result<RunRecord, StoreError> {
        let claim = leases::Claim {
            thread: thread.to_owned(),
            owner: owner.to_owned(),
            lease_ms,
            dead_owners: dead_owners.to_vec(),
        };
        self.writer
            .call(claim, Wake::Nobody, |c, tx, now| {
                Box::pin(leases::claim(c, tx, now))
            })
            .await
    }

    async fn leases(&self) -> Result<Vec<(String, i64)>, StoreError> {
        reads::leases(self).await
    }

    async fn renew(
        &self,
        owner: &str,
        threads: &[String],
        lease_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        if threads.is_empty() {
            return Ok(Vec::new());
        }
        let renewal = leases::Renewal {
            owner: owner.to_owned(),
            threads: threads.to_vec(),
            lease_ms,
        };
        self.writer
            .call(renewal, Wake::Nobody, |r, tx, now| {
                Box::pin(leases::renew(r, tx, now))
            })
            .await
    }

    async fn release(&self, owner: &str, thread: &str) -> Result<(), StoreError> {
        self.writer
            .call(
                (owner.to_owned(), thread.to_owned()),
                Wake::Others,
                |l, tx, now| Box::pin(leases::release(l, tx, now)),
            )
            .await
    }

    async fn announce_daemon(&self, owner: &str, ttl_ms: i64) -> Result<(), StoreError> {
        self.writer
            .call((owner.to_owned(), ttl_ms), Wake::Nobody, |d, tx, now| {
                Box::pin(leases::announce_daemon(d, tx, now))
            })
            .await
    }

    async fn retire_daemon(&self, owner: &str) -> Result<(), StoreError> {
        self.writer
            .call(owner.to_owned(), Wake::Nobody, |o, tx, now| {
                Box::pin(leases::retire_daemon(o, tx, now))
            })
            .await
    }

    async fn daemons(&self) -> Result<Vec<(String, i64)>, StoreError> {
        reads::daemons(self).await
    }

    async fn resume_input(
        &self,
        thread: &str,
        input: Option<Value>,
        status: RunStatus,
        owner: Option<&str>,
    ) -> Result<RunRecord, StoreError> {
        // An owner goes on with the run itself; otherwise any host may pick it up.
        let wake = match owner {
            Some(_) => Wake::Nobody,
            None => Wake::Others,
        };
        let resume = runs::Resume {
            thread: thread.to_owned(),
            input_json: input.as_ref().map(to_json).transpose()?,
            input,
            status,
            owner: owner.map(str::to_owned),
        };
        self.writer
            .call(resume, wake, |r, tx, now| {
                Box::pin(runs::resume_input(r, tx, now))
            })
            .await
    }

    async fn cancel(&self, thread: &str) -> Result<RunRecord, StoreError> {
        self.writer
            .call(thread.to_owned(), Wake::Nobody, |t, tx, now| {
                Box::pin(runs::cancel(t, tx, now))
            })
            .await
    }

    async fn next_wake(&self) -> Result<Option<i64>, StoreError> {
        reads::next_wake(self).await
    }

    async fn history_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
        detail: HistoryDetail,
        branches: Branches,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        paged::history_page(self, thread, cursor, limit, detail, branches).await
    }

    async fn state_at(
        &self,
        thread: &str,
        step: u64,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        reads::state_at_step(self, thread, step).await
    }

    async fn upgrade_run(&self, upgrade: RunUpgrade) -> Result<RunRecord, StoreError> {
        self.writer
            .call(upgrade, Wake::Nobody, |u, tx, now| {
                Box::pin(runs::upgrade_run(u, tx, now))
            })
            .await
    }

    async fn save_component(
        &self,
        digest: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let component = runs::Component {
            digest: digest.to_owned(),
            name: name.to_owned(),
            bytes,
        };
        self.writer
            .call(component, Wake::Nobody, |c, tx, now| {
                Box::pin(runs::save_component(c, tx, now))
            })
            .await
    }

    async fn component_versions(&self) -> Result<Vec<ComponentVersion>, StoreError> {
        pins::component_versions(self).await
    }

    async fn collect_garbage(&self) -> Result<Collected, StoreError> {
        pins::collect_garbage(self).await
    }

    async fn component_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        reads::component_bytes(self, digest).await
    }

    async fn logs_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<LogLine>, StoreError> {
        paged::logs_page(self, thread, cursor, limit).await
    }

    async fn list_runs(
        &self,
        filter: &RunFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<RunsPage, StoreError> {
        search::list_runs(self, filter, cursor, limit).await
    }

    async fn events_page(
        &self,
        thread: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page<RunEvent>, StoreError> {
        events::events_page(self, thread, cursor, limit).await
    }

    async fn events_after(
        &self,
        filter: &EventFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        events::after(self, filter, after.unwrap_or(0), limit).await
    }

    async fn last_event_id(&self) -> Result<u64, StoreError> {
        events::last_id(self).await
    }

    async fn fork_run(&self, fork: ForkRun) -> Result<RunRecord, StoreError> {
        let changes = match &fork.edit {
            Some(edit) => encode_values(&edit.changes)?,
            None => Vec::new(),
        };
        // The fork is pending: any host may run it.
        self.writer
            .call(
                travel::Fork { fork, changes },
                Wake::Others,
                |f, tx, now| Box::pin(travel::fork_run(f, tx, now)),
            )
            .await
    }

    async fn edit_run(
        &self,
        thread: &str,
        after_step: u64,
        edit: StateEdit,
    ) -> Result<RunRecord, StoreError> {
        let edit = travel::Edit {
            thread: thread.to_owned(),
            after_step,
            changes: encode_values(&edit.changes)?,
            edit,
        };
        self.writer
            .call(edit, Wake::Nobody, |e, tx, now| {
                Box::pin(travel::edit_run(e, tx, now))
            })
            .await
    }

    async fn replay_run(&self, replay: ReplayRun) -> Result<RunRecord, StoreError> {
        self.writer
            .call(replay, Wake::Others, |r, tx, now| {
                Box::pin(travel::replay_run(r, tx, now))
            })
            .await
    }

    async fn delete_run(&self, thread: &str, force: bool) -> Result<Deleted, StoreError> {
        delete::delete_run(self, thread, force).await
    }

    async fn finished_before(
        &self,
        cutoff_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        search::finished_before(self, cutoff_ms, limit).await
    }

    async fn count_runs(&self, now_ms: i64) -> Result<crate::RunCounts, StoreError> {
        counts::count_runs(self, now_ms).await
    }

    async fn put_schedule(
        &self,
        schedule: crate::Schedule,
        workflow_text: String,
        replace: bool,
    ) -> Result<(), StoreError> {
        let put = schedules::Put {
            schedule,
            workflow_text,
            replace,
        };
        self.writer
            .call(put, Wake::Nobody, |p, tx, now| {
                Box::pin(schedules::put(p, tx, now))
            })
            .await
    }

    async fn schedules(&self) -> Result<Vec<crate::Schedule>, StoreError> {
        schedules::all(self).await
    }

    async fn pause_schedule(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<crate::Schedule, StoreError> {
        self.writer
            .call((name.to_owned(), paused), Wake::Nobody, |t, tx, now| {
                Box::pin(schedules::pause(t, tx, now))
            })
            .await
    }

    async fn remove_schedule(&self, name: &str) -> Result<(), StoreError> {
        self.writer
            .call(name.to_owned(), Wake::Nobody, |n, tx, now| {
                Box::pin(schedules::remove(n, tx, now))
            })
            .await
    }

    async fn advance_schedule(
        &self,
        name: &str,
        expected_next_due_ms: i64,
        next_due_ms: i64,
        fired_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let advance = (name.to_owned(), expected_next_due_ms, next_due_ms, fired_ms);
        self.writer
            .call(advance, Wake::Nobody, |a, tx, now| {
                Box::pin(schedules::advance(a, tx, now))
            })
            .await
    }

    async fn send_signal(
        &self,
        thread: &str,
        name: &str,
        data: Value,
    ) -> Result<crate::Signal, StoreError> {
        let sending = compose::Sending {
            thread: thread.to_owned(),
            name: name.to_owned(),
            data,
        };
        // A run woken by it is due now: any host may take it.
        self.writer
            .call(sending, Wake::Others, |s, tx, now| {
                Box::pin(compose::send_signal(s, tx, now))
            })
            .await
    }

    async fn next_signal(
        &self,
        thread: &str,
        name: &str,
    ) -> Result<Option<crate::Signal>, StoreError> {
        let (thread, name) = (thread.to_owned(), name.to_owned());
        self.read(move |client| {
            Box::pin(async move { compose::next_signal(client, &thread, &name).await })
        })
        .await
    }

    async fn signals(&self, thread: &str, limit: usize) -> Result<Vec<crate::Signal>, StoreError> {
        let thread = thread.to_owned();
        self.read(move |client| {
            Box::pin(async move { compose::signals(client, &thread, limit).await })
        })
        .await
    }

    fn event_notices(&self) -> Option<watch::Receiver<u64>> {
        Some(self.event_notices.clone())
    }

    fn work_notices(&self) -> Option<watch::Receiver<u64>> {
        Some(self.notices.clone())
    }
}
