//! Compiling plugin files: the costliest thing the host does with one.
//!
//! A plugin file is untrusted input, and compiling it can take a minute and
//! gigabytes (a 12.9 MB component took ~60 s and 2.5 GB to compile), so a
//! file larger than the host's `--max-component-size` is refused before a
//! byte of it is read, and compiles wait for one another ([`COMPILES`] at
//! once): a storm of dropped files queues instead of taking every core and
//! the memory of one compile per file. Compiled code goes to the compile
//! cache, so each version is compiled once per cache (and per compiler: see
//! `tier.rs` for the Cranelift compile that follows Winch's in the background,
//! outside this pool).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use super::PluginError;
use super::cache::CompileCache;
use super::call::Code;
use super::engine::{Compiler, Engines};
use super::file::check_size;
use super::file::{check_header, digest_file};
use super::load::{PluginHost, Tiering, link};

/// Compiles run at once, per process. Cranelift already compiles a
/// component's functions on every core, so a second compile at once gains
/// nothing on a small machine, and each compile may need hundreds of times
/// the component's size in memory.
pub const COMPILES: usize = 1;

/// A compile still running after this long is announced (the notice): a
/// pause a person notices, and one that Winch's compile of an interpreter
/// component may exceed on a loaded machine. Shorter ones go unsaid.
pub const NOTICE_AFTER: Duration = Duration::from_millis(500);

/// A compile about to start: the plugin's compiled code was not in the
/// compile cache. Compiling an interpreter component (Python, JavaScript)
/// takes seconds to tens of seconds, once per version and cache.
#[derive(Debug)]
pub struct Compiling<'a> {
    /// The plugin's name.
    pub name: &'a str,
    /// The plugin's file.
    pub path: &'a Path,
    /// The compiler.
    pub compiler: Compiler,
    /// The component's size.
    pub bytes: u64,
    /// Where the compiled code is kept, or `None`: the host has no cache.
    pub cache: Option<&'a Path>,
}

/// What a [`PluginHost`] calls during a compile that takes longer than its
/// notice delay ([`NOTICE_AFTER`] unless set), to say why it pauses.
pub type CompileNotice = Arc<dyn Fn(&Compiling<'_>) + Send + Sync>;

impl PluginHost {
    /// Compile plugin `name` (file `path`, `bytes` long) with `compiler`, by
    /// `compile` (CPU work of up to a minute: on a blocking thread, in the
    /// compile pool), telling the notice if it is still running after the
    /// notice delay (waiting for the pool counts: the pause is the same); one
    /// log line (info) says what was compiled and how long it took.
    pub(super) async fn compile<E: Send + 'static>(
        &self,
        (name, path): (&str, &Path),
        bytes: usize,
        compiler: Compiler,
        compile: impl FnOnce(&Engines, &CompileCache) -> Result<(String, Component), E> + Send + 'static,
    ) -> Result<Result<(String, Component), E>, tokio::task::JoinError> {
        let compiling = Compiling {
            name,
            path,
            compiler,
            bytes: bytes as u64,
            cache: self.cache.dir(),
        };
        let work = async {
            let _compiling = self.compile_permit().await;
            let started = Instant::now();
            let (engines, cache) = (self.engines.clone(), self.cache.clone());
            let compiled = tokio::task::spawn_blocking(move || compile(&engines, &cache)).await;
            if let Ok(Ok((digest, _))) = &compiled {
                self.compile_times.observe(started.elapsed());
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let compiler = compiler.as_str();
                tracing::info!(plugin = %name, %digest, bytes, ms, compiler, "component compiled");
            }
            compiled
        };
        let Some(notice) = &self.notice else {
            return work.await;
        };
        tokio::pin!(work);
        tokio::select! {
            compiled = &mut work => return compiled,
            () = tokio::time::sleep(self.notice_after) => notice(&compiling),
        }
        work.await
    }

    /// A place in the compile pool, held while compiling.
    async fn compile_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.compiles
            .acquire()
            .await
            .expect("the compile pool is never closed")
    }
}

/// A plugin file's digest, compiled code and compiler, and its bytes when they
/// were read (to compile it again with Cranelift); or why there is none, with
/// the digest whenever the file could be read.
pub(super) type Opened = Result<Compiled, (Option<String>, PluginError)>;

/// A component's digest and code, and where its bytes are for Cranelift's
/// compile when the code is Winch's.
pub(super) struct Compiled {
    pub digest: String,
    pub compiler: Compiler,
    pub component: Component,
    pub bytes: Option<Arc<Vec<u8>>>,
}

