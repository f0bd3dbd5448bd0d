//! Following what is committed, for the event streams of the API (`GET /runs/{id}/events`
//! as Server-Sent Events, `GET /events`) and for `savepoint watch` and `logs --follow`,
//! which read the database without a daemon: a [`Follower`] reads the events (and a
//! run's log lines) after the last ids it gave out, gives what it found, and when there
//! is nothing new waits for the store's notice that events were committed, or a tick
//! for writers that send none (another process on SQLite), and looks again.
//!
//! A follower of one run stops once it has given out everything and the run has
//! finished (or, for `watch`, parked): the run's status is read before the events, so
//! whatever was committed before that status is given out first.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;

use savepoint_store::{
    CheckpointStore, Cursor, EventFilter, EventKind, LOG_PAGE, LogLine, RunEvent, RunStatus,
    StoreError,
};

/// Events read at a time: a stream that fell behind catches up in pages of this.
const EVENTS_CHUNK: usize = 256;

/// Log lines read at a time.
const LOGS_CHUNK: usize = 256;

/// A follower reads at most this often: commits that come closer together are read
/// together. Every commit of a busy daemon sends a notice, and each follower that
/// answered each one with its own reads took the step loop's time: 100 followers of
/// every run's events cut a daemon's steps per second by 78% (debug build, `bench/run
/// --streams 100`). Live enough for a person watching.
const PACE: Duration = Duration::from_millis(100);

/// One thing a follower gives out.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    Event(RunEvent),
    /// A log line of the followed run.
    Log {
        thread: String,
        line: LogLine,
    },
}

/// What a follower reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Events,
    Logs,
    EventsAndLogs,
}

impl Reading {
    fn events(self) -> bool {
        matches!(self, Reading::Events | Reading::EventsAndLogs)
    }

    fn logs(self) -> bool {
        matches!(self, Reading::Logs | Reading::EventsAndLogs)
    }
}

/// When a follower of one run stops (once everything was given out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The run completed, failed or was cancelled (or is gone).
    Finished,
    /// As `Finished`, or the run is parked: sleeping, retrying or interrupted.
    FinishedOrParked,
    /// Never: every run's events.
    Never,
}

/// Where a follower is: the last event id and log line id it gave out (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub event: u64,
    pub log: u64,
}

impl Position {
    /// An SSE id of a run's stream: `"E-L"`.
    pub fn run_id(self) -> String {
        format!("{}-{}", self.event, self.log)
    }

    /// Parses a `Last-Event-ID`: `"E-L"`, or `"E"` (events after E, log lines from the
    /// first). `None` if it is neither.
    pub fn parse(text: &str) -> Option<Position> {
        let number = |digits: &str| {
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<u64>().ok())
                .flatten()
        };
        match text.split_once('-') {
            Some((event, log)) => Some(Position {
                event: number(event)?,
                log: number(log)?,
            }),
            None => Some(Position {
                event: number(text)?,
                log: 0,
            }),
        }
    }
}

/// Reads what is committed after a [`Position`], waiting for more.
pub struct Follower<S> {
    store: S,
    filter: EventFilter,
    reading: Reading,
    until: Until,
    at: Position,
    notices: Option<watch::Receiver<u64>>,
    tick: Duration,
    /// The run's status when the follower last looked (runs followed one at a time).
    status: Option<RunStatus>,
    done: bool,
    /// When the follower last read.
    read_at: Option<tokio::time::Instant>,
}

impl<S> std::fmt::Debug for Follower<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("filter", &self.filter)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl<S: CheckpointStore> Follower<S> {
    /// Follows what `filter` selects after `at`; `tick`: how long to wait for a notice
    /// before looking again anyway. A follower of one run (`filter.thread`) stops as
    /// `until` says.
    pub fn new(
        store: S,
        filter: EventFilter,
        reading: Reading,
        until: Until,
        at: Position,
        tick: Duration,
    ) -> Follower<S> {
        let notices = store.event_notices();
        Follower {
            store,
            filter,
            reading,
            until,
            at,
            notices,
            tick,
            status: None,
            done: false,
            read_at: None,
        }
    }

    /// The last ids given out.
    pub fn position(&self) -> Position {
        self.at
    }

    /// The followed run's status when the follower stopped (or last looked).
    pub fn status(&self) -> Option<RunStatus> {
        self.status
    }

