//! Finding and loading plugin files.
//!
//! Loading a plugin reads its file once, in chunks, to digest it (the digest
//! is recorded with every checkpoint the node produces); on a cache hit that
//! is all it reads: the compiled code is mapped from the cache and
//! `describe()`'s answer comes from beside it, so nothing is instantiated. On
//! a miss the file is read again, compiled, described, and both are cached.
//!
//! A plugin file is untrusted input, and compiling is the costliest thing the
//! host does with one (a 12.9 MB component took ~60 s and 2.5 GB to compile),
//! so a file larger than the host's `--max-component-size` is refused before
//! a byte of it is read, and compiles wait for one another ([`COMPILES`] at
//! once): a storm of dropped files queues instead of taking every core and
//! the memory of one compile per file.
//!
//! A plugin file is read only if it is a regular file, opened without
//! blocking (a FIFO, a directory, a device or a kernel file under /proc or
//! /sys is refused with a message saying what it is), and every read runs on
//! a blocking thread with a time limit ([`READ_TIMEOUT`]): a file whose read
//! hangs in the kernel (a hung FUSE or NFS mount) is reported as unreadable
//! and skipped, and nothing waits for that thread again (see [`off_thread`]).
//!
//! `describe()` is called at most once per component digest in a process,
//! whatever it answers: a failure (a trap, a loop stopped by its timeout, an
//! answer too big) is remembered too, so a broken plugin costs one timeout,
//! not one per run attempt. A failure is not written to the compile cache
//! (an answer is): a timeout measures wall time, and a slow moment (a loaded
//! machine, a stalled host) must not make a good plugin unusable in every
//! later process. The cost across processes is bounded instead by loading a
//! folder's files [`LOADS`] at a time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{Node, NodePre};
use super::budget::{MemoryBudget, MemoryUse};
use super::cache::{CompileCache, Pruned};
use super::call::{self, DescribeError, Instances};
use super::engine;
use super::file::{
    DEFAULT_MAX_COMPONENT_SIZE, check_header, check_size, digest_file, off_thread, plugin_name,
    read_plugin_file, scan_dir,
};
use super::pool::{IDLE_PER_KEY, IDLE_TOTAL};
use super::sandbox::NodeState;
use super::{NodeInfo, Plugin, PluginError};

/// How often the epoch ticks: the granularity of timeouts, and how often a
/// busy guest yields to the async executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A `describe()` that takes longer than this (instantiation included) makes
/// the plugin unusable, for the process (the answer is remembered per
/// digest). Compiling is done before; instantiating maps a copy-on-write
/// memory image, and interpreter components (Python, JavaScript) start from
/// a snapshot taken at build time, so an honest `describe()` takes
/// milliseconds: 2 s leaves room for a loaded machine, and a loop costs 2 s.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often idle warm instances are checked for expiry.
const IDLE_SWEEP: Duration = Duration::from_secs(1);
/// Plugin files loaded at once by one listing (`savepoint plugins`, `GET
/// /plugins`) or one scan of the watcher: a `describe()` that loops costs its
/// 2 s timeout, so N such files cost about N/4 timeouts, not N, one after
/// another. Compiles still wait for one another ([`COMPILES`]); what overlaps
/// is reading, the cache, and `describe()` (epoch-limited, so a loop holds a
/// thread for at most its timeout).
pub const LOADS: usize = 4;
/// Compiles run at once, per process. Cranelift already compiles a
/// component's functions on every core, so a second compile at once gains
/// nothing on a small machine, and each compile may need hundreds of times
/// the component's size in memory.
pub const COMPILES: usize = 1;

/// The wasmtime engine, the linker with the host's imports, the compile
/// cache, and the instance slots. Cheap to clone; one per process.
#[derive(Clone)]
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<NodeState>>,
    cache: CompileCache,
    instances: Arc<Instances>,
    /// Plugin files (and stored components) larger than this are refused.
    max_component_size: u64,
    /// The compile pool: one permit per compile running.
    compiles: Arc<Semaphore>,
    described: Arc<Described>,
    /// Told before each compile (a cache miss): the pause may be long.
    notice: Option<CompileNotice>,
}

