//! Exact-code pinning: a run created now is pinned to the current version of
//! every plugin its workflow names (the file's digest, with the bytes stored
//! in the database), and every later call of that plugin in the run uses
//! those bytes, whatever happens to the file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::catalogue::{CatalogueError, FileStamp, stamp};
use super::{Runtime, RuntimeError};
use savepoint_store::{CheckpointStore, RunRecord, RunStatus, RunUpgrade};
use savepoint_workflow::Workflow;

/// Something that stops a run from moving to the current files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeProblem {
    /// A node the run goes on with is not in the new workflow.
    NodeGone { node: String, workflow: String },
    /// A node of the new workflow cannot use its plugin: the plugin does not
    /// load, or the node's config breaks its schema (the problem, located in
    /// the workflow file).
    Plugin(String),
}

impl std::fmt::Display for UpgradeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpgradeProblem::NodeGone { node, workflow } => write!(
                f,
                "node \"{node}\", where the run goes on, is not in {workflow} any more"
            ),
            UpgradeProblem::Plugin(problem) => f.write_str(problem),
        }
    }
}

/// What an upgrade would move a run to (see [`Runtime::upgrade_check`]).
#[derive(Debug)]
pub struct Upgrade {
    pub workflow: Workflow,
    /// The workflow file's text.
    pub text: String,
    /// Each plugin's version now (name -> digest).
    pub plugins: BTreeMap<String, String>,
}

/// What an upgrade changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeReport {
    pub thread: String,
    /// The workflow text's digest before and after.
    pub workflow: (String, String),
    /// The plugins whose version changed: name, old digest (none: newly
    /// pinned), new digest.
    pub plugins: Vec<(String, Option<String>, String)>,
}

/// How often `serve` looks at the plugins folder.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Which version of a plugin a run is pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PinTo {
    /// The plugin file as it is now (an upgrade takes the files).
    File,
    /// Under `serve`, the version the watcher loaded last (a broken newer
    /// file is not used); else the file as it is now.
    Serving,
}

impl<S: CheckpointStore> Runtime<S> {
    /// The version of each plugin `workflow` uses that `to` says (plugin
    /// name -> digest), each stored in the database.
    pub(super) async fn pin_plugins(
        &self,
        workflow: &Workflow,
        to: PinTo,
    ) -> Result<BTreeMap<String, String>, RuntimeError> {
        self.pin_each(workflow.plugins(), to).await
    }

    /// [`Runtime::pin_plugins`] for the plugins `names`.
    pub(super) async fn pin_each(
        &self,
        names: Vec<String>,
        to: PinTo,
    ) -> Result<BTreeMap<String, String>, RuntimeError> {
        let mut pins = BTreeMap::new();
        for name in names {
            let serving = match to {
                PinTo::Serving => self.plugins.serving(&name),
                PinTo::File => None,
            };
            let digest = match serving {
                Some(digest) => digest,
                None => self.plugins.current_digest(&*self.store, &name).await?,
            };
            pins.insert(name, digest);
        }
        Ok(pins)
    }

