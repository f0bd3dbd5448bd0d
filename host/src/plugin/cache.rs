//! The on-disk cache of compiled components, keyed by the component's digest
//! and by the engine's compatibility hash (wasmtime version and settings), so
//! the second start of the host maps machine code instead of compiling; and,
//! beside each entry, what the component's `describe()` returned, so that
//! loading a cached plugin does not instantiate it.
//!
//! `<hex>-<engine>.cwasm` is the compiled component, mapped (not read) by
//! [`Component::deserialize_file`]; `<hex>-<engine>.describe.json` is the
//! [`NodeInfo`] as JSON. Both are written to a temporary name and renamed into
//! place, and an entry that does not load is deleted and rebuilt.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::NodeInfo;

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

    /// `<dir>/<hex>-<engine tag>.<extension>`, or `None` without a cache.
    fn entry(&self, digest: &str, extension: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        Some(
            self.dir
                .as_ref()?
                .join(format!("{hex}-{}.{extension}", self.engine_tag)),
        )
    }

    /// Whether the cache has an entry for `digest` (usable or not).
    pub fn has(&self, digest: &str) -> bool {
        self.entry(digest, "cwasm").is_some_and(|p| p.exists())
    }

    /// The compiled component for `digest` if the cache holds a usable entry
    /// (mapped from the file, not read); a damaged entry is deleted.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.entry(digest, "cwasm").filter(|p| p.exists())?;
        // SAFETY: the cache directory is written only by `compile`, from
        // `Component::serialize` of the same engine configuration (the file
        // name carries the engine's compatibility hash), and entries are
        // renamed into place only once complete.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            // A damaged or foreign entry: the caller compiles again and
            // replaces it.
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Compile `bytes` (whose digest is `digest`) and store the result.
    pub fn compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let component = Component::new(engine, bytes)?;
        if let Some(path) = self.entry(digest, "cwasm") {
            // The cache is an optimisation: failing to write it is not an error.
            let _ = component
                .serialize()
                .map_err(std::io::Error::other)
                .and_then(|bytes| write(&path, &bytes));
        }
        Ok(component)
    }

    /// What `describe()` returned for `digest`, if the cache holds a readable
    /// entry within [`NodeInfo::LIMIT`]; a damaged one is deleted, and so is
    /// one over the limit (cached by a host from before the limit), which is
    /// never read whole.
    pub fn info(&self, digest: &str) -> Option<NodeInfo> {
        use std::io::Read;
        // JSON escapes take up to 6 bytes for one (`\u001b`).
        const FILE_LIMIT: u64 = 6 * NodeInfo::LIMIT as u64 + 4096;
        let path = self.entry(digest, "describe.json")?;
        let mut text = Vec::new();
        std::fs::File::open(&path)
            .ok()?
            .take(FILE_LIMIT + 1)
            .read_to_end(&mut text)
            .ok()?;
        let info = serde_json::from_slice::<NodeInfo>(&text)
            .ok()
            .filter(|info| text.len() as u64 <= FILE_LIMIT && info.size() <= NodeInfo::LIMIT);
        if info.is_none() {
            let _ = std::fs::remove_file(&path);
        }
        info
    }

    /// Remember what `describe()` returned for `digest`.
    pub fn store_info(&self, digest: &str, info: &NodeInfo) {
        if let Some(path) = self.entry(digest, "describe.json") {
            // An optimisation, like the compiled code.
            let _ = serde_json::to_vec_pretty(info)
                .map_err(std::io::Error::other)
                .and_then(|bytes| write(&path, &bytes));
        }
    }
}

/// Write a cache file under a temporary name of its own (two loads of one
/// plugin may race, in one process or in two), then rename it into place, so
/// that a reader never sees half of it.
fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(description: String) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            version: "1".into(),
            description,
            config_schema: None,
        }
    }

    #[test]
    fn a_cached_description_over_the_limit_is_dropped_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&Engine::default(), Some(dir.path().to_path_buf()));
        cache.store_info("sha256:aa", &info("fine".into()));
        assert_eq!(cache.info("sha256:aa"), Some(info("fine".into())));
        // As a host from before the limit would have cached it.
        cache.store_info("sha256:bb", &info("x".repeat(NodeInfo::LIMIT)));
        assert_eq!(cache.info("sha256:bb"), None);
        assert!(!cache.entry("sha256:bb", "describe.json").unwrap().exists());
    }
}
