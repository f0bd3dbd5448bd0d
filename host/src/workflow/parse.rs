//! TOML text -> validated [`Workflow`].
//!
//! Deserialization goes through raw structs whose fields are [`Spanned`], so that
//! every semantic error can point at the offending value; syntax and shape errors
//! come from `toml`/`serde` with their own span. Problems are reported in file order
//! where it matters (one error: the first one a reader would meet).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_spanned::Spanned;

use super::{Edge, Loc, Node, NodeLocs, Reducer, Target, Workflow, WorkflowError};

/// `max_steps` when the file does not say.
pub(super) const DEFAULT_MAX_STEPS: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    start: Spanned<String>,
    max_steps: Option<Spanned<i64>>,
    state: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    nodes: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawNode>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    plugin: Option<Spanned<String>>,
    config: Option<Spanned<toml::Table>>,
    next: Option<Spanned<String>>,
    routes: Option<Spanned<Vec<Spanned<String>>>>,
}

pub(super) fn parse(file: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| {
        WorkflowError::at(file, text, e.span().unwrap_or(0..0), e.message().trim_end())
    })?;
    Validator { file, text }.workflow(raw)
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> WorkflowError {
        WorkflowError::at(self.file, self.text, span, message)
    }

    fn workflow(&self, raw: RawWorkflow) -> Result<Workflow, WorkflowError> {
        if raw.name.get_ref().trim().is_empty() {
            return Err(self.err(raw.name.span(), "name must not be empty"));
        }
        let max_steps = match &raw.max_steps {
            None => DEFAULT_MAX_STEPS,
            Some(m) => u64::try_from(*m.get_ref())
                .ok()
                .filter(|&m| m >= 1)
                .ok_or_else(|| {
                    let msg = format!(
                        "max_steps must be at least 1 (it bounds the steps of a run), got {}",
                        m.get_ref()
                    );
                    self.err(m.span(), msg)
                })?,
        };

        let mut reducers = BTreeMap::new();
        for (key, value) in in_file_order(raw.state.unwrap_or_default()) {
            let reducer = value.get_ref().parse::<Reducer>().map_err(|_| {
                let msg = format!(
                    "state key \"{}\" has reducer \"{}\", but valid reducers are: replace, append, merge, add",
                    key.get_ref(),
                    value.get_ref()
                );
                self.err(value.span(), msg)
            })?;
            reducers.insert(key.into_inner(), reducer);
        }

        const NO_NODES: &str = "workflow has no nodes; add at least one [nodes.NAME] table";
        let Some(raw_nodes) = raw.nodes else {
            return Err(self.err(0..0, NO_NODES));
        };
        if raw_nodes.get_ref().is_empty() {
            return Err(self.err(raw_nodes.span(), NO_NODES));
        }
        let raw_nodes = in_file_order(raw_nodes.into_inner());
        let names: BTreeSet<&str> = raw_nodes
            .iter()
            .map(|(k, _)| k.get_ref().as_str())
            .collect();
        let listed = names.iter().copied().collect::<Vec<_>>().join(", ");
        let missing = |target: &str| target != "end" && !names.contains(target);

        let start = &raw.start;
        if missing(start.get_ref()) || start.get_ref() == "end" {
            let msg = format!(
                "start = \"{}\", but there is no node \"{}\" (nodes: {listed})",
                start.get_ref(),
                start.get_ref()
            );
            return Err(self.err(start.span(), msg));
        }

        let mut nodes = BTreeMap::new();
        let mut locs = BTreeMap::new();
        for (key, raw_node) in &raw_nodes {
            let name = key.get_ref();
            if name == "end" {
                let msg = "\"end\" cannot be a node name: edges use it to finish the run";
                return Err(self.err(key.span(), msg));
            }
            if !is_node_name(name) {
                let msg = format!(
                    "node name \"{name}\" is invalid: use only letters, digits, '_' and '-'"
                );
                return Err(self.err(key.span(), msg));
            }
            let header = raw_node.span();
            let raw_node = raw_node.get_ref();

            let (plugin, plugin_span) = match &raw_node.plugin {
                None => (name.clone(), header.clone()),
                Some(p) if is_plugin_name(p.get_ref()) => (p.get_ref().clone(), p.span()),
                Some(p) => {
                    let msg = format!(
                        "node \"{name}\" has plugin = \"{}\", but a plugin name must be a plain file \
                         stem (letters, digits, '_', '-', '.'), naming plugins/<plugin>.wasm",
                        p.get_ref()
                    );
                    return Err(self.err(p.span(), msg));
                }
            };

            let config = match &raw_node.config {
                None => Value::Object(Map::new()),
                Some(c) => table_to_json(c.get_ref(), "config")
                    .map_err(|m| self.err(c.span(), format!("node \"{name}\": {m}")))?,
            };

            let edge = match (&raw_node.next, &raw_node.routes) {
                (None, None) => {
                    let msg = format!(
                        "node \"{name}\" has no edge: add next = \"<node>\" (or \"end\"), \
                         or routes = [\"<node>\", ...] to let the node choose with goto"
                    );
                    return Err(self.err(header, msg));
                }
                (Some(next), Some(routes)) => {
                    let later = if next.span().start > routes.span().start {
                        next.span()
                    } else {
                        routes.span()
                    };
                    let msg = format!(
                        "node \"{name}\" has both next and routes; pick one: next for a fixed \
                         successor, or routes to let the node choose with goto"
                    );
                    return Err(self.err(later, msg));
                }
                (Some(next), None) => {
                    if missing(next.get_ref()) {
                        let msg = format!(
                            "node \"{name}\" has next = \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                            next.get_ref()
                        );
                        return Err(self.err(next.span(), msg));
                    }
                    Edge::Next(Target::from_name(next.get_ref()))
                }
                (None, Some(routes)) => {
                    if routes.get_ref().is_empty() {
                        let msg = format!(
                            "node \"{name}\" has routes = [], but it needs at least one route"
                        );
                        return Err(self.err(routes.span(), msg));
                    }
                    let mut targets: Vec<Target> = Vec::new();
                    for route in routes.get_ref() {
                        let target = Target::from_name(route.get_ref());
                        if targets.contains(&target) {
                            let msg = format!("node \"{name}\" lists route \"{target}\" twice");
                            return Err(self.err(route.span(), msg));
                        }
                        if missing(route.get_ref()) {
                            let msg = format!(
                                "node \"{name}\" has route \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                                route.get_ref()
                            );
                            return Err(self.err(route.span(), msg));
                        }
                        targets.push(target);
                    }
                    Edge::Routes(targets)
                }
            };

            let node_locs = NodeLocs {
                header: Loc::new(self.text, header),
                plugin: Loc::new(self.text, plugin_span),
            };
            locs.insert(name.clone(), node_locs);
            let node = Node {
                name: name.clone(),
                plugin,
                config,
                edge,
            };
            nodes.insert(name.clone(), node);
        }

        Ok(Workflow {
            name: raw.name.into_inner(),
            start: raw.start.into_inner(),
            max_steps,
            reducers,
            nodes,
            locs,
        })
    }
}

/// The entries of a map sorted by where their key is written.
fn in_file_order<K, V>(map: BTreeMap<Spanned<K>, V>) -> Vec<(Spanned<K>, V)> {
    let mut entries: Vec<_> = map.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// `[A-Za-z0-9_-]+`
fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z0-9_.-]+`: a file stem in the plugins directory, never a path.
fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A TOML table as a JSON object. Datetimes become their RFC 3339 strings; floats
/// JSON cannot hold (nan, inf) are an error naming their path, e.g. `config.rate`.
fn table_to_json(table: &toml::Table, path: &str) -> Result<Value, String> {
    table
        .iter()
        .map(|(k, v)| Ok((k.clone(), to_json(v, &format!("{path}.{k}"))?)))
        .collect::<Result<Map<_, _>, String>>()
        .map(Value::Object)
}

fn to_json(value: &toml::Value, path: &str) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{path} is {f}, which JSON cannot represent"))?,
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| to_json(v, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)?,
        toml::Value::Table(t) => table_to_json(t, path)?,
    })
}
