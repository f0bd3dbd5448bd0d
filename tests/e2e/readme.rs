//! The README is tested: its CLI reference names exactly the flags and
//! environment variables that `--help` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::fixtures::repo_root;

/// The README as it is in the checkout.
fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md")
}

/// The text of the section under the `## TITLE` heading, up to the next
/// `## ` heading.
fn section<'a>(text: &'a str, title: &str) -> &'a str {
    let heading = format!("\n## {title}\n");
    let start = text
        .find(&heading)
        .unwrap_or_else(|| panic!("README.md has no \"## {title}\" section"))
        + heading.len();
    let rest = &text[start..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// `savepoint ARGS --help`: the long help.
fn help(path: &[String]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_savepoint"))
        .args(path)
        .arg("--help")
        .env_remove("SAVEPOINT_DB")
        .env_remove("SAVEPOINT_PLUGINS")
        .output()
        .expect("run savepoint --help");
    assert!(
        output.status.success(),
        "savepoint {} --help failed: {}",
        path.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 help")
}

/// The lines of a help text's `Title:` section (up to the next blank line
/// followed by an unindented line).
fn help_section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|line| *line != title)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .collect()
}

/// The subcommands a help text lists under `Commands:` (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    help_section(help, "Commands:")
        .into_iter()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags a help text defines under `Options:` (`--db`, `--json`):
/// the lines `  -h, --help` and `      --db <DB>`, not their descriptions
/// (indented further).
fn defined_flags(help: &str) -> BTreeSet<String> {
    help_section(help, "Options:")
        .into_iter()
        .filter_map(|line| {
            let indent = line.len() - line.trim_start().len();
            let line = line.trim_start();
            if indent > 6 {
                return None;
            }
            let line = line
                .strip_prefix('-')
                .filter(|rest| rest.chars().nth(1) == Some(','))
                .map_or(line, |rest| rest[2..].trim_start());
            line.starts_with("--")
                .then(|| flags(line).into_iter().next())?
        })
        .collect()
}

/// The environment variables a help text names (`[env: SAVEPOINT_DB=]`).
fn defined_env(help: &str) -> BTreeSet<String> {
    help.split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// Every `--flag` named in a text.
fn flags(text: &str) -> BTreeSet<String> {
    words(text, "--", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })
}

/// Every `SAVEPOINT_*` environment variable named in a text.
fn env_vars(text: &str) -> BTreeSet<String> {
    words(text, "SAVEPOINT_", |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
    })
}

/// Every word of `text` that starts with `prefix` (not in the middle of
/// another word) and goes on with at least one character that `part` accepts.
fn words(text: &str, prefix: &str, part: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            continue;
        }
        let rest: String = text[at + prefix.len()..]
            .chars()
            .take_while(|c| part(*c))
            .collect();
        let rest = rest.trim_end_matches(['-', '_']);
        if !rest.is_empty() {
            found.insert(format!("{prefix}{rest}"));
        }
    }
    found
}

/// What `--help` says about one command.
struct CommandHelp {
    flags: BTreeSet<String>,
    env: BTreeSet<String>,
}

/// Every leaf command (`run`, `new node`, ...) with its flags and variables,
/// found by walking the `Commands:` sections from `savepoint --help`.
fn commands() -> BTreeMap<String, CommandHelp> {
    let mut found = BTreeMap::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let text = help(&path);
        let children = subcommands(&text);
        if children.is_empty() || path.is_empty() {
            found.insert(
                path.join(" "),
                CommandHelp {
                    flags: defined_flags(&text),
                    env: defined_env(&text),
                },
            );
        }
        for child in children {
            let mut next = path.clone();
            next.push(child);
            todo.push(next);
        }
    }
    found
}

/// The rows of the reference table by command (`new node`): the first cell
/// is `savepoint COMMAND ARGS...`; the command is its lowercase words.
fn reference_rows(reference: &str) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    for line in reference.lines() {
        let Some(usage) = line.strip_prefix("| `savepoint ") else {
            continue;
        };
        let command: Vec<&str> = usage
            .split([' ', '`'])
            .take_while(|word| {
                !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            })
            .filter(|word| !word.starts_with('-'))
            .collect();
        let previous = rows.insert(command.join(" "), line.to_string());
        assert!(
            previous.is_none(),
            "README.md's CLI reference has two rows for `savepoint {}`",
            command.join(" ")
        );
    }
    rows
}

/// Every flag and environment variable in `savepoint COMMAND --help` is in the
/// README's CLI reference (a command's own flags in its row, the global ones
/// in the text above the table), and every flag and variable the reference
/// names exists.
#[test]
fn cli_reference_matches_help() {
    let readme = readme();
    let reference = section(&readme, "CLI reference");
    let rows = reference_rows(reference);
    let commands = commands();
    let global = &commands[""];
    let prose: String = reference
        .lines()
        .filter(|line| !line.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut problems = Vec::new();

    for flag in &global.flags {
        if !flags(&prose).contains(flag) && !["--help", "--version"].contains(&flag.as_str()) {
            problems.push(format!(
                "global flag {flag} (savepoint --help) is not in the text of the CLI reference"
            ));
        }
    }
    let mut all_flags = global.flags.clone();
    let mut all_env = BTreeSet::new();
    for (name, command) in commands.iter().filter(|(name, _)| !name.is_empty()) {
        all_flags.extend(command.flags.iter().cloned());
        all_env.extend(command.env.iter().cloned());
        let Some(row) = rows.get(name) else {
            problems.push(format!(
                "`savepoint {name}` has no row in README.md's CLI reference table"
            ));
            continue;
        };
        let documented = flags(row);
        for flag in command.flags.difference(&global.flags) {
            if !documented.contains(flag) {
                problems.push(format!(
                    "`savepoint {name} {flag}` (in its --help) is not in its row of the CLI reference"
                ));
            }
        }
        for flag in documented.difference(&command.flags) {
            problems.push(format!(
                "the CLI reference's row of `savepoint {name}` names {flag}, which `savepoint {name} --help` does not have"
            ));
        }
    }
    for name in rows.keys() {
        if !commands.contains_key(name) {
            problems.push(format!(
                "the CLI reference has a row for `savepoint {name}`, which is no command"
            ));
        }
    }
    for flag in flags(&prose).difference(&all_flags) {
        problems.push(format!(
            "the CLI reference names {flag}, which no command's --help has"
        ));
    }
    let named_env = env_vars(reference);
    for var in all_env.difference(&named_env) {
        problems.push(format!("{var} (in --help) is not in the CLI reference"));
    }
    for var in named_env.difference(&all_env) {
        problems.push(format!(
            "the CLI reference names {var}, which no command's --help has"
        ));
    }
    assert!(
        problems.is_empty(),
        "README.md's CLI reference and --help disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn words_are_found_whole() {
    let text = "`--db PATH` (env `SAVEPOINT_DB`), a-->b, x--y, `--max-runs N`, --, SAVEPOINT_";
    assert_eq!(
        flags(text).into_iter().collect::<Vec<_>>(),
        ["--db", "--max-runs"]
    );
    assert_eq!(
        env_vars(text).into_iter().collect::<Vec<_>>(),
        ["SAVEPOINT_DB"]
    );
}
