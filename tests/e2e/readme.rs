//! The README is tested. Its tour runs as written, in a fresh folder, with the
//! binary copied out of the checkout; its CLI reference names exactly the
//! flags and environment variables that `--help` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixtures::{POLL, repo_root, target_dir};

/// The comment that marks the fenced `sh` block right after it as a tour
/// block (README.md says so at the top of its tour).
const TOUR_MARK: &str = "<!-- tour -->";

/// The port the README's daemon listens on; the test gives it a free one.
const README_PORT: &str = "7878";

/// How long the whole tour may take before the test gives up on it: the
/// first build of the tour's Rust node compiles its dependencies.
const TOUR_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// A tour block: its text and the README line of its first command.
#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
}

/// The fenced `sh` blocks marked with [`TOUR_MARK`], in README order.
fn tour_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.trim() != TOUR_MARK {
            continue;
        }
        assert_eq!(
            lines.get(at + 1).map(|l| l.trim()),
            Some("```sh"),
            "README.md line {}: {TOUR_MARK} must come right before a ```sh block",
            at + 1
        );
        let body: Vec<&str> = lines[at + 2..]
            .iter()
            .take_while(|l| l.trim() != "```")
            .copied()
            .collect();
        assert!(
            at + 2 + body.len() < lines.len(),
            "README.md line {}: the tour block never ends",
            at + 2
        );
        blocks.push(Block {
            line: at + 3,
            text: body.join("\n"),
        });
    }
    blocks
}

/// One bash script of all the blocks, in order (one shell, as a reader types
/// them into one terminal), that stops at the first failing command and writes
/// its line and text to `$TOUR_FAILED`; `xtrace` says where it was when the
/// test gives up waiting. Returns the script and the README line of each
/// script line (0 for the script's own lines).
fn tour_script(blocks: &[Block], port: u16) -> (String, Vec<(usize, usize)>) {
    let mut script = String::from(
        "set -Eeuo pipefail\n\
         trap 'printf \"%s\\n%s\\n\" \"$LINENO\" \"$BASH_COMMAND\" > \"$TOUR_FAILED\"' ERR\n\
         PS4='+ $LINENO: '\n\
         exec {trace}>\"$TOUR_TRACE\"; BASH_XTRACEFD=$trace; set -x\n",
    );
    // (block, README line) of each script line, 1-based like $LINENO.
    let mut origin = vec![(0, 0); script.lines().count()];
    for (index, block) in blocks.iter().enumerate() {
        for (offset, line) in block.text.lines().enumerate() {
            script.push_str(&line.replace(README_PORT, &port.to_string()));
            script.push('\n');
            origin.push((index + 1, block.line + offset));
        }
    }
    (script, origin)
}

/// A free loopback port for the tour's daemon (instead of 7878, which another
/// program or a concurrent test may hold).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port()
}

/// The environment of the tour: like a new user's shell, with `savepoint` in
/// `bin/` on `PATH` and a fresh `HOME`; nothing of the checkout is reachable
/// (no `SAVEPOINT_*`, no cargo variables naming it, no PATH entry in it). Rust
/// keeps the user's toolchain and registry (`CARGO_HOME`, `RUSTUP_HOME`), and
/// node builds share one target directory under the checkout's `target/`, so
/// only the first run compiles the node's dependencies.
fn tour_command(root: &Path, script: &Path) -> Command {
    let home = root.join("home");
    let bin = root.join("bin");
    std::fs::create_dir_all(&home).expect("create the tour's HOME");
    std::fs::create_dir_all(&bin).expect("create the tour's bin/");
    // A hard link where it can be (the same file, without copying hundreds of MB of a
    // debug build); /proc/self/exe still names bin/savepoint.
    let binary = Path::new(env!("CARGO_BIN_EXE_savepoint"));
    std::fs::hard_link(binary, bin.join("savepoint"))
        .or_else(|_| std::fs::copy(binary, bin.join("savepoint")).map(drop))
        .expect("copy savepoint into bin/");
    let real_home = std::env::var_os("HOME").map(PathBuf::from);
    let keep = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| real_home.as_ref().map(|home| home.join(default)))
    };
    let cargo_home = keep("CARGO_HOME", ".cargo");
    let rustup_home = keep("RUSTUP_HOME", ".rustup");
    let repo = repo_root();
    let path = std::iter::once(bin.clone())
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .filter(|dir| !dir.starts_with(&repo) && !dir.starts_with(target_dir()))
        .collect::<Vec<_>>();
    let mut command = Command::new("bash");
    command.arg(script).current_dir(&home).stdin(Stdio::null());
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        if var.starts_with("SAVEPOINT_")
            || var.starts_with("XDG_")
            || (var.starts_with("CARGO") && var != "CARGO_HOME")
            || var.starts_with("__CARGO")
        {
            command.env_remove(&*var);
        }
    }
    command
        .env("HOME", &home)
        .env("PATH", std::env::join_paths(path).expect("a valid PATH"))
        .env("CARGO_TARGET_DIR", target_dir().join("readme-tour"));
    if let Some(cargo_home) = cargo_home {
        command.env("CARGO_HOME", cargo_home);
    }
    if let Some(rustup_home) = rustup_home {
        command.env("RUSTUP_HOME", rustup_home);
    }
    // Its own process group, so that whatever the tour leaves running (a
    // daemon) is killed with it.
    command.process_group(0);
    command
}

