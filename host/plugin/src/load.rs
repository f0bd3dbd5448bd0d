//! Finding and loading plugin files.
//!
//! Loading a plugin reads its file once, in chunks, to digest it (the digest
//! is recorded with every checkpoint the node produces); on a cache hit that
//! is all it reads: the compiled code is mapped from the cache and
//! `describe()`'s answer comes from beside it, so nothing is instantiated. On
//! a miss the file is read again, compiled, described, and both are cached.
//! A large component is compiled by Winch first, then by Cranelift in the
//! background (see `tier.rs`); a cache that holds Cranelift's code serves it.
//!
//! Compiling is the costliest thing the host does with a plugin file, and
//! waits in a pool of its own (`compile.rs`); `describe()` is called at most
//! once per component digest in a process (`describe.rs`).
//!
//! A plugin file is read only if it is a regular file, opened without
//! blocking (a FIFO, a directory, a device or a kernel file under /proc or
//! /sys is refused with a message saying what it is), and every read runs on
//! a blocking thread with a time limit ([`READ_TIMEOUT`]): a file whose read
//! hangs in the kernel (a hung FUSE or NFS mount) is reported as unreadable
//! and skipped, and nothing waits for that thread again (see [`off_thread`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use savepoint_base::metrics::{COMPILE_SECONDS, Histogram, HistogramSnapshot};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{self, NodePre};
use super::budget::{MemoryBudget, MemoryUse};
use super::cache::{CompileCache, Pruned};
use super::call::{Code, Instances};
use super::compile::{
    COMPILES, CompileNotice, Compiled, Lookup, NOTICE_AFTER, Opened, compile_bytes, look_up,
};
use super::describe::Described;
use super::engine::{self, Compiler, Engines, WINCH_FROM};
use super::file::{
    DEFAULT_MAX_COMPONENT_SIZE, check_header, check_size, off_thread, plugin_name,
    read_plugin_file, scan_dir,
};
use super::pool::{IDLE_PER_KEY, IDLE_TOTAL};
use super::sandbox::NodeState;
use super::tier::{Optimizer, Slots, Slotted};
use super::{Plugin, PluginError};

/// How often idle warm instances are checked for expiry.
const IDLE_SWEEP: Duration = Duration::from_secs(1);
/// Plugin files loaded at once by one listing (`savepoint plugins`, `GET
/// /plugins`) or one scan of the watcher: a `describe()` that loops costs its
/// 2 s timeout, so N such files cost about N/4 timeouts, not N, one after
/// another. Compiles still wait for one another ([`COMPILES`]); what overlaps
/// is reading, the cache, and `describe()` (epoch-limited, so a loop holds a
/// thread for at most its timeout).
pub const LOADS: usize = 4;

/// Which compiler compiles a component first, and whether Cranelift follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiering {
    /// Components of `from` bytes or more: Winch first, then Cranelift in the
    /// background, swapped in when done (the default, from [`WINCH_FROM`]).
    WinchFirst { from: u64 },
    /// Cranelift only (what hosts did before Winch; to measure against).
    CraneliftOnly,
    /// Components of `from` bytes or more: Winch only, never swapped (to
    /// measure Winch's code).
    WinchOnly { from: u64 },
}

impl Tiering {
    /// The compiler that compiles a component of `bytes` bytes first.
    fn first(self, bytes: u64) -> Compiler {
        match self {
            Tiering::WinchFirst { from } | Tiering::WinchOnly { from } if bytes >= from => {
                Compiler::Winch
            }
            _ => Compiler::Cranelift,
        }
    }
}

