//! The W1 workflow text: `examples/workflows/chain.toml` (10 nodes in a line,
//! each the `counter` plugin) with the variations the scenarios need, made by
//! editing the file's text so that the benchmark runs exactly that file.

use std::path::Path;

use anyhow::{Context, bail};
use savepoint_workflow::Workflow;

/// Nodes in the chain: a finished run has `count = NODES`.
pub const NODES: u64 = 10;

const PLUGIN_LINE: &str = "plugin = \"counter\"";

/// The chain's text as read from `path`.
#[derive(Debug, Clone)]
pub struct Chain {
    pub path: String,
    text: String,
}

impl Chain {
    pub fn read(path: &Path) -> anyhow::Result<Chain> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the W1 workflow {}", path.display()))?;
        let lines = text.lines().filter(|l| l.trim() == PLUGIN_LINE).count();
        if lines as u64 != NODES {
            bail!(
                "{}: expected {NODES} lines `{PLUGIN_LINE}` (the W1 chain), found {lines}",
                path.display()
            );
        }
        Ok(Chain {
            path: path.display().to_string(),
            text,
        })
    }

    /// The chain with every node running `plugin`, with `reuse = true` on
    /// every node if asked.
    pub fn with_plugin(&self, plugin: &str, reuse: bool) -> String {
        let mut line = format!("plugin = \"{plugin}\"");
        if reuse {
            line.push_str("\nreuse = true");
        }
        self.text
            .lines()
            .map(|l| {
                if l.trim() == PLUGIN_LINE {
                    line.as_str()
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }

    /// The chain whose node 6 waits `${env:BENCH_DELAY_MS}` milliseconds
    /// first (the counter's `delay_ms`), for the resume scenario.
    pub fn with_slow_node6(&self) -> anyhow::Result<String> {
        let header = "[nodes.n6]";
        if !self.text.lines().any(|l| l.trim() == header) {
            bail!("{}: no {header} table to slow down", self.path);
        }
        Ok(self
            .text
            .lines()
            .map(|l| {
                if l.trim() == header {
                    format!("{l}\nconfig = {{ delay_ms = \"${{env:BENCH_DELAY_MS}}\" }}")
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n")
    }
}

/// Whether this savepoint knows the node option `reuse = true`; the parse
/// error if not.
pub fn reuse_supported(chain: &Chain) -> Result<(), String> {
    Workflow::parse(&chain.path, &chain.with_plugin("counter", true))
        .map(|_| ())
        .map_err(|e| e.headline())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Chain {
        Chain::read(&crate::options::repo_root().join("examples/workflows/chain.toml")).unwrap()
    }

    #[test]
    fn variants_parse_as_ten_node_chains() {
        let chain = chain();
        let js = Workflow::parse("chain.toml", &chain.with_plugin("js-counter", false)).unwrap();
        assert_eq!(js.nodes.len(), NODES as usize);
        assert_eq!(js.plugins(), ["js-counter"]);
        let slow = Workflow::parse("chain.toml", &chain.with_slow_node6().unwrap()).unwrap();
        assert_eq!(
            slow.nodes["n6"].config,
            serde_json::json!({"delay_ms": "${env:BENCH_DELAY_MS}"})
        );
        assert_eq!(slow.nodes["n5"].config, serde_json::json!({}));
    }
}
