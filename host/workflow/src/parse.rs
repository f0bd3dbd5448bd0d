//! TOML text -> validated [`Workflow`].
//!
//! Deserialization goes through raw structs whose fields are [`Spanned`], so that
//! every semantic error can point at the offending value; syntax and shape errors
//! come from `toml`/`serde` with their own span. Problems are reported in file order
//! where it matters (one error: the first one a reader would meet).

mod graph;
mod keys;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_spanned::Spanned;

use super::error::LineStarts;
use super::{
    DEFAULT_TIMEOUT, Edge, Limits, Loc, Node, NodeLocs, Reducer, RetryPolicy, Target, Unfinished,
    Workflow, WorkflowError,
};

/// `max_steps` when the file does not say.
pub(super) const DEFAULT_MAX_STEPS: u64 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: Spanned<String>,
    start: Spanned<String>,
    max_steps: Option<Spanned<i64>>,
    retry: Option<RawRetry>,
    timeout: Option<Spanned<DurationText>>,
    memory: Option<Spanned<SizeValue>>,
    fuel: Option<Spanned<i64>>,
    max_state: Option<Spanned<SizeValue>>,
    max_log: Option<RawMaxLog>,
    allow_http: Option<Vec<Spanned<String>>>,
    state: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    nodes: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawNode>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    plugin: Option<Spanned<String>>,
    /// Each key spanned, so that a problem with one (its plugin's schema) can
    /// point at it.
    config: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    next: Option<Spanned<RawNext>>,
    routes: Option<Spanned<Vec<Spanned<String>>>>,
    after: Option<Spanned<Vec<Spanned<String>>>>,
    retry: Option<RawRetry>,
    timeout: Option<Spanned<DurationText>>,
    memory: Option<Spanned<SizeValue>>,
    fuel: Option<Spanned<i64>>,
    max_state: Option<Spanned<SizeValue>>,
    max_log: Option<RawMaxLog>,
    allow_http: Option<Vec<Spanned<String>>>,
    /// Any TOML value, so that a wrong type gets a message naming the node.
    reuse: Option<Spanned<toml::Value>>,
}

/// The limit keys of the top level or of a node.
struct RawLimits<'a> {
    memory: Option<&'a Spanned<SizeValue>>,
    fuel: Option<&'a Spanned<i64>>,
    max_state: Option<&'a Spanned<SizeValue>>,
    max_log: Option<&'a RawMaxLog>,
    allow_http: Option<&'a [Spanned<String>]>,
}

/// A `max_log` table: each key optional, each overriding the level below it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaxLog {
    lines: Option<Spanned<i64>>,
    bytes: Option<Spanned<SizeValue>>,
}

impl RawWorkflow {
    fn limits(&self) -> RawLimits<'_> {
        RawLimits {
            memory: self.memory.as_ref(),
            fuel: self.fuel.as_ref(),
            max_state: self.max_state.as_ref(),
            max_log: self.max_log.as_ref(),
            allow_http: self.allow_http.as_deref(),
        }
    }
}

impl RawNode {
    fn limits(&self) -> RawLimits<'_> {
        RawLimits {
            memory: self.memory.as_ref(),
            fuel: self.fuel.as_ref(),
            max_state: self.max_state.as_ref(),
            max_log: self.max_log.as_ref(),
            allow_http: self.allow_http.as_deref(),
        }
    }
}

/// A `retry` table: every key optional, each overriding the level below it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: Option<Spanned<i64>>,
    backoff: Option<Spanned<String>>,
    initial: Option<Spanned<DurationText>>,
    max: Option<Spanned<DurationText>>,
    jitter: Option<Spanned<f64>>,
}

/// `next = "b"` or `next = ["b", "c"]`.
enum RawNext {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawNext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NextVisitor;

        impl<'de> Visitor<'de> for NextVisitor {
            type Value = RawNext;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node name, \"end\", or a list of node names")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNext, E> {
                Ok(RawNext::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNext, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(RawNext::Many(items))
            }
        }

