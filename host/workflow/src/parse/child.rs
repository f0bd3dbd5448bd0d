//! A sub-workflow node's keys (`workflow`, `input`, `output`, `id`) and the keys that a
//! plugin node alone may have. Whether the child file exists, parses, and does not
//! include its parent again is checked where files are read (the runtime's `validate`).

use super::{RawNode, Validator};
use crate::SubWorkflow;
use crate::child::unknown_placeholder;

impl Validator<'_> {
    /// The node's child workflow, if it has one; its problems reported.
    pub(super) fn sub_workflow(&self, name: &str, raw: &RawNode) -> Option<SubWorkflow> {
        let Some(path) = &raw.workflow else {
            // Keys that mean nothing without a child.
            for (key, span) in [
                ("input", raw.input.as_ref().map(|s| s.span())),
                ("output", raw.output.as_ref().map(|s| s.span())),
                ("id", raw.id.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    let msg = format!(
                        "node \"{name}\" has {key}, but only a sub-workflow node (one with \
                         workflow = \"FILE\") has one"
                    );
                    self.problem(span, msg);
                }
            }
            return None;
        };
        if let Some(plugin) = &raw.plugin {
            let msg = format!(
                "node \"{name}\" has both plugin and workflow: a node calls a plugin or runs \
                 a child workflow, not both"
            );
            self.problem(plugin.span(), msg);
        }
        for (key, span) in [
            ("config", raw.config.as_ref().map(|s| s.span())),
            ("reuse", raw.reuse.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                let msg = format!(
                    "node \"{name}\" runs a child workflow, so it has no {key} (a key of a \
                     plugin node)"
                );
                self.problem(span, msg);
            }
        }
        if path.get_ref().trim().is_empty() {
            let msg = format!("node \"{name}\" has workflow = \"\"; name a workflow file");
            self.problem(path.span(), msg);
        }
        if let Some(id) = &raw.id {
            if id.get_ref().trim().is_empty() {
                self.problem(
                    id.span(),
                    format!(
                        "node \"{name}\" has id = \"\"; leave it out for the default \"{}\"",
                        crate::DEFAULT_CHILD_ID
                    ),
                );
            } else if let Some(bad) = unknown_placeholder(id.get_ref()) {
                let msg = format!(
                    "node \"{name}\" has id = \"{}\", but {bad} is not one of {{thread}}, \
                     {{step}}, {{node}}, {{index}}, {{branch}}",
                    id.get_ref()
                );
                self.problem(id.span(), msg);
            } else if let Some(missing) = crate::child::ID_REQUIRED
                .iter()
                .find(|p| !id.get_ref().contains(&format!("{{{p}}}")))
            {
                let msg = format!(
                    "node \"{name}\" has id = \"{}\" without {{{missing}}}: every run and every \
                     step must have a child of its own (or they would share one, and take its \
                     old result); e.g. id = \"{{thread}}/order-{{step}}\"",
                    id.get_ref()
                );
                self.problem(id.span(), msg);
            }
        }
        Some(SubWorkflow {
            path: path.get_ref().clone(),
            input: raw.input.as_ref().map(|m| m.get_ref().clone()),
            output: raw.output.as_ref().map(|m| m.get_ref().clone()),
            id: raw.id.as_ref().map(|id| id.get_ref().clone()),
        })
    }
}
