//! What a workflow is checked for before its first node runs. `run`, `start`
//! and `POST /runs` refuse a run whose file is invalid, whose plugins are
//! missing or do not load, or whose nodes' configs break the JSON Schemas
//! their plugins declare ([`Runtime::check_new_run`]); `savepoint validate`
//! checks everything the file, the plugins folder and the environment allow
//! without running a node, and reports every problem ([`check_workflow`]).
//! Both check the child workflow files of sub-workflow nodes (`child_files`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::child_files::child_problems;
use super::pins::PinTo;
use super::{Runtime, RuntimeError, plugin_names, secrets};
use savepoint_plugin::{ConfigSchema, NodeInfo, Plugin, PluginHost};
use savepoint_store::CheckpointStore;
use savepoint_workflow::{Node, Unfinished, Workflow, WorkflowError, is_plugin_name};

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
    // A file with problems still has its nodes checked against their
    // plugins: every node whose own table parsed.
    let (workflow, mut errors, unfinished) = match Workflow::parse_unfinished(file, text) {
        Ok(workflow) => (Some(workflow), Vec::new(), None),
        Err(Unfinished { problems, nodes }) => (None, problems, nodes),
    };
    let Some(checked) = workflow.as_ref().or(unfinished.as_deref()) else {
        return Ok(Report {
            workflow: None,
            errors,
            warnings: Vec::new(),
        });
    };
    let mut warnings = match &workflow {
        Some(workflow) => workflow.warning_problems(file),
        None => Vec::new(),
    };
    let available = match plugin_names(plugins_dir) {
        Ok(available) => available,
        // The file's own problems are the news; the folder is only in the way.
        Err(_) if workflow.is_none() => {
            return Ok(Report {
                workflow: None,
                errors,
                warnings,
            });
        }
        Err(error) => return Err(error),
    };
    if let Some(workflow) = &workflow {
        errors.extend(child_problems(workflow, file, plugins_dir, &available));
    }
    let named = |plugin: &str| is_plugin_name(plugin);
    errors.extend(
        checked
            .missing_plugins(file, &plugins_dir.display().to_string(), &available)
            .into_iter()
            .filter(|problem| {
                let node = problem.node.as_deref().and_then(|n| checked.nodes.get(n));
                node.is_some_and(|node| named(&node.plugin))
            }),
    );

    // Each plugin the workflow uses, loaded once (a few at a time).
    let wanted: Vec<String> = checked
        .plugins()
        .into_iter()
        .filter(|name| named(name) && available.contains(name))
        .collect();
    let load = |name: String| async move {
        let loaded = host.load(&plugins_dir.join(format!("{name}.wasm"))).await;
        (name, loaded.result)
    };
    let loads = savepoint_plugin::at_most(savepoint_plugin::LOADS, wanted, load).await;
    let plugins: BTreeMap<String, Result<Plugin, String>> = loads
        .into_iter()
        .map(|(name, result)| (name, result.map_err(|e| e.to_string())))
        .collect();

    let env = |name: &str| std::env::var(name).ok();
    let mut warned: Vec<&str> = Vec::new();
    let mut schemas: BTreeMap<&str, Result<Option<ConfigSchema>, String>> = BTreeMap::new();
    for node in checked.nodes.values() {
        let (config, bad) = secrets::check(&node.config, &env);
        for reference in bad {
            let problem = checked
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
                let message = unusable(node, reason);
                errors.push(checked.plugin_problem(file, &node.name, message));
                continue;
            }
            Some(Ok(plugin)) => plugin,
        };
        // A plugin's own oddities, once per plugin.
        if !warned.contains(&node.plugin.as_str()) {
            warned.push(&node.plugin);
            for warning in plugin.warnings() {
                let message = format!("plugin \"{}\": {warning}", node.plugin);
                warnings.push(checked.plugin_problem(file, &node.name, message));
            }
        }
        let schema = schemas
            .entry(node.plugin.as_str())
            .or_insert_with(|| compile_schema(&node.plugin, &plugin.info));
        match schema {
            Ok(Some(schema)) => {
                errors.extend(schema_problems(checked, file, node, schema, &config))
            }
            Ok(None) => {}
            Err(message) => {
                if !warnings.iter().any(|w| &w.message == message) {
                    warnings.push(checked.plugin_problem(file, &node.name, message.clone()));
                }
            }
        }
    }
    let in_file_order = |p: &WorkflowError| (p.line, p.col);
    errors.sort_by_key(in_file_order);
    warnings.sort_by_key(in_file_order);
    Ok(Report {
        workflow,
        errors,
        warnings,
    })
}

/// The ways node `node`'s `config` (its secrets resolved as far as they can
/// be) breaks its plugin's config `schema`, each located in the workflow file
/// `file` and naming the field.
fn schema_problems(
    workflow: &Workflow,
    file: &str,
    node: &Node,
    schema: &ConfigSchema,
    config: &Value,
) -> Vec<WorkflowError> {
    schema
        .problems(config)
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
        .collect()
}

/// Plugin `plugin`'s config schema, compiled, or why it cannot be used.
fn compile_schema(plugin: &str, info: &NodeInfo) -> Result<Option<ConfigSchema>, String> {
    info.compiled_config_schema()
        .map_err(|bad| format!("plugin \"{plugin}\": {bad}; configs are not checked against it"))
}

