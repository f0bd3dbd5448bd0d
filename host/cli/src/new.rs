//! `savepoint new node NAME --lang L`: a node project from a template built into the
//! binary (host/cli/build.rs embeds the templates and the SDKs), so it works with no
//! savepoint checkout anywhere.
//!
//! The project is relocatable: every generated path is relative, and the SDK is
//! vendored into `vendor/savepoint/` (in the repository's own layout, so the build
//! scripts find `wit/` and `scripts/` where they do in a checkout). A vendored copy
//! can be committed with the node, stays at the SDK version the node was made with,
//! and is not shared: upgrading savepoint never changes how an existing node builds.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{Failure, Global, output};

/// Create a new project from a template.
#[derive(Debug, Args)]
pub struct NewArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// A node project whose `./build.sh` builds the component and drops it
    /// into the plugins folder ($SAVEPOINT_PLUGINS, default ./plugins of the
    /// folder it is run from).
    ///
    /// The project needs no savepoint checkout: the SDK is vendored into its
    /// `vendor/savepoint/` folder, and every path in it is relative, so it can be
    /// moved and committed.
    ///
    /// Example: `savepoint new node greet --lang python && greet/build.sh`
    Node(NodeArgs),
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// The node's name: the plugin name workflows use (`plugins/NAME.wasm`).
    name: String,
    /// The language of the node.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create the project [default: ./NAME].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print what was created as JSON: `{"name", "lang", "dir", "files"}`.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
    C,
}

/// A file built into the binary: its path in the new project, relative to the
/// template's folder (templates) or to the repository's root (SDKs).
#[derive(Debug)]
struct EmbeddedFile {
    path: &'static str,
    bytes: &'static [u8],
    executable: bool,
}

// TEMPLATE_RUST, SDK_RUST, TEMPLATE_PYTHON, ...: see host/cli/build.rs.
include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Where the SDK goes inside a new project.
const VENDOR: &str = "vendor/savepoint";

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }

    fn template(self) -> &'static [EmbeddedFile] {
        match self {
            Lang::Rust => TEMPLATE_RUST,
            Lang::Python => TEMPLATE_PYTHON,
            Lang::Js => TEMPLATE_JS,
            Lang::C => TEMPLATE_C,
        }
    }

    fn sdk(self) -> &'static [EmbeddedFile] {
        match self {
            Lang::Rust => SDK_RUST,
            Lang::Python => SDK_PYTHON,
            Lang::Js => SDK_JS,
            Lang::C => SDK_C,
        }
    }
}

