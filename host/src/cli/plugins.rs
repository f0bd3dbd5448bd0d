use std::process::ExitCode;

use clap::Args;

use super::{Global, output};

/// List the components in the plugins folder: name, digest, what describe()
/// says, or why the file cannot be used.
///
/// A broken file is reported and does not stop the others from working.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Print a JSON array of {name, path, digest, ok, info, error}.
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: PluginsArgs) -> anyhow::Result<ExitCode> {
    let host = global.plugin_host()?;
    let loads = host.load_dir(&global.plugins).await.map_err(|source| {
        crate::runtime::RuntimeError::PluginsDir {
            dir: global.plugins.clone(),
            source,
        }
    })?;
    if args.json {
        output::print_json(&crate::view::plugins(&loads));
        return Ok(ExitCode::SUCCESS);
    }
    if loads.is_empty() {
        println!(
            "no plugins in {} (drop NAME.wasm components there)",
            global.plugins.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for load in &loads {
        let digest = load
            .digest
            .as_deref()
            .map(output::short_digest)
            .unwrap_or_else(|| "-".to_string());
        match &load.result {
            Ok(plugin) => println!(
                "{:<16} {digest}  {} {}: {}",
                load.name, plugin.info.name, plugin.info.version, plugin.info.description
            ),
            Err(error) => println!("{:<16} {digest}  ERROR: {error}", load.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}
