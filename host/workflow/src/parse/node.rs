//! One `[nodes.NAME]` table on its own: its name, plugin and config, and the
//! keys laid over the workflow's (see `keys`); its edges are `edges`'.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use serde_spanned::Spanned;

use super::{Defaults, EdgeSpans, Graph, RawNode, Validator};
use crate::{Node, NodeLocs};

impl Validator<'_> {
    /// One `[nodes.NAME]` table; `None` when its name is unusable.
    pub(super) fn node(
        &self,
        key: &Spanned<String>,
        raw_node: &Spanned<RawNode>,
        graph: &Graph<'_>,
        defaults: &Defaults,
    ) -> Option<(Node, NodeLocs, EdgeSpans)> {
        let name = key.get_ref();
        if name == "end" {
            let msg = "\"end\" cannot be a node name: edges use it to finish the run";
            self.problem(key.span(), msg);
            return None;
        }
        if !is_node_name(name) {
            let msg =
                format!("node name \"{name}\" is invalid: use only letters, digits, '_' and '-'");
            self.problem(key.span(), msg);
            return None;
        }
        let header = raw_node.span();
        let raw_node = raw_node.get_ref();

        let child = self.sub_workflow(name, raw_node);
        let (plugin, plugin_span) = match (&raw_node.plugin, &raw_node.workflow) {
            // (Both written is the sub-workflow's problem.)
            (_, Some(w)) => (String::new(), w.span()),
            (None, None) => (name.clone(), header.clone()),
            (Some(p), None) => self.plugin(name, p),
        };

        let mut config_keys = BTreeMap::new();
        let config = match &raw_node.config {
            None => Value::Object(Map::new()),
            Some(c) => {
                let mut object = Map::new();
                for (k, v) in c.get_ref() {
                    config_keys.insert(k.get_ref().clone(), self.loc(k.span().start..v.span().end));
                    match to_json(v.get_ref(), &format!("config.{}", k.get_ref())) {
                        Ok(value) => {
                            object.insert(k.get_ref().clone(), value);
                        }
                        Err(m) => self.problem(c.span(), format!("node \"{name}\": {m}")),
                    }
                }
                Value::Object(object)
            }
        };

        let (edge, target_spans) = self.edge(name, header.clone(), raw_node, graph);
        let (after, after_spans) = self.after(name, raw_node, graph);

        let prefix = format!("node \"{name}\": ");
        let retry = match &raw_node.retry {
            None => defaults.retry.policy,
            Some(r) => self.retry(r, &prefix, defaults.retry.policy, Some(&defaults.retry)),
        };
        let timeout = match &raw_node.timeout {
            None => defaults.timeout,
            Some(t) => self.or_report(self.timeout(t, &prefix), defaults.timeout),
        };
        let limits = self.limits(raw_node.limits(), &prefix, &defaults.limits);
        let reuse = match &raw_node.reuse {
            None => false,
            Some(value) => self.or_report(self.reuse(value, &prefix), false),
        };

        let node_locs = NodeLocs {
            header: self.loc(header),
            plugin: self.loc(plugin_span),
            config: raw_node.config.as_ref().map(|c| self.loc(c.span())),
            config_keys,
        };
        let edge_spans = EdgeSpans {
            targets: target_spans,
            after: after_spans,
        };
        let node = Node {
            name: name.clone(),
            plugin,
            workflow: child,
            config,
            edge,
            retry,
            timeout,
            after,
            limits,
            reuse,
        };
        Some((node, node_locs, edge_spans))
    }
}

impl Validator<'_> {
    /// A `plugin = "..."` value and where it is written.
    fn plugin(&self, name: &str, p: &Spanned<String>) -> (String, std::ops::Range<usize>) {
        if !is_plugin_name(p.get_ref()) {
            let msg = format!(
                "node \"{name}\" has plugin = \"{}\", but a plugin name must be a plain file \
                 stem (letters, digits, '_', '-', '.'), naming plugins/<plugin>.wasm",
                p.get_ref()
            );
            self.problem(p.span(), msg);
            // Never checked against the plugins folder (see
            // [`super::is_plugin_name`]).
        }
        (p.get_ref().clone(), p.span())
    }
}

/// `[A-Za-z0-9_-]+`
fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[A-Za-z0-9_.-]+`: a file stem in the plugins directory, never a path.
pub(crate) fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A TOML table as a JSON object. Datetimes become their RFC 3339 strings; floats
/// JSON cannot hold (nan, inf) are an error naming their path, e.g. `config.rate`.
pub(super) fn table_to_json(table: &toml::Table, path: &str) -> Result<Value, String> {
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