    /// Watch the plugins folder until `stop` turns true (`savepoint serve`):
    /// a new or changed file is stored and loaded (compiled, described) in
    /// the background, and only once it loads do new runs use it; a file
    /// that does not load is reported and the version before it keeps
    /// serving new runs.
    pub async fn watch_plugins(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut seen: HashMap<PathBuf, FileStamp> = HashMap::new();
        loop {
            // A scan waits for file reads (each with a time limit) and
            // loads: shutdown does not wait for it.
            tokio::select! {
                _ = self.scan_plugins(&mut seen) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(WATCH_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn scan_plugins(&self, seen: &mut HashMap<PathBuf, FileStamp>) {
        let dir = self.plugins.dir().to_path_buf();
        let scanned = savepoint_plugin::off_thread(self.plugins.dir(), move || {
            savepoint_plugin::scan_dir(&dir)
        });
        let Ok(Ok(paths)) = scanned.await else {
            return;
        };
        let mut changed = Vec::new();
        for path in paths {
            // A file is reported once per version (stamp), not on every scan;
            // one whose `stat` hangs is reported once until it returns.
            let stamp = match stamp(&path).await {
                Ok(stamp) => stamp,
                Err(error) => {
                    if error.kind() == std::io::ErrorKind::TimedOut
                        && seen.insert(path.clone(), (0, None, 0)).is_none()
                    {
                        let name = savepoint_plugin::plugin_name(&path);
                        tracing::warn!(plugin = %name, "plugin {name}: {error}");
                    }
                    continue;
                }
            };
            if seen.get(&path) == Some(&stamp) {
                continue;
            }
            seen.insert(path.clone(), stamp);
            changed.push(path);
        }
        // New and changed files load a few at a time: one whose describe()
        // loops (or whose read hangs) does not hold up the others.
        let load = |path: PathBuf| async move { self.load_changed(&path).await };
        savepoint_plugin::at_most(savepoint_plugin::LOADS, changed, load).await;
    }

    /// Store and load a new or changed plugin file, and say so (or why not).
    async fn load_changed(&self, path: &Path) {
        let name = savepoint_plugin::plugin_name(path);
        let bytes = match self.plugins.host().read_component(path).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(plugin = %name, "plugin {name}: {error}");
                return;
            }
        };
        let digest = savepoint_base::digest::sha256(&bytes);
        let serving = self.plugins.serving(&name);
        if serving.as_deref() == Some(digest.as_str()) {
            return;
        }
        let loaded = match self.store.save_component(&digest, &name, bytes).await {
            Ok(()) => self
                .plugins
                .version(&*self.store, &name, &digest)
                .await
                .map(|_| ()),
            Err(error) => Err(CatalogueError::Store(error)),
        };
        let short = &digest[..digest.len().min(19)];
        match (loaded, serving) {
            (Ok(()), _) => {
                self.plugins.serve(&name, &digest);
                tracing::info!(plugin = %name, %digest, "plugin {name}: new runs use {short}");
            }
            (Err(reason), Some(old)) => {
                tracing::warn!(
                    plugin = %name,
                    %digest,
                    "plugin {name}: {} ({short}) cannot be used: {reason}; new runs keep using {}",
                    path.display(),
                    &old[..old.len().min(19)]
                );
            }
            (Err(reason), None) => {
                tracing::warn!(
                    plugin = %name,
                    %digest,
                    "plugin {name}: {} ({short}) cannot be used: {reason}",
                    path.display()
                );
            }
        }
    }

    /// Move a parked or failed run to the workflow file it was started from
    /// and the plugins folder's files as they are now, from its next step on.
    /// Refused, changing nothing, when [`Runtime::upgrade_check`] refuses it.
    pub async fn upgrade(&self, thread: &str) -> Result<UpgradeReport, RuntimeError> {
        let run = self.load(thread).await?;
        let Upgrade {
            workflow,
            text,
            plugins,
        } = self.upgrade_check(&run).await?;
        let workflow_digest = savepoint_base::digest::sha256(text.as_bytes());
        let changed = plugins
            .iter()
            .filter(|(name, digest)| run.plugins.get(*name) != Some(*digest))
            .map(|(name, digest)| (name.clone(), run.plugins.get(name).cloned(), digest.clone()))
            .collect();
        self.store
            .upgrade_run(RunUpgrade {
                thread: thread.to_string(),
                workflow_name: workflow.name.clone(),
                workflow_digest: workflow_digest.clone(),
                workflow_text: text,
                plugins,
            })
            .await?;
        Ok(UpgradeReport {
            thread: thread.to_string(),
            workflow: (run.workflow_digest, workflow_digest),
            plugins: changed,
        })
    }

    /// What [`Runtime::upgrade`] would move `run` to, or why it would refuse:
    /// the run is finished, its workflow file cannot be read or is invalid,
    /// the run's next nodes (or kept parallel results) are not in it, a
    /// plugin cannot be loaded (not a component, another world, `describe()`
    /// fails), or a config breaks its plugin's schema. The run is not changed
    /// (the plugin files are stored, as any run of them stores them), so a
    /// hint can ask before it names the upgrade.
    pub async fn upgrade_check(&self, run: &RunRecord) -> Result<Upgrade, RuntimeError> {
        let thread = &run.thread;
        if matches!(run.status, RunStatus::Completed | RunStatus::Cancelled) {
            return Err(RuntimeError::NotResumable {
                thread: thread.to_string(),
                status: run.status,
            });
        }
        let path = &run.workflow_path;
        let text =
            tokio::fs::read_to_string(path)
                .await
                .map_err(|source| RuntimeError::WorkflowFile {
                    path: path.into(),
                    source,
                })?;
        let workflow = self.validate(path, &text)?;
        let mut problems = Vec::new();
        let waiting = run.next.iter().chain(run.pending.iter().map(|w| &w.node));
        for node in waiting {
            if !workflow.nodes.contains_key(node) {
                problems.push(UpgradeProblem::NodeGone {
                    node: node.clone(),
                    workflow: path.clone(),
                });
            }
        }
        // The files as they are now: each is loaded, a broken one refused.
        let plugins = self.pin_plugins(&workflow, PinTo::File).await?;
        for problem in self.plugin_problems(&workflow, path, &plugins).await {
            problems.push(UpgradeProblem::Plugin(problem.headline()));
        }
        if !problems.is_empty() {
            return Err(RuntimeError::UpgradeRefused {
                thread: thread.to_string(),
                problems,
            });
        }
        Ok(Upgrade {
            workflow,
            text,
            plugins,
        })
    }

    /// What the run is pinned to that the files no longer match: `the
    /// workflow file FILE` when its text changed since the run started (or
    /// was last upgraded), `plugin NAME` for each plugin file that holds
    /// another version now. A plain `resume` ignores these changes; `resume
    /// --upgrade` takes them. Nothing is stored; a file that cannot be read
    /// is left out.
    pub async fn changed_since_pinned(&self, run: &RunRecord) -> Vec<String> {
        let mut changed = Vec::new();
        let path = &run.workflow_path;
        if let Ok(text) = tokio::fs::read(path).await
            && savepoint_base::digest::sha256(&text) != run.workflow_digest
        {
            changed.push(format!("the workflow file {path}"));
        }
        for (name, pinned) in &run.plugins {
            let Some(current) = self.plugins.digest_now(name).await else {
                continue;
            };
            if &current != pinned {
                changed.push(format!("plugin {name}"));
            }
        }
        changed
    }
}