        deserializer.deserialize_any(NextVisitor)
    }
}

/// A duration as written (a string); parsed by [`parse_duration`](savepoint_base::units::parse_duration) during validation
/// so that the error can say which key it belongs to.
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\" or \"1m30s\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

/// A size as written: a string with a unit (parsed by
/// [`parse_size`](savepoint_base::units::parse_size) during
/// validation), or a TOML integer counting bytes.
enum SizeValue {
    Text(String),
    Bytes(i64),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\", or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeValue, E> {
                i64::try_from(v)
                    .map(SizeValue::Bytes)
                    .map_err(|_| E::custom(format!("invalid size {v}: too large")))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

/// The workflow-wide retry policy, and which of its durations the file set (for
/// messages about a node's retry that conflicts with them).
struct WorkflowRetry {
    policy: RetryPolicy,
    sets_initial: bool,
    sets_max: bool,
}

/// Spans kept from the first pass over the nodes, for the join checks.
struct EdgeSpans {
    /// Each edge target that names a node, with where it is written.
    targets: Vec<(String, Range<usize>)>,
    /// Each `after` entry, with where it is written.
    after: Vec<Range<usize>>,
}

/// Parses and validates `text`, stopping at the first problem: the one a reader
/// of the file meets first.
pub(super) fn parse(file: &str, text: &str) -> Result<Workflow, WorkflowError> {
    parse_all(file, text).map_err(|mut problems| problems.swap_remove(0))
}

/// Parses and validates `text`, reporting every problem (never an empty list).
/// A TOML syntax or shape error is one problem: nothing after it can be read.
/// Problems come in the order they are checked, which is [`parse`]'s order;
/// the graph checks (joins) run only once every node is valid.
pub(super) fn parse_all(file: &str, text: &str) -> Result<Workflow, Vec<WorkflowError>> {
    parse_unfinished(file, text).map_err(|unfinished| unfinished.problems)
}

/// [`parse_all`], with the nodes that parsed when there are problems.
pub(super) fn parse_unfinished(file: &str, text: &str) -> Result<Workflow, Unfinished> {
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| Unfinished {
        problems: vec![WorkflowError::at(
            file,
            text,
            e.span().unwrap_or(0..0),
            e.message().trim_end(),
        )],
        nodes: None,
    })?;
    let lines = LineStarts::new(text);
    let validator = Validator {
        file,
        text,
        lines,
        problems: RefCell::new(Vec::new()),
    };
    let workflow = validator.workflow(raw);
    let problems = validator.problems.into_inner();
    match workflow {
        Some(workflow) if problems.is_empty() => Ok(workflow),
        nodes => {
            debug_assert!(!problems.is_empty(), "no workflow, but no problem either");
            Err(Unfinished {
                problems,
                nodes: nodes.map(Box::new),
            })
        }
    }
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    lines: LineStarts,
    /// Every problem found so far, in the order checked.
    problems: RefCell<Vec<WorkflowError>>,
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> WorkflowError {
        WorkflowError::at_line(self.file, self.text, &self.lines, span, message)
    }

    fn loc(&self, span: Range<usize>) -> Loc {
        Loc::with_lines(self.text, &self.lines, span)
    }

    /// Records a problem; the caller goes on with a stand-in value.
    fn report(&self, problem: WorkflowError) {
        self.problems.borrow_mut().push(problem);
    }

    /// Records a problem at `span`.
    fn problem(&self, span: Range<usize>, message: impl Into<String>) {
        self.report(self.err(span, message));
    }

    /// `result`'s value, or (recording its problem) `fallback`.
    fn or_report<T>(&self, result: Result<T, WorkflowError>, fallback: T) -> T {
        result.unwrap_or_else(|problem| {
            self.report(problem);
            fallback
        })
    }

    fn problem_count(&self) -> usize {
        self.problems.borrow().len()
    }