/// The wasmtime engines, the linkers with the host's imports, the compile
/// cache, and the instance slots. Cheap to clone; one per process.
#[derive(Clone)]
pub struct PluginHost {
    pub(super) engines: Engines,
    /// Cranelift's linker, and Winch's (a linker belongs to one engine).
    pub(super) linkers: Arc<[Linker<NodeState>; 2]>,
    pub(super) cache: CompileCache,
    pub(super) tiering: Tiering,
    /// The plugins that run Winch's code, by digest, for the swap.
    pub(super) slots: Arc<Slots<Code>>,
    /// Cranelift's compiles in the background.
    pub(super) optimizer: Arc<Optimizer>,
    pub(super) instances: Arc<Instances>,
    /// Plugin files (and stored components) larger than this are refused.
    pub(super) max_component_size: u64,
    /// The compile pool: one permit per compile running.
    pub(super) compiles: Arc<Semaphore>,
    pub(super) described: Arc<Described>,
    /// Told during each compile (a cache miss) that lasts longer than
    /// `notice_after`: the pause may be long.
    pub(super) notice: Option<CompileNotice>,
    pub(super) notice_after: Duration,
    /// How long each compile took (the metrics' component compile time).
    pub(super) compile_times: Arc<Histogram>,
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
        let engines = Engines::new()?;
        let linker = |engine: &Engine| -> wasmtime::Result<Linker<NodeState>> {
            let mut linker = Linker::new(engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
            bindings::add_to_linker(&mut linker)?;
            Ok(linker)
        };
        let linkers = [
            linker(engines.get(Compiler::Cranelift))?,
            linker(engines.get(Compiler::Winch))?,
        ];
        for compiler in [Compiler::Cranelift, Compiler::Winch] {
            super::ticker::start(engines.get(compiler));
        }
        let cache = CompileCache::new(&engines, cache_dir);
        Ok(PluginHost {
            engines,
            linkers: Arc::new(linkers),
            cache,
            tiering: Tiering::WinchFirst { from: WINCH_FROM },
            slots: Arc::default(),
            optimizer: Arc::default(),
            instances: instances(MemoryBudget::new(None)),
            max_component_size: DEFAULT_MAX_COMPONENT_SIZE,
            compiles: Arc::new(Semaphore::new(COMPILES)),
            described: Arc::default(),
            notice: None,
            notice_after: NOTICE_AFTER,
            compile_times: Arc::new(Histogram::new(COMPILE_SECONDS)),
        })
    }

    /// Call `notice` (`None`: nothing) during each compile of a plugin whose
    /// compiled code is not in the cache, once it has taken [`NOTICE_AFTER`];
    /// never for a cache hit, nor for the background compile.
    pub fn with_compile_notice(mut self, notice: Option<CompileNotice>) -> PluginHost {
        self.notice = notice;
        self
    }

    /// Tell the compile notice after `after` instead of [`NOTICE_AFTER`].
    pub fn with_notice_after(mut self, after: Duration) -> PluginHost {
        self.notice_after = after;
        self
    }

    /// Compile large components with Winch first or not (see [`Tiering`]).
    pub fn with_tiering(mut self, tiering: Tiering) -> PluginHost {
        self.tiering = tiering;
        self
    }

