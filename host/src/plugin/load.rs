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
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{Node, NodePre};
use super::budget::{MemoryBudget, MemoryUse};
use super::cache::CompileCache;
use super::call::{self, DescribeError, Instances};
use super::engine;
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
/// A plugin-file read (or `stat`) that has not returned after this long is
/// given up: the file is reported as unreadable and skipped. Reading a local
/// file of the largest size allowed takes well under a second; past this the
/// file is on a hung mount or is a special file that blocks.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time while digesting a plugin file.
const CHUNK: usize = 256 << 10;
/// The largest plugin file loaded when the command line does not say
/// (`--max-component-size`): the biggest interpreter components we build are
/// 12 MB (JavaScript) and 18.5 MB (Python).
pub const DEFAULT_MAX_COMPONENT_SIZE: u64 = 64 << 20;
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
}

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
        })
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
                if crate::digest::sha256(&bytes) != digest {
                    return Err(compile_error(format!(
                        "the stored bytes of {digest} do not have that digest"
                    )));
                }
                check_header(path, &bytes)?;
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
    let digest = crate::digest::sha256(&bytes);
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

/// A plugin file's size is at most `limit`: a file over it is refused before
/// it is read (a sparse 3 GiB file would otherwise be read whole).
fn check_size(path: &Path, size: u64, limit: u64) -> Result<(), PluginError> {
    if size > limit {
        return Err(PluginError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    Ok(())
}

/// Open a plugin file whose size is at most `limit` (checked before reading).
///
/// Only a regular file is a plugin: the file is opened without blocking (a
/// FIFO with no writer would block `open` itself), then what was opened is
/// checked, so a link cannot swap it in between. A kernel file under /proc
/// or /sys says it is regular (of size 0) but its reads may block for ever
/// (`/proc/kmsg`), so those are refused too.
fn open_bounded(path: &Path, limit: u64) -> Result<std::fs::File, PluginError> {
    let io = |source| PluginError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let not_a_file = |kind: &'static str| PluginError::NotAFile {
        path: path.to_path_buf(),
        kind,
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(not_a_file(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }));
    }
    if let Some(kind) = kernel_file_system(&file) {
        return Err(not_a_file(kind));
    }
    check_size(path, meta.len(), limit)?;
    Ok(file)
}

/// What kind of kernel interface `file` is on, if it is on procfs or sysfs.
fn kernel_file_system(file: &std::fs::File) -> Option<&'static str> {
    use std::os::fd::AsRawFd;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: the descriptor is open for the call, and `fs` is a statfs
    // buffer the kernel fills (read only when the call succeeds).
    let fs = unsafe {
        if libc::fstatfs(file.as_raw_fd(), fs.as_mut_ptr()) != 0 {
            return None;
        }
        fs.assume_init()
    };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    match i64::from(fs.f_type) {
        PROC_SUPER_MAGIC => Some("a kernel file on procfs, whose reads may block"),
        SYSFS_MAGIC => Some("a kernel file on sysfs, whose reads may block"),
        _ => None,
    }
}

/// Plugin-file reads that outlived [`READ_TIMEOUT`] and have not returned
/// yet, per path: a file stays refused at once while one is, so a file that
/// hangs ties up one thread, not one per scan or request.
static STUCK: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

/// Run `read` (a read or `stat` of the plugin file `path`) on a blocking
/// thread and wait for it at most [`READ_TIMEOUT`]. Past that the file is
/// reported as unreadable and the thread is left to finish on its own
/// (nothing waits for it, shutdown included): a read stuck in the kernel
/// cannot be cancelled.
pub(crate) async fn off_thread<T: Send + 'static>(
    path: &Path,
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PluginError> {
    within(path, READ_TIMEOUT, read).await
}

async fn within<T: Send + 'static>(
    path: &Path,
    limit: Duration,
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PluginError> {
    let stuck = || STUCK.lock().unwrap_or_else(PoisonError::into_inner);
    let unreadable = |earlier| PluginError::ReadTimedOut {
        path: path.to_path_buf(),
        after: limit,
        earlier,
    };
    if stuck()
        .as_ref()
        .is_some_and(|reads| reads.contains_key(path))
    {
        return Err(unreadable(true));
    }
    // Whether the read finished, and whether it was given up: both only
    // changed with STUCK locked, so the count is right whichever comes first.
    let state = Arc::new(Mutex::new((false, false)));
    let (task_state, file) = (state.clone(), path.to_path_buf());
    let task = tokio::task::spawn_blocking(move || {
        let result = read();
        let mut reads = stuck();
        let mut state = task_state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = true;
        if state.1
            && let Some(map) = reads.as_mut()
            && let Some(count) = map.get_mut(&file)
        {
            *count -= 1;
            if *count == 0 {
                map.remove(&file);
            }
        }
        result
    });
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(join)) => Err(PluginError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(join),
        }),
        Err(_elapsed) => {
            let mut reads = stuck();
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.0 {
                state.1 = true;
                *reads
                    .get_or_insert_with(HashMap::new)
                    .entry(path.to_path_buf())
                    .or_default() += 1;
            }
            Err(unreadable(false))
        }
    }
}

/// The bytes of a plugin file of at most `limit` bytes, read off the async
/// threads with a time limit (see [`off_thread`]).
pub async fn read_plugin_file(path: &Path, limit: u64) -> Result<Vec<u8>, PluginError> {
    let file = path.to_path_buf();
    off_thread(path, move || read_file(&file, limit)).await?
}

/// The bytes of a plugin file of at most `limit` bytes; a file that grows
/// past it while it is read is refused too.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, PluginError> {
    let file = open_bounded(path, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| PluginError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    check_size(path, bytes.len() as u64, limit)?;
    Ok(bytes)
}

/// `sha256:<hex>` of a plugin file of at most `limit` bytes, read in chunks,
/// and its first 8 bytes (or fewer).
fn digest_file(path: &Path, limit: u64) -> Result<(String, Vec<u8>), PluginError> {
    let mut file = open_bounded(path, limit)?;
    let mut hasher = Sha256::new();
    let mut header = Vec::with_capacity(8);
    let mut buffer = vec![0; CHUNK];
    let mut size: u64 = 0;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                let path = path.to_path_buf();
                return Err(PluginError::Io { path, source });
            }
        };
        size += n as u64;
        check_size(path, size, limit)?;
        let want = 8 - header.len();
        header.extend_from_slice(&buffer[..n.min(want)]);
        hasher.update(&buffer[..n]);
    }
    Ok((crate::digest::finish(hasher), header))
}

fn check_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let not = |reason: &str| PluginError::NotAComponent {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.is_empty() {
        return Err(not("the file is empty"));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not("it does not start with the WebAssembly magic bytes"));
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(not(
            "it is a core WebAssembly module; build for the wasm32-wasip2 target \
             (or wrap it with `wasm-tools component new`)",
        )),
        _ => Err(not("unknown WebAssembly version or layer")),
    }
}

/// The plugin name of a file: its name without `.wasm`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The plugin names (file stems) of a plugins folder, sorted.
pub fn plugin_names(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(scan_dir(dir)?
        .iter()
        .map(|path| plugin_name(path))
        .collect())
}

/// The `*.wasm` entries of a plugins folder, sorted by name: whatever they
/// are (nothing is opened or followed here), so that one that is not a file
/// is reported when it is loaded, not skipped without a word.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
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
