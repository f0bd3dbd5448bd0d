//! [`Backend::subscribe`](crate::api::Backend::subscribe): the event streams of the API
//! over a [`Follower`] of the store. The daemon's own commits wake them through the
//! store's notices (on Postgres, every host's); [`TICK`] covers writers that send none.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::api::{ApiError, EventStream, StreamEvent, Subscribe};
use crate::follow::{
    Followed, Follower, Position, Reading, Until, event_json, event_name, log_json,
};
use savepoint_runtime::RuntimeError;
use savepoint_store::{CheckpointStore, EventFilter};

/// How long a stream waits for a notice before it looks again anyway: another process
/// writing the same SQLite file (a CLI `resume`) sends this one none.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// Which ids a stream sends (see [`StreamEvent::id`]).
#[derive(Debug, Clone, Copy)]
enum Ids {
    /// A run's stream: `"E-L"`, the last event and log line ids sent so far.
    Run,
    /// Every run's stream: the event's id.
    Event,
}

/// The stream `subscribe` asks for, on `store`. A run's: 404 when there is no such run
/// (before the stream starts); from its first event, or after `Last-Event-ID`; it ends
/// once the run has finished and everything is sent. Every run's: from now, or after
/// `Last-Event-ID`; endless.
pub(crate) async fn subscribe<S: CheckpointStore + Clone>(
    store: S,
    subscribe: Subscribe,
) -> Result<EventStream, ApiError> {
    let last = match &subscribe.last_event_id {
        Some(id) => Some(Position::parse(id).ok_or_else(|| {
            ApiError::usage(format!("Last-Event-ID {id:?} is not an id of this stream"))
        })?),
        None => None,
    };
    let (follower, ids) = match subscribe.thread {
        Some(thread) => {
            store
                .existing_run(&thread)
                .await
                .map_err(RuntimeError::from)?;
            let filter = EventFilter {
                thread: Some(thread),
                workflow: None,
            };
            let at = last.unwrap_or_default();
            let follower = Follower::new(
                store,
                filter,
                Reading::EventsAndLogs,
                Until::Finished,
                at,
                TICK,
            );
            (follower, Ids::Run)
        }
        None => {
            let event = match last {
                Some(last) => last.event,
                None => store.last_event_id().await.map_err(RuntimeError::from)?,
            };
            let filter = EventFilter {
                thread: None,
                workflow: subscribe.workflow,
            };
            let at = Position { event, log: 0 };
            let follower = Follower::new(store, filter, Reading::Events, Until::Never, at, TICK);
            (follower, Ids::Event)
        }
    };
    let batches = futures_util::stream::unfold(Some(follower), move |follower| async move {
        let mut follower = follower?;
        let before = follower.position();
        match follower.next().await {
            Ok(Some(batch)) => Some((Ok(messages(batch, before, ids)), Some(follower))),
            Ok(None) => None,
            Err(error) => Some((
                Err(ApiError::from(RuntimeError::from(error))),
                // The stream ends after the error; the client reconnects.
                None,
            )),
        }
    });
    let messages = batches.flat_map(|batch| {
        let items: Vec<Result<StreamEvent, ApiError>> = match batch {
            Ok(messages) => messages.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        futures_util::stream::iter(items)
    });
    Ok(Box::pin(messages))
}

/// A batch as stream messages, each with the id of where the stream is after it.
fn messages(batch: Vec<Followed>, mut at: Position, ids: Ids) -> Vec<StreamEvent> {
    batch
        .into_iter()
        .map(|followed| {
            let (name, data): (&str, Value) = match &followed {
                Followed::Event(event) => {
                    at.event = event.id;
                    (event_name(event), event_json(event))
                }
                Followed::Log { thread, line } => {
                    at.log = line.id;
                    ("log", log_json(thread, line))
                }
            };
            let id = match ids {
                Ids::Run => at.run_id(),
                Ids::Event => at.event.to_string(),
            };
            StreamEvent {
                id,
                name: name.to_owned(),
                data,
            }
        })
        .collect()
}
