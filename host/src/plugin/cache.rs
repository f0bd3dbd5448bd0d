//! The on-disk cache of compiled components, keyed by the component's digest
//! and by the engine's compatibility hash (wasmtime version and settings), so
//! the second start of the host loads machine code instead of compiling.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_tag: String,
}

impl CompileCache {
    /// A cache in `dir` (created on first write); `None` disables caching.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> CompileCache {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompileCache {
            dir,
            engine_tag: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        Some(
            self.dir
                .as_ref()?
                .join(format!("{hex}-{}.cwasm", self.engine_tag)),
        )
    }

    /// The compiled component for `digest`, from the cache if it holds a
    /// usable entry, else compiled from `bytes` and stored.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let entry = self.entry(digest);
        if let Some(path) = entry.as_deref().filter(|p| p.exists()) {
            // SAFETY: the cache directory is written only by this function,
            // from `Component::serialize` of the same engine configuration
            // (the file name carries the engine's compatibility hash), and
            // entries are renamed into place only once complete.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok(component),
                // A damaged or foreign entry: compile again and replace it.
                Err(_) => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(path) = entry {
            // The cache is an optimisation: failing to write it is not an error.
            let _ = store(&path, &component);
        }
        Ok(component)
    }
}

fn store(path: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
