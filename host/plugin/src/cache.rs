//! The on-disk cache of compiled components, keyed by the component's digest
//! and by the engine's compatibility hash (wasmtime version and settings), so
//! the second start of the host maps machine code instead of compiling; and,
//! beside each entry, what the component's `describe()` returned, so that
//! loading a cached plugin does not instantiate it.
//!
//! `<hex>-<engine>.cwasm` is the component compiled by Cranelift, mapped (not
//! read) by [`Component::deserialize_file`]; `<hex>-<winch engine>.winch.cwasm`
//! the same component compiled by Winch (see `engine.rs`): the compiler is in
//! the name twice, as the extension and in the engine tag (a hash of the Winch
//! engine's own compatibility hash, which differs from Cranelift's), so one is
//! never loaded for the other, and each engine refuses the other's code
//! anyway. `<hex>-<engine>.describe.json` is the [`NodeInfo`] as JSON, whatever
//! compiled the code. All are written to a temporary name and renamed into
//! place, and an entry that does not load is deleted and rebuilt.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::NodeInfo;
use super::engine::{Compiler, Engines};

#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    /// The Cranelift engine's tag (as before there was a second compiler, so
    /// that the caches of earlier versions with the same wasmtime stay valid).
    engine_tag: String,
    /// The Winch engine's tag.
    winch_tag: String,
}

