//! What a component says about itself (`describe()`), remembered per digest.
//!
//! `describe()` is called at most once per component digest in a process,
//! whatever it answers: a failure (a trap, a loop stopped by its timeout, an
//! answer too big) is remembered too, so a broken plugin costs one timeout,
//! not one per run attempt. A failure is not written to the compile cache
//! (an answer is): a timeout measures wall time, and a slow moment (a loaded
//! machine, a stalled host) must not make a good plugin unusable in every
//! later process. The cost across processes is bounded instead by loading a
//! folder's files [`LOADS`](crate::LOADS) at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::NodeInfo;
use super::call::{self, Code, DescribeError};
use super::load::PluginHost;

/// A `describe()` that takes longer than this (instantiation included) makes
/// the plugin unusable, for the process (the answer is remembered per
/// digest). Compiling is done before; instantiating maps a copy-on-write
/// memory image, and interpreter components (Python, JavaScript) start from
/// a snapshot taken at build time, so an honest `describe()` takes
/// milliseconds: 2 s leaves room for a loaded machine, and a loop costs 2 s.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What `describe()` answered, per component digest, a failure too: one
/// call per digest, even when several loads of it start at once. A full
/// instance pool is the one failure not remembered (a later try can work).
#[derive(Debug, Default)]
pub(super) struct Described(Mutex<HashMap<String, Arc<Answer>>>);

/// `describe()`'s answer for one digest, once there is one.
type Answer = tokio::sync::OnceCell<Result<NodeInfo, String>>;

impl Described {
    /// The answer for `digest`: remembered, or from `describe` (called only
    /// when there is none).
    async fn answer<F>(&self, digest: &str, describe: F) -> Result<NodeInfo, String>
    where
        F: Future<Output = Result<NodeInfo, DescribeError>>,
    {
        let cell = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(digest.to_string())
            .or_default()
            .clone();
        let answer = cell
            .get_or_try_init(|| async {
                match describe.await {
                    Ok(info) => Ok(Ok(info)),
                    Err(DescribeError::Component(reason)) => Ok(Err(reason)),
                    Err(DescribeError::PoolExhausted(reason)) => Err(reason),
                }
            })
            .await?;
        answer.clone()
    }
}

impl PluginHost {
    /// What component `digest` says about itself: from the disk cache, from
    /// this process's earlier answer, or by calling `describe()` (once per
    /// digest; a full instance pool is the one failure not remembered).
    pub(super) async fn describe(&self, digest: &str, code: &Code) -> Result<NodeInfo, String> {
        if let Some(info) = self.cache.info(digest) {
            return Ok(info);
        }
        let describe = async {
            // The default limits, within the memory budget.
            let mut limits = super::CallLimits::default();
            if let Some(budget) = self.instances.budget() {
                limits.memory = limits
                    .memory
                    .min(usize::try_from(budget).unwrap_or(usize::MAX));
            }
            let room = self
                .instances
                .room(limits.memory as u64)
                .await
                .map_err(|over| {
                    DescribeError::Component(format!(
                        "the host's memory budget ({}) has no room for it",
                        savepoint_base::units::format_size(over.budget)
                    ))
                })?;
            let info =
                call::describe(&code.engine, &code.pre, &limits, room, DESCRIBE_TIMEOUT).await?;
            self.cache.store_info(digest, &info);
            Ok(info)
        };
        self.described.answer(digest, describe).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn info() -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            version: "1".into(),
            description: String::new(),
            config_schema: None,
        }
    }

    /// Ask `described` for `digest` with a `describe()` that answers
    /// `answer`, counting the calls.
    async fn ask(
        described: &Described,
        calls: &AtomicUsize,
        digest: &str,
        answer: Result<NodeInfo, DescribeError>,
    ) -> Result<NodeInfo, String> {
        described
            .answer(digest, async {
                calls.fetch_add(1, Ordering::SeqCst);
                answer
            })
            .await
    }

    #[tokio::test]
    async fn describe_is_called_once_per_digest_whatever_it_answers() {
        let described = Described::default();
        let calls = AtomicUsize::new(0);
        let looping = || Err(DescribeError::Component("did not return within 2s".into()));
        for _ in 0..3 {
            let answer = ask(&described, &calls, "sha256:aa", looping()).await;
            assert_eq!(answer, Err("did not return within 2s".to_string()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a failure is remembered");
        for _ in 0..3 {
            assert_eq!(
                ask(&described, &calls, "sha256:bb", Ok(info())).await,
                Ok(info())
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "an answer is remembered");
    }

    #[tokio::test]
    async fn a_full_pool_is_not_remembered() {
        let described = Described::default();
        let calls = AtomicUsize::new(0);
        let full = Err(DescribeError::PoolExhausted("full".into()));
        assert_eq!(
            ask(&described, &calls, "sha256:aa", full).await,
            Err("full".to_string())
        );
        assert_eq!(
            ask(&described, &calls, "sha256:aa", Ok(info())).await,
            Ok(info())
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
