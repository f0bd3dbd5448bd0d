//! Errors of the workflow module, grouped by what the caller does next:
//! [`WorkflowError`] means the workflow file must be fixed (nothing runs);
//! [`RouteError`] and [`MergeError`] mean a node returned something the workflow
//! does not allow, which fails that step of the run.

use std::fmt;
use std::ops::Range;

use serde_json::Value;

use super::Reducer;

/// A workflow file is invalid. Displays as `FILE:LINE:COL: message`, followed by
/// the offending source line and a caret under the span, like rustc:
///
/// ```text
/// chain.toml:12:8: node "n3" has next = "n4", but there is no node "n4" (nodes: n1, n2, n3)
///    |
/// 12 | next = "n4"
///    |        ^^^^
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WorkflowError {
    /// The file name as given by the caller (only used in messages).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, without the location.
    pub message: String,
    /// The node the problem is in, when it is in one.
    pub node: Option<String>,
    /// The value the problem is about (`config.greeting`), when it is one value's.
    pub field: Option<String>,
    /// The line quoted, and the width of the caret under the span (boxed: the
    /// error is the `Err` of every parse, and stays small).
    excerpt: Box<(String, usize)>,
}

impl WorkflowError {
    /// The error as one entry of a `problems` list (`validate --json`, and the details
    /// of an `invalid` error): `{"message", "file", "line", "column", "node"?, "field"?,
    /// "severity": "error"}`.
    pub fn problem(&self) -> Value {
        self.problem_of("error")
    }

    /// As [`WorkflowError::problem`], with `severity` (`error` or `warning`).
    pub fn problem_of(&self, severity: &str) -> Value {
        let mut entry = serde_json::json!({
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.col,
        });
        if let Some(node) = &self.node {
            entry["node"] = Value::from(node.as_str());
        }
        if let Some(field) = &self.field {
            entry["field"] = Value::from(field.as_str());
        }
        entry["severity"] = Value::from(severity);
        entry
    }

    pub(crate) fn new(file: &str, loc: &Loc, message: impl Into<String>) -> Self {
        WorkflowError {
            file: file.to_owned(),
            line: loc.line,
            col: loc.col,
            message: message.into(),
            node: None,
            field: None,
            excerpt: Box::new((loc.source_line.clone(), loc.width)),
        }
    }

    /// The same problem, said to be in node `node`.
    pub fn in_node(mut self, node: &str) -> Self {
        self.node = Some(node.to_owned());
        self
    }

    /// The same problem, said to be about the value `field`.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// Locates `span` (byte offsets into `text`) and builds the error. The empty span
    /// at offset 0 means "the whole file" (e.g. a missing top-level key): no excerpt.
    pub(crate) fn at(
        file: &str,
        text: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Self::at_line(file, text, &LineStarts::new(text), span, message)
    }

    /// As [`Self::at`], with the line starts of `text` already found.
    pub(crate) fn at_line(
        file: &str,
        text: &str,
        lines: &LineStarts,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let mut loc = Loc::with_lines(text, lines, span.clone());
        if span == (0..0) {
            loc.source_line.clear();
        }
        Self::new(file, &loc, message)
    }

    /// Problems of one file on one line: the problem's headline, or
    /// `FILE: N problems; the first: HEADLINE` (as `validate --json` says it).
    pub fn summary(problems: &[WorkflowError]) -> String {
        match problems {
            [] => "the workflow file is invalid".to_owned(),
            [one] => one.headline(),
            [first, ..] => format!(
                "{}: {} problems; the first: {}",
                first.file,
                problems.len(),
                first.headline()
            ),
        }
    }

    /// The first line only: `FILE:LINE:COL: message`, without the source excerpt.
    pub fn headline(&self) -> String {
        format!("{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

impl fmt::Display for WorkflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        let (source_line, width) = &*self.excerpt;
        if source_line.trim().is_empty() {
            return Ok(());
        }
        let gutter = " ".repeat(self.line.to_string().len());
        write!(
            f,
            "\n{gutter} |\n{} | {}\n{gutter} | {}{}",
            self.line,
            source_line,
            " ".repeat(self.col - 1),
            "^".repeat((*width).max(1)),
        )
    }
}

/// A position in a workflow file, resolved from a byte span: kept by [`super::Workflow`]
/// so that errors found after parsing (missing plugins) still point at the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) offset: usize,
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) width: usize,
    pub(crate) source_line: String,
}

/// Where each line of a text starts (byte offsets, ascending; the first is 0), so
/// that locating a span costs a binary search and a scan of its own line, not a
/// scan of the text before it: a file with thousands of nodes locates each of
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineStarts(Vec<usize>);

impl LineStarts {
    pub(crate) fn new(text: &str) -> Self {
        let after_newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        LineStarts(std::iter::once(0).chain(after_newlines).collect())
    }
}

impl Loc {
    pub(crate) fn new(text: &str, span: Range<usize>) -> Self {
        Self::with_lines(text, &LineStarts::new(text), span)
    }