/// A compile about to start: the plugin's compiled code was not in the
/// compile cache. Compiling an interpreter component (Python, JavaScript)
/// takes seconds to tens of seconds, once per version and cache.
#[derive(Debug)]
pub struct Compiling<'a> {
    /// The plugin's name.
    pub name: &'a str,
    /// The component's size.
    pub bytes: u64,
    /// Where the compiled code is kept, or `None`: the host has no cache.
    pub cache: Option<&'a Path>,
}

/// What a [`PluginHost`] calls before each compile, to say why it pauses.
pub type CompileNotice = Arc<dyn Fn(&Compiling<'_>) + Send + Sync>;

/// What `describe()` answered, per component digest, a failure too: one
/// call per digest, even when several loads of it start at once. A full
/// instance pool is the one failure not remembered (a later try can work).
#[derive(Debug, Default)]
struct Described(Mutex<HashMap<String, Arc<Answer>>>);

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

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// The result of trying to load one file of the plugins folder.
#[derive(Debug)]
pub struct PluginLoad {
    pub name: String,
    pub path: PathBuf,
    /// Known whenever the file could be read.
    pub digest: Option<String>,
    pub result: Result<Plugin, PluginError>,
}

impl PluginHost {
    /// An engine with async calls, epoch interruption and the pooling
    /// allocator (see `engine.rs`), and a compile cache in `cache_dir`
    /// (`None`: compile every time).
    pub fn new(cache_dir: Option<PathBuf>) -> wasmtime::Result<PluginHost> {
        let engine = engine::new()?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Node::add_to_linker::<_, wasmtime::component::HasSelf<NodeState>>(&mut linker, |s| s)?;

        start_epoch_ticker(&engine);
        let cache = CompileCache::new(&engine, cache_dir);
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            cache,
            instances: instances(MemoryBudget::new(None)),
            max_component_size: DEFAULT_MAX_COMPONENT_SIZE,
            compiles: Arc::new(Semaphore::new(COMPILES)),
            described: Arc::default(),
            notice: None,
        })
    }

    /// Call `notice` (`None`: nothing) before each compile of a plugin whose
    /// compiled code is not in the cache; never for a cache hit.
    pub fn with_compile_notice(mut self, notice: Option<CompileNotice>) -> PluginHost {
        self.notice = notice;
        self
    }

    /// Say that plugin `name` (`bytes` long) is compiled now.
    fn compiling(&self, name: &str, bytes: usize) {
        if let Some(notice) = &self.notice {
            notice(&Compiling {
                name,
                bytes: bytes as u64,
                cache: self.cache.dir(),
            });
        }
    }

    /// Keep the linear memories of all live instances together within
    /// `bytes`: each instance reserves its node's whole `memory` limit first
    /// (see `budget.rs`). Without it there is no budget (one run in the
    /// foreground).
    pub fn with_memory_budget(mut self, bytes: u64) -> PluginHost {
        self.instances = instances(MemoryBudget::new(Some(bytes)));
        self
    }

    /// The memory budget, what live instances reserve of it, and how many
    /// calls wait for room.
    pub fn memory(&self) -> MemoryUse {
        self.instances.memory()
    }

    /// Refuse plugin files (and stored components) larger than `bytes`.
    pub fn with_max_component_size(mut self, bytes: u64) -> PluginHost {
        self.max_component_size = bytes;
        self
    }

    /// Read a whole plugin file (to store it), refusing one larger than the
    /// host's maximum component size before reading it.
    pub async fn read_component(&self, path: &Path) -> Result<Vec<u8>, PluginError> {
        read_plugin_file(path, self.max_component_size).await
    }

    /// Load one plugin file: digest it, check it is a component of the node
    /// world, compile it (or map it from the cache) and learn what
    /// `describe()` says (from the cache, or by calling it).
    pub async fn load(&self, path: &Path) -> PluginLoad {
        let name = plugin_name(path);
        let opened = self.open(path).await;
        let (digest, result) = match opened {
            Ok((digest, component)) => {
                let plugin = self.plugin(&name, path, &digest, &component).await;
                (Some(digest), plugin)
            }
            Err((digest, error)) => (digest, Err(error)),
        };
        PluginLoad {
            name,
            path: path.to_path_buf(),
            digest,
            result,
        }
    }

    /// Digest a plugin file, check its size and header, and get its compiled
    /// code: mapped from the cache, or compiled (in the compile pool) and
    /// cached.
    async fn open(&self, path: &Path) -> Opened {
        let (engine, cache, file) = (self.engine.clone(), self.cache.clone(), path.to_path_buf());
        let limit = self.max_component_size;
        let join_error = |e: tokio::task::JoinError| {
            let reason = e.to_string();
            let path = path.to_path_buf();
            (None, PluginError::Compile { path, reason })
        };
        // Digesting and compiling are CPU work of up to seconds: keep them
        // off the executor. Reading the file may hang (a hung mount): only
        // that is given a time limit, not the compile.
        let read = move || look_up(&engine, &cache, &file, limit);
        let digest = match off_thread(path, read).await.map_err(|e| (None, e))?? {
            Lookup::Cached(digest, component) => return Ok((digest, component)),
            Lookup::Miss(digest) => digest,
        };
        // Read the file again to compile it (seconds for an interpreter, next
        // to which reading and hashing it twice is nothing). Should it have
        // changed in between, the digest of the bytes compiled is the one kept.
        let bytes = read_plugin_file(path, limit)
            .await
            .map_err(|error| (Some(digest), error))?;
        self.compiling(&plugin_name(path), bytes.len());
        let _compiling = self.compile_permit().await;
        let (engine, cache, file) = (self.engine.clone(), self.cache.clone(), path.to_path_buf());
        tokio::task::spawn_blocking(move || compile_bytes(&engine, &cache, &file, bytes))
            .await
            .map_err(join_error)?
    }

    /// A place in the compile pool, held while compiling.
    async fn compile_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.compiles
            .acquire()
            .await
            .expect("the compile pool is never closed")
    }

    /// The bytes the compile cache's files take (0 without a cache).
    pub fn cache_size(&self) -> u64 {
        self.cache.size()
    }

    /// Deletes the compiled code (and `describe()` answers) of every component whose
    /// digest `keep` does not hold (none with `keep` `None`), and whatever other engines
    /// cached (see `CompileCache::prune`).
    pub fn prune_cache(
        &self,
        keep: Option<&std::collections::HashSet<String>>,
    ) -> std::io::Result<Pruned> {
        self.cache.prune(keep)
    }

    /// Whether the compiled code of component `digest` is in the compile cache
    /// (then [`PluginHost::load_stored`] needs no bytes).
    pub fn is_compiled(&self, digest: &str) -> bool {
        self.cache.has(digest)
    }

    /// Load a pinned version of plugin `name` by its digest, whatever the
    /// plugins folder holds now: the compiled code from the cache, else
    /// compiled from `bytes` (the stored component, which must have that
    /// digest). `path` is where the plugin's file is, for messages.
    pub async fn load_stored(
        &self,
        name: &str,
        path: &Path,
        digest: &str,
        bytes: Option<Vec<u8>>,
    ) -> Result<Plugin, PluginError> {
        let join_error = |e: tokio::task::JoinError| PluginError::Compile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let (engine, cache, key) = (self.engine.clone(), self.cache.clone(), digest.to_owned());
        let cached = tokio::task::spawn_blocking(move || cache.load(&engine, &key))
            .await
            .map_err(join_error)?;
        let compiled = match cached {
            Some(component) => component,
            None => {
                let compile_error = |reason: String| PluginError::Compile {
                    path: path.to_path_buf(),
                    reason,
                };
                let bytes = bytes.ok_or_else(|| {
                    compile_error(format!("the compiled code of {digest} is not cached"))
                })?;
                check_size(path, bytes.len() as u64, self.max_component_size)?;
                if savepoint_base::digest::sha256(&bytes) != digest {
                    return Err(compile_error(format!(
                        "the stored bytes of {digest} do not have that digest"
                    )));
                }
                check_header(path, &bytes)?;
                self.compiling(name, bytes.len());
                let _compiling = self.compile_permit().await;
                let (engine, cache, key) =
                    (self.engine.clone(), self.cache.clone(), digest.to_owned());
                tokio::task::spawn_blocking(move || cache.compile(&engine, &key, &bytes))
                    .await
                    .map_err(join_error)?
                    .map_err(|e| compile_error(format!("{e:#}")))?
            }
        };
        self.plugin(name, path, digest, &compiled).await
    }

    /// The plugin of a compiled component: link it (refusing another world)
    /// and learn what it says about itself.
    async fn plugin(
        &self,
        name: &str,
        path: &Path,
        digest: &str,
        component: &Component,
    ) -> Result<Plugin, PluginError> {
        let pre = self.pre(path, component)?;
        let info = self
            .describe(digest, &pre)
            .await
            .map_err(|reason| PluginError::Describe {
                path: path.to_path_buf(),
                reason,
            })?;
        Ok(Plugin {
            name: name.to_string(),
            path: path.to_path_buf(),
            digest: digest.to_string(),
            info,
            engine: self.engine.clone(),
            pre,
            instances: self.instances.clone(),
        })
    }

    /// What component `digest` says about itself: from the disk cache, from
    /// this process's earlier answer, or by calling `describe()` (once per
    /// digest; a full instance pool is the one failure not remembered).
    async fn describe(&self, digest: &str, pre: &NodePre<NodeState>) -> Result<NodeInfo, String> {
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
                        super::size_text(over.budget)
                    ))
                })?;
            let info = call::describe(&self.engine, pre, &limits, room, DESCRIBE_TIMEOUT).await?;
            self.cache.store_info(digest, &info);
            Ok(info)
        };
        self.described.answer(digest, describe).await
    }

    /// Link the component's imports and find its exports: this is where a
    /// component of another world is refused.
    fn pre(&self, path: &Path, component: &Component) -> Result<NodePre<NodeState>, PluginError> {
        let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
            path: path.to_path_buf(),
            reason: format!("{e:#}"),
        };
        let instance_pre = self
            .linker
            .instantiate_pre(component)
            .map_err(wrong_world)?;
        NodePre::new(instance_pre).map_err(wrong_world)
    }

    /// Load every `*.wasm` file of `dir`, [`LOADS`] at a time, and list them
    /// in name order. A file that fails to load is reported in its
    /// [`PluginLoad`] and does not stop the others.
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<PluginLoad>> {
        let paths = scan_dir(dir)?;
        Ok(at_most(LOADS, paths, |path| async move { self.load(&path).await }).await)
    }
}