/// Every marked block of the README's tour runs, in order, in one shell in a
/// fresh folder with the binary copied out of the checkout, and succeeds.
#[test]
fn tour() {
    if let Err(report) = run_tour(&readme(), TOUR_DEADLINE) {
        panic!("{report}");
    }
}

/// The harness itself: a failing command is named with its block and README
/// line, and a block that hangs is named too; no daemon outlives the tour.
#[test]
fn tour_failures_name_the_block_and_the_command() {
    let readme = "# t\n\n<!-- tour -->\n```sh\necho one\n```\n\n\
                  text\n\n<!-- tour -->\n```sh\ntrue\ntest -e no-such-file\necho never\n```\n";
    let report = run_tour(readme, TOUR_DEADLINE).expect_err("the tour fails");
    assert!(
        report.starts_with(
            "the README tour failed (exit status: 1) at tour block 2 (README.md line 13): \
             `test -e no-such-file`\n"
        ),
        "{report}"
    );
    assert!(
        report.ends_with("lines):\none"),
        "the output is shown: {report}"
    );

    let readme = "<!-- tour -->\n```sh\necho start\nsleep 1000\n```\n";
    let report = run_tour(readme, Duration::from_secs(1)).expect_err("the tour hangs");
    assert!(
        report.starts_with(
            "the README tour did not finish within 1s; its last command: \
             tour block 1 (README.md line 4): `sleep 1000`\n"
        ),
        "{report}"
    );
}

/// Run the marked blocks of `readme` as [`tour`] does; the error names the
/// block and command that failed (or that was running at `deadline`) and
/// shows the end of the output.
fn run_tour(readme: &str, deadline: Duration) -> Result<(), String> {
    let blocks = tour_blocks(readme);
    assert!(
        !blocks.is_empty(),
        "README.md marks no tour block ({TOUR_MARK})"
    );
    let root = tempfile::tempdir().expect("create a temp dir");
    let (script, origin) = tour_script(&blocks, free_port());
    let script_path = root.path().join("tour.sh");
    std::fs::write(&script_path, &script).expect("write tour.sh");
    let failed = root.path().join("failed");
    let trace = root.path().join("trace");
    let output = root.path().join("output");
    let log = std::fs::File::create(&output).expect("create the output file");
    let mut command = tour_command(root.path(), &script_path);
    command
        .env("TOUR_FAILED", &failed)
        .env("TOUR_TRACE", &trace)
        .stdout(log.try_clone().expect("clone the output file"))
        .stderr(log);
    let mut child = command.spawn().expect("run bash");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            break None;
        }
        std::thread::sleep(POLL);
    };
    // SAFETY: kill(2) on the process group of our child (its pid is the
    // group's id): whatever the tour left running (a daemon) goes with it.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    let _ = child.wait();
    if status.is_some_and(|status| status.success()) {
        return Ok(());
    }
    let place = |line: &str| -> String {
        let line: usize = line.trim().parse().unwrap_or(0);
        match origin.get(line.wrapping_sub(1)) {
            Some((block, readme_line)) if *block > 0 => {
                format!("tour block {block} (README.md line {readme_line})")
            }
            _ => format!("line {line} of the tour's own script"),
        }
    };
    let mut report = match status {
        Some(status) => format!("the README tour failed ({status})"),
        None => format!("the README tour did not finish within {deadline:?}"),
    };
    match std::fs::read_to_string(&failed) {
        Ok(text) if status.is_some() => {
            let (line, command) = text.split_once('\n').unwrap_or((&text, ""));
            let _ = write!(report, " at {}: `{}`", place(line), command.trim());
        }
        _ => {
            let trace = std::fs::read_to_string(&trace).unwrap_or_default();
            if let Some((line, command)) = trace
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("+ ")?.split_once(": "))
            {
                let _ = write!(report, "; its last command: {}: `{command}`", place(line));
            }
        }
    }
    let output = std::fs::read_to_string(&output).unwrap_or_default();
    let lines: Vec<&str> = output.lines().collect();
    let tail = &lines[lines.len().saturating_sub(60)..];
    Err(format!(
        "{report}\n--- the tour's output (its last 60 lines):\n{}",
        tail.join("\n")
    ))
}

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