    /// Locates `span` in `text`, whose line starts are `lines`.
    pub(crate) fn with_lines(text: &str, lines: &LineStarts, span: Range<usize>) -> Self {
        let mut start = span.start.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        // The number of lines that start at or before `start` (at least 1: line 1
        // starts at 0) is the 1-based line of `start`.
        let line = lines.0.partition_point(|&s| s <= start);
        let line_start = lines.0[line - 1];
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let source_line = text[line_start..line_end].trim_end_matches('\r');
        let end = span.end.clamp(start, line_start + source_line.len());
        let width = text.get(start..end).map_or(1, |s| s.chars().count().max(1));
        Loc {
            offset: start,
            line,
            col: text[line_start..start].chars().count() + 1,
            width,
            source_line: source_line.to_owned(),
        }
    }
}

/// A node's `goto` does not fit the workflow's edges: the node (or its plugin)
/// disagrees with the workflow file, so the step fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("there is no node \"{node}\" in the workflow (nodes: {})", .nodes.join(", "))]
    UnknownNode { node: String, nodes: Vec<String> },
    /// `next` lists the node's `next` targets (`end` included): a `next` node may only
    /// name its target with goto when it has exactly one.
    #[error("node \"{node}\" returned goto \"{goto}\", but it declares no routes; {}", next_is(.next))]
    GotoWithoutRoutes {
        node: String,
        goto: String,
        next: Vec<String>,
    },
    #[error("node \"{node}\" returned goto \"{goto}\", which is not one of its routes ({})", quoted(.routes))]
    NotARoute {
        node: String,
        goto: String,
        routes: Vec<String>,
    },
    #[error("node \"{node}\" declares routes, so it must choose one of them with goto ({}), but it returned no goto", quoted(.routes))]
    MissingGoto { node: String, routes: Vec<String> },
}

/// A node's update cannot be merged into the state with the key's reducer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// `found` describes the offending JSON value, e.g. `a string ("x")`.
    #[error("key \"{key}\" uses reducer {reducer}, but the {side} is {found}; {reducer} needs {}", needs(*.reducer))]
    WrongType {
        key: String,
        reducer: Reducer,
        side: Side,
        found: String,
    },
    #[error(
        "key \"{key}\" uses reducer add, but {current} + {update} does not fit in a JSON number (i64, u64 or finite f64)"
    )]
    Overflow {
        key: String,
        current: String,
        update: String,
    },
}

/// Which value of a merge has the wrong type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The value already in the state.
    Current,
    /// The value in the node's update.
    Update,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Current => "current value",
            Side::Update => "update",
        })
    }
}

fn needs(reducer: Reducer) -> &'static str {
    match reducer {
        Reducer::Add => "numbers",
        Reducer::Merge => "objects",
        Reducer::Append => "the current value to be an array (or missing, or null)",
        // `replace` accepts any value; never part of an error.
        Reducer::Replace => "any value",
    }
}

/// `its next is "a"`, or for a fan-out `its next is ["a", "b"] (all of them run)`.
fn next_is(next: &[String]) -> String {
    match next {
        [one] => format!("its next is \"{one}\""),
        many => format!("its next is [{}] (all of them run)", quoted(many)),
    }
}

/// `"a", "b"` for messages.
pub(crate) fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describes a JSON value for a message: its type and a short excerpt,
/// e.g. `a string ("x")`, `an object ({"a":1})`, `null`.
pub(crate) fn describe(value: &Value) -> String {
    const MAX: usize = 40;
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let json = value.to_string();
    let excerpt = match json.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &json[..cut]),
        None => json,
    };
    format!("{kind} ({excerpt})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loc_counts_lines_and_chars() {
        let text = "a = 1\nbé = \"xyz\"\n";
        let at = text.find("\"xyz\"").unwrap();
        let loc = Loc::new(text, at..at + 5);
        assert_eq!((loc.line, loc.col, loc.width), (2, 6, 5));
        assert_eq!(loc.source_line, "bé = \"xyz\"");
        // Past the end of the text: the last (empty) line.
        let loc = Loc::new(text, 100..100);
        assert_eq!((loc.line, loc.col, loc.width), (3, 1, 1));
    }

    #[test]
    fn display_shows_source_and_caret() {
        let text = "name = \"x\"\nnext = \"n4\"\n";
        let at = text.find("\"n4\"").unwrap();
        let err = WorkflowError::at("wf.toml", text, at..at + 4, "bad");
        assert_eq!(
            err.to_string(),
            "wf.toml:2:8: bad\n  |\n2 | next = \"n4\"\n  |        ^^^^"
        );
        assert_eq!(err.headline(), "wf.toml:2:8: bad");
    }

    #[test]
    fn describe_truncates() {
        assert_eq!(describe(&Value::from("x")), "a string (\"x\")");
        assert_eq!(describe(&Value::Null), "null");
        let long = Value::from("y".repeat(100));
        assert!(describe(&long).ends_with("yyy...)"));
    }
}