/// What the compile cache holds for a plugin file.
pub(super) enum Lookup {
    /// Its digest, compiled code and the compiler that made it.
    Cached(String, Compiler, Component),
    /// Its digest; it needs compiling.
    Miss(String),
}

/// The code of `digest` in the cache: Cranelift's, else Winch's.
pub(super) fn cached(
    engines: &Engines,
    cache: &CompileCache,
    digest: &str,
) -> Option<(Compiler, Component)> {
    [Compiler::Cranelift, Compiler::Winch]
        .into_iter()
        .find_map(|compiler| Some((compiler, cache.load(engines, compiler, digest)?)))
}

/// Digest a plugin file (refusing it if it is too large), check its header,
/// and map its compiled code from the cache if it is there.
pub(super) fn look_up(
    engines: &Engines,
    cache: &CompileCache,
    path: &Path,
    limit: u64,
) -> Result<Lookup, (Option<String>, PluginError)> {
    let (digest, header) = digest_file(path, limit).map_err(|error| (None, error))?;
    if let Err(error) = check_header(path, &header) {
        return Err((Some(digest), error));
    }
    Ok(match cached(engines, cache, &digest) {
        Some((compiler, component)) => Lookup::Cached(digest, compiler, component),
        None => Lookup::Miss(digest),
    })
}

/// Compile the bytes of a plugin file that missed the cache with `compiler`
/// and cache the result.
pub(super) fn compile_bytes(
    engines: &Engines,
    compiler: Compiler,
    cache: &CompileCache,
    path: &Path,
    bytes: &[u8],
) -> Result<(String, Component), (Option<String>, PluginError)> {
    let digest = savepoint_base::digest::sha256(bytes);
    if let Err(error) = check_header(path, bytes) {
        return Err((Some(digest), error));
    }
    match cache.compile(engines, compiler, &digest, bytes) {
        Ok(component) => Ok((digest, component)),
        Err(e) => {
            let reason = format!("{e:#}");
            let path = path.to_path_buf();
            Err((Some(digest), PluginError::Compile { path, reason }))
        }
    }
}

impl PluginHost {
    /// Queue Cranelift's compile of version `digest` of plugin `name` (whose
    /// Winch code a plugin runs now) in the background, from `bytes` or, when
    /// the Winch code came from the cache, from the file at `path` read again
    /// (skipped if it is another version by now); cache it and swap it in.
    /// Nothing with [`Tiering::WinchOnly`].
    pub(super) fn optimize_later(
        &self,
        name: &str,
        path: &Path,
        digest: &str,
        bytes: Option<Arc<Vec<u8>>>,
    ) {
        if !matches!(self.tiering, Tiering::WinchFirst { .. }) {
            return;
        }
        let (engines, cache, linkers, slots) = (
            self.engines.clone(),
            self.cache.clone(),
            self.linkers.clone(),
            self.slots.clone(),
        );
        let (name, path, digest) = (name.to_owned(), path.to_path_buf(), digest.to_owned());
        let limit = self.max_component_size;
        let job = move || {
            let started = Instant::now();
            let compiled = (|| -> Result<Code, String> {
                let bytes = match bytes {
                    Some(bytes) => bytes,
                    None => {
                        let size = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
                        check_size(&path, size, limit).map_err(|e| e.to_string())?;
                        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
                        if savepoint_base::digest::sha256(&bytes) != digest {
                            return Err("the file is another version by now".into());
                        }
                        Arc::new(bytes)
                    }
                };
                let component = cache
                    .compile(&engines, Compiler::Cranelift, &digest, &bytes)
                    .map_err(|e| format!("{e:#}"))?;
                let pre = link(&linkers[0], &path, &component).map_err(|e| e.to_string())?;
                Ok(Code {
                    compiler: Compiler::Cranelift,
                    engine: engines.get(Compiler::Cranelift).clone(),
                    pre,
                })
            })();
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match &compiled {
                Ok(_) => tracing::info!(
                    plugin = %name, %digest, ms, compiler = "cranelift",
                    "component compiled in the background; new calls run its optimized code"
                ),
                Err(reason) => tracing::warn!(
                    plugin = %name, %digest, ms,
                    "plugin {name}: the background compile with Cranelift failed ({reason}); \
                     calls keep running the code Winch compiled"
                ),
            }
            slots.optimized(&digest, compiled.ok());
        };
        self.optimizer.queue(Box::new(job));
    }
}
