//! What the dashboard reads besides the API's routes: a run's workflow graph and pins,
//! and every stored component version with what its `describe()` says.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::DaemonBackend;
use crate::api::ApiError;
use savepoint_runtime::RuntimeError;
use savepoint_store::CheckpointStore;
use savepoint_workflow::{Edge, Workflow};

impl<S: CheckpointStore> DaemonBackend<S> {
    /// [`crate::api::Backend::run_graph`]: the graph of the workflow text the run is
    /// pinned to (not the file as it is now), and its pinned component versions.
    pub(super) async fn graph_json(&self, thread: &str) -> Result<Value, ApiError> {
        let run = self
            .store()
            .existing_run(thread)
            .await
            .map_err(RuntimeError::from)?;
        let text = self
            .store()
            .workflow_text(&run.workflow_digest)
            .await
            .map_err(RuntimeError::from)?;
        // A run's text parsed when it was created; one that no longer does (a newer
        // host's file) still shows its status and history, with an empty graph.
        let workflow = text.and_then(|text| Workflow::parse(&run.workflow_path, &text).ok());
        let (start, nodes, edges) = match &workflow {
            Some(workflow) => (json!(workflow.start), nodes(workflow), edges(workflow)),
            None => (Value::Null, Vec::new(), Vec::new()),
        };
        Ok(json!({
            "workflow": run.workflow_name,
            "start": start,
            "nodes": nodes,
            "edges": edges,
            "plugins": run.plugins,
        }))
    }

    /// [`crate::api::Backend::plugin_versions`].
    pub(super) async fn versions_json(&self) -> Result<Value, ApiError> {
        let runtime = self.daemon.runtime();
        let versions = self
            .store()
            .component_versions()
            .await
            .map_err(RuntimeError::from)?;
        // The folder's files now: which version is current, and their describe(). A
        // folder that cannot be read makes no version current.
        let loads = runtime
            .plugin_host()
            .load_dir(runtime.plugins_dir())
            .await
            .unwrap_or_default();
        let mut current = BTreeMap::new();
        let mut described = BTreeMap::new();
        for load in &loads {
            if let Some(digest) = &load.digest {
                current.insert(load.name.as_str(), digest.as_str());
                if let Ok(plugin) = &load.result {
                    described.insert(digest.clone(), serde_json::to_value(&plugin.info).ok());
                }
            }
        }
        let mut list = Vec::new();
        for version in versions {
            let info = match described.get(&version.digest) {
                Some(info) => info.clone(),
                // An older version: its describe() only if its compiled code is cached
                // (compiling it for a listing would take seconds per version).
                None => {
                    let path = runtime.plugins_dir().join(format!("{}.wasm", version.name));
                    runtime
                        .plugin_host()
                        .load_stored(&version.name, &path, &version.digest, None)
                        .await
                        .ok()
                        .and_then(|plugin| serde_json::to_value(&plugin.info).ok())
                }
            };
            list.push(json!({
                "name": version.name,
                "digest": version.digest,
                "bytes": version.bytes,
                "stored_at": savepoint_store::format_time(version.stored_at_ms),
                "current": current.get(version.name.as_str()) == Some(&version.digest.as_str()),
                "runs": version.runs,
                "unfinished": version.unfinished,
                "info": info,
            }));
        }
        Ok(Value::Array(list))
    }
}

fn nodes(workflow: &Workflow) -> Vec<Value> {
    workflow
        .nodes
        .values()
        .map(|node| json!({"name": node.name, "plugin": node.plugin}))
        .collect()
}

fn edges(workflow: &Workflow) -> Vec<Value> {
    let mut edges = Vec::new();
    for node in workflow.nodes.values() {
        let route = matches!(node.edge, Edge::Routes(_));
        for target in node.edge.targets() {
            let mut edge = Map::new();
            edge.insert("from".into(), json!(node.name));
            edge.insert("to".into(), json!(target.node().unwrap_or("end")));
            edge.insert("route".into(), json!(route));
            edges.push(Value::Object(edge));
        }
    }
    edges
}
