//! The workflow file: what it means, and nothing about how it runs.
//!
//! [`Workflow::parse`] turns the TOML text into a validated [`Workflow`] (every error
//! names the file, line and column) and [`Workflow::check_plugins`] checks it against
//! the components found in the plugins directory. The runtime then consults the
//! `Workflow` at every step: after a node returns, [`Workflow::route`] turns the node's
//! `goto` into the node(s) to run next, [`Workflow::advance`] turns what the step's
//! nodes routed to into the next step's nodes (holding back join nodes until every
//! node in their `after` list has arrived), and [`Workflow::apply_update`] merges each
//! node's partial update into the run's state with the per-key [`Reducer`]s; the
//! runtime hands all of it to the store, which commits it as the next checkpoint. When
//! a node fails, its [`RetryPolicy`] says whether and when it is tried again. The
//! module is pure (no I/O, no async, no clock, no randomness: the caller passes a
//! random number in), so it is tested with plain values.
//!
//! Layout: `parse` (TOML -> raw structs with spans, then validation), `reduce`
//! (reducers), `route` (edges, joins and reachability), `retry` (retry policies),
//! `limits` (memory, fuel, state size, log size), `grant` (an `allow_http` entry),
//! `send` (the branch names of sends: fan-out),
//! `schedule` (the `[schedule]` table, cron expressions and time zones),
//! `child` (sub-workflow nodes: input and output mappings, the child's thread),
//! `error` (all error types). Sizes and durations are read with
//! `savepoint_base::units`, the default limits are `savepoint_base::limits`'.

mod child;
mod error;
mod grant;
mod limits;
mod parse;
mod reduce;
mod retry;
mod route;
pub mod schedule;
mod send;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};

pub use child::{DEFAULT_CHILD_ID, ID_PLACEHOLDERS, SubWorkflow};
use error::Loc;
pub use error::{MergeError, RouteError, Side, WorkflowError};
pub use grant::HttpGrant;
pub use limits::{Limits, MaxLog};
pub use retry::{Backoff, RetryPolicy};
pub use savepoint_base::limits::DEFAULT_TIMEOUT;
pub use send::{branch_node, send_branch};

/// The largest workflow file read (by the CLI, and by the server's `GET
/// /workflows`): far above any real graph (a 100,000-node workflow is a few
/// MiB), so that `run /dev/zero` fails at once.
pub const MAX_WORKFLOW_FILE: u64 = 64 * savepoint_base::units::MIB;

/// A parsed and validated workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    /// Always names a node in `nodes`.
    pub start: String,
    /// Upper bound on the steps of one run (bounds loops); at least 1.
    pub max_steps: u64,
    /// Upper bound on the sends of one step (fan-out): a step whose nodes send more
    /// fails at the node that went over. At least 1.
    pub max_fanout: u64,
    /// Upper bound on the calls of one step of a run that run at once (its parallel
    /// branches and sends); the others wait for one to finish. At least 1.
    pub max_concurrency: u64,
    /// The workflow's `max_state` key, else [`Limits::DEFAULT_MAX_STATE`]: also the
    /// largest input (initial state) a run of it may start with.
    pub max_state: u64,
    /// Reducer per top-level state key; keys not listed use [`Reducer::Replace`].
    pub reducers: BTreeMap<String, Reducer>,
    /// Never empty; every edge target names one of these nodes, or `end`.
    pub nodes: BTreeMap<String, Node>,
    /// The file's `[schedule]` table, if it has one: what `schedule add` takes when it
    /// is given no `--cron` or `--every`. A run of the file ignores it.
    pub schedule: Option<schedule::FileSchedule>,
    /// Where each node is written, for errors found after parsing.
    locs: BTreeMap<String, NodeLocs>,
}

/// A workflow file with problems ([`Workflow::parse_unfinished`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Unfinished {
    /// Every problem (at least one), as [`Workflow::parse_all`] reports them.
    pub problems: Vec<WorkflowError>,
    /// The file's nodes whose own tables parsed (none after a TOML syntax
    /// error or without nodes), held as a workflow so that problems with
    /// their plugins and configs can be found and located: not one to run
    /// (its edges may name missing nodes; a node whose `plugin` is not a
    /// plugin name, see [`is_plugin_name`], keeps what was written).
    pub nodes: Option<Box<Workflow>>,
}

