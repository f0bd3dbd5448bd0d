//! Compiling plugin files: the costliest thing the host does with one.
//!
//! A plugin file is untrusted input, and compiling it can take a minute and
//! gigabytes (a 12.9 MB component took ~60 s and 2.5 GB to compile), so a
//! file larger than the host's `--max-component-size` is refused before a
//! byte of it is read, and compiles wait for one another ([`COMPILES`] at
//! once): a storm of dropped files queues instead of taking every core and
//! the memory of one compile per file. Compiled code goes to the compile
//! cache, so each version is compiled once per cache.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginError;
use super::cache::CompileCache;
use super::file::{check_header, digest_file};
use super::load::PluginHost;

/// Compiles run at once, per process. Cranelift already compiles a
/// component's functions on every core, so a second compile at once gains
/// nothing on a small machine, and each compile may need hundreds of times
/// the component's size in memory.
pub const COMPILES: usize = 1;

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

impl PluginHost {
    /// Compile plugin `name` (`bytes` long) with `compile` (CPU work of up to a
    /// minute: on a blocking thread, in the compile pool), after telling the notice;
    /// one log line (info) says what was compiled and how long it took.
    pub(super) async fn compile<E: Send + 'static>(
        &self,
        name: &str,
        bytes: usize,
        compile: impl FnOnce(&Engine, &CompileCache) -> Result<(String, Component), E> + Send + 'static,
    ) -> Result<Result<(String, Component), E>, tokio::task::JoinError> {
        self.compiling(name, bytes);
        let _compiling = self.compile_permit().await;
        let started = Instant::now();
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        let compiled = tokio::task::spawn_blocking(move || compile(&engine, &cache)).await;
        if let Ok(Ok((digest, _))) = &compiled {
            self.compile_times.observe(started.elapsed());
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(plugin = %name, %digest, bytes, ms, "component compiled");
        }
        compiled
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

    /// A place in the compile pool, held while compiling.
    async fn compile_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.compiles
            .acquire()
            .await
            .expect("the compile pool is never closed")
    }
}

/// A plugin file's digest and compiled code; or why there is none, with the
/// digest whenever the file could be read.
pub(super) type Opened = Result<(String, Component), (Option<String>, PluginError)>;

/// What the compile cache holds for a plugin file.
pub(super) enum Lookup {
    /// Its digest and compiled code.
    Cached(String, Component),
    /// Its digest; it needs compiling.
    Miss(String),
}

/// Digest a plugin file (refusing it if it is too large), check its header,
/// and map its compiled code from the cache if it is there.
pub(super) fn look_up(
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
pub(super) fn compile_bytes(
    engine: &Engine,
    cache: &CompileCache,
    path: &Path,
    bytes: Vec<u8>,
) -> Opened {
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
