//! What a workflow is checked for before its first node runs. `run`, `start`
//! and `POST /runs` refuse a run whose nodes' configs break the JSON Schemas
//! their plugins declare ([`Runtime::check_configs`]); `savepoint validate`
//! checks everything the file, the plugins folder and the environment allow
//! without running a node, and reports every problem ([`check_workflow`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{Runtime, RuntimeError, plugin_names, secrets};
use crate::plugin::{NodeInfo, Plugin, PluginHost};
use crate::store::CheckpointStore;
use crate::workflow::{Node, Workflow, WorkflowError};

/// What `savepoint validate` makes of a `${env:NAME}` whose variable is not
/// set where it runs: an error, or (the daemon that runs the workflow has it)
/// a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSecrets {
    Error,
    Warning,
}

/// Everything [`check_workflow`] found.
#[derive(Debug)]
pub struct Report {
    /// The workflow, when the file is a valid one (there may still be errors
    /// in its plugins, configs or secrets).
    pub workflow: Option<Workflow>,
    /// Each problem that stops a run, in file order.
    pub errors: Vec<WorkflowError>,
    /// Each finding that does not, in file order.
    pub warnings: Vec<WorkflowError>,
}

/// Check the workflow file `file` (its text `text`) as `run` does before its
/// first node, and further: every problem of the file (not only the first);
/// that each node's plugin is in `plugins_dir` and loads (compiles, and
/// describes itself); each node's config against its plugin's schema; that
/// each `${env:NAME}` in a config is set (per `missing_secrets`). An
/// unreadable plugins folder is an error of the environment, not a problem
/// of the file.
pub async fn check_workflow(
    host: &PluginHost,
    plugins_dir: &Path,
    file: &str,
    text: &str,
    missing_secrets: MissingSecrets,
) -> Result<Report, RuntimeError> {
    let workflow = match Workflow::parse_all(file, text) {
        Ok(workflow) => workflow,
        Err(errors) => {
            return Ok(Report {
                workflow: None,
                errors,
                warnings: Vec::new(),
            });
        }
    };
    let mut errors = Vec::new();
    let mut warnings = workflow.warning_problems(file);
    let available = plugin_names(plugins_dir)?;
    errors.extend(workflow.missing_plugins(file, &plugins_dir.display().to_string(), &available));

    // Each plugin the workflow uses, loaded once (a few at a time).
    let wanted: Vec<String> = workflow
        .plugins()
        .into_iter()
        .filter(|name| available.contains(name))
        .collect();
    let load = |name: String| async move {
        let loaded = host.load(&plugins_dir.join(format!("{name}.wasm"))).await;
        (name, loaded.result)
    };
    let loads = crate::plugin::at_most(crate::plugin::LOADS, wanted, load).await;
    let plugins: BTreeMap<String, Result<Plugin, String>> = loads
        .into_iter()
        .map(|(name, result)| (name, result.map_err(|e| e.to_string())))
        .collect();

    let env = |name: &str| std::env::var(name).ok();
    let mut warned: Vec<&str> = Vec::new();
    for node in workflow.nodes.values() {
        let (config, bad) = secrets::check(&node.config, &env);
        for reference in bad {
            let problem = workflow
                .config_problem(
                    file,
                    &node.name,
                    top_key(&reference.field),
                    format!("node \"{}\": {}", node.name, reference.message),
                )
                .with_field(&reference.field);
            match (reference.unset, missing_secrets) {
                (true, MissingSecrets::Warning) => warnings.push(problem),
                _ => errors.push(problem),
            }
        }
        let plugin = match plugins.get(&node.plugin) {
            None => continue,
            Some(Err(reason)) => {
                let message = format!(
                    "node \"{}\": plugin \"{}\" cannot be used: {reason}",
                    node.name, node.plugin
                );
                errors.push(workflow.plugin_problem(file, &node.name, message));
                continue;
            }
            Some(Ok(plugin)) => plugin,
        };
        // A plugin's own oddities, once per plugin.
        if !warned.contains(&node.plugin.as_str()) {
            warned.push(&node.plugin);
            for warning in plugin.warnings() {
                let message = format!("plugin \"{}\": {warning}", node.plugin);
                warnings.push(workflow.plugin_problem(file, &node.name, message));
            }
        }
        match schema_problems(&workflow, file, node, &plugin.info, &config) {
            Ok(problems) => errors.extend(problems),
            Err(message) => {
                if !warnings.iter().any(|w| w.message == message) {
                    warnings.push(workflow.plugin_problem(file, &node.name, message));
                }
            }
        }
    }
    let in_file_order = |p: &WorkflowError| (p.line, p.col);
    errors.sort_by_key(in_file_order);
    warnings.sort_by_key(in_file_order);
    Ok(Report {
        workflow: Some(workflow),
        errors,
        warnings,
    })
}