    /// The workflow, or `None` when too much is missing to build one (then a
    /// problem says why). Problems found on the way are in `self.problems`.
    fn workflow(&self, raw: RawWorkflow) -> Option<Workflow> {
        if raw.name.get_ref().trim().is_empty() {
            self.problem(raw.name.span(), "name must not be empty");
        }
        let max_steps = match &raw.max_steps {
            None => DEFAULT_MAX_STEPS,
            Some(m) => match u64::try_from(*m.get_ref()).ok().filter(|&m| m >= 1) {
                Some(max_steps) => max_steps,
                None => {
                    let msg = format!(
                        "max_steps must be at least 1 (it bounds the steps of a run), got {}",
                        m.get_ref()
                    );
                    self.problem(m.span(), msg);
                    DEFAULT_MAX_STEPS
                }
            },
        };

        let default_retry = WorkflowRetry {
            sets_initial: raw.retry.as_ref().is_some_and(|r| r.initial.is_some()),
            sets_max: raw.retry.as_ref().is_some_and(|r| r.max.is_some()),
            policy: match &raw.retry {
                None => RetryPolicy::default(),
                Some(r) => self.retry(r, "", RetryPolicy::default(), None),
            },
        };
        let default_timeout = match &raw.timeout {
            None => Some(DEFAULT_TIMEOUT),
            Some(t) => self.or_report(self.timeout(t, ""), Some(DEFAULT_TIMEOUT)),
        };
        let default_limits = self.limits(raw.limits(), "", &Limits::default());

        let mut reducers = BTreeMap::new();
        for (key, value) in in_file_order(raw.state.unwrap_or_default()) {
            match value.get_ref().parse::<Reducer>() {
                Ok(reducer) => {
                    reducers.insert(key.into_inner(), reducer);
                }
                Err(_) => {
                    let msg = format!(
                        "state key \"{}\" has reducer \"{}\", but valid reducers are: replace, append, merge, add",
                        key.get_ref(),
                        value.get_ref()
                    );
                    self.problem(value.span(), msg);
                }
            }
        }

        const NO_NODES: &str = "workflow has no nodes; add at least one [nodes.NAME] table";
        let Some(raw_nodes) = raw.nodes else {
            self.problem(0..0, NO_NODES);
            return None;
        };
        if raw_nodes.get_ref().is_empty() {
            self.problem(raw_nodes.span(), NO_NODES);
            return None;
        }
        let raw_nodes = in_file_order(raw_nodes.into_inner());
        let names: BTreeSet<&str> = raw_nodes
            .iter()
            .map(|(k, _)| k.get_ref().as_str())
            .collect();
        let graph = Graph {
            listed: listing(&names),
            names: &names,
            start: raw.start.get_ref(),
        };

        let start = &raw.start;
        if graph.missing(start.get_ref()) || start.get_ref() == "end" {
            let msg = format!(
                "start = \"{}\", but there is no node \"{}\" (nodes: {})",
                start.get_ref(),
                start.get_ref(),
                graph.listed
            );
            self.problem(start.span(), msg);
        }

        let defaults = NodeDefaults {
            retry: &default_retry,
            timeout: default_timeout,
            limits: &default_limits,
        };
        let mut nodes = BTreeMap::new();
        let mut locs = BTreeMap::new();
        let mut spans: BTreeMap<String, EdgeSpans> = BTreeMap::new();
        for (key, raw_node) in &raw_nodes {
            let before = self.problem_count();
            let node = self.node(key, raw_node, &graph, &defaults);
            // Every problem found in the node's table names the node.
            for problem in &mut self.problems.borrow_mut()[before..] {
                problem.node = Some(key.get_ref().clone());
            }
            if let Some((node, node_locs, edge_spans)) = node {
                locs.insert(node.name.clone(), node_locs);
                spans.insert(node.name.clone(), edge_spans);
                nodes.insert(node.name.clone(), node);
            }
        }
        // The graph checks need every node, each valid.
        if self.problem_count() == 0 {
            self.joins(&nodes, &spans);
            // (Reachability assumes the joins are sound.)
            if self.problem_count() == 0 {
                self.dead_joins(&nodes, start.get_ref(), &spans);
            }
        }

        // With problems, the nodes whose own tables are valid (see
        // [`super::Unfinished`]).
        Some(Workflow {
            name: raw.name.into_inner(),
            start: raw.start.into_inner(),
            max_steps,
            max_state: default_limits.max_state,
            reducers,
            nodes,
            locs,
        })
    }