/// Whether `name` can name a plugin file (`plugins/<name>.wasm`): letters,
/// digits, `_`, `-`, `.`, and no path.
pub fn is_plugin_name(name: &str) -> bool {
    parse::is_plugin_name(name)
}

/// One node of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// File stem of the component: `plugins/<plugin>.wasm`. Defaults to the node's name;
    /// empty for a sub-workflow node (see `workflow`).
    pub plugin: String,
    /// `workflow = "chain.toml"`: the node runs that workflow as a child run instead of
    /// calling a plugin (see [`SubWorkflow`]).
    pub workflow: Option<SubWorkflow>,
    /// The node's `config` table as JSON; always an object (`{}` when absent).
    pub config: Value,
    pub edge: Edge,
    /// The node's `retry` keys over the workflow's `retry` keys over the defaults
    /// ([`RetryPolicy::default`]: one attempt, no retries).
    pub retry: RetryPolicy,
    /// Longest time one attempt may take: the node's `timeout`, else the workflow's,
    /// else [`DEFAULT_TIMEOUT`]; `None` = no limit (`timeout = "none"`). Never zero.
    pub timeout: Option<Duration>,
    /// A join: the node runs once every node listed here has finished and routed to
    /// it (see [`Workflow::advance`]). Empty for an ordinary node. In file order, no
    /// duplicates, never the start node; every entry has an edge to this node, and no
    /// other node does. When a listed node routes elsewhere, the join does not run.
    pub after: Vec<String>,
    /// What one call may use: each of the node's `memory`, `fuel`, `max_state`,
    /// `max_log` and `allow_http` keys, else the workflow's, else the default
    /// ([`Limits::default`]).
    pub limits: Limits,
    /// `reuse = true`: keep the node's instance warm between calls (of any run), so
    /// that the next call skips instantiation; the instance's memory survives from
    /// one call to the next. `false` (the default): a fresh instance per call. Per
    /// node only; there is no workflow-wide default.
    pub reuse: bool,
}

/// How a run leaves a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    /// `next = "..."` or `next = ["...", ...]`: always all of these targets; several
    /// run in parallel (a fan-out). Non-empty, no duplicates; [`Target::End`] only
    /// alone (`next = "end"` is `Next(vec![Target::End])`).
    Next(Vec<Target>),
    /// `routes = [...]`: the node chooses one with `goto`. Non-empty, no duplicates.
    Routes(Vec<Target>),
}

impl Edge {
    /// Every target the edge may lead to.
    pub fn targets(&self) -> &[Target] {
        match self {
            Edge::Next(targets) | Edge::Routes(targets) => targets,
        }
    }
}

/// An edge target: a node, or the end of the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Node(String),
    End,
}

impl Target {
    /// `"end"` is [`Target::End`]; anything else names a node.
    pub fn from_name(name: &str) -> Target {
        if name == "end" {
            Target::End
        } else {
            Target::Node(name.to_owned())
        }
    }

    /// The node's name, or `None` for `end`.
    pub fn node(&self) -> Option<&str> {
        match self {
            Target::Node(name) => Some(name),
            Target::End => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.node().unwrap_or("end"))
    }
}

/// How a top-level state key combines the current value with a node's update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Reducer {
    /// The update replaces the value.
    #[default]
    Replace,
    /// An array update extends the array; any other value is pushed.
    Append,
    /// Objects are merged recursively; anything else replaces.
    Merge,
    /// Numbers are added (integers checked for overflow).
    Add,
}

impl Reducer {
    pub const ALL: [Reducer; 4] = [
        Reducer::Replace,
        Reducer::Append,
        Reducer::Merge,
        Reducer::Add,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reducer::Replace => "replace",
            Reducer::Append => "append",
            Reducer::Merge => "merge",
            Reducer::Add => "add",
        }
    }
}

impl fmt::Display for Reducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reducer name that is not one of `replace`, `append`, `merge`, `add`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reducer \"{name}\"; valid reducers are: replace, append, merge, add")]
pub struct ParseReducerError {
    pub name: String,
}