/// The ways node `node`'s `config` (its secrets resolved as far as they can
/// be) breaks the config schema that `info` declares, each located in the
/// workflow file `file` and naming the field; `Err` with a message when the
/// schema is not one.
fn schema_problems(
    workflow: &Workflow,
    file: &str,
    node: &Node,
    info: &NodeInfo,
    config: &Value,
) -> Result<Vec<WorkflowError>, String> {
    let problems = info.config_problems(config).map_err(|bad| {
        format!(
            "plugin \"{}\": {bad}; configs are not checked against it",
            node.plugin
        )
    })?;
    Ok(problems
        .into_iter()
        .map(|problem| {
            let message = format!(
                "node \"{}\": {} (the schema of plugin {})",
                node.name, problem.message, node.plugin
            );
            workflow
                .config_problem(file, &node.name, problem.key.as_deref(), message)
                .with_field(&problem.field)
        })
        .collect())
}

/// The top-level key of a config field: `greeting` of `config.greeting[2]`.
fn top_key(field: &str) -> Option<&str> {
    let rest = field.strip_prefix("config.")?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(&rest[..end])
}

impl<S: CheckpointStore> Runtime<S> {
    /// Refuse a run (before it is created) whose node configs break the
    /// schemas their plugins, at the versions in `pins`, declare: the first
    /// problem in the file is the error. A plugin that does not load is left
    /// to the step that calls it, which fails saying why; a schema that is not
    /// one checks nothing.
    pub(super) async fn check_configs(
        &self,
        workflow: &Workflow,
        file: &str,
        pins: &BTreeMap<String, String>,
    ) -> Result<(), RuntimeError> {
        match self
            .config_errors(workflow, file, pins)
            .await
            .into_iter()
            .next()
        {
            Some(problem) => Err(RuntimeError::Workflow(problem)),
            None => Ok(()),
        }
    }

    /// Every problem [`Runtime::check_configs`] refuses a run for, in file order.
    pub(super) async fn config_errors(
        &self,
        workflow: &Workflow,
        file: &str,
        pins: &BTreeMap<String, String>,
    ) -> Vec<WorkflowError> {
        let env = |name: &str| std::env::var(name).ok();
        let mut problems = Vec::new();
        for node in workflow.nodes.values() {
            let Some(digest) = pins.get(&node.plugin) else {
                continue;
            };
            let plugin: Arc<Plugin> = match self.pinned_plugin(&node.plugin, digest).await {
                Ok(plugin) => plugin,
                Err(_) => continue,
            };
            if plugin.info.config_schema.is_none() {
                continue;
            }
            let (config, _) = secrets::check(&node.config, &env);
            if let Ok(found) = schema_problems(workflow, file, node, &plugin.info, &config) {
                problems.extend(found);
            }
        }
        problems.sort_by_key(|p| (p.line, p.col));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::top_key;

    #[test]
    fn a_field_is_in_its_top_level_key() {
        assert_eq!(top_key("config.greeting"), Some("greeting"));
        assert_eq!(top_key("config.a.b"), Some("a"));
        assert_eq!(top_key("config.list[2]"), Some("list"));
        assert_eq!(top_key("config"), None);
    }
}