pub async fn main(global: &Global, args: NewArgs) -> anyhow::Result<ExitCode> {
    let What::Node(args) = args.what;
    let name = &args.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
    {
        bail!(Failure::usage(format!(
            "invalid node name {name:?}: use lowercase letters, digits, '-' and '_', starting with a letter"
        )));
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!(Failure::conflict(format!(
            "{} already exists; pick another name or --dir",
            dir.display()
        )));
    }
    let files = project(name, args.lang);
    // A folder that cannot be made is the disk's or the system's doing (exit 7), not a
    // missing run (5).
    write_project(&dir, &files)
        .map_err(|error| Failure::environment(super::describe_error(&error)))?;

    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    if args.json {
        output::print_json(&json!({
            "name": name,
            "lang": args.lang.name(),
            "dir": dir.display().to_string(),
            "files": paths,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    // As many files as --json lists.
    println!(
        "created {} ({} node, {} files; the SDK is vendored in {})",
        dir.display(),
        args.lang.name(),
        paths.len(),
        dir.join(VENDOR).display(),
    );
    // build.sh reads the plugins folder from $SAVEPOINT_PLUGINS, default ./plugins;
    // a `--plugins` given to this command must be passed on.
    let env = if global.plugins == Path::new("plugins")
        || std::env::var_os("SAVEPOINT_PLUGINS").is_some()
    {
        String::new()
    } else {
        let plugins = global.plugins.to_string_lossy();
        format!("SAVEPOINT_PLUGINS={} ", output::shell_word(&plugins))
    };
    let build = dir.join("build.sh");
    // `greet/build.sh` runs as `./greet/build.sh`; `../x/build.sh` as it is.
    let build = if build.is_relative() && !build.starts_with(".") && !build.starts_with("..") {
        Path::new(".").join(build)
    } else {
        build
    };
    println!(
        "next: {env}{}   # builds {name}.wasm into {}/",
        output::shell_word(&build.to_string_lossy()),
        global.plugins.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One file of a new project.
#[derive(Debug)]
struct ProjectFile {
    path: String,
    bytes: Vec<u8>,
    executable: bool,
}

/// Every file of a new node project: the template with its placeholders filled in,
/// the vendored SDK, and a README that says what the vendored copy is.
fn project(name: &str, lang: Lang) -> Vec<ProjectFile> {
    let version = super::VERSION;
    let fill = |text: &str| {
        text.replace("@NAME@", name)
            .replace("@CRATE@", &name.replace('-', "_"))
            .replace("@SAVEPOINT@", &format!("savepoint {version}"))
    };
    let mut files: Vec<ProjectFile> = lang
        .template()
        .iter()
        .map(|file| ProjectFile {
            path: fill(file.path),
            bytes: match std::str::from_utf8(file.bytes) {
                Ok(text) => fill(text).into_bytes(),
                Err(_) => file.bytes.to_vec(),
            },
            executable: file.executable,
        })
        .collect();
    files.push(ProjectFile {
        path: format!("{VENDOR}/README.md"),
        bytes: vendor_readme(lang, version).into_bytes(),
        executable: false,
    });
    files.extend(lang.sdk().iter().map(|file| ProjectFile {
        path: format!("{VENDOR}/{}", file.path),
        bytes: file.bytes.to_vec(),
        executable: file.executable,
    }));
    files
}

fn vendor_readme(lang: Lang, version: &str) -> String {
    format!(
        "# vendor/savepoint\n\
         \n\
         The parts of savepoint {version} that this {lang} node builds with: its SDK,\n\
         the WIT contract (`wit/`) and the script that installs the toolchain\n\
         (`scripts/`), in the layout of the savepoint repository.\n\
         `savepoint new node` copied them here so that the project builds anywhere,\n\
         without a savepoint checkout, and always with the SDK it was written for.\n\
         Commit this folder with the node; do not edit it.\n\
         \n\
         To move the node to a newer SDK, make a project of the same language with the\n\
         newer savepoint (`savepoint new node tmp --lang {lang}`) and replace this folder\n\
         with its `vendor/savepoint`.\n",
        lang = lang.name()
    )
}

/// Write the project into a new folder beside `dir`, then rename it to `dir`: an
/// error leaves nothing half made.
fn write_project(dir: &Path, files: &[ProjectFile]) -> anyhow::Result<()> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".savepoint-new-")
        .tempdir_in(parent)
        .map_err(|error| {
            // Without the staging folder's name (tempfile adds ` at path "..."`): the user
            // named `dir`.
            let text = error.to_string();
            let cause = text.split(" at path ").next().unwrap_or(&text);
            anyhow::anyhow!("cannot create {}: {cause}", dir.display())
        })?;
    for file in files {
        let target = staging.path().join(&file.path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
        let mut out = std::fs::File::create(&target)
            .with_context(|| format!("cannot write {}", dir.join(&file.path).display()))?;
        out.write_all(&file.bytes)
            .with_context(|| format!("cannot write {}", dir.join(&file.path).display()))?;
        if file.executable {
            set_executable(&target)?;
        }
    }
    // `tempdir_in` made the folder private (0700): give it the usual mode.
    set_mode(staging.path(), 0o755)?;
    let staged = staging.keep();
    if let Err(error) = std::fs::rename(&staged, dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(error).with_context(|| format!("cannot create {}", dir.display()));
    }
    Ok(())
}

#[cfg(unix)]
fn set_executable(path: &Path) -> anyhow::Result<()> {
    set_mode(path, 0o755)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file a project gets, in every language: the template's files are
    /// there, and nothing names a folder of the machine that built savepoint.
    #[test]
    fn projects_are_complete_and_relocatable() {
        let checkout = env!("CARGO_MANIFEST_DIR");
        let checkout = Path::new(checkout)
            .ancestors()
            .nth(2)
            .unwrap()
            .to_str()
            .unwrap();
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let files = project("my-node", lang);
            let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert!(paths.contains(&"build.sh"), "{lang:?}: {paths:?}");
            assert!(paths.contains(&"vendor/savepoint/wit/node.wit"), "{lang:?}");
            for file in &files {
                let text = String::from_utf8_lossy(&file.bytes);
                for left in ["@NAME@", "@CRATE@", "@SAVEPOINT@", checkout] {
                    assert!(!text.contains(left), "{lang:?} {}: {left}", file.path);
                    assert!(!file.path.contains(left), "{lang:?} {}", file.path);
                }
            }
        }
    }
}
