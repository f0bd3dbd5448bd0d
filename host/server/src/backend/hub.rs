//! Every run's event streams (`GET /events`), shared: one follower per workflow filter
//! reads the store and decodes each event once, and broadcasts the messages to every
//! stream of that filter. With a follower per stream, 100 dashboards cost the daemon 100
//! reads, decodes and encodings of each event, and its step loop 64-79% of its steps per
//! second (`bench/run --streams 100`, debug build).
//!
//! A stream first catches up by itself (after its `Last-Event-ID`, or from the newest
//! event when it opened) up to where the shared follower has broadcast, then forwards
//! the broadcasts, skipping what it already sent; a stream that falls behind the
//! broadcast's buffer catches up by itself again. Ids grow in commit order, so
//! "everything up to id N" is a position both sides agree on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc};

use super::stream::TICK;
use crate::api::{ApiError, EventStream, StreamEvent};
use crate::follow::{Followed, Follower, Position, Reading, Until, event_json, event_name};
use savepoint_runtime::RuntimeError;
use savepoint_store::{CheckpointStore, EventFilter, RunEvent};

/// Batches a stream may fall behind the broadcast before it catches up by itself
/// (a few in tests, which make it fall behind).
const BUFFER: usize = if cfg!(test) { 4 } else { 256 };

/// Events a stream reads at a time while it catches up.
const CATCH_UP: usize = 256;

/// The shared followers, by workflow filter; each lives while a stream uses it.
#[derive(Default)]
pub(crate) struct Hub {
    channels: Mutex<HashMap<Option<String>, Weak<Channel>>>,
}