/// A plugin file's digest and compiled code; or why there is none, with the
/// digest whenever the file could be read.
type Opened = Result<(String, Component), (Option<String>, PluginError)>;

/// What the compile cache holds for a plugin file.
enum Lookup {
    /// Its digest and compiled code.
    Cached(String, Component),
    /// Its digest; it needs compiling.
    Miss(String),
}

/// Digest a plugin file (refusing it if it is too large), check its header,
/// and map its compiled code from the cache if it is there.
fn look_up(
    engine: &Engine,
    cache: &CompileCache,
    path: &Path,
    limit: u64,
) -> Result<Lookup, (Option<String>, PluginError)> {
    let (digest, header) = digest_file(path, limit).map_err(|error| (None, error))?;
    if let Err(error) = check_header(path, &header) {
        return Err((Some(digest), error));
    }
    Ok(match cache.load(engine, &digest) {
        Some(component) => Lookup::Cached(digest, component),
        None => Lookup::Miss(digest),
    })
}

/// Compile the bytes of a plugin file that missed the cache and cache the
/// result.
fn compile_bytes(engine: &Engine, cache: &CompileCache, path: &Path, bytes: Vec<u8>) -> Opened {
    let digest = savepoint_base::digest::sha256(&bytes);
    if let Err(error) = check_header(path, &bytes) {
        return Err((Some(digest), error));
    }
    match cache.compile(engine, &digest, &bytes) {
        Ok(component) => Ok((digest, component)),
        Err(e) => {
            let reason = format!("{e:#}");
            let path = path.to_path_buf();
            Err((Some(digest), PluginError::Compile { path, reason }))
        }
    }
}

