//! TOML text -> validated [`Workflow`].
//!
//! Deserialization goes through raw structs whose fields are [`Spanned`], so that
//! every semantic error can point at the offending value; syntax and shape errors
//! come from `toml`/`serde` with their own span. Problems are reported in file order
//! where it matters (one error: the first one a reader would meet).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_spanned::Spanned;

use super::error::{LineStarts, quoted};
use super::retry::format_duration;
use super::{
    Backoff, DEFAULT_TIMEOUT, Edge, HttpGrant, Limits, Loc, Node, NodeLocs, Reducer, RetryPolicy,
    Target, Workflow, WorkflowError, format_size, parse_duration, parse_size,
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
    config: Option<Spanned<toml::Table>>,
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

/// A duration as written (a string); parsed by [`parse_duration`] during validation
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

/// A size as written: a string with a unit (parsed by [`parse_size`] during
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

pub(super) fn parse(file: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let raw: RawWorkflow = toml::from_str(text).map_err(|e| {
        WorkflowError::at(file, text, e.span().unwrap_or(0..0), e.message().trim_end())
    })?;
    let lines = LineStarts::new(text);
    Validator { file, text, lines }.workflow(raw)
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    lines: LineStarts,
}

impl Validator<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> WorkflowError {
        WorkflowError::at_line(self.file, self.text, &self.lines, span, message)
    }

    fn loc(&self, span: Range<usize>) -> Loc {
        Loc::with_lines(self.text, &self.lines, span)
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

        let default_retry = WorkflowRetry {
            sets_initial: raw.retry.as_ref().is_some_and(|r| r.initial.is_some()),
            sets_max: raw.retry.as_ref().is_some_and(|r| r.max.is_some()),
            policy: match &raw.retry {
                None => RetryPolicy::default(),
                Some(r) => self.retry(r, "", RetryPolicy::default(), None)?,
            },
        };
        let default_timeout = match &raw.timeout {
            None => Some(DEFAULT_TIMEOUT),
            Some(t) => self.timeout(t, "")?,
        };
        let default_limits = self.limits(raw.limits(), "", &Limits::default())?;

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
        let listed = listing(&names);
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
        let mut spans: BTreeMap<String, EdgeSpans> = BTreeMap::new();
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

            let mut target_spans: Vec<(String, Range<usize>)> = Vec::new();
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
                (Some(next), None) => match next.get_ref() {
                    RawNext::One(target) => {
                        if missing(target) {
                            let msg = format!(
                                "node \"{name}\" has next = \"{target}\", but there is no node \"{target}\" (nodes: {listed})",
                            );
                            return Err(self.err(next.span(), msg));
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
                            return Err(self.err(next.span(), msg));
                        }
                        let mut targets: Vec<Target> = Vec::new();
                        let mut seen: HashSet<&str> = HashSet::new();
                        for item in list {
                            let target = Target::from_name(item.get_ref());
                            if !seen.insert(item.get_ref()) {
                                let msg = format!("node \"{name}\" lists next \"{target}\" twice");
                                return Err(self.err(item.span(), msg));
                            }
                            if missing(item.get_ref()) {
                                let msg = format!(
                                    "node \"{name}\" has next \"{0}\", but there is no node \"{0}\" (nodes: {listed})",
                                    item.get_ref()
                                );
                                return Err(self.err(item.span(), msg));
                            }
                            if target == Target::End && list.len() > 1 {
                                let msg = format!(
                                    "node \"{name}\" lists \"end\" among several next nodes; \
                                     a list runs every node in it in parallel, so it can only \
                                     name nodes (a branch ends when its own next is \"end\")"
                                );
                                return Err(self.err(item.span(), msg));
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
                        let msg = format!(
                            "node \"{name}\" has routes = [], but it needs at least one route"
                        );
                        return Err(self.err(routes.span(), msg));
                    }
                    let mut targets: Vec<Target> = Vec::new();
                    let mut seen: HashSet<&str> = HashSet::new();
                    for route in routes.get_ref() {
                        let target = Target::from_name(route.get_ref());
                        if !seen.insert(route.get_ref()) {
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
                        if let Some(node) = target.node() {
                            target_spans.push((node.to_owned(), route.span()));
                        }
                        targets.push(target);
                    }
                    Edge::Routes(targets)
                }
            };

            let mut after = Vec::new();
            let mut after_spans = Vec::new();
            if let Some(list) = &raw_node.after {
                if list.get_ref().is_empty() {
                    let msg = format!(
                        "node \"{name}\" has after = [], but a join needs at least one node to \
                         wait for (remove after for a node that runs as soon as it is reached)"
                    );
                    return Err(self.err(list.span(), msg));
                }
                if name == start.get_ref() {
                    let msg = format!(
                        "node \"{name}\" is the start node, so it cannot have after: the run \
                         begins there without waiting"
                    );
                    return Err(self.err(list.span(), msg));
                }
                let mut seen: HashSet<&str> = HashSet::new();
                for entry in list.get_ref() {
                    let entry_name = entry.get_ref();
                    if !seen.insert(entry_name) {
                        let msg = format!("node \"{name}\" lists \"{entry_name}\" in after twice");
                        return Err(self.err(entry.span(), msg));
                    }
                    if !names.contains(entry_name.as_str()) {
                        let msg = format!(
                            "node \"{name}\" lists \"{entry_name}\" in after, but there is no node \"{entry_name}\" (nodes: {listed})"
                        );
                        return Err(self.err(entry.span(), msg));
                    }
                    if entry_name == name {
                        let msg = format!("node \"{name}\" cannot wait for itself (after)");
                        return Err(self.err(entry.span(), msg));
                    }
                    after.push(entry_name.clone());
                    after_spans.push(entry.span());
                }
            }

            let prefix = format!("node \"{name}\": ");
            let retry = match &raw_node.retry {
                None => default_retry.policy,
                Some(r) => self.retry(r, &prefix, default_retry.policy, Some(&default_retry))?,
            };
            let timeout = match &raw_node.timeout {
                None => default_timeout,
                Some(t) => self.timeout(t, &prefix)?,
            };
            let limits = self.limits(raw_node.limits(), &prefix, &default_limits)?;
            let reuse = match &raw_node.reuse {
                None => false,
                Some(value) => self.reuse(value, &prefix)?,
            };

            let node_locs = NodeLocs {
                header: self.loc(header),
                plugin: self.loc(plugin_span),
            };
            locs.insert(name.clone(), node_locs);
            spans.insert(
                name.clone(),
                EdgeSpans {
                    targets: target_spans,
                    after: after_spans,
                },
            );
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
            nodes.insert(name.clone(), node);
        }
        self.joins(&nodes, &spans)?;
        self.dead_joins(&nodes, start.get_ref(), &spans)?;

        Ok(Workflow {
            name: raw.name.into_inner(),
            start: raw.start.into_inner(),
            max_steps,
            max_state: default_limits.max_state,
            reducers,
            nodes,
            locs,
        })
    }
}

impl Validator<'_> {
    /// Validates a `retry` table and lays it over `base`. `prefix` starts messages
    /// (`node "a": `, or nothing for the workflow's table); `workflow` is the
    /// workflow's retry when this is a node's table.
    fn retry(
        &self,
        raw: &RawRetry,
        prefix: &str,
        base: RetryPolicy,
        workflow: Option<&WorkflowRetry>,
    ) -> Result<RetryPolicy, WorkflowError> {
        let mut policy = base;
        if let Some(attempts) = &raw.attempts {
            let n = *attempts.get_ref();
            if n < 1 {
                let msg = format!(
                    "{prefix}retry.attempts must be at least 1 (it counts the first try; \
                     1 = no retries), got {n}"
                );
                return Err(self.err(attempts.span(), msg));
            }
            policy.attempts = u32::try_from(n).map_err(|_| {
                let msg = format!(
                    "{prefix}retry.attempts must be at most {}, got {n}",
                    u32::MAX
                );
                self.err(attempts.span(), msg)
            })?;
        }
        if let Some(backoff) = &raw.backoff {
            policy.backoff = Backoff::ALL
                .into_iter()
                .find(|b| b.as_str() == backoff.get_ref())
                .ok_or_else(|| {
                    let msg = format!(
                        "{prefix}retry.backoff is \"{}\", but valid backoffs are: exponential, fixed",
                        backoff.get_ref()
                    );
                    self.err(backoff.span(), msg)
                })?;
        }
        if let Some(initial) = &raw.initial {
            policy.initial = self.duration(initial, prefix, "retry.initial")?;
        }
        if let Some(max) = &raw.max {
            policy.max = self.duration(max, prefix, "retry.max")?;
        }
        if let Some(jitter) = &raw.jitter {
            let j = *jitter.get_ref();
            if !(0.0..=1.0).contains(&j) {
                let msg = format!(
                    "{prefix}retry.jitter must be between 0 and 1 (the fraction by which a \
                     delay may vary), got {j}"
                );
                return Err(self.err(jitter.span(), msg));
            }
            policy.jitter = j;
        }
        if policy.initial > policy.max {
            // Point at the key of this table that makes them conflict (the later one
            // in the file when it sets both).
            // (One of them is set: `base` always has initial <= max.)
            let span = (raw.initial.iter().chain(&raw.max))
                .map(Spanned::span)
                .max_by_key(|span| span.start)
                .unwrap_or(0..0);
            let origin = |set_here: bool, set_by_workflow: bool| match (set_here, workflow) {
                (true, _) => "",
                (false, Some(_)) if set_by_workflow => ", from the workflow's retry",
                (false, _) => ", the default",
            };
            let msg = format!(
                "{prefix}retry.initial ({}{}) must not be longer than retry.max ({}{})",
                format_duration(policy.initial),
                origin(
                    raw.initial.is_some(),
                    workflow.is_some_and(|w| w.sets_initial)
                ),
                format_duration(policy.max),
                origin(raw.max.is_some(), workflow.is_some_and(|w| w.sets_max)),
            );
            return Err(self.err(span, msg));
        }
        Ok(policy)
    }

    /// A `timeout` value: a duration longer than zero, or `"none"` (no limit:
    /// `None`).
    fn timeout(
        &self,
        raw: &Spanned<DurationText>,
        prefix: &str,
    ) -> Result<Option<Duration>, WorkflowError> {
        if raw.get_ref().0 == "none" {
            return Ok(None);
        }
        let timeout = self.duration(raw, prefix, "timeout")?;
        if timeout.is_zero() {
            let msg = format!("{prefix}timeout must be longer than 0 (\"none\" for no limit)");
            return Err(self.err(raw.span(), msg));
        }
        Ok(Some(timeout))
    }

    /// A node's `reuse` value: a boolean.
    fn reuse(&self, raw: &Spanned<toml::Value>, prefix: &str) -> Result<bool, WorkflowError> {
        match raw.get_ref() {
            toml::Value::Boolean(reuse) => Ok(*reuse),
            other => {
                let msg = format!(
                    "{prefix}reuse must be true or false (true keeps the node's instance warm \
                     between calls), got {other}"
                );
                Err(self.err(raw.span(), msg))
            }
        }
    }

    /// Validates the limit keys of the top level or of a node and lays them over
    /// `base`, key by key. `prefix` starts messages, as for [`Self::retry`].
    fn limits(
        &self,
        raw: RawLimits<'_>,
        prefix: &str,
        base: &Limits,
    ) -> Result<Limits, WorkflowError> {
        let mut limits = base.clone();
        if let Some(memory) = raw.memory {
            limits.memory = self.size(memory, prefix, "memory")?;
            if !(Limits::MIN_MEMORY..=Limits::MAX_MEMORY).contains(&limits.memory) {
                let msg = format!(
                    "{prefix}memory must be between {} and {}, got {}",
                    format_size(Limits::MIN_MEMORY),
                    format_size(Limits::MAX_MEMORY),
                    format_size(limits.memory)
                );
                return Err(self.err(memory.span(), msg));
            }
        }
        if let Some(fuel) = raw.fuel {
            let n = *fuel.get_ref();
            let fuel_value = u64::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                let msg = format!(
                    "{prefix}fuel must be at least 1 (the instructions one call may run; \
                     remove it for no limit), got {n}"
                );
                self.err(fuel.span(), msg)
            })?;
            limits.fuel = Some(fuel_value);
        }
        if let Some(max_state) = raw.max_state {
            limits.max_state = self.size(max_state, prefix, "max_state")?;
            if limits.max_state < Limits::MIN_MAX_STATE {
                let msg = format!(
                    "{prefix}max_state must be at least {}, got {}",
                    format_size(Limits::MIN_MAX_STATE),
                    format_size(limits.max_state)
                );
                return Err(self.err(max_state.span(), msg));
            }
        }
        if let Some(max_log) = raw.max_log {
            if let Some(lines) = &max_log.lines {
                let n = *lines.get_ref();
                limits.max_log.lines = u64::try_from(n).map_err(|_| {
                    let msg = format!(
                        "{prefix}max_log.lines must be 0 or more (the log lines one call \
                         keeps), got {n}"
                    );
                    self.err(lines.span(), msg)
                })?;
            }
            if let Some(bytes) = &max_log.bytes {
                limits.max_log.bytes = self.size(bytes, prefix, "max_log.bytes")?;
            }
        }
        if let Some(entries) = raw.allow_http {
            let mut grants: Vec<HttpGrant> = Vec::new();
            for entry in entries {
                let grant = HttpGrant::parse(entry.get_ref())
                    .map_err(|m| self.err(entry.span(), format!("{prefix}{m}")))?;
                if grants.contains(&grant) {
                    let msg = format!("{prefix}allow_http lists \"{grant}\" twice");
                    return Err(self.err(entry.span(), msg));
                }
                grants.push(grant);
            }
            limits.allow_http = grants;
        }
        Ok(limits)
    }

    /// A size value in bytes (bounds are the caller's).
    fn size(
        &self,
        raw: &Spanned<SizeValue>,
        prefix: &str,
        key: &str,
    ) -> Result<u64, WorkflowError> {
        match raw.get_ref() {
            SizeValue::Text(text) => {
                parse_size(text).map_err(|m| self.err(raw.span(), format!("{prefix}{key}: {m}")))
            }
            SizeValue::Bytes(n) => u64::try_from(*n).map_err(|_| {
                let msg = format!("{prefix}{key}: invalid size {n}: a size cannot be negative");
                self.err(raw.span(), msg)
            }),
        }
    }

    fn duration(
        &self,
        raw: &Spanned<DurationText>,
        prefix: &str,
        key: &str,
    ) -> Result<Duration, WorkflowError> {
        parse_duration(&raw.get_ref().0)
            .map_err(|m| self.err(raw.span(), format!("{prefix}{key}: {m}")))
    }

    /// A join node (one with `after`) is reached exactly through its `after` list:
    /// each node listed has an edge to it, and no other node does. Reports the first
    /// violation in the file.
    fn joins(
        &self,
        nodes: &BTreeMap<String, Node>,
        spans: &BTreeMap<String, EdgeSpans>,
    ) -> Result<(), WorkflowError> {
        // Every edge between two nodes, and each join's after list, as sets: the
        // checks below are one lookup each, however many edges a node has.
        let edges: HashSet<(&str, &str)> = spans
            .iter()
            .flat_map(|(from, s)| {
                s.targets
                    .iter()
                    .map(move |(to, _)| (from.as_str(), to.as_str()))
            })
            .collect();
        let afters: HashMap<&str, HashSet<&str>> = nodes
            .iter()
            .filter(|(_, node)| !node.after.is_empty())
            .map(|(name, node)| {
                (
                    name.as_str(),
                    node.after.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let mut problems: Vec<(Range<usize>, String)> = Vec::new();
        for (name, node) in nodes {
            for (waited, span) in node.after.iter().zip(&spans[name].after) {
                if !edges.contains(&(waited.as_str(), name.as_str())) {
                    let msg = format!(
                        "node \"{name}\" lists \"{waited}\" in after, but \"{waited}\" has no edge \
                         to \"{name}\"; add \"{name}\" to the next or routes of \"{waited}\""
                    );
                    problems.push((span.clone(), msg));
                }
            }
            for (target, span) in &spans[name].targets {
                let join = &nodes[target];
                if afters
                    .get(target.as_str())
                    .is_some_and(|after| !after.contains(name.as_str()))
                {
                    let msg = format!(
                        "node \"{name}\" has an edge to \"{target}\", but \"{target}\" is a join \
                         reached only from the nodes in its after ({}); add \"{name}\" to that \
                         list, or remove this edge",
                        quoted(&join.after)
                    );
                    problems.push((span.clone(), msg));
                }
            }
        }
        match problems.into_iter().min_by_key(|(span, _)| span.start) {
            Some((span, msg)) => Err(self.err(span, msg)),
            None => Ok(()),
        }
    }
}

impl Validator<'_> {
    /// A join that some run can reach the edge into, but that waits for a node no
    /// run can reach, would never run: the run would complete without it. Reports
    /// the first such `after` entry in the file.
    fn dead_joins(
        &self,
        nodes: &BTreeMap<String, Node>,
        start: &str,
        spans: &BTreeMap<String, EdgeSpans>,
    ) -> Result<(), WorkflowError> {
        let reached = super::route::reachable(nodes, start);
        let mut problems: Vec<(Range<usize>, String)> = Vec::new();
        for (name, node) in nodes {
            if node.after.is_empty() || reached.contains(name.as_str()) {
                continue;
            }
            let waited = || node.after.iter().zip(&spans[name].after);
            // A join none of whose nodes can run is merely unreachable (a warning),
            // like the rest of a part of the graph that nothing leads to.
            if !waited().any(|(w, _)| reached.contains(w.as_str())) {
                continue;
            }
            if let Some((never, span)) = waited().find(|(w, _)| !reached.contains(w.as_str())) {
                let msg = format!(
                    "node \"{name}\" waits for \"{never}\" (after), but \"{never}\" can never run \
                     (no path from start \"{start}\" reaches it), so \"{name}\" would never run and \
                     the run would end without it; remove \"{never}\" from after, or add an edge \
                     that reaches \"{never}\""
                );
                problems.push((span.clone(), msg));
            }
        }
        match problems.into_iter().min_by_key(|(span, _)| span.start) {
            Some((span, msg)) => Err(self.err(span, msg)),
            None => Ok(()),
        }
    }
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