    /// The next things committed, oldest first (a run's log lines before the events of
    /// the same read); waits until there are some. `None` once the follower stopped.
    pub async fn next(&mut self) -> Result<Option<Vec<Followed>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        loop {
            // Marked seen before reading: a notice that comes during the reads wakes
            // the wait below at once.
            if let Some(read_at) = self.read_at {
                tokio::time::sleep_until(read_at + PACE).await;
            }
            if let Some(notices) = &mut self.notices {
                notices.borrow_and_update();
            }
            self.read_at = Some(tokio::time::Instant::now());
            let stop = self.should_stop().await?;
            let found = self.read().await?;
            if !found.is_empty() {
                return Ok(Some(found));
            }
            if stop {
                self.done = true;
                return Ok(None);
            }
            self.wait().await;
        }
    }

    /// Whether the run is where the follower stops, read before the events so that
    /// what it committed before is given out first.
    async fn should_stop(&mut self) -> Result<bool, StoreError> {
        let Some(thread) = &self.filter.thread else {
            return Ok(false);
        };
        if self.until == Until::Never {
            return Ok(false);
        }
        let Some(run) = self.store.load_run(thread).await? else {
            // Deleted: nothing more will come.
            return Ok(true);
        };
        self.status = Some(run.status);
        Ok(match self.until {
            Until::Finished => is_finished(run.status),
            Until::FinishedOrParked => is_finished(run.status) || is_parked(run.status),
            Until::Never => false,
        })
    }

    /// What was committed after the position: a run's log lines first, then the events.
    /// The events are read first, so that the log lines, read after them, hold those of
    /// every commit whose event is given out (a commit writes both): each event comes
    /// after its step's lines. (Lines of a later commit may come before its event, which
    /// the next read gives.)
    async fn read(&mut self) -> Result<Vec<Followed>, StoreError> {
        let events = if self.reading.events() {
            self.store
                .events_after(&self.filter, Some(self.at.event), EVENTS_CHUNK)
                .await?
        } else {
            Vec::new()
        };
        let mut found = Vec::new();
        if self.reading.logs()
            && let Some(thread) = &self.filter.thread
        {
            let cursor = (self.at.log > 0).then(|| Cursor::after(self.at.log));
            let mut page = self
                .store
                .logs_page(thread, cursor, LOGS_CHUNK.min(LOG_PAGE.max))
                .await?;
            while let Some(line) = page.next().await? {
                self.at.log = line.id;
                found.push(Followed::Log {
                    thread: thread.clone(),
                    line,
                });
            }
            if page.next_cursor().is_some() {
                // More lines than a read takes: the events wait for the next read, so
                // that none comes before its lines.
                return Ok(found);
            }
        }
        if let Some(last) = events.last() {
            self.at.event = last.id;
        }
        found.extend(events.into_iter().map(Followed::Event));
        Ok(found)
    }

    /// Until the store says events were committed, or a tick passed.
    async fn wait(&mut self) {
        match &mut self.notices {
            Some(notices) => {
                // A closed channel (the store is going away) falls back to the tick.
                let _ = tokio::time::timeout(self.tick, notices.changed()).await;
            }
            None => tokio::time::sleep(self.tick).await,
        }
    }
}

pub fn is_finished(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
    )
}

pub fn is_parked(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Sleeping | RunStatus::Retrying | RunStatus::Interrupted | RunStatus::Waiting
    )
}

/// The name an event is sent under (SSE `event:`, `watch`): a step that completed the
/// run is `completed`, one after which it sleeps or retries `parked`; an attempt that
/// failed the run for good is `failed`; other events go by their kind (`step`,
/// `attempt_failed`, `interrupted`, `woke`, `answered`, `cancelled`, ...).
pub fn event_name(event: &RunEvent) -> &'static str {
    let status = event.data.get("status").and_then(Value::as_str);
    match event.kind {
        EventKind::Step => match status.and_then(|s| s.parse::<RunStatus>().ok()) {
            Some(RunStatus::Completed) => "completed",
            Some(RunStatus::Failed) => "failed",
            Some(RunStatus::Cancelled) => "cancelled",
            Some(s) if is_parked(s) => "parked",
            _ => "step",
        },
        EventKind::AttemptFailed if event.data.get("retry_at").is_none_or(Value::is_null) => {
            "failed"
        }
        kind => kind.as_str(),
    }
}

/// An event as a stream sends it: its JSON of `GET /runs/{id}/events`, with `thread`.
pub fn event_json(event: &RunEvent) -> Value {
    let mut json = crate::view::event(event);
    if let Value::Object(object) = &mut json {
        object.insert("thread".into(), Value::from(event.thread.as_str()));
    }
    json
}

/// A log line as a stream sends it: its JSON of `GET /runs/{id}/logs`, with `thread`
/// and its `id`.
pub fn log_json(thread: &str, line: &LogLine) -> Value {
    let mut object = match crate::view::log_line(line) {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("thread".into(), Value::from(thread));
    object.insert("id".into(), Value::from(line.id));
    Value::Object(object)
}