    /// One `[nodes.NAME]` table; `None` when its name is unusable.
    fn node(
        &self,
        key: &Spanned<String>,
        raw_node: &Spanned<RawNode>,
        graph: &Graph<'_>,
        defaults: &NodeDefaults<'_>,
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

        let (plugin, plugin_span) = match &raw_node.plugin {
            None => (name.clone(), header.clone()),
            Some(p) if is_plugin_name(p.get_ref()) => (p.get_ref().clone(), p.span()),
            Some(p) => {
                let msg = format!(
                    "node \"{name}\" has plugin = \"{}\", but a plugin name must be a plain file \
                     stem (letters, digits, '_', '-', '.'), naming plugins/<plugin>.wasm",
                    p.get_ref()
                );
                self.problem(p.span(), msg);
                // Never checked against the plugins folder (see
                // [`super::is_plugin_name`]).
                (p.get_ref().clone(), p.span())
            }
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
            Some(r) => self.retry(r, &prefix, defaults.retry.policy, Some(defaults.retry)),
        };
        let timeout = match &raw_node.timeout {
            None => defaults.timeout,
            Some(t) => self.or_report(self.timeout(t, &prefix), defaults.timeout),
        };
        let limits = self.limits(raw_node.limits(), &prefix, defaults.limits);
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

    /// A node's `next` or `routes`, and where each target that names a node
    /// is written. Every target that is wrong is reported, and left out.
    fn edge(
        &self,
        name: &str,
        header: Range<usize>,
        raw_node: &RawNode,
        graph: &Graph<'_>,
    ) -> (Edge, Vec<(String, Range<usize>)>) {
        let mut target_spans: Vec<(String, Range<usize>)> = Vec::new();
        let listed = &graph.listed;
        let edge = match (&raw_node.next, &raw_node.routes) {
            (None, None) => {
                let msg = format!(
                    "node \"{name}\" has no edge: add next = \"<node>\" (or \"end\"), \
                     or routes = [\"<node>\", ...] to let the node choose with goto"
                );
                self.problem(header, msg);
                Edge::Next(vec![Target::End])
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
                self.problem(later, msg);
                Edge::Next(vec![Target::End])
            }
            (Some(next), None) => match next.get_ref() {
                RawNext::One(target) => {
                    if graph.missing(target) {
                        let msg = format!(
                            "node \"{name}\" has next = \"{target}\", but there is no node \"{target}\" (nodes: {listed})",
                        );
                        self.problem(next.span(), msg);
                    }
                    let target = Target::from_name(target);
                    if let Some(node) = target.node() {
                        target_spans.push((node.to_owned(), next.span()));
                    }
                    Edge::Next(vec![target])
                }
                RawNext::Many(list) => {
                    if list.is_empty() {
                        let msg = format!(
                            "node \"{name}\" has next = [], but it needs at least one target \
                             (use next = \"end\" to finish the run)"
                        );
                        self.problem(next.span(), msg);
                    }
                    let mut targets: Vec<Target> = Vec::new();
                    let mut seen: HashSet<&str> = HashSet::new();
                    for item in list {
                        let target = Target::from_name(item.get_ref());
                        if !seen.insert(item.get_ref()) {
                            let msg = format!("node \"{name}\" lists next \"{target}\" twice");
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if graph.missing(item.get_ref()) {
                            let msg = format!(
                                "node \"{name}\" has next \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                                item.get_ref()
                            );
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if target == Target::End && list.len() > 1 {
                            let msg = format!(
                                "node \"{name}\" lists \"end\" among several next nodes; \
                                 a list runs every node in it in parallel, so it can only \
                                 name nodes (a branch ends when its own next is \"end\")"
                            );
                            self.problem(item.span(), msg);
                            continue;
                        }
                        if let Some(node) = target.node() {
                            target_spans.push((node.to_owned(), item.span()));
                        }
                        targets.push(target);
                    }
                    Edge::Next(targets)
                }
            },
            (None, Some(routes)) => {
                if routes.get_ref().is_empty() {
                    let msg =
                        format!("node \"{name}\" has routes = [], but it needs at least one route");
                    self.problem(routes.span(), msg);
                }
                let mut targets: Vec<Target> = Vec::new();
                let mut seen: HashSet<&str> = HashSet::new();
                for route in routes.get_ref() {
                    let target = Target::from_name(route.get_ref());
                    if !seen.insert(route.get_ref()) {
                        let msg = format!("node \"{name}\" lists route \"{target}\" twice");
                        self.problem(route.span(), msg);
                        continue;
                    }
                    if graph.missing(route.get_ref()) {
                        let msg = format!(
                            "node \"{name}\" has route \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                            route.get_ref()
                        );
                        self.problem(route.span(), msg);
                        continue;
                    }
                    if let Some(node) = target.node() {
                        target_spans.push((node.to_owned(), route.span()));
                    }
                    targets.push(target);
                }
                Edge::Routes(targets)
            }
        };
        (edge, target_spans)
    }

    /// A node's `after` list (a join), and where each entry is written.
    fn after(
        &self,
        name: &str,
        raw_node: &RawNode,
        graph: &Graph<'_>,
    ) -> (Vec<String>, Vec<Range<usize>>) {
        let mut after = Vec::new();
        let mut after_spans = Vec::new();
        let Some(list) = &raw_node.after else {
            return (after, after_spans);
        };
        if list.get_ref().is_empty() {
            let msg = format!(
                "node \"{name}\" has after = [], but a join needs at least one node to \
                 wait for (remove after for a node that runs as soon as it is reached)"
            );
            self.problem(list.span(), msg);
            return (after, after_spans);
        }
        if name == graph.start {
            let msg = format!(
                "node \"{name}\" is the start node, so it cannot have after: the run \
                 begins there without waiting"
            );
            self.problem(list.span(), msg);
            return (after, after_spans);
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for entry in list.get_ref() {
            let entry_name = entry.get_ref();
            if !seen.insert(entry_name) {
                let msg = format!("node \"{name}\" lists \"{entry_name}\" in after twice");
                self.problem(entry.span(), msg);
                continue;
            }
            if !graph.names.contains(entry_name.as_str()) {
                let msg = format!(
                    "node \"{name}\" lists \"{entry_name}\" in after, but there is no node \"{entry_name}\" (nodes: {})",
                    graph.listed
                );
                self.problem(entry.span(), msg);
                continue;
            }
            if entry_name == name {
                let msg = format!("node \"{name}\" cannot wait for itself (after)");
                self.problem(entry.span(), msg);
                continue;
            }
            after.push(entry_name.clone());
            after_spans.push(entry.span());
        }
        (after, after_spans)
    }
}

/// The node names of a file, for the edge checks.
struct Graph<'a> {
    names: &'a BTreeSet<&'a str>,
    /// The names for messages ([`listing`]).
    listed: String,
    /// The `start` key's value, as written.
    start: &'a str,
}

impl Graph<'_> {
    /// An edge target that is neither `end` nor a node.
    fn missing(&self, target: &str) -> bool {
        target != "end" && !self.names.contains(target)
    }
}

/// What a node's keys are laid over: the workflow's keys, or the defaults.
struct NodeDefaults<'a> {
    retry: &'a WorkflowRetry,
    timeout: Option<Duration>,
    limits: &'a Limits,
}

/// The node names for a message, sorted: the first few, and how many more.
fn listing(names: &BTreeSet<&str>) -> String {
    const SHOWN: usize = 20;
    let mut listed = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        listed.push_str(&format!(", and {} more", names.len() - SHOWN));
    }
    listed
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
pub(super) fn is_plugin_name(name: &str) -> bool {
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