impl FromStr for Reducer {
    type Err = ParseReducerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reducer::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseReducerError { name: s.to_owned() })
    }
}

/// Where a node is written in the file.
#[derive(Debug, Clone, PartialEq)]
struct NodeLocs {
    /// The `[nodes.X]` header (or the key of an inline table).
    header: Loc,
    /// The `plugin` value, or the header when the plugin was defaulted.
    plugin: Loc,
    /// The `config` table, when there is one.
    config: Option<Loc>,
    /// Each top-level key of `config`, from the key to the end of its value.
    config_keys: BTreeMap<String, Loc>,
}

impl Workflow {
    /// Parses and validates a workflow file. `file` is only used in messages.
    pub fn parse(file: &str, text: &str) -> Result<Workflow, WorkflowError> {
        parse::parse(file, text)
    }

    /// Parses and validates a workflow file like [`Workflow::parse`], but
    /// reports every problem (at least one), not only the first: what
    /// `savepoint validate` lists. A TOML syntax error is one problem.
    pub fn parse_all(file: &str, text: &str) -> Result<Workflow, Vec<WorkflowError>> {
        parse::parse_all(file, text)
    }

    /// As [`Workflow::parse_all`], and with problems also the nodes that
    /// parsed (see [`Unfinished`]), so that `savepoint validate` checks them
    /// against their plugins too.
    pub fn parse_unfinished(file: &str, text: &str) -> Result<Workflow, Unfinished> {
        parse::parse_unfinished(file, text)
    }

    /// Checks that every node's plugin is in `available` (the file stems of the
    /// `.wasm` files in `plugins_dir`). The error points at the node's `plugin` key,
    /// or at its `[nodes.X]` header when the plugin was defaulted to the node's name;
    /// with several missing, at the first in the file.
    pub fn check_plugins(
        &self,
        file: &str,
        plugins_dir: &str,
        available: &[String],
    ) -> Result<(), WorkflowError> {
        match self
            .missing_plugins(file, plugins_dir, available)
            .into_iter()
            .next()
        {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// One problem per node whose plugin is not in `available`, in file order
    /// (see [`Workflow::check_plugins`]).
    pub fn missing_plugins(
        &self,
        file: &str,
        plugins_dir: &str,
        available: &[String],
    ) -> Vec<WorkflowError> {
        let present: HashSet<&str> = available.iter().map(String::as_str).collect();
        let mut nodes: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.workflow.is_none() && !present.contains(n.plugin.as_str()))
            .collect();
        if nodes.is_empty() {
            return Vec::new();
        }
        nodes.sort_by_key(|n| self.locs.get(&n.name).map(|l| l.plugin.offset));
        let mut found: Vec<&str> = available.iter().map(String::as_str).collect();
        found.sort_unstable();
        found.dedup();
        let found = if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        };
        let sep = if plugins_dir.ends_with('/') { "" } else { "/" };
        nodes
            .into_iter()
            .map(|node| {
                let message = format!(
                    "node \"{}\" uses plugin \"{}\", but {plugins_dir}{sep}{}.wasm does not exist (found: {found})",
                    node.name, node.plugin, node.plugin,
                );
                let loc = self.locs.get(&node.name).map(|l| l.plugin.clone());
                let loc = loc.unwrap_or_else(|| Loc::new("", 0..0));
                WorkflowError::new(file, &loc, message).in_node(&node.name)
            })
            .collect()
    }

    /// A problem with node `node`'s plugin, located at its `plugin` key (or
    /// its header when the plugin was defaulted to the node's name).
    pub fn plugin_problem(&self, file: &str, node: &str, message: String) -> WorkflowError {
        let loc = self.locs.get(node).map(|l| l.plugin.clone());
        let loc = loc.unwrap_or_else(|| Loc::new("", 0..0));
        WorkflowError::new(file, &loc, message).in_node(node)
    }

