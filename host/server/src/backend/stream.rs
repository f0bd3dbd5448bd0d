//! [`Backend::subscribe`](crate::api::Backend::subscribe): the event streams of the API
//! over a [`Follower`] of the store (every run's: shared, `hub`). The daemon's own commits wake them through the
//! store's notices (on Postgres, every host's); [`TICK`] covers writers that send none.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::hub::Hub;
use crate::api::{ApiError, EventStream, StreamEvent, Subscribe};
use crate::follow::{
    Followed, Follower, Position, Reading, Until, event_json, event_name, log_json,
};
use savepoint_runtime::RuntimeError;
use savepoint_store::{CheckpointStore, EventFilter};

/// How long a stream waits for a notice before it looks again anyway: another process
/// writing the same SQLite file (a CLI `resume`) sends this one none.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// The stream `subscribe` asks for, on `store`. A run's: 404 when there is no such run
/// (before the stream starts); from its first event, or after `Last-Event-ID`; it ends
/// once the run has finished and everything is sent. Every run's: from now, or after
/// `Last-Event-ID`; endless.
pub(crate) async fn subscribe<S: CheckpointStore + Clone>(
    store: S,
    hub: &Hub,
    subscribe: Subscribe,
) -> Result<EventStream, ApiError> {
    let last = match &subscribe.last_event_id {
        Some(id) => Some(Position::parse(id).ok_or_else(|| {
            ApiError::usage(format!("Last-Event-ID {id:?} is not an id of this stream"))
        })?),
        None => None,
    };
    // An id past the newest event was never sent by this database (one replaced since,
    // or a made-up id): going on after it would send nothing, silently.
    if let (Some(last), Some(id)) = (last, &subscribe.last_event_id) {
        let newest = store.last_event_id().await.map_err(RuntimeError::from)?;
        if last.event > newest {
            return Err(ApiError::usage(format!(
                "Last-Event-ID {id:?} is not an id of this stream: the newest event of \
                 the database is {newest}; reconnect without Last-Event-ID"
            )));
        }
    }
    let Some(thread) = subscribe.thread else {
        return hub
            .subscribe(store, subscribe.workflow, last.map(|last| last.event))
            .await;
    };
    store
        .existing_run(&thread)
        .await
        .map_err(RuntimeError::from)?;
    let filter = EventFilter {
        thread: Some(thread),
        workflow: None,
    };
    let follower = Follower::new(
        store,
        filter,
        Reading::EventsAndLogs,
        Until::Finished,
        last.unwrap_or_default(),
        TICK,
    );
    let batches = futures_util::stream::unfold(Some(follower), |follower| async move {
        let mut follower = follower?;
        let before = follower.position();
        match follower.next().await {
            Ok(Some(batch)) => Some((Ok(messages(batch, before)), Some(follower))),
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

/// A batch of a run's stream as messages, each with the id of where the stream is after
/// it (`E-L`).
fn messages(batch: Vec<Followed>, mut at: Position) -> Vec<StreamEvent> {
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
            StreamEvent {
                id: at.run_id(),
                name: name.to_owned(),
                data: data.to_string().into(),
            }
        })
        .collect()
}
