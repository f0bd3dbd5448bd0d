//! Wake-ups between hosts: a task that LISTENs on `savepoint_work` on a connection of its
//! own and bumps a `watch` channel at every notice, so that an idle daemon looks for work
//! at once when another host creates, answers, resumes or releases a run (the writer
//! sends the NOTIFY in the same transaction). Polling stays the fallback: a notice lost
//! while the connection was down is made up for by one bump after reconnecting.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// The channel every savepoint host listens on and notifies.
pub(super) const CHANNEL: &str = "savepoint_work";

/// Starts the listener; the receiver changes at every notice. The task ends when every
/// receiver is gone.
pub(super) fn listen(config: Config) -> watch::Receiver<u64> {
    let (notices, receiver) = watch::channel(0u64);
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
    receiver
}

/// Listens until the connection ends; whether it was made at all.
async fn listen_once(config: &Config, notices: &watch::Sender<u64>) -> bool {
    let Ok((client, mut connection)) = config.connect(NoTls).await else {
        return false;
    };
    let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN to complete and for notices to arrive.
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if messages_tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    if client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .is_err()
    {
        driver.abort();
        return true;
    }
    // Notices sent while nobody listened are lost: look once.
    notices.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        tokio::select! {
            got = messages.recv() => match got {
                Some(()) => notices.send_modify(|n| *n = n.wrapping_add(1)),
                None => break,
            },
            _ = notices.closed() => break,
        }
    }
    driver.abort();
    drop(client);
    true
}