/// The engine tag of `engine`: 16 hex digits of a hash of its compatibility
/// hash (wasmtime version and settings), and of `salt`.
fn tag(engine: &Engine, salt: &str) -> String {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    if !salt.is_empty() {
        salt.hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

impl CompileCache {
    /// A cache in `dir` (created on first write); `None` disables caching.
    pub fn new(engines: &Engines, dir: Option<PathBuf>) -> CompileCache {
        CompileCache {
            dir,
            engine_tag: tag(engines.get(Compiler::Cranelift), ""),
            winch_tag: tag(engines.get(Compiler::Winch), Compiler::Winch.as_str()),
        }
    }

    /// The engine tag of `compiler`'s entries.
    fn tag(&self, compiler: Compiler) -> &str {
        match compiler {
            Compiler::Cranelift => &self.engine_tag,
            Compiler::Winch => &self.winch_tag,
        }
    }

    /// The cache's folder, or `None` without a cache.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// `<dir>/<hex>-<engine tag>.<extension>`, or `None` without a cache.
    fn entry(&self, digest: &str, extension: &str) -> Option<PathBuf> {
        self.entry_of(digest, Compiler::Cranelift, extension)
    }

    /// `<dir>/<hex>-<tag of compiler>.<extension>` (`.winch.<extension>` for
    /// Winch), or `None` without a cache.
    fn entry_of(&self, digest: &str, compiler: Compiler, extension: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let tag = self.tag(compiler);
        let name = match compiler {
            Compiler::Cranelift => format!("{hex}-{tag}.{extension}"),
            Compiler::Winch => format!("{hex}-{tag}.winch.{extension}"),
        };
        Some(self.dir.as_ref()?.join(name))
    }

    /// Whether the cache has Cranelift's code for `digest` (usable or not).
    pub fn has(&self, digest: &str) -> bool {
        self.has_code(digest, Compiler::Cranelift)
    }

    /// Whether the cache has `compiler`'s code for `digest` (usable or not).
    pub fn has_code(&self, digest: &str, compiler: Compiler) -> bool {
        self.entry_of(digest, compiler, "cwasm")
            .is_some_and(|p| p.exists())
    }

    /// The component for `digest` compiled by `compiler`, if the cache holds a
    /// usable entry (mapped from the file, not read); a damaged entry is
    /// deleted.
    pub fn load(&self, engines: &Engines, compiler: Compiler, digest: &str) -> Option<Component> {
        let path = self
            .entry_of(digest, compiler, "cwasm")
            .filter(|p| p.exists())?;
        // SAFETY: the cache directory is written only by `compile`, from
        // `Component::serialize` of the same engine configuration (the file
        // name carries the engine's compatibility hash and the compiler), and
        // entries are renamed into place only once complete.
        match unsafe { Component::deserialize_file(engines.get(compiler), &path) } {
            Ok(component) => Some(component),
            // A damaged or foreign entry: the caller compiles again and
            // replaces it.
            Err(_) => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Compile `bytes` (whose digest is `digest`) with `compiler` and store the
    /// result.
    pub fn compile(
        &self,
        engines: &Engines,
        compiler: Compiler,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let component = Component::new(engines.get(compiler), bytes)?;
        if let Some(path) = self.entry_of(digest, compiler, "cwasm") {
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

/// What `CompileCache::prune` deleted: files and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub files: u64,
    pub bytes: u64,
}

/// What a file in the cache folder is, by its name.
#[derive(Debug, PartialEq, Eq)]
enum CacheFile<'a> {
    /// `<hex>-<engine tag>.cwasm`, `.winch.cwasm` or `.describe.json`.
    Entry {
        hex: &'a str,
        engine_tag: &'a str,
        compiler: Compiler,
    },
    /// The temporary name a file is written under before its rename: `<hex>-<engine
    /// tag>.tmp<pid>-<n>`, `.winch.tmp<pid>-<n>` or `.describe.tmp<pid>-<n>`.
    Temporary { pid: u32 },
}

impl CacheFile<'_> {
    fn parse(name: &str) -> Option<CacheFile<'_>> {
        let (stem, extension) = name.split_once('.')?;
        let (hex, engine_tag) = stem.split_once('-')?;
        let is_hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !is_hex(hex, 64) || !is_hex(engine_tag, 16) {
            return None;
        }
        let entry = |compiler| CacheFile::Entry {
            hex,
            engine_tag,
            compiler,
        };
        match extension {
            "cwasm" | "describe.json" => Some(entry(Compiler::Cranelift)),
            "winch.cwasm" => Some(entry(Compiler::Winch)),
            _ => {
                let temporary = extension
                    .strip_prefix("describe.")
                    .or_else(|| extension.strip_prefix("winch."))
                    .unwrap_or(extension);
                let (pid, n) = temporary.strip_prefix("tmp")?.split_once('-')?;
                n.parse::<u64>().ok()?;
                Some(CacheFile::Temporary {
                    pid: pid.parse().ok()?,
                })
            }
        }
    }
}

impl CompileCache {
    /// The bytes of the files in the cache folder; 0 without one.
    pub fn size(&self) -> u64 {
        let Some(entries) = self
            .dir
            .as_ref()
            .and_then(|dir| std::fs::read_dir(dir).ok())
        else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .filter(|metadata| metadata.is_file())
            .map(|metadata| metadata.len())
            .sum()
    }

    /// Deletes the entries of components whose digest `keep` does not hold (with `keep`
    /// `None`, when what is needed is not known, none of this engine's), the entries of
    /// other engines (another wasmtime version or other settings: never read again),
    /// Winch's code of a component whose Cranelift code is cached (loads take that), and
    /// temporary files whose writer process is gone. Files the cache did not write are
    /// left alone. An entry written after the folder was listed is kept.
    pub fn prune(
        &self,
        keep: Option<&std::collections::HashSet<String>>,
    ) -> std::io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let Some(dir) = &self.dir else {
            return Ok(pruned);
        };
        let entries = match std::fs::read_dir(dir) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
            entries => entries?,
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(file) = name.to_str().and_then(CacheFile::parse) else {
                continue;
            };
            let unneeded = match file {
                CacheFile::Entry {
                    hex,
                    engine_tag,
                    compiler,
                } => {
                    engine_tag != self.tag(compiler)
                        || keep.is_some_and(|keep| !keep.contains(&format!("sha256:{hex}")))
                        || (compiler == Compiler::Winch && self.has(hex))
                }
                CacheFile::Temporary { pid } => !Path::new(&format!("/proc/{pid}")).exists(),
            };
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if unneeded && metadata.is_file() {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        pruned.files += 1;
                        pruned.bytes += metadata.len();
                    }
                    // Another gc was quicker.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(pruned)
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

    fn engines() -> Engines {
        Engines::new().expect("the engines")
    }

    /// The smallest component there is: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn each_compilers_code_has_its_own_entry_and_is_never_taken_for_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let engines = engines();
        let cache = CompileCache::new(&engines, Some(dir.path().to_path_buf()));
        let digest = savepoint_base::digest::sha256(EMPTY_COMPONENT);
        let (winch, cranelift) = (
            cache.entry_of(&digest, Compiler::Winch, "cwasm").unwrap(),
            cache.entry(&digest, "cwasm").unwrap(),
        );
        assert_ne!(winch, cranelift);
        assert!(winch.to_str().unwrap().ends_with(".winch.cwasm"));
        assert_ne!(cache.tag(Compiler::Winch), cache.tag(Compiler::Cranelift));

        cache
            .compile(&engines, Compiler::Winch, &digest, EMPTY_COMPONENT)
            .unwrap();
        assert!(cache.has_code(&digest, Compiler::Winch));
        assert!(!cache.has(&digest), "Winch's code is not Cranelift's");
        assert!(cache.load(&engines, Compiler::Cranelift, &digest).is_none());
        assert!(cache.load(&engines, Compiler::Winch, &digest).is_some());

        // Winch's code put where Cranelift's belongs (a bug, a hand): the
        // Cranelift engine refuses it, and the entry is deleted.
        std::fs::copy(&winch, &cranelift).unwrap();
        assert!(cache.load(&engines, Compiler::Cranelift, &digest).is_none());
        assert!(!cranelift.exists());

        // Once Cranelift's code is cached, Winch's is no longer needed.
        cache
            .compile(&engines, Compiler::Cranelift, &digest, EMPTY_COMPONENT)
            .unwrap();
        assert!(cache.load(&engines, Compiler::Cranelift, &digest).is_some());
        let pruned = cache.prune(None).unwrap();
        assert_eq!(pruned.files, 1, "{pruned:?}");
        assert!(!winch.exists() && cranelift.exists());
    }

    fn info(description: String) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            version: "1".into(),
            description,
            config_schema: None,
        }
    }

    #[test]
    fn cache_file_names_are_told_apart() {
        let hex = "ab".repeat(32);
        let tag = "0123456789abcdef";
        let entry = |compiler| CacheFile::Entry {
            hex: &hex,
            engine_tag: tag,
            compiler,
        };
        let name = format!("{hex}-{tag}.cwasm");
        assert_eq!(CacheFile::parse(&name), Some(entry(Compiler::Cranelift)));
        let name = format!("{hex}-{tag}.winch.cwasm");
        assert_eq!(CacheFile::parse(&name), Some(entry(Compiler::Winch)));
        let name = format!("{hex}-{tag}.winch.tmp42-3");
        assert_eq!(
            CacheFile::parse(&name),
            Some(CacheFile::Temporary { pid: 42 })
        );
        let name = format!("{hex}-{tag}.describe.json");
        assert!(matches!(
            CacheFile::parse(&name),
            Some(CacheFile::Entry { .. })
        ));
        let name = format!("{hex}-{tag}.tmp42-7");
        assert_eq!(
            CacheFile::parse(&name),
            Some(CacheFile::Temporary { pid: 42 })
        );
        let name = format!("{hex}-{tag}.describe.tmp42-0");
        assert_eq!(
            CacheFile::parse(&name),
            Some(CacheFile::Temporary { pid: 42 })
        );
        for other in [
            "notes.txt",
            "x-y.cwasm",
            &format!("{hex}-{tag}.zip"),
            &format!("{hex}.cwasm"),
        ] {
            assert_eq!(CacheFile::parse(other), None, "{other}");
        }
    }

    #[test]
    fn prune_keeps_what_is_needed_and_what_is_not_the_caches() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&engines(), Some(dir.path().to_path_buf()));
        let (kept, dropped) = (
            format!("sha256:{}", "a".repeat(64)),
            format!("sha256:{}", "b".repeat(64)),
        );
        for digest in [&kept, &dropped] {
            cache.store_info(digest, &info("d".into()));
            write(&cache.entry(digest, "cwasm").unwrap(), b"code").unwrap();
        }
        let stale = dir
            .path()
            .join(format!("{}-{}.cwasm", "a".repeat(64), "f".repeat(16)));
        let abandoned = cache.entry(&kept, &format!("tmp{}-0", u32::MAX)).unwrap();
        let alive = cache
            .entry(&kept, &format!("tmp{}-0", std::process::id()))
            .unwrap();
        for file in [&stale, &abandoned, &alive] {
            std::fs::write(file, b"12345").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let before = cache.size();

        let keep = std::collections::HashSet::from([kept.clone()]);
        let pruned = cache.prune(Some(&keep)).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = vec![
            cache.entry(&kept, "cwasm").unwrap(),
            cache.entry(&kept, "describe.json").unwrap(),
            alive.clone(),
            dir.path().join("notes.txt"),
        ]
        .into_iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(pruned.files, 4, "{pruned:?}");
        assert_eq!(cache.size(), before - pruned.bytes);
    }

    #[test]
    fn prune_without_knowing_what_is_needed_keeps_every_entry_of_this_engine() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&engines(), Some(dir.path().to_path_buf()));
        let digest = format!("sha256:{}", "a".repeat(64));
        write(&cache.entry(&digest, "cwasm").unwrap(), b"code").unwrap();
        let stale = dir
            .path()
            .join(format!("{}-{}.cwasm", "a".repeat(64), "f".repeat(16)));
        let abandoned = cache.entry(&digest, &format!("tmp{}-0", u32::MAX)).unwrap();
        for file in [&stale, &abandoned] {
            std::fs::write(file, b"12345").unwrap();
        }

        let pruned = cache.prune(None).unwrap();
        assert_eq!(pruned.files, 2, "{pruned:?}");
        assert!(cache.entry(&digest, "cwasm").unwrap().exists());
        assert!(!stale.exists() && !abandoned.exists());
    }

    #[test]
    fn a_cached_description_over_the_limit_is_dropped_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&engines(), Some(dir.path().to_path_buf()));
        cache.store_info("sha256:aa", &info("fine".into()));
        assert_eq!(cache.info("sha256:aa"), Some(info("fine".into())));
        // As a host from before the limit would have cached it.
        cache.store_info("sha256:bb", &info("x".repeat(NodeInfo::LIMIT)));
        assert_eq!(cache.info("sha256:bb"), None);
        assert!(!cache.entry("sha256:bb", "describe.json").unwrap().exists());
    }
}