    /// A problem with node `node`'s config, located at the top-level `key` it
    /// is in (else at the `config` table, else at the node's header).
    pub fn config_problem(
        &self,
        file: &str,
        node: &str,
        key: Option<&str>,
        message: String,
    ) -> WorkflowError {
        let loc = self.locs.get(node).and_then(|l| {
            key.and_then(|k| l.config_keys.get(k))
                .or(l.config.as_ref())
                .or(Some(&l.header))
                .cloned()
        });
        let loc = loc.unwrap_or_else(|| Loc::new("", 0..0));
        WorkflowError::new(file, &loc, message).in_node(node)
    }

    /// Distinct plugin names used by the workflow, sorted.
    pub fn plugins(&self) -> Vec<String> {
        let mut plugins: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.workflow.is_none())
            .map(|n| n.plugin.clone())
            .collect();
        plugins.sort_unstable();
        plugins.dedup();
        plugins
    }

    /// The sub-workflow nodes, by name, each with its child workflow.
    pub fn children(&self) -> impl Iterator<Item = (&str, &SubWorkflow)> {
        self.nodes
            .values()
            .filter_map(|n| Some((n.name.as_str(), n.workflow.as_ref()?)))
    }

    /// A problem with node `node`'s child workflow, located at its `workflow` key.
    pub fn child_problem(&self, file: &str, node: &str, message: String) -> WorkflowError {
        self.plugin_problem(file, node, message)
    }

    /// The reducer of a top-level state key (`replace` unless the file says otherwise).
    pub fn reducer(&self, key: &str) -> Reducer {
        self.reducers.get(key).copied().unwrap_or_default()
    }

    /// Where to go after `node` returned `goto`: the names of the next node(s) (all
    /// the targets of a `next` list, which run in parallel; the chosen one of
    /// `routes`), empty when the branch ends.
    ///
    /// A `next` node may omit `goto`, or name its target when it has exactly one; a
    /// `routes` node must name one of its routes.
    pub fn route(&self, node: &str, goto: Option<&str>) -> Result<Vec<String>, RouteError> {
        route::route(self, node, goto)
    }

    /// One superstep of scheduling. `joins` maps each join node (one with `after`)
    /// to the nodes of its `after` list that already finished and routed to it;
    /// `completed` = the nodes that finished this step, in the step's order, each
    /// with what [`Workflow::route`] returned for it.
    ///
    /// For each target T of each completed node N (in order): if T has no `after`,
    /// T is scheduled; else N is recorded in `joins[T]`, and when `joins[T]` covers
    /// T's `after`, T is scheduled and `joins[T]` removed. Returns the next step's
    /// nodes (deduplicated, in order of first occurrence; empty = nothing left to
    /// run) and the new joins map. Names that are not nodes of the workflow are
    /// scheduled as they are (they never come out of `route`).
    pub fn advance(
        &self,
        joins: &BTreeMap<String, BTreeSet<String>>,
        completed: &[(String, Vec<String>)],
    ) -> (Vec<String>, BTreeMap<String, BTreeSet<String>>) {
        route::advance(self, joins, completed)
    }

    /// Merges a node's partial update into `state` with the reducers. Keys absent
    /// from the update are unchanged. On error `state` is left untouched.
    pub fn apply_update(
        &self,
        state: &mut Map<String, Value>,
        update: Map<String, Value>,
    ) -> Result<(), MergeError> {
        reduce::apply(&self.reducers, state, update)
    }

    /// Non-fatal findings, located like errors: nodes that cannot be reached from `start`.
    pub fn warnings(&self, file: &str) -> Vec<String> {
        self.warning_problems(file)
            .into_iter()
            .map(|mut warning| {
                warning.message = format!("warning: {}", warning.message);
                warning.headline()
            })
            .collect()
    }

    /// [`Workflow::warnings`] as problems (each message without `warning: `).
    pub fn warning_problems(&self, file: &str) -> Vec<WorkflowError> {
        route::unreachable(self)
            .into_iter()
            .map(|name| {
                let message = format!(
                    "node \"{name}\" is unreachable from start \"{}\" by the workflow's \
                     edges (fine when a node's update sends to it: fan-out)",
                    self.start
                );
                let loc = self.locs.get(&name).map(|l| l.header.clone());
                let loc = loc.unwrap_or_else(|| Loc::new("", 0..0));
                WorkflowError::new(file, &loc, message).in_node(&name)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