/// The top-level key of a config field: `greeting` of `config.greeting[2]`.
fn top_key(field: &str) -> Option<&str> {
    let rest = field.strip_prefix("config.")?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some(&rest[..end])
}

impl<S: CheckpointStore> Runtime<S> {
    /// Everything that refuses a new run of the workflow text `text` (the
    /// file `file`) before the run exists, every problem at once: the file
    /// ([`Workflow::parse_all`]), then its plugins ([`Runtime::check_plugins_of`]).
    /// Returns the workflow and the plugin versions to pin the run to.
    pub(super) async fn check_new_run(
        &self,
        file: &str,
        text: &str,
    ) -> Result<(Arc<Workflow>, BTreeMap<String, String>), RuntimeError> {
        let workflow = match self.parse_new(file, text).await {
            Ok(workflow) => workflow,
            Err(unfinished) => return Err(self.unfinished_problems(&unfinished, file).await),
        };
        if workflow.children().next().is_some() {
            let available = plugin_names(self.plugins.dir())?;
            let problems = child_problems(&workflow, file, self.plugins.dir(), &available);
            if !problems.is_empty() {
                return Err(RuntimeError::Workflow(problems));
            }
        }
        let pins = self.check_plugins_of(&workflow, file).await?;
        Ok((workflow, pins))
    }

    /// The refusal of a workflow file with problems: its own, and those of
    /// the nodes that parsed with their plugins (as `validate` lists them).
    pub async fn unfinished_problems(&self, unfinished: &Unfinished, file: &str) -> RuntimeError {
        let mut problems = unfinished.problems.clone();
        if let Some(nodes) = &unfinished.nodes
            && let Err(RuntimeError::Workflow(more)) = self.check_plugins_of(nodes, file).await
        {
            problems.extend(more);
            problems.sort_by_key(|p| (p.line, p.col));
        }
        RuntimeError::Workflow(problems)
    }

    /// Refuse a run of `workflow` (before it is created) whose plugins are not
    /// in the plugins folder, do not load (a broken file: the run would fail
    /// at that node), or declare config schemas that the nodes' configs break:
    /// every problem, in file order, located in the workflow file `file`, as
    /// `savepoint validate` reports them. (An unset secret is not one: the
    /// environment of the process that runs the node is what counts.)
    /// Returns the version of each plugin that new runs get.
    pub async fn check_plugins_of(
        &self,
        workflow: &Workflow,
        file: &str,
    ) -> Result<BTreeMap<String, String>, RuntimeError> {
        let available = plugin_names(self.plugins.dir())?;
        let dir = self.plugins.dir().display().to_string();
        // (A node whose `plugin` is no plugin name has its problem already.)
        let mut problems: Vec<WorkflowError> = workflow
            .missing_plugins(file, &dir, &available)
            .into_iter()
            .filter(|problem| {
                let node = problem.node.as_deref().and_then(|n| workflow.nodes.get(n));
                node.is_some_and(|node| is_plugin_name(&node.plugin))
            })
            .collect();
        let present = workflow
            .plugins()
            .into_iter()
            .filter(|name| is_plugin_name(name) && available.contains(name))
            .collect();
        let pins = self.pin_each(present, PinTo::Serving).await?;
        problems.extend(self.plugin_problems(workflow, file, &pins).await);
        if problems.is_empty() {
            return Ok(pins);
        }
        problems.sort_by_key(|p| (p.line, p.col));
        Err(RuntimeError::Workflow(problems))
    }

    /// The problems of `workflow`'s nodes with their plugins at the versions
    /// in `pins` (a node whose plugin is not pinned is left out): a plugin
    /// that does not load (compile, describe itself), and each way a node's
    /// config breaks the schema its plugin declares (a schema that is not one
    /// checks nothing). In file order.
    pub(super) async fn plugin_problems(
        &self,
        workflow: &Workflow,
        file: &str,
        pins: &BTreeMap<String, String>,
    ) -> Vec<WorkflowError> {
        let env = |name: &str| std::env::var(name).ok();
        // Each plugin's schema, compiled once (`None`: nothing to check), or
        // why the plugin cannot be used.
        let mut schemas: BTreeMap<&str, Result<Option<ConfigSchema>, String>> = BTreeMap::new();
        for (name, digest) in pins {
            let plugin = self.plugins.version(&*self.store, name, digest).await;
            let schema = plugin
                .map(|p| compile_schema(name, &p.info).ok().flatten())
                .map_err(|error| error.to_string());
            schemas.insert(name, schema);
        }
        let mut problems = Vec::new();
        for node in workflow.nodes.values() {
            match schemas.get(node.plugin.as_str()) {
                None | Some(Ok(None)) => {}
                Some(Err(reason)) => {
                    let message = unusable(node, reason);
                    problems.push(workflow.plugin_problem(file, &node.name, message));
                }
                Some(Ok(Some(schema))) => {
                    let (config, _) = secrets::check(&node.config, &env);
                    problems.extend(schema_problems(workflow, file, node, schema, &config));
                }
            }
        }
        problems.sort_by_key(|p| (p.line, p.col));
        problems
    }
}

/// Node `node`'s plugin cannot be used, for `reason`.
fn unusable(node: &Node, reason: &str) -> String {
    format!(
        "node \"{}\": plugin \"{}\" cannot be used: {reason}",
        node.name, node.plugin
    )
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