    /// The linker of `compiler`'s engine.
    pub(super) fn linker(&self, compiler: Compiler) -> &Linker<NodeState> {
        match compiler {
            Compiler::Cranelift => &self.linkers[0],
            Compiler::Winch => &self.linkers[1],
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

    /// How long the compiles of this host took so far (cache misses only).
    pub fn compile_times(&self) -> HistogramSnapshot {
        self.compile_times.snapshot()
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
            Ok(compiled) => {
                let digest = compiled.digest.clone();
                let plugin = self.plugin(&name, path, compiled).await;
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
        let (engines, cache, file) = (self.engines.clone(), self.cache.clone(), path.to_path_buf());
        let limit = self.max_component_size;
        let join_error = |e: tokio::task::JoinError| {
            let reason = e.to_string();
            let path = path.to_path_buf();
            (None, PluginError::Compile { path, reason })
        };
        // Digesting and compiling are CPU work of up to seconds: keep them
        // off the executor. Reading the file may hang (a hung mount): only
        // that is given a time limit, not the compile.
        let read = move || look_up(&engines, &cache, &file, limit);
        let digest = match off_thread(path, read).await.map_err(|e| (None, e))?? {
            Lookup::Cached(digest, compiler, component) => {
                return Ok(Compiled {
                    digest,
                    compiler,
                    component,
                    bytes: None,
                });
            }
            Lookup::Miss(digest) => digest,
        };
        // Read the file again to compile it (seconds for an interpreter, next
        // to which reading and hashing it twice is nothing). Should it have
        // changed in between, the digest of the bytes compiled is the one kept.
        let bytes = read_plugin_file(path, limit)
            .await
            .map_err(|error| (Some(digest), error))?;
        let size = bytes.len();
        let compiler = self.tiering.first(size as u64);
        let (file, bytes) = (path.to_path_buf(), Arc::new(bytes));
        let kept = bytes.clone();
        let compile = move |engines: &Engines, cache: &CompileCache| {
            compile_bytes(engines, compiler, cache, &file, &kept)
        };
        let name = plugin_name(path);
        let (digest, component) = self
            .compile((&name, path), size, compiler, compile)
            .await
            .map_err(join_error)??;
        Ok(Compiled {
            digest,
            compiler,
            component,
            bytes: Some(bytes),
        })
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
        let (engines, cache, key) = (self.engines.clone(), self.cache.clone(), digest.to_owned());
        let cached =
            tokio::task::spawn_blocking(move || super::compile::cached(&engines, &cache, &key))
                .await
                .map_err(join_error)?;
        let compiled = match cached {
            Some((compiler, component)) => Compiled {
                digest: digest.to_owned(),
                compiler,
                component,
                bytes: bytes.map(Arc::new),
            },
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
                let (size, key) = (bytes.len(), digest.to_owned());
                let compiler = self.tiering.first(size as u64);
                let bytes = Arc::new(bytes);
                let kept = bytes.clone();
                let compile = move |engines: &Engines, cache: &CompileCache| {
                    let component = cache.compile(engines, compiler, &key, &kept)?;
                    Ok::<_, wasmtime::Error>((key, component))
                };
                let (_, component) = self
                    .compile((name, path), size, compiler, compile)
                    .await
                    .map_err(join_error)?
                    .map_err(|e| compile_error(format!("{e:#}")))?;
                Compiled {
                    digest: digest.to_owned(),
                    compiler,
                    component,
                    bytes: Some(bytes),
                }
            }
        };
        self.plugin(name, path, compiled).await
    }

    /// The plugin of a compiled component: link it (refusing another world)
    /// and learn what it says about itself. Its code is shared with the other
    /// loads of the version that run Winch's; Winch's code new here has its
    /// Cranelift compile queued (see `tier.rs`).
    async fn plugin(
        &self,
        name: &str,
        path: &Path,
        compiled: Compiled,
    ) -> Result<Plugin, PluginError> {
        let digest = compiled.digest.as_str();
        let slot = match self.slots.get(digest) {
            // Cranelift's code, cached by another process, for a version
            // this one still runs on Winch's: swapped in now.
            Some(slot)
                if compiled.compiler == Compiler::Cranelift
                    && slot.current().compiler == Compiler::Winch =>
            {
                slot.swap(Code {
                    compiler: compiled.compiler,
                    engine: self.engines.get(compiled.compiler).clone(),
                    pre: self.pre(path, compiled.compiler, &compiled.component)?,
                });
                slot
            }
            Some(slot) => slot,
            None => {
                let code = Code {
                    compiler: compiled.compiler,
                    engine: self.engines.get(compiled.compiler).clone(),
                    pre: self.pre(path, compiled.compiler, &compiled.component)?,
                };
                match self.slots.slot(digest, || code) {
                    Slotted::Shared(slot) => slot,
                    Slotted::New { slot, optimize } => {
                        if optimize {
                            self.optimize_later(name, path, digest, compiled.bytes);
                        }
                        slot
                    }
                }
            }
        };
        let info = self
            .describe(digest, &slot.current())
            .await
            .map_err(|reason| PluginError::Describe {
                path: path.to_path_buf(),
                reason,
            })?;
        let wit = slot.current().pre.version();
        Ok(Plugin {
            name: name.to_string(),
            path: path.to_path_buf(),
            digest: digest.to_string(),
            info,
            wit,
            code: slot,
            instances: self.instances.clone(),
        })
    }

    /// Link the component's imports and find its exports: this is where a
    /// component of another world is refused.
    pub(super) fn pre(
        &self,
        path: &Path,
        compiler: Compiler,
        component: &Component,
    ) -> Result<NodePre, PluginError> {
        link(self.linker(compiler), path, component)
    }

    /// Load every `*.wasm` file of `dir`, [`LOADS`] at a time, and list them
    /// in name order. A file that fails to load is reported in its
    /// [`PluginLoad`] and does not stop the others.
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<PluginLoad>> {
        let paths = scan_dir(dir)?;
        Ok(at_most(LOADS, paths, |path| async move { self.load(&path).await }).await)
    }
}

/// Link `component`'s imports with `linker` and find its exports: this is
/// where a component of another world is refused.
pub(super) fn link(
    linker: &Linker<NodeState>,
    path: &Path,
    component: &Component,
) -> Result<NodePre, PluginError> {
    let wrong_world = |e: wasmtime::Error| PluginError::WrongWorld {
        path: path.to_path_buf(),
        reason: format!("{e:#}"),
    };
    let instance_pre = linker.instantiate_pre(component).map_err(wrong_world)?;
    NodePre::new(instance_pre).map_err(wrong_world)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

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
}
