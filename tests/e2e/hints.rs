//! The commands hints print work as printed: they carry the global options given on
//! the command line (`--db`, `--plugins`, ...), quoted for the shell, and not those
//! of environment variables (which apply again by themselves).

use crate::fixtures::Env;

/// The text between the first pair of backticks after `after` in `text`.
fn quoted_after<'a>(text: &'a str, after: &str) -> &'a str {
    let rest = &text[text
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?}: {text}"))..];
    let start = rest
        .find('`')
        .unwrap_or_else(|| panic!("no command: {rest}"))
        + 1;
    let end = start + rest[start..].find('`').unwrap();
    &rest[start..end]
}

/// Runs `line` in a shell, in `env`'s folder, with `savepoint` on the PATH; returns
/// the exit code and stderr.
fn shell(env: &Env, line: &str) -> (Option<i32>, String) {
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("savepoint");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_savepoint"), &link).unwrap();
    }
    let output = std::process::Command::new("sh")
        .current_dir(env.path())
        .env_clear()
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .args(["-c", line])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `args` and then `given`.
fn with<'a>(given: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
    [args, given].concat()
}

fn burn(fuel: &str) -> String {
    format!(
        "name = \"burn\"\nstart = \"a\"\n{fuel}\n[nodes.a]\nplugin = \"counter\"\nnext = \"b\"\n\
         [nodes.b]\nplugin = \"counter\"\nnext = \"end\"\n"
    )
}

#[test]
fn hints_carry_the_global_options_of_the_command_line() {
    let env = Env::new(&[]);
    // The plugins and the database elsewhere, named on the command line only.
    let plugins = env.path().join("my plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::copy(
        crate::fixtures::guest("counter"),
        plugins.join("counter.wasm"),
    )
    .unwrap();
    std::fs::create_dir(env.path().join("data")).unwrap();
    let file = env.workflow("burn.toml", &burn("fuel = 1"));
    let given = [
        "--db",
        "data/x.db",
        "--plugins",
        "my plugins",
        "--lease",
        "4s",
    ];

    // SAVEPOINT_CACHE (set for every test) is not repeated; the flags are, quoted.
    let failed = env.exits(1, &with(&given, &["run", &file, "--thread", "f1"]));
    let options = "--db data/x.db --plugins 'my plugins' --lease 4s";
    let resume = quoted_after(&failed, "fix the cause");
    assert_eq!(resume, format!("savepoint {options} resume f1"), "{failed}");
    let upgrade = quoted_after(&failed, "or a plugin, use");
    assert_eq!(upgrade, format!("{resume} --upgrade"));
    assert!(!env.db_exists());

    // The hint works as printed, from the folder the run was started in.
    env.workflow("burn.toml", &burn("fuel = 1_000_000_000"));
    let (code, stderr) = shell(&env, upgrade);
    assert_eq!(code, Some(0), "{upgrade}: {stderr}");

    // The paging hint too.
    let (code, _, stderr) = env.exit(&with(&given, &["history", "f1", "--limit", "1"]));
    assert_eq!(code, Some(0), "{stderr}");
    let more = stderr
        .trim_end()
        .strip_prefix("more: ")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        more.starts_with(&format!("savepoint {options} history f1 --cursor ")),
        "{more}"
    );
    let (code, stderr) = shell(&env, more);
    assert_eq!(code, Some(0), "{more}: {stderr}");
}
