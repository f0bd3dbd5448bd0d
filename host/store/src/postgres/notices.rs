//! Wake-ups between hosts: a task that LISTENs on `savepoint_work` on a connection of its
//! own and bumps a `watch` channel at every notice, so that an idle daemon looks for work
//! at once when another host creates, answers, resumes or releases a run (the writer
//! sends the NOTIFY in the same transaction). Polling stays the fallback: a notice lost
//! while the connection was down is made up for by one bump after reconnecting.
//!
//! The same connection LISTENs on `savepoint_events`, which every transaction that adds
//! events notifies (see `events`): each host's event streams wake at every host's events.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// The channel every savepoint host listens on and notifies when a run became runnable.
pub(super) const CHANNEL: &str = "savepoint_work";

/// The channel notified by every transaction that added events.
pub(super) const EVENTS_CHANNEL: &str = "savepoint_events";

/// The two kinds of wake-up, each a `watch` that changes at every notice.
pub(super) struct Notices {
    pub(super) work: watch::Sender<u64>,
    pub(super) events: watch::Sender<u64>,
}

impl Notices {
    fn bump(sender: &watch::Sender<u64>) {
        sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether nobody listens any more: the store and all its clones are gone.
    fn is_closed(&self) -> bool {
        self.work.is_closed() && self.events.is_closed()
    }

    async fn closed(&self) {
        tokio::join!(self.work.closed(), self.events.closed());
    }
}

/// Starts the listener; the receivers change at every notice of their channel. The task
/// ends when every receiver is gone.
pub(super) fn listen(config: Config) -> (watch::Receiver<u64>, watch::Receiver<u64>) {
    let (work, work_rx) = watch::channel(0u64);
    let (events, events_rx) = watch::channel(0u64);
    let notices = Notices { work, events };
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while !notices.is_closed() {
            if listen_once(&config, &notices).await {
                backoff = Duration::from_millis(100);
            }
            // The connection broke or could not be made: try again, less often while
            // the server stays away.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    });
    (work_rx, events_rx)
}

/// Listens until the connection ends; whether it was made at all.
async fn listen_once(config: &Config, notices: &Notices) -> bool {
    let Ok((client, mut connection)) = config.connect(NoTls).await else {
        return false;
    };
    let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN to complete and for notices to arrive.
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    let events = notice.channel() == EVENTS_CHANNEL;
                    if messages_tx.send(events).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    if client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {EVENTS_CHANNEL}"))
        .await
        .is_err()
    {
        driver.abort();
        return true;
    }
    // Notices sent while nobody listened are lost: look once.
    Notices::bump(&notices.work);
    Notices::bump(&notices.events);
    loop {
        tokio::select! {
            got = messages.recv() => match got {
                Some(true) => Notices::bump(&notices.events),
                Some(false) => Notices::bump(&notices.work),
                None => break,
            },
            _ = notices.closed() => break,
        }
    }
    driver.abort();
    drop(client);
    true
}