/// The instance slots and idle warm instances of a host with `budget`, and a
/// thread that drops idle instances unused for `pool::IDLE_FOR`, until they
/// are dropped.
fn instances(budget: MemoryBudget) -> Arc<Instances> {
    let slots = engine::INSTANCES as usize;
    let instances = Arc::new(Instances::new(slots, IDLE_PER_KEY, IDLE_TOTAL, budget));
    let weak = Arc::downgrade(&instances);
    std::thread::Builder::new()
        .name("savepoint-idle".into())
        .spawn(move || {
            while let Some(instances) = weak.upgrade() {
                let expired = instances.expire(std::time::Instant::now());
                drop(instances);
                drop(expired);
                std::thread::sleep(IDLE_SWEEP);
            }
        })
        .expect("spawn the idle instance sweeper thread");
    instances
}

/// `work` for each of `items`, at most `n` at once, the outputs in the
/// order of `items`.
pub async fn at_most<T, F, Fut>(n: usize, items: Vec<T>, work: F) -> Vec<Fut::Output>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(items)
        .map(work)
        .buffered(n.max(1))
        .collect()
        .await
}

/// Tick the engine's epoch until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("savepoint-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::file::{STUCK, within};
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

    /// Whether a read of `path` that outlived its limit is still running.
    fn is_stuck(path: &Path) -> bool {
        STUCK
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|reads| reads.contains_key(path))
    }

    #[tokio::test]
    async fn a_read_that_hangs_is_given_up_and_not_started_again_until_it_returns() {
        let path = Path::new("/plugins/hung-mount.wasm");
        let (release, hang) = std::sync::mpsc::channel::<()>();
        let limit = Duration::from_millis(50);
        // A read that blocks until the test releases it (a hung mount).
        let first = within(path, limit, move || hang.recv().is_ok()).await;
        let error = first.expect_err("given up past its limit").to_string();
        assert_eq!(
            error,
            "cannot read /plugins/hung-mount.wasm: reading it did not finish within 0s; \
             skipped (a hung network or FUSE mount, or a file that blocks?)"
        );
        assert!(is_stuck(path));
        // While it hangs, the file is refused at once, with no second thread.
        let started = Arc::new(AtomicUsize::new(0));
        let counted = started.clone();
        let again = within(path, limit, move || counted.fetch_add(1, Ordering::SeqCst)).await;
        assert!(
            again
                .expect_err("refused")
                .to_string()
                .contains("an earlier read has not returned"),
        );
        assert_eq!(started.load(Ordering::SeqCst), 0);
        // Other files are read as usual.
        assert_eq!(
            within(Path::new("/plugins/ok.wasm"), limit, || 7)
                .await
                .unwrap(),
            7
        );
        // Once it returns, the file is read again.
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while is_stuck(path) {
            assert!(
                std::time::Instant::now() < deadline,
                "the read never returned"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(within(path, limit, || 8).await.unwrap(), 8);
    }

    #[tokio::test]
    async fn loads_of_a_folder_overlap_up_to_loads_at_once_and_keep_their_order() {
        // Each "load" waits until LOADS of them have started (a looping
        // describe() each, waiting out its timeout): one at a time, the
        // first would wait for ever.
        let barrier = tokio::sync::Barrier::new(LOADS);
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let files: Vec<usize> = (0..3 * LOADS).collect();
        let work = |file: usize| {
            let (barrier, running, most) = (&barrier, &running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                barrier.wait().await;
                running.fetch_sub(1, Ordering::SeqCst);
                file * 10
            }
        };
        let loads = tokio::time::timeout(Duration::from_secs(30), at_most(LOADS, files, work))
            .await
            .expect("the loads overlap");
        assert_eq!(loads, (0..3 * LOADS).map(|f| f * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), LOADS, "at most LOADS at once");
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
