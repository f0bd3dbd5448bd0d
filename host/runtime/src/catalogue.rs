//! The plugins this process knows, in one place: each version loaded once
//! (by digest, for pinned runs; by name, as the plugins folder has it, for
//! runs from before pinning), the version `serve` gives new runs, and the
//! digest of each plugin file as last read, so that an unchanged file is not
//! read again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::RuntimeError;
use savepoint_plugin::{Plugin, PluginError, PluginHost, PluginLoad};
use savepoint_store::{CheckpointStore, StoreError};

/// Why a plugin cannot be used now. Nothing of a failed load is kept: the
/// next use tries again.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CatalogueError {
    /// A run from before pinning names a plugin whose file is gone.
    #[error("plugin file {} does not exist", .path.display())]
    FileMissing { path: PathBuf },
    /// A run is pinned to a version that is neither compiled nor stored.
    #[error("version {digest} of plugin \"{name}\" is not stored")]
    NotStored { name: String, digest: String },
    /// The component does not load (compile, link, describe itself).
    #[error(transparent)]
    Load(#[from] PluginError),
    /// The stored bytes could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What identifies a version of a file without reading it: size,
/// modification time and inode.
pub(super) type FileStamp = (u64, Option<SystemTime>, u64);

/// One plugin, loaded or being loaded: its first calls share one load, and
/// loading (compiling, for a new interpreter component: seconds) never holds
/// up calls of other plugins.
type Slot = Arc<tokio::sync::OnceCell<Arc<Plugin>>>;

#[derive(Default)]
struct Known {
    /// Plugin versions, by digest: what pinned runs call.
    versions: HashMap<String, Slot>,
    /// The plugins folder's files as first loaded, by plugin name: what runs
    /// from before pinning call.
    unpinned: HashMap<String, Slot>,
    /// Under `serve`: the version of each plugin that new runs get (the last
    /// one of its file that loaded).
    serving: HashMap<String, String>,
    /// The digest of each plugin file as last read, by path, with its stamp.
    files: HashMap<PathBuf, (FileStamp, String)>,
}

/// The plugins of one plugins folder, as this process loaded and read them.
pub(crate) struct Catalogue {
    host: PluginHost,
    dir: PathBuf,
    known: Mutex<Known>,
}

impl Catalogue {
    pub fn new(host: PluginHost, dir: PathBuf) -> Catalogue {
        Catalogue {
            host,
            dir,
            known: Mutex::new(Known::default()),
        }
    }

    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// The plugins folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where plugin `name`'s file is.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.wasm"))
    }

    /// The maps; never held across an await.
    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Plugin `name` as a run pinned to `pins` (name -> digest) calls it: the
    /// version it is pinned to, or (a run from before pinning) the plugins
    /// folder's current file, loaded on first use. Only the plugins a run
    /// actually reaches are compiled or read from the cache.
    pub async fn for_run<S: CheckpointStore>(
        &self,
        store: &S,
        pins: &BTreeMap<String, String>,
        name: &str,
    ) -> Result<Arc<Plugin>, CatalogueError> {
        match pins.get(name) {
            Some(digest) => self.version(store, name, digest).await,
            None => self.unpinned(name).await,
        }
    }

    /// Version `digest` of plugin `name`, loading it on first use.
    pub async fn version<S: CheckpointStore>(
        &self,
        store: &S,
        name: &str,
        digest: &str,
    ) -> Result<Arc<Plugin>, CatalogueError> {
        let slot = self
            .known()
            .versions
            .entry(digest.to_string())
            .or_default()
            .clone();
        let load = || async { Ok(Arc::new(self.load_version(store, name, digest).await?)) };
        slot.get_or_try_init(load).await.cloned()
    }

    /// Load version `digest` of plugin `name`.
    async fn load_version<S: CheckpointStore>(
        &self,
        store: &S,
        name: &str,
        digest: &str,
    ) -> Result<Plugin, CatalogueError> {
        let path = self.path(name);
        // The compiled code is usually cached; the stored bytes are read only
        // when it is not (or the cached entry turns out unusable).
        if self.host.is_compiled(digest)
            && let Ok(plugin) = self.host.load_stored(name, &path, digest, None).await
        {
            return Ok(plugin);
        }
        let bytes =
            store
                .component_bytes(digest)
                .await?
                .ok_or_else(|| CatalogueError::NotStored {
                    name: name.to_string(),
                    digest: digest.to_string(),
                })?;
        Ok(self
            .host
            .load_stored(name, &path, digest, Some(bytes))
            .await?)
    }

    /// Plugin `name` as the plugins folder has it, loaded on first use.
    async fn unpinned(&self, name: &str) -> Result<Arc<Plugin>, CatalogueError> {
        let slot = self
            .known()
            .unpinned
            .entry(name.to_string())
            .or_default()
            .clone();
        let load = || async {
            let path = self.path(name);
            // Off the async threads and time-limited (a hung mount); a file
            // that is there but not a regular file is refused by the load,
            // saying what it is.
            let file = path.clone();
            let found = savepoint_plugin::off_thread(&path, move || file.try_exists()).await;
            if matches!(found, Ok(Ok(false))) {
                return Err(CatalogueError::FileMissing { path });
            }
            let PluginLoad { result, .. } = self.host.load(&path).await;
            Ok(Arc::new(result?))
        };
        slot.get_or_try_init(load).await.cloned()
    }

    /// The version of plugin `name` that `serve` gives new runs, if its
    /// watcher loaded one.
    pub fn serving(&self, name: &str) -> Option<String> {
        self.known().serving.get(name).cloned()
    }

    /// New runs get version `digest` of plugin `name` from now on.
    pub fn serve(&self, name: &str, digest: &str) {
        self.known()
            .serving
            .insert(name.to_string(), digest.to_string());
    }

    /// The digest of plugin `name`'s file now; a file not seen before (or
    /// changed since) is read, digested and stored.
    pub async fn current_digest<S: CheckpointStore>(
        &self,
        store: &S,
        name: &str,
    ) -> Result<String, RuntimeError> {
        let path = self.path(name);
        let file_error = |source| RuntimeError::PluginFile {
            path: path.clone(),
            source,
        };
        let stamp = stamp(&path).await.map_err(file_error)?;
        if let Some(digest) = self.file_digest(&path, stamp) {
            return Ok(digest);
        }
        let bytes = self.host.read_component(&path).await?;
        let digest = savepoint_base::digest::sha256(&bytes);
        store.save_component(&digest, name, bytes).await?;
        self.known().files.insert(path, (stamp, digest.clone()));
        Ok(digest)
    }

    /// The digest of plugin `name`'s file now, without storing it; `None`
    /// when the file cannot be read.
    pub async fn digest_now(&self, name: &str) -> Option<String> {
        let path = self.path(name);
        let now = stamp(&path).await.ok()?;
        if let Some(digest) = self.file_digest(&path, now) {
            return Some(digest);
        }
        let bytes = self.host.read_component(&path).await.ok()?;
        Some(savepoint_base::digest::sha256(&bytes))
    }

    /// The digest of the file at `path` as last read, if it still has `stamp`.
    fn file_digest(&self, path: &Path, stamp: FileStamp) -> Option<String> {
        match self.known().files.get(path) {
            Some((seen, digest)) if *seen == stamp => Some(digest.clone()),
            _ => None,
        }
    }

    /// Forget which plugin files were stored: the next pin reads and stores
    /// them again.
    pub fn forget_files(&self) {
        self.known().files.clear();
    }
}

/// The stamp of the file at `path`.
pub(super) async fn stamp(path: &Path) -> std::io::Result<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let file = path.to_path_buf();
    // A `stat` on a hung mount hangs too: it gets the plugin-file time limit.
    let meta = savepoint_plugin::off_thread(path, move || std::fs::metadata(file))
        .await
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::TimedOut, error.to_string()))??;
    Ok((meta.len(), meta.modified().ok(), meta.ino()))
}
