use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use super::Global;

/// Create a new project from a template.
#[derive(Debug, Args)]
pub struct NewArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// A node project whose `./build.sh` builds the component and drops it
    /// into the plugins folder.
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
    /// The savepoint guest-sdk folder [default: found beside the savepoint
    /// binary's checkout or the current folder].
    #[arg(long, env = "SAVEPOINT_SDK")]
    sdk: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
    C,
}

impl Lang {
    fn folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::C => "c",
        }
    }
}

pub async fn main(global: &Global, args: NewArgs) -> anyhow::Result<ExitCode> {
    let What::Node(args) = args.what;
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || !args.name.starts_with(|c: char| c.is_ascii_lowercase())
    {
        bail!(
            "invalid node name {:?}: use lowercase letters, digits, '-' and '_', starting with a letter",
            args.name
        );
    }
    let sdk = match args.sdk {
        Some(sdk) => sdk,
        None => find_sdk().context(
            "cannot find savepoint's guest-sdk folder; pass --sdk PATH (or set SAVEPOINT_SDK) \
             to the guest-sdk folder of a savepoint checkout",
        )?,
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the guest-sdk folder {} does not exist", sdk.display()))?;
    let template = sdk.join(args.lang.folder()).join("template");
    if !template.is_dir() {
        bail!(
            "{} has no template for {} nodes ({} is missing)",
            sdk.display(),
            args.lang.folder(),
            template.display()
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        bail!(
            "{} already exists; pick another name or --dir",
            dir.display()
        );
    }
    let plugins = absolute(&global.plugins)?;
    let replace = |text: &str| {
        text.replace("@NAME@", &args.name)
            .replace("@SDK@", &sdk.display().to_string())
            .replace("@PLUGINS@", &plugins.display().to_string())
    };
    let mut written = Vec::new();
    copy_template(&template, &dir, &replace, &mut written)?;
    println!(
        "created {} ({} node, {} files)",
        dir.display(),
        args.lang.folder(),
        written.len()
    );
    println!(
        "next: {}/build.sh   # builds {}.wasm into {}",
        dir.display(),
        args.name,
        plugins.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn copy_template(
    from: &Path,
    to: &Path,
    replace: &dyn Fn(&str) -> String,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .with_context(|| format!("cannot read {}", from.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = replace(&entry.file_name().to_string_lossy());
        let target = to.join(&name);
        let source = entry.path();
        if source.is_dir() {
            copy_template(&source, &target, replace, written)?;
            continue;
        }
        let bytes = std::fs::read(&source)?;
        match String::from_utf8(bytes) {
            Ok(text) => std::fs::write(&target, replace(&text))?,
            Err(binary) => std::fs::write(&target, binary.into_bytes())?,
        }
        let mode = std::fs::metadata(&source)?.permissions();
        std::fs::set_permissions(&target, mode)?;
        written.push(target);
    }
    Ok(())
}

/// The guest-sdk folder of the checkout the binary was built in (it lives in
/// `<checkout>/target/<profile>/`), or of the current folder or a parent.
fn find_sdk() -> Option<PathBuf> {
    let from_exe = std::env::current_exe().ok();
    let from_cwd = std::env::current_dir().ok();
    [from_exe, from_cwd]
        .into_iter()
        .flatten()
        .flat_map(|start| start.ancestors().map(Path::to_path_buf).collect::<Vec<_>>())
        .map(|dir| dir.join("guest-sdk"))
        .find(|sdk| sdk.join("CONFORMANCE.md").is_file())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}
