//! TOML text -> validated [`Workflow`].
//!
//! Deserialization goes through raw structs whose fields are [`Spanned`], so that
//! every semantic error can point at the offending value; syntax and shape errors
//! come from `toml`/`serde` with their own span. Problems are reported in file order
//! where it matters (one error: the first one a reader would meet).
//!
//! Layout, in the order validation runs: `raw` (what the TOML deserializes
//! into), this module (the top-level keys, the reducers, the start node, then
//! each node in file order), `keys` (retry, timeout, reuse and the limits, at
//! either level), `node` (one node's table: name, plugin, config), `child` (a
//! sub-workflow node's keys), `edges`
//! (its `next`/`routes` and `after`), `graph` (the checks that need every node:
//! joins), `schedule` (the `[schedule]` table).

mod child;
mod edges;
mod graph;
mod keys;
mod node;
mod raw;
mod schedule;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use serde_spanned::Spanned;

use super::error::LineStarts;
use super::{
    DEFAULT_TIMEOUT, Limits, Loc, Node, NodeLocs, Reducer, RetryPolicy, Unfinished, Workflow,
    WorkflowError,
};
pub(super) use node::is_plugin_name;
use raw::{DurationText, RawLimits, RawNext, RawNode, RawNodes, RawRetry, RawWorkflow, SizeValue};

