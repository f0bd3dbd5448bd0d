//! Finding and loading plugin files, and calling a loaded node.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, Store};

use super::bindings::{self, Node, NodePre};
use super::cache::CompileCache;
use super::sandbox::NodeState;
use super::{CallError, CallInput, CallLimits, CallOutput, Plugin, PluginError};

/// How often the epoch ticks: the granularity of timeouts, and how often a
/// busy guest yields to the async executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A `describe()` that takes longer than this makes the plugin unusable.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The wasmtime engine, the linker with the host's imports, and the compile
/// cache. Cheap to clone; one per process.
#[derive(Clone)]
pub struct PluginHost {
    engine: Engine,
    linker: Arc<Linker<NodeState>>,
    cache: CompileCache,
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
    /// An engine with async calls and epoch interruption, and a compile cache
    /// in `cache_dir` (`None`: compile every time).
    pub fn new(cache_dir: Option<PathBuf>) -> wasmtime::Result<PluginHost> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Fuel is always metered so that a node's `fuel` budget can apply;
        // a node without one gets an unlimited tank.
        config.consume_fuel(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;

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
        })
    }

    /// Load one plugin file: digest it, check it is a component of the node
    /// world, compile it (or load it from the cache) and call `describe()`.
    pub async fn load(&self, path: &Path) -> PluginLoad {
        let name = plugin_name(path);
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(source) => {
                return PluginLoad {
                    name,
                    path: path.to_path_buf(),
                    digest: None,
                    result: Err(PluginError::Io {
                        path: path.to_path_buf(),
                        source,
                    }),
                };
            }
        };
        let digest = digest(&bytes);
        let result = self.load_bytes(&name, path, &digest, bytes).await;
        PluginLoad {
            name,
            path: path.to_path_buf(),
            digest: Some(digest),
            result,
        }
    }

    async fn load_bytes(
        &self,
        name: &str,
        path: &Path,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<Plugin, PluginError> {
        check_header(path, &bytes)?;
        let (engine, cache, key) = (self.engine.clone(), self.cache.clone(), digest.to_string());
        // Compiling is CPU work of up to seconds: keep it off the executor.
        let component =
            tokio::task::spawn_blocking(move || cache.load_or_compile(&engine, &key, &bytes))
                .await
                .map_err(|e| PluginError::Compile {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?
                .map_err(|e| PluginError::Compile {
                    path: path.to_path_buf(),
                    reason: format!("{e:#}"),
                })?;
        let pre = self.pre(path, &component)?;
        let info = describe(&self.engine, &pre)
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

impl Plugin {
    /// Call `run` in a fresh sandbox.
    pub async fn call(&self, input: &CallInput, state: String) -> CallOutput {
        let mut store = new_store(&self.engine, &input.limits);
        let ctx = bindings::context(input);
        let pre = &self.pre;
        let call = async {
            let node = pre.instantiate_async(&mut store).await?;
            node.call_run(&mut store, &ctx, &state).await
        };
        let raw = match input.timeout {
            None => Some(call.await),
            Some(limit) => tokio::time::timeout(limit, call).await.ok(),
        };
        let limits = &input.limits;
        let result = match raw {
            None => Err(CallError::Timeout(input.timeout.unwrap_or_default())),
            Some(Ok(returned)) => bindings::outcome(returned, limits.max_state),
            Some(Err(trap)) => Err(classify_trap(&trap, store.data(), limits)),
        };
        CallOutput {
            result,
            logs: store.data_mut().take_logs(),
        }
    }
}

fn new_store(engine: &Engine, limits: &CallLimits) -> Store<NodeState> {
    let mut store = Store::new(engine, NodeState::new(limits));
    store.limiter(|state| state.limiter());
    // No budget means a full tank: metering is on for every store.
    store
        .set_fuel(limits.fuel.unwrap_or(u64::MAX))
        .expect("fuel metering is enabled on the engine");
    // Yield to the executor at every epoch tick: a busy guest never blocks
    // other tasks, and a timeout can stop it.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

async fn describe(engine: &Engine, pre: &NodePre<NodeState>) -> Result<super::NodeInfo, String> {
    let mut store = new_store(engine, &CallLimits::default());
    let call = async {
        let node = pre.instantiate_async(&mut store).await?;
        node.call_describe(&mut store).await
    };
    match tokio::time::timeout(DESCRIBE_TIMEOUT, call).await {
        Err(_) => Err(format!("did not return within {DESCRIBE_TIMEOUT:?}")),
        Ok(Err(trap)) => Err(format!("trapped: {}", trap_message(&trap, store.data()))),
        Ok(Ok(info)) => bindings::node_info(info),
    }
}

/// A trap as the limit it breached, or as a plain trap.
fn classify_trap(error: &wasmtime::Error, state: &NodeState, limits: &CallLimits) -> CallError {
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) {
        return CallError::OutOfFuel {
            fuel: limits.fuel.unwrap_or(u64::MAX),
        };
    }
    if state.hit_memory_limit() {
        return CallError::MemoryLimit {
            limit: limits.memory,
        };
    }
    CallError::Trap(trap_message(error, state))
}

/// A one-line description of a trap, with the end of the guest's stderr
/// (where a Rust panic message lands).
fn trap_message(error: &wasmtime::Error, state: &NodeState) -> String {
    let mut message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => error
            .chain()
            .map(|cause| cause.to_string())
            .find(|text| !text.starts_with("error while executing"))
            .unwrap_or_else(|| error.to_string()),
    };
    if let Some(tail) = state.stderr_tail() {
        message.push_str(&format!(" (stderr: {tail})"));
    }
    message
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

/// `sha256:<hex>` of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256:");
    for byte in hash {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn plugin_name(path: &Path) -> String {
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
