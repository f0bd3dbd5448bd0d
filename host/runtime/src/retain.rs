//! Retention (`savepoint serve --retain 30d`): finished runs (completed, failed,
//! cancelled) last updated longer ago than the retention are deleted in the background,
//! with everything only they refer to. Parked runs (sleeping, retrying, interrupted) are
//! never deleted, however old: they are waiting, not finished.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::travel::DeleteScope;
use super::{Runtime, RuntimeError};
use savepoint_store::CheckpointStore;

/// How often retention looks for old runs. Deleting is not urgent: a run kept a few
/// minutes past its retention costs only its rows, and each pass reads an index.
pub const RETAIN_EVERY: Duration = Duration::from_secs(300);

/// Runs deleted per listing: each run is deleted in bounded transactions of its own, so
/// this bounds only the listing's size.
const BATCH: usize = 100;

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retained {
    /// The runs deleted.
    pub deleted: Vec<String>,
    /// The runs that could not be deleted, with why (one that was resumed or edited in
    /// between is not finished any more).
    pub skipped: Vec<(String, String)>,
}

impl<S: CheckpointStore> Runtime<S> {
    /// Deletes every finished run last updated before `now - keep`, logging each.
    pub async fn retain_once(&self, keep: Duration) -> Result<Retained, RuntimeError> {
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let cutoff = self.clock.now_ms().saturating_sub(keep_ms);
        let mut retained = Retained::default();
        loop {
            let old = self.store.finished_before(cutoff, BATCH).await?;
            let listed = old.len();
            let mut progressed = false;
            for thread in old {
                if retained.skipped.iter().any(|(t, _)| *t == thread) {
                    continue;
                }
                match self.delete(&thread, DeleteScope::Finished).await {
                    Ok(_) => {
                        progressed = true;
                        retained.deleted.push(thread);
                    }
                    Err(error) => {
                        tracing::warn!(%thread, %error, "retention could not delete the run");
                        retained.skipped.push((thread, error.to_string()));
                    }
                }
            }
            // A short listing was the last; one of only skipped runs would repeat.
            if listed < BATCH || !progressed {
                return Ok(retained);
            }
        }
    }

    /// Runs [`Runtime::retain_once`] now and every [`RETAIN_EVERY`] until `stop` turns
    /// true (the daemon of `savepoint serve --retain`).
    pub async fn retain(self: Arc<Self>, keep: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            let pass = tokio::select! {
                pass = self.retain_once(keep) => pass,
                _ = stop.wait_for(|stop| *stop) => return,
            };
            match pass {
                // The message says it all: without RUST_LOG, `serve` prints messages only.
                Ok(retained) if !retained.deleted.is_empty() => tracing::info!(
                    deleted = retained.deleted.len(),
                    "retention deleted {} finished run(s) unchanged for {}: {}",
                    retained.deleted.len(),
                    savepoint_base::units::format_duration(keep),
                    retained.deleted.join(", ")
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention failed; it tries again later"),
            }
            tokio::select! {
                _ = tokio::time::sleep(RETAIN_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}
