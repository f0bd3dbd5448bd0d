//! Exact-code pinning: a run created now is pinned to the current version of
//! every plugin its workflow names (the file's digest, with the bytes stored
//! in the database), and every later call of that plugin in the run uses
//! those bytes, whatever happens to the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError};
use std::time::SystemTime;

use super::{Runtime, RuntimeError};
use crate::plugin::Plugin;
use crate::store::{CheckpointStore, RunRecord};
use crate::workflow::Workflow;

/// What identifies a version of a file without reading it: size,
/// modification time and inode.
pub(super) type FileStamp = (u64, Option<SystemTime>, u64);

impl<S: CheckpointStore> Runtime<S> {
    /// The current version of each plugin `workflow` uses (plugin name ->
    /// digest), each stored in the database.
    pub(super) async fn pin_plugins(
        &self,
        workflow: &Workflow,
    ) -> Result<BTreeMap<String, String>, RuntimeError> {
        let mut pins = BTreeMap::new();
        for node in workflow.nodes.values() {
            if !pins.contains_key(&node.plugin) {
                let digest = self.current_digest(&node.plugin).await?;
                pins.insert(node.plugin.clone(), digest);
            }
        }
        Ok(pins)
    }

    /// The digest of plugin `name`'s file now; a file not seen before (or
    /// changed since) is read, digested and stored.
    async fn current_digest(&self, name: &str) -> Result<String, RuntimeError> {
        let path = self.plugins_dir.join(format!("{name}.wasm"));
        let file_error = |source| RuntimeError::PluginFile {
            path: path.clone(),
            source,
        };
        let stamp = stamp(&path).await.map_err(file_error)?;
        if let Some((seen, digest)) = self
            .files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&path)
            && *seen == stamp
        {
            return Ok(digest.clone());
        }
        let bytes = tokio::fs::read(&path).await.map_err(file_error)?;
        let digest = crate::plugin::digest(&bytes);
        self.store.save_component(&digest, name, bytes).await?;
        self.files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.clone(), (stamp, digest.clone()));
        Ok(digest)
    }

    /// The plugin `name` as the run uses it: the version it is pinned to, or
    /// (a run from before pinning) the plugins folder's current file.
    pub(super) async fn plugin(&self, run: &RunRecord, name: &str) -> Result<Arc<Plugin>, String> {
        let Some(digest) = run.plugins.get(name) else {
            return self.current_plugin(name).await;
        };
        let mut pinned = self.pinned.lock().await;
        if let Some(plugin) = pinned.get(digest) {
            return Ok(plugin.clone());
        }
        let path = self.plugins_dir.join(format!("{name}.wasm"));
        let mut loaded = Err(String::new());
        // The compiled code is usually cached; the stored bytes are read only
        // when it is not (or the cached entry turns out unusable).
        for with_bytes in [false, true] {
            if !with_bytes && !self.plugins.is_compiled(digest) {
                continue;
            }
            let bytes = match with_bytes {
                false => None,
                true => Some(
                    self.store
                        .component_bytes(digest)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| {
                            format!("version {digest} of plugin \"{name}\" is not stored")
                        })?,
                ),
            };
            loaded = self
                .plugins
                .load_stored(name, &path, digest, bytes)
                .await
                .map_err(|e| e.to_string());
            if loaded.is_ok() {
                break;
            }
        }
        let plugin = Arc::new(loaded?);
        pinned.insert(digest.clone(), plugin.clone());
        Ok(plugin)
    }
}

async fn stamp(path: &Path) -> std::io::Result<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = tokio::fs::metadata(path).await?;
    Ok((meta.len(), meta.modified().ok(), meta.ino()))
}
