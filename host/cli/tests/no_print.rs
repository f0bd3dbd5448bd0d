//! No library crate prints: `print!`, `println!`, `eprint!` and `eprintln!` appear only
//! in the CLI (`host/cli`), which owns what people see. The crates below it report
//! through their errors and through `tracing` (`RUST_LOG`), so that `savepoint serve`'s
//! logs can be filtered and shipped, and so that a library never writes into a
//! command's output. Checked on every `cargo test`; tests may print.
//!
//! The check reads the sources: each `.rs` file under a library crate's `src/`, but not
//! `tests.rs`, files in a `tests/` folder, or an item under `#[cfg(test)]`; comments and
//! string literals do not count.

use std::path::{Path, PathBuf};

/// The macros that write to stdout or stderr.
const PRINTS: &[&str] = &["print!", "println!", "eprint!", "eprintln!"];

/// Each library crate's `src/` folder: every crate under `host/` but the CLI.
fn library_sources() -> Vec<PathBuf> {
    let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let host = host.canonicalize().expect("host/ exists");
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(&host).expect("read host/") {
        let dir = entry.expect("read host/").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let manifest: toml::Table = manifest.parse().expect("a Cargo.toml");
        let name = manifest["package"]["name"].as_str().expect("package.name");
        if name != env!("CARGO_PKG_NAME") {
            dirs.push(dir.join("src"));
        }
    }
    dirs.sort();
    dirs
}

/// Every `.rs` file under `dir` that is not test code by its place.
fn non_test_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("read a source folder").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                non_test_files(&path, files);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            files.push(path);
        }
    }
}

/// The lines of `source` that call a printing macro (1-based), leaving out comments,
/// string and character literals, and items under `#[cfg(test)]`.
fn printing_lines(source: &str) -> Vec<usize> {
    let code = code_only(source);
    let mut found = Vec::new();
    for (index, line) in code.lines().enumerate() {
        let calls = PRINTS.iter().any(|name| {
            line.match_indices(name).any(|(at, _)| {
                // `eprintln!` is not `println!` in another word; `std::println!` is.
                let before = line[..at].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        });
        if calls {
            found.push(index + 1);
        }
    }
    found
}

/// `source` with comments, the insides of string and character literals, and items
/// under `#[cfg(test)]` blanked out; line breaks are kept, so line numbers stay.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    // Inside a `#[cfg(test)]` item: the brace depth at which it ends, once it opened.
    let mut test_item: Option<Option<usize>> = None;
    let mut depth = 0usize;
    let keep = |out: &mut String, c: char, hidden: bool| {
        out.push(if c == '\n' || !hidden { c } else { ' ' });
    };
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 12)].iter().collect();
        let hidden = test_item.is_some();
        if rest.starts_with("#[cfg(test)]") && test_item.is_none() {
            test_item = Some(None);
            continue;
        }
        if rest.starts_with("//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if rest.starts_with("/*") {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                keep(&mut out, chars[i], true);
                i += 1;
            }
            i += 2;
            continue;
        }
        let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
        let raw = chars[i] == 'r'
            && chars.get(i + 1 + hashes) == Some(&'"')
            && !(i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if chars[i] == '"' || raw {
            // A string: its text is blanked, its line breaks kept.
            let hashes = if raw { hashes } else { 0 };
            i += if raw { 2 + hashes } else { 1 };
            while i < chars.len() {
                if !raw && chars[i] == '\\' {
                    // An escape; a line break after it (a continued line) is kept.
                    keep(&mut out, ' ', true);
                    if let Some(&next) = chars.get(i + 1) {
                        keep(&mut out, next, true);
                    }
                    i += 2;
                    continue;
                }
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|c| **c == '#')
                        .count()
                        == hashes
                {
                    i += 1 + hashes;
                    break;
                }
                keep(&mut out, chars[i], true);
                i += 1;
            }
            out.push_str("\"\"");
            continue;
        }
        if chars[i] == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '{' (not a lifetime).
            out.push_str("' '");
            i += 3;
            continue;
        }
        match chars[i] {
            '{' => {
                depth += 1;
                if test_item == Some(None) {
                    test_item = Some(Some(depth));
                }
            }
            '}' => {
                if test_item == Some(Some(depth)) {
                    test_item = None;
                }
                depth = depth.saturating_sub(1);
            }
            // `#[cfg(test)] mod tests;` or `use ...;`: the item ends before any brace.
            ';' if test_item == Some(None) => test_item = None,
            _ => {}
        }
        keep(&mut out, chars[i], hidden);
        i += 1;
    }
    out
}

#[test]
fn no_library_crate_prints() {
    let mut files = Vec::new();
    let sources = library_sources();
    assert!(sources.len() >= 6, "the library crates: {sources:?}");
    for dir in &sources {
        non_test_files(dir, &mut files);
    }
    let mut prints = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("read a source file");
        for line in printing_lines(&source) {
            prints.push(format!("{}:{line}", file.display()));
        }
    }
    assert!(
        prints.is_empty(),
        "library crates print (return an error, or log with tracing):\n{}",
        prints.join("\n")
    );
}

/// The check finds each printing macro, and only in code.
#[test]
fn the_check_finds_prints_in_code_only() {
    let source = r##"
fn report() {
    eprintln!("a {} b", 1);
    let brace = '{';
    std::println!("x");
    // println!("in a comment")
    let text = "println!(\"in a string\")";
    let raw = r#"eprintln!("raw")"#;
    my_println!("a macro of another name");
    print!("{}", brace);
}

/* eprint!("a block comment") */
#[cfg(test)]
mod tests {
    fn helper() {
        println!("tests may print");
        if true { eprintln!("nested braces"); }
    }
}

#[cfg(test)]
mod more;

fn after_the_tests() {
    eprint!("still code");
}
"##;
    assert_eq!(printing_lines(source), [3, 5, 10, 26]);
}
