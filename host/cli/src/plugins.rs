use std::process::ExitCode;

use clap::Args;

use super::{Global, output};
use savepoint_store::CheckpointStore;

/// List the components in the plugins folder: name, digest, what describe()
/// says, or why the file cannot be used; then every version stored in the
/// database, the runs pinned to it, and whether it is the current file.
///
/// A broken file is reported and does not stop the others from working.
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Print a JSON array of {name, path, digest, ok, info, wit, error, warnings} (`wit`:
    /// the savepoint:node version the component implements, 0.2.0 or 0.1.0).
    #[arg(long)]
    json: bool,
    /// Only the stored versions; with --json, an array of {name, digest,
    /// bytes, stored_at, current, runs, unfinished}.
    #[arg(long)]
    versions: bool,
}

pub async fn main(global: &Global, args: PluginsArgs) -> anyhow::Result<ExitCode> {
    if args.versions {
        return versions(global, args.json).await;
    }
    let host = global.plugin_host()?;
    let loads = host.load_dir(&global.plugins).await.map_err(|source| {
        savepoint_runtime::RuntimeError::PluginsDir {
            dir: global.plugins.clone(),
            source,
        }
    })?;
    if args.json {
        output::print_json(&savepoint_server::view::plugins(&loads));
        return Ok(ExitCode::SUCCESS);
    }
    if loads.is_empty() {
        println!(
            "no plugins in {} (drop NAME.wasm components there)",
            output::safe(&global.plugins.display().to_string())
        );
        return Ok(ExitCode::SUCCESS);
    }
    for load in &loads {
        let digest = load
            .digest
            .as_deref()
            .map(output::short_digest)
            .unwrap_or_else(|| "-".to_string());
        let name = output::safe(&load.name);
        match &load.result {
            Ok(plugin) => {
                println!(
                    "{name:<16} {digest}  {} {} (wit {}): {}",
                    output::safe(&plugin.info.name),
                    output::safe(&plugin.info.version),
                    plugin.wit,
                    output::safe(&plugin.info.description)
                );
                for warning in plugin.warnings() {
                    println!("{name:<16} {digest}  warning: {}", output::safe(&warning));
                }
            }
            Err(error) => println!(
                "{name:<16} {digest}  ERROR: {}",
                output::safe(&error.to_string())
            ),
        }
    }
    if global.database_exists().await? {
        println!();
        versions(global, false).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The component versions stored in the database.
async fn versions(global: &Global, json: bool) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    let versions = store.component_versions().await?;
    // Which version each plugin file is now (unreadable files count as none).
    let mut current = std::collections::BTreeMap::new();
    for version in &versions {
        let path = global.plugins.join(format!("{}.wasm", version.name));
        if let std::collections::btree_map::Entry::Vacant(entry) = current.entry(&version.name)
            && let Ok(bytes) =
                savepoint_plugin::read_plugin_file(&path, global.max_component_size).await
        {
            entry.insert(savepoint_base::digest::sha256(&bytes));
        }
    }
    let is_current = |name: &String, digest: &str| current.get(name).is_some_and(|d| d == digest);
    if json {
        let list: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "name": v.name,
                    "digest": v.digest,
                    "bytes": v.bytes,
                    "stored_at": savepoint_store::format_time(v.stored_at_ms),
                    "current": is_current(&v.name, &v.digest),
                    "runs": v.runs,
                    "unfinished": v.unfinished,
                })
            })
            .collect();
        output::print_json(&serde_json::Value::Array(list));
        return Ok(ExitCode::SUCCESS);
    }
    if versions.is_empty() {
        println!(
            "no component versions stored in {}",
            output::safe(&global.db.to_string())
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "stored versions ({}):",
        output::safe(&global.db.to_string())
    );
    for v in &versions {
        let state = if is_current(&v.name, &v.digest) {
            "current"
        } else {
            "old"
        };
        let mut runs = format!("{} run{}", v.runs, if v.runs == 1 { "" } else { "s" });
        if !v.unfinished.is_empty() {
            let shown: Vec<&str> = v.unfinished.iter().take(5).map(String::as_str).collect();
            let more = v.unfinished.len().saturating_sub(shown.len());
            runs.push_str(&format!(", unfinished: {}", output::safe(&shown.join(" "))));
            if more > 0 {
                runs.push_str(&format!(" (+{more})"));
            }
        }
        println!(
            "{:<16} {}  {:<7} {:>10} bytes  stored {}  {runs}",
            output::safe(&v.name),
            output::short_digest(&v.digest),
            state,
            v.bytes,
            savepoint_store::format_time(v.stored_at_ms),
        );
    }
    Ok(ExitCode::SUCCESS)
}
