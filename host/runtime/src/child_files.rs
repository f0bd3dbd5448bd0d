//! The child workflow files of a workflow's sub-workflow nodes, as `validate`, `run`
//! and `start` check them before a run exists: each must be readable and a valid
//! workflow whose plugins are in the plugins folder, and no workflow may include itself,
//! directly or through others. Grandchildren are checked too; every problem is located
//! at the node of the checked file that leads to it.

use std::path::{Path, PathBuf};

use super::child::{child_path, read_workflow};
use savepoint_workflow::{Workflow, WorkflowError};

/// Every problem of `workflow`'s (the file `file`'s) child workflows, in node order;
/// `available` are the plugins in `plugins_dir`.
pub(crate) fn child_problems(
    workflow: &Workflow,
    file: &str,
    plugins_dir: &Path,
    available: &[String],
) -> Vec<WorkflowError> {
    let mut walk = Walk {
        plugins_dir: &plugins_dir.display().to_string(),
        available,
        problems: Vec::new(),
    };
    let mut stack = vec![Included::of(Path::new(file))];
    for (node, sub) in workflow.children() {
        let path = child_path(file, &sub.path);
        if let Some(message) = walk.child(&path, &mut stack) {
            let message = format!("node \"{node}\": {message}");
            walk.problems
                .push(workflow.child_problem(file, node, message));
        }
    }
    walk.problems
}

/// A file on the path from the checked file down to the one being read.
struct Included {
    /// Its canonical path (for comparison), or as written when it has none.
    canonical: PathBuf,
    /// Its file name, for the message that names a cycle.
    name: String,
}

impl Included {
    fn of(path: &Path) -> Included {
        Included {
            canonical: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
        }
    }
}

struct Walk<'a> {
    plugins_dir: &'a str,
    available: &'a [String],
    problems: Vec<WorkflowError>,
}

impl Walk<'_> {
    /// The first problem of the child file `path` or of its own children, whose
    /// includers are `stack`.
    fn child(&mut self, path: &Path, stack: &mut Vec<Included>) -> Option<String> {
        let shown = path.display().to_string();
        let included = Included::of(path);
        if let Some(at) = stack.iter().position(|i| i.canonical == included.canonical) {
            let mut cycle: Vec<&str> = stack[at..].iter().map(|i| i.name.as_str()).collect();
            cycle.push(&included.name);
            return Some(format!(
                "workflows include each other in a cycle: {}",
                cycle.join(" -> ")
            ));
        }
        let text = match read_workflow(path) {
            Ok(text) => text,
            Err(reason) => return Some(format!("cannot read child workflow {shown}: {reason}")),
        };
        let workflow = match Workflow::parse_all(&shown, &text) {
            Ok(workflow) => workflow,
            Err(problems) => {
                return Some(format!(
                    "child workflow {shown} is invalid: {}",
                    WorkflowError::summary(&problems)
                ));
            }
        };
        let missing = workflow.missing_plugins(&shown, self.plugins_dir, self.available);
        if !missing.is_empty() {
            return Some(format!(
                "child workflow {shown} is invalid: {}",
                WorkflowError::summary(&missing)
            ));
        }
        stack.push(included);
        let mut first = None;
        for (_, sub) in workflow.children() {
            first = self.child(&child_path(&shown, &sub.path), stack);
            if first.is_some() {
                break;
            }
        }
        stack.pop();
        first
    }
}
