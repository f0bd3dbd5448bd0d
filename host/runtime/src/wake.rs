//! What ends the daemon scheduler's nap between two looks for due runs: a poke from this
//! process (it created, answered or freed a run), a work notice from the store (another
//! process did: Postgres's NOTIFY, [`CheckpointStore::work_notices`]), the poll (a sleeper
//! may be due; and the fallback for a backend with no notices, or a notice lost while the
//! store reconnected), or shutdown.
//!
//! [`CheckpointStore::work_notices`]: savepoint_store::CheckpointStore::work_notices

use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Why the scheduler woke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Woke {
    /// This process poked it.
    Poked,
    /// The store said that some process may have made a run runnable.
    Noticed,
    /// The nap ran out.
    Polled,
    /// The daemon stops.
    Shutdown,
}

/// Naps up to `nap` or until something else wakes the scheduler. A notice that came while
/// the scheduler was busy ends the next nap at once (a `watch` remembers that it changed),
/// so none is missed between two naps. When the store's notices end (its sender is gone),
/// `notices` becomes `None` and the poll alone wakes the scheduler.
pub(super) async fn nap(
    poke: &Notify,
    notices: &mut Option<watch::Receiver<u64>>,
    nap: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Woke {
    let noticed = async {
        if let Some(receiver) = notices.as_mut()
            && receiver.changed().await.is_ok()
        {
            return;
        }
        // No notices (any more): only the other wake-ups count.
        std::future::pending().await
    };
    let woke = tokio::select! {
        _ = poke.notified() => Woke::Poked,
        () = noticed => Woke::Noticed,
        _ = tokio::time::sleep(nap) => Woke::Polled,
        _ = shutdown.wait_for(|stop| *stop) => Woke::Shutdown,
    };
    if notices.as_ref().is_some_and(|n| n.has_changed().is_err()) {
        *notices = None;
    }
    woke
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longer than any test waits: a nap that ends is ended by something else.
    const LONG: Duration = Duration::from_secs(3600);

    /// A poke, a notices channel, and a shutdown that does not come (while its sender,
    /// the last part, lives).
    fn parts() -> (
        Notify,
        watch::Sender<u64>,
        watch::Receiver<bool>,
        watch::Sender<bool>,
    ) {
        let (stop, shutdown) = watch::channel(false);
        let (sender, _) = watch::channel(0);
        (Notify::new(), sender, shutdown, stop)
    }

    #[tokio::test]
    async fn a_notice_ends_the_nap_even_one_that_came_before_it() {
        let (poke, sender, mut shutdown, _stop) = parts();
        let mut notices = Some(sender.subscribe());
        sender.send_modify(|n| *n += 1);
        // Sent while the scheduler was busy claiming: the next nap ends at once.
        assert_eq!(
            nap(&poke, &mut notices, LONG, &mut shutdown).await,
            Woke::Noticed
        );
        let notify = tokio::spawn(async move {
            tokio::task::yield_now().await;
            sender.send_modify(|n| *n += 1);
            sender
        });
        assert_eq!(
            nap(&poke, &mut notices, LONG, &mut shutdown).await,
            Woke::Noticed
        );
        drop(notify.await.unwrap());
    }

    #[tokio::test]
    async fn without_notices_the_poll_wakes_it() {
        let (poke, sender, mut shutdown, _stop) = parts();
        let mut notices = Some(sender.subscribe());
        drop(sender);
        let short = Duration::from_millis(1);
        assert_eq!(
            nap(&poke, &mut notices, short, &mut shutdown).await,
            Woke::Polled
        );
        assert!(notices.is_none(), "a closed channel is dropped");
        assert_eq!(
            nap(&poke, &mut None, short, &mut shutdown).await,
            Woke::Polled
        );
        poke.notify_one();
        assert_eq!(
            nap(&poke, &mut None, LONG, &mut shutdown).await,
            Woke::Poked
        );
    }
}