/// One shared follower: what it broadcasts, and how far.
struct Channel {
    sender: broadcast::Sender<Arc<Vec<(u64, StreamEvent)>>>,
    /// Every event of the filter up to this id has been broadcast.
    sent_up_to: Arc<AtomicU64>,
    task: tokio::task::AbortHandle,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hub {
    /// Every run's events (of `workflow`) after `after` (from the newest when `None`).
    pub(crate) async fn subscribe<S: CheckpointStore + Clone>(
        &self,
        store: S,
        workflow: Option<String>,
        after: Option<u64>,
    ) -> Result<EventStream, ApiError> {
        let channel = self.channel(&store, &workflow).await?;
        let start = match after {
            Some(after) => after,
            None => channel.sent_up_to.load(Ordering::SeqCst),
        };
        let (messages, received) = mpsc::channel(BUFFER);
        let receiver = channel.sender.subscribe();
        let filter = EventFilter {
            thread: None,
            workflow,
        };
        tokio::spawn(forward(store, filter, channel, receiver, start, messages));
        // Batches through the channel (a wake-up of the response per batch, not per
        // event), one message at a time out of it.
        let stream = futures_util::stream::unfold(received, |mut received| async move {
            received.recv().await.map(|batch| (batch, received))
        })
        .flat_map(futures_util::stream::iter);
        Ok(Box::pin(stream))
    }

    /// The shared follower of `workflow`, started if there is none.
    async fn channel<S: CheckpointStore + Clone>(
        &self,
        store: &S,
        workflow: &Option<String>,
    ) -> Result<Arc<Channel>, ApiError> {
        if let Some(channel) = self.lookup(workflow) {
            return Ok(channel);
        }
        let newest = store.last_event_id().await.map_err(RuntimeError::from)?;
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(channel) = channels.get(workflow).and_then(Weak::upgrade) {
            return Ok(channel);
        }
        let (sender, _) = broadcast::channel(BUFFER);
        let sent_up_to = Arc::new(AtomicU64::new(newest));
        let filter = EventFilter {
            thread: None,
            workflow: workflow.clone(),
        };
        let follower = Follower::new(
            store.clone(),
            filter,
            Reading::Events,
            Until::Never,
            Position {
                event: newest,
                log: 0,
            },
            TICK,
        );
        let task = tokio::spawn(broadcast_all(
            follower,
            sender.clone(),
            Arc::clone(&sent_up_to),
        ));
        let channel = Arc::new(Channel {
            sender,
            sent_up_to,
            task: task.abort_handle(),
        });
        channels.retain(|_, channel| channel.strong_count() > 0);
        channels.insert(workflow.clone(), Arc::downgrade(&channel));
        Ok(channel)
    }

    fn lookup(&self, workflow: &Option<String>) -> Option<Arc<Channel>> {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        channels.get(workflow).and_then(Weak::upgrade)
    }
}

/// The shared follower: reads and broadcasts until aborted, or until the store fails
/// (then the streams wait: their clients see keep-alives, and a reconnect starts anew).
async fn broadcast_all<S: CheckpointStore>(
    mut follower: Follower<S>,
    sender: broadcast::Sender<Arc<Vec<(u64, StreamEvent)>>>,
    sent_up_to: Arc<AtomicU64>,
) {
    while let Ok(Some(batch)) = follower.next().await {
        let messages: Vec<(u64, StreamEvent)> = batch
            .into_iter()
            .filter_map(|followed| match followed {
                Followed::Event(event) => Some((event.id, message(&event))),
                Followed::Log { .. } => None,
            })
            .collect();
        // Said before it is sent: a stream that reads it and subscribes after the send
        // catches up to it by itself; one that subscribed before gets the batch too.
        sent_up_to.store(follower.position().event, Ordering::SeqCst);
        // Nobody listening is fine: a stream that subscribes later catches up first.
        let _ = sender.send(Arc::new(messages));
    }
}

fn message(event: &RunEvent) -> StreamEvent {
    StreamEvent {
        id: event.id.to_string(),
        name: event_name(event).to_owned(),
        data: event_json(event).to_string().into(),
    }
}

/// One stream: catches up by itself to the broadcast, then forwards it; ends when its
/// client is gone (`messages` closed).
async fn forward<S: CheckpointStore>(
    store: S,
    filter: EventFilter,
    channel: Arc<Channel>,
    mut receiver: broadcast::Receiver<Arc<Vec<(u64, StreamEvent)>>>,
    mut sent: u64,
    messages: mpsc::Sender<Vec<Result<StreamEvent, ApiError>>>,
) {
    loop {
        // Everything up to `target` was broadcast before the receiver's buffer starts
        // (or is in it): read up to there by ourselves.
        let target = channel.sent_up_to.load(Ordering::SeqCst);
        while sent < target {
            let events = match store.events_after(&filter, Some(sent), CATCH_UP).await {
                Ok(events) => events,
                Err(error) => {
                    let error = ApiError::from(RuntimeError::from(error));
                    let _ = messages.send(vec![Err(error)]).await;
                    return;
                }
            };
            let Some(last) = events.last().map(|event| event.id) else {
                // Nothing of the filter in (sent, target]: none was committed.
                sent = target;
                break;
            };
            let batch = events.iter().map(|event| Ok(message(event))).collect();
            if messages.send(batch).await.is_err() {
                return;
            }
            sent = last;
        }
        loop {
            match receiver.recv().await {
                Ok(batch) => {
                    let new: Vec<_> = batch
                        .iter()
                        .filter(|(id, _)| *id > sent)
                        .map(|(_, message)| Ok(message.clone()))
                        .collect();
                    let Some((last, _)) = batch.last() else {
                        continue;
                    };
                    if new.is_empty() {
                        continue;
                    }
                    if messages.send(new).await.is_err() {
                        return;
                    }
                    sent = sent.max(*last);
                }
                // Fell behind the buffer: catch up by ourselves again.
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use savepoint_store::{NewRun, SqliteStore, SystemClock};

    fn new_run(thread: &str) -> NewRun {
        NewRun {
            parent: None,
            thread: thread.to_owned(),
            workflow_name: "w".to_owned(),
            workflow_digest: "sha256:w".to_owned(),
            workflow_text: "name = \"w\"\n".to_owned(),
            workflow_path: "w.toml".to_owned(),
            input: Default::default(),
            next: vec!["a".to_owned()],
            lease: None,
            plugins: Default::default(),
            tags: Default::default(),
        }
    }

    /// A stream that does not read while more batches are broadcast than the buffers
    /// hold falls behind, catches up by itself, and still gets every event once, in order.
    #[tokio::test]
    async fn a_stream_that_fell_behind_gets_every_event_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db"), Arc::new(SystemClock)).unwrap();
        let hub = Hub::default();
        let mut stream = hub.subscribe(store.clone(), None, None).await.unwrap();
        // Each event a batch of its own: broadcast before the next commit.
        let channel = hub.lookup(&None).expect("the stream's channel");
        let runs = 4 * BUFFER;
        for n in 0..runs {
            store
                .create_run(new_run(&format!("run-{n}")))
                .await
                .unwrap();
            let newest = store.last_event_id().await.unwrap();
            while channel.sent_up_to.load(Ordering::SeqCst) < newest {
                tokio::task::yield_now().await;
            }
        }
        let mut ids = Vec::new();
        while ids.len() < runs {
            let message = stream.next().await.unwrap().unwrap();
            assert_eq!(message.name, "created");
            ids.push(message.id.parse::<u64>().unwrap());
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in order, once: {ids:?}"
        );
        let all = store
            .events_after(&EventFilter::default(), None, 10_000)
            .await
            .unwrap();
        assert_eq!(ids, all.iter().map(|e| e.id).collect::<Vec<_>>());
    }
}
