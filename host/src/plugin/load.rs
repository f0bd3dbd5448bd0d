//! Finding and loading plugin files.
//!
//! Loading a plugin reads its file once, in chunks, to digest it (the digest
//! is recorded with every checkpoint the node produces); on a cache hit that
//! is all it reads: the compiled code is mapped from the cache and
//! `describe()`'s answer comes from beside it, so nothing is instantiated. On
//! a miss the file is read again, compiled, described, and both are cached.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::{Node, NodePre};
use super::cache::CompileCache;
use super::call::{self, Instances};
use super::engine;
use super::pool::{IDLE_PER_KEY, IDLE_TOTAL};
use super::sandbox::NodeState;
use super::{NodeInfo, Plugin, PluginError};

/// How often the epoch ticks: the granularity of timeouts, and how often a
/// busy guest yields to the async executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A `describe()` that takes longer than this makes the plugin unusable.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time while digesting a plugin file.
const CHUNK: usize = 256 << 10;

/// The wasmtime engine, the linker with the host's imports, the compile
/// cache, and the instance slots. Cheap to clone; one per process.
#[derive(Clone)]
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<NodeState>>,
    cache: CompileCache,
    instances: Arc<Instances>,
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
        let slots = engine::INSTANCES as usize;
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            cache,
            instances: Arc::new(Instances::new(slots, IDLE_PER_KEY, IDLE_TOTAL)),
        })
    }

    /// Load one plugin file: digest it, check it is a component of the node
    /// world, compile it (or map it from the cache) and learn what
    /// `describe()` says (from the cache, or by calling it).
    pub async fn load(&self, path: &Path) -> PluginLoad {
        let name = plugin_name(path);
        let (engine, cache, file) = (self.engine.clone(), self.cache.clone(), path.to_path_buf());
        // Digesting and compiling are CPU work of up to seconds: keep them
        // off the executor.
        let opened = tokio::task::spawn_blocking(move || open(&engine, &cache, &file))
            .await
            .unwrap_or_else(|e| {
                let reason = e.to_string();
                let path = path.to_path_buf();
                Err((None, PluginError::Compile { path, reason }))
            });
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
        let (engine, cache, key) = (self.engine.clone(), self.cache.clone(), digest.to_owned());
        let file = path.to_path_buf();
        let compiled = tokio::task::spawn_blocking(move || {
            let compile_error = |reason: String| PluginError::Compile {
                path: file.clone(),
                reason,
            };
            if let Some(component) = cache.load(&engine, &key) {
                return Ok(component);
            }
            let bytes = bytes.ok_or_else(|| {
                compile_error(format!("the compiled code of {key} is not cached"))
            })?;
            if crate::digest::sha256(&bytes) != key {
                return Err(compile_error(format!(
                    "the stored bytes of {key} do not have that digest"
                )));
            }
            check_header(&file, &bytes)?;
            cache
                .compile(&engine, &key, &bytes)
                .map_err(|e| compile_error(format!("{e:#}")))
        })
        .await
        .map_err(|e| PluginError::Compile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })??;
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
        let info = match self.cache.info(digest) {
            Some(info) => info,
            None => {
                let info = self.describe(path, &pre).await?;
                self.cache.store_info(digest, &info);
                info
            }
        };
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

    async fn describe(
        &self,
        path: &Path,
        pre: &NodePre<NodeState>,
    ) -> Result<NodeInfo, PluginError> {
        let slot = self.instances.slot().await;
        call::describe(&self.engine, pre, slot, DESCRIBE_TIMEOUT)
            .await
            .map_err(|reason| PluginError::Describe {
                path: path.to_path_buf(),
                reason,
            })
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

    /// Load every `*.wasm` file of `dir`, in name order. A file that fails to
    /// load is reported in its [`PluginLoad`] and does not stop the others.
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<PluginLoad>> {
        let mut loads = Vec::new();
        for path in scan_dir(dir)? {
            loads.push(self.load(&path).await);
        }
        Ok(loads)
    }
}

/// A plugin file's digest and compiled code; or why there is none, with the
/// digest whenever the file could be read.
type Opened = Result<(String, Component), (Option<String>, PluginError)>;

/// Digest a plugin file, check its header, and get its compiled code: mapped
/// from the cache, or compiled and cached.
fn open(engine: &Engine, cache: &CompileCache, path: &Path) -> Opened {
    let io = |source| PluginError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (digest, header) = digest_file(path).map_err(|source| (None, io(source)))?;
    if let Err(error) = check_header(path, &header) {
        return Err((Some(digest), error));
    }
    if let Some(component) = cache.load(engine, &digest) {
        return Ok((digest, component));
    }
    // A miss: read the file again to compile it (seconds for an interpreter,
    // next to which reading and hashing it twice is nothing). Should it have
    // changed in between, the digest of the bytes compiled is the one kept.
    let bytes = std::fs::read(path).map_err(|source| (Some(digest), io(source)))?;
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

/// `sha256:<hex>` of a file, read in chunks, and its first 8 bytes (or fewer).
fn digest_file(path: &Path) -> std::io::Result<(String, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut header = Vec::with_capacity(8);
    let mut buffer = vec![0; CHUNK];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
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

/// The `*.wasm` files of a plugins folder, sorted by name.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
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