/// `max_steps` when the file does not say.
pub(super) const DEFAULT_MAX_STEPS: u64 = 1000;
/// `max_fanout` when the file does not say: a map over a thousand items is
/// ordinary; far beyond that, a list that grew by mistake (a whole table sent
/// row by row) would make one step of a million calls and a position of a
/// million inputs. Raise it in the file for a real map that size.
pub(super) const DEFAULT_MAX_FANOUT: u64 = 1000;
/// `max_concurrency` when the file does not say. A call in flight holds one of
/// the instances of the plugin host's pool (512 for the whole process, shared
/// with every other run) and its memory; 64 lets a fan-out of 1,000 use all of
/// a machine's cores (a call of a small node is CPU-bound, and even 64 cores
/// are busy) while eight such steps still fit in the pool at once. Nodes that
/// mostly wait (HTTP) may want more; nodes that call a rate-limited service,
/// fewer.
pub(super) const DEFAULT_MAX_CONCURRENCY: u64 = 64;

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
    /// Each step reports its own problems, in this order (a reader's order:
    /// the top-level keys, then each node in the file).
    fn workflow(&self, raw: RawWorkflow) -> Option<Workflow> {
        if raw.name.get_ref().trim().is_empty() {
            self.problem(raw.name.span(), "name must not be empty");
        }
        let max_steps = self.at_least_one(raw.max_steps.as_ref(), MAX_STEPS);
        let max_fanout = self.at_least_one(raw.max_fanout.as_ref(), MAX_FANOUT);
        let max_concurrency = self.at_least_one(raw.max_concurrency.as_ref(), MAX_CONCURRENCY);
        let defaults = self.defaults(&raw);
        let reducers = self.reducers(raw.state.unwrap_or_default());
        let raw_nodes = self.node_tables(raw.nodes)?;
        let names: BTreeSet<&str> = raw_nodes
            .iter()
            .map(|(k, _)| k.get_ref().as_str())
            .collect();
        let graph = Graph {
            listed: listing(&names),
            names: &names,
            start: raw.start.get_ref(),
        };
        self.start(&raw.start, &graph);
        let (nodes, locs) = self.nodes(&raw_nodes, &graph, &defaults);
        let schedule = raw.schedule.and_then(|table| self.schedule(table));

        // With problems, the nodes whose own tables are valid (see
        // [`super::Unfinished`]).
        Some(Workflow {
            name: raw.name.into_inner(),
            start: raw.start.into_inner(),
            max_steps,
            max_fanout,
            max_concurrency,
            max_state: defaults.limits.max_state,
            reducers,
            nodes,
            schedule,
            locs,
        })
    }

    /// A count key of the workflow (`max_steps`, `max_fanout`, ...): at least 1.
    fn at_least_one(&self, raw: Option<&Spanned<i64>>, key: CountKey) -> u64 {
        let Some(m) = raw else {
            return key.default;
        };
        match u64::try_from(*m.get_ref()).ok().filter(|&m| m >= 1) {
            Some(value) => value,
            None => {
                let msg = format!(
                    "{} must be at least 1 ({}), got {}",
                    key.name,
                    key.bounds,
                    m.get_ref()
                );
                self.problem(m.span(), msg);
                key.default
            }
        }
    }

    /// The workflow's `retry`, `timeout` and limits: what each node's own keys
    /// are laid over.
    fn defaults(&self, raw: &RawWorkflow) -> Defaults {
        let retry = WorkflowRetry {
            sets_initial: raw.retry.as_ref().is_some_and(|r| r.initial.is_some()),
            sets_max: raw.retry.as_ref().is_some_and(|r| r.max.is_some()),
            policy: match &raw.retry {
                None => RetryPolicy::default(),
                Some(r) => self.retry(r, "", RetryPolicy::default(), None),
            },
        };
        let timeout = match &raw.timeout {
            None => Some(DEFAULT_TIMEOUT),
            Some(t) => self.or_report(self.timeout(t, ""), Some(DEFAULT_TIMEOUT)),
        };
        let limits = self.limits(raw.limits(), "", &Limits::default());
        Defaults {
            retry,
            timeout,
            limits,
        }
    }

    /// The `[state]` table: a reducer per key; a bad one is reported and left out.
    fn reducers(
        &self,
        state: BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> BTreeMap<String, Reducer> {
        let mut reducers = BTreeMap::new();
        for (key, value) in in_file_order(state) {
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
        reducers
    }

    /// The `[nodes.NAME]` tables in file order, or `None` (reported) when there
    /// are none.
    fn node_tables(
        &self,
        raw: Option<Spanned<RawNodes>>,
    ) -> Option<Vec<(Spanned<String>, Spanned<RawNode>)>> {
        const NO_NODES: &str = "workflow has no nodes; add at least one [nodes.NAME] table";
        let Some(raw_nodes) = raw else {
            self.problem(0..0, NO_NODES);
            return None;
        };
        if raw_nodes.get_ref().is_empty() {
            self.problem(raw_nodes.span(), NO_NODES);
            return None;
        }
        Some(in_file_order(raw_nodes.into_inner()))
    }

    /// `start` names a node.
    fn start(&self, start: &Spanned<String>, graph: &Graph<'_>) {
        if graph.missing(start.get_ref()) || start.get_ref() == "end" {
            let msg = format!(
                "start = \"{}\", but there is no node \"{}\" (nodes: {})",
                start.get_ref(),
                start.get_ref(),
                graph.listed
            );
            self.problem(start.span(), msg);
        }
    }

    /// Every node, each on its own; then, when all are valid, the checks that
    /// need them all (joins). With problems, the nodes whose own tables are
    /// valid.
    fn nodes(
        &self,
        raw_nodes: &[(Spanned<String>, Spanned<RawNode>)],
        graph: &Graph<'_>,
        defaults: &Defaults,
    ) -> (BTreeMap<String, Node>, BTreeMap<String, NodeLocs>) {
        let mut nodes = BTreeMap::new();
        let mut locs = BTreeMap::new();
        let mut spans: BTreeMap<String, EdgeSpans> = BTreeMap::new();
        for (key, raw_node) in raw_nodes {
            let before = self.problem_count();
            let node = self.node(key, raw_node, graph, defaults);
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
                self.dead_joins(&nodes, graph.start, &spans);
            }
        }
        (nodes, locs)
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

/// A workflow key that counts something and must be at least 1.
#[derive(Clone, Copy)]
struct CountKey {
    name: &'static str,
    /// What it bounds, for the message.
    bounds: &'static str,
    default: u64,
}

const MAX_STEPS: CountKey = CountKey {
    name: "max_steps",
    bounds: "it bounds the steps of a run",
    default: DEFAULT_MAX_STEPS,
};
const MAX_FANOUT: CountKey = CountKey {
    name: "max_fanout",
    bounds: "it bounds the sends of one step",
    default: DEFAULT_MAX_FANOUT,
};
const MAX_CONCURRENCY: CountKey = CountKey {
    name: "max_concurrency",
    bounds: "it bounds the calls of one step that run at once",
    default: DEFAULT_MAX_CONCURRENCY,
};

/// What a node's keys are laid over: the workflow's keys, or the defaults.
struct Defaults {
    retry: WorkflowRetry,
    timeout: Option<Duration>,
    limits: Limits,
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
