use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use serde_json::json;

use super::{Failure, Global, output};
use savepoint_store::{CheckpointStore, DbLocation};

/// Remove what no run needs any more, from the database and the compile cache.
///
/// From the database: component versions no unfinished run is pinned to (the
/// pins of completed and cancelled runs are dropped first), large state values
/// no step refers to, and workflow texts no run or checkpoint refers to.
/// Histories stay whole: `history` still shows which component digest made each
/// step. From the compile cache: the compiled code of every component that is
/// neither a stored version nor a file in the plugins folder now (all of it is
/// kept, with a warning, when the plugins folder cannot be read), and what other
/// wasmtime versions cached. Prints the bytes the database (with its
/// -wal) and the cache take before and after.
///
/// The database file does not shrink by itself: SQLite reuses the freed pages
/// for later writes. `--vacuum` writes the file anew without them. On Postgres
/// the sizes are those of savepoint's tables (with their indexes), and the
/// server's autovacuum makes the space of removed rows reusable; `--vacuum`
/// gives it back to the server's disk (VACUUM FULL).
#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also shrink the database to the data it keeps (SQLite's VACUUM; on
    /// Postgres, VACUUM FULL of savepoint's tables). It rewrites the whole
    /// database and blocks every write meanwhile, so it refuses while a
    /// `savepoint serve` serves the database or a process executes a run. SQLite
    /// needs free space for the data the file keeps twice: beside the database
    /// (the -wal) and in SQLite's temporary folder (SQLITE_TMPDIR); Postgres, on
    /// the server's disk, once.
    #[arg(long)]
    vacuum: bool,
    /// Print {components, component_bytes, values, value_bytes, workflows,
    /// compiled: {files, bytes}, database: {path, before, after, free}, cache:
    /// {path, before, after}, vacuumed, warnings} (sizes in bytes).
    #[arg(long)]
    json: bool,
}

pub async fn main(global: &Global, args: GcArgs) -> anyhow::Result<ExitCode> {
    let store = global.existing_store().await?;
    // The cache is pruned if it exists; gc creates none.
    let plugins = global.plugin_host()?;
    let runtime = global.runtime_with(store.clone(), plugins.clone());
    if args.vacuum {
        refuse_while_in_use(global, &runtime).await?;
    }
    let db_before = store.disk_use().await?;
    let cache_before = plugins.cache_size();
    if let (true, DbLocation::Sqlite(path)) = (args.vacuum, &global.db) {
        // Before anything changes (gc only makes the data kept smaller). A Postgres
        // server's disk is not ours to measure; a VACUUM FULL that runs out of room
        // there fails and leaves the tables as they were.
        check_room(path, db_before.used_bytes)?;
    }

    let removed = store.collect_garbage().await?;
    // Without the plugins folder's files, gc cannot tell which compiled code new runs
    // would use: it keeps all of this engine's.
    let (keep, unread) = match plugin_file_digests(global).await {
        Ok(files) => {
            let mut keep: HashSet<String> = store
                .component_versions()
                .await?
                .into_iter()
                .map(|version| version.digest)
                .collect();
            keep.extend(files);
            (Some(keep), None)
        }
        Err(unread) => (None, Some(unread)),
    };
    let compiled = plugins.prune_cache(keep.as_ref()).map_err(|error| {
        Failure::environment(format!(
            "cannot prune the compile cache {}: {error}",
            global.cache_dir().display()
        ))
    })?;
    if let Some(unread) = &unread {
        eprintln!("{}", output::safe(unread));
    }

    if args.vacuum {
        store.vacuum().await?;
    } else {
        store.empty_wal().await?;
    }
    let db_after = store.disk_use().await?;
    let cache_after = plugins.cache_size();

    let db_path = global.db.to_string();
    let cache_path = global.cache_dir().display().to_string();
    if args.json {
        let mut report = json!(removed);
        let extra = json!({
            "compiled": compiled,
            "database": {
                "path": db_path,
                "before": db_before.bytes,
                "after": db_after.bytes,
                "free": db_after.free_bytes,
            },
            "cache": {"path": cache_path, "before": cache_before, "after": cache_after},
            "vacuumed": args.vacuum,
            "warnings": unread.iter().collect::<Vec<_>>(),
        });
        if let (Some(report), serde_json::Value::Object(extra)) = (report.as_object_mut(), extra) {
            report.extend(extra);
        }
        output::print_json(&report);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "removed {} component version{} ({} bytes), {} stored value{} ({} bytes), \
         {} workflow text{}, {} compiled file{} ({} bytes)",
        removed.components,
        plural(removed.components),
        removed.component_bytes,
        removed.values,
        plural(removed.values),
        removed.value_bytes,
        removed.workflows,
        plural(removed.workflows),
        compiled.files,
        plural(compiled.files),
        compiled.bytes,
    );
    // Postgres does not say (without an extension) how much of its tables is free: 0.
    let free = match db_after.free_bytes {
        0 => String::new(),
        free => format!(
            ", {free} bytes of it free pages (SQLite reuses them; {} gc --vacuum gives them \
             back to the disk)",
            output::savepoint()
        ),
    };
    let what = match global.db {
        DbLocation::Sqlite(_) => "with its -wal",
        DbLocation::Postgres(_) => "savepoint's tables with their indexes",
    };
    println!(
        "database {} ({what}): {} bytes before, {} after{free}",
        output::safe(&db_path),
        db_before.bytes,
        db_after.bytes,
    );
    println!(
        "compile cache {}: {cache_before} bytes before, {cache_after} after",
        output::safe(&cache_path),
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuses a VACUUM while another process writes the database: it would block
/// their commits and lease renewals for as long as it takes (seconds for a large
/// file), past their busy timeout and then their leases.
async fn refuse_while_in_use(
    global: &Global,
    runtime: &savepoint_runtime::Runtime<savepoint_store::AnyStore>,
) -> anyhow::Result<()> {
    let daemons = runtime.serving_daemons().await?;
    let mut users: Vec<String> = daemons
        .iter()
        .map(|owner| format!("savepoint serve {owner}"))
        .collect();
    let mut holders = runtime.lease_holders().await?;
    holders.retain(|owner| !daemons.contains(owner));
    let details = json!({"daemons": daemons, "lease_holders": holders});
    users.extend(
        holders
            .iter()
            .map(|owner| format!("process {owner}, which executes runs,")),
    );
    if users.is_empty() {
        return Ok(());
    }
    bail!(
        Failure::conflict(format!(
            "savepoint gc --vacuum needs the database {} to itself, and {} uses it: VACUUM \
             rewrites the whole database and blocks every write meanwhile, which would stall \
             its runs. Stop it (or let its runs finish) and try again, or run {} gc without \
             --vacuum",
            global.db,
            users.join(" and "),
            output::savepoint()
        ))
        .with_details(details)
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The digests of the plugin files now in the plugins folder: new runs would
/// use their compiled code, so gc keeps it although no stored version needs it
/// yet. When the folder or one of its files cannot be read, the sentence that says
/// so: gc then cannot rule out any compiled code.
async fn plugin_file_digests(global: &Global) -> Result<Vec<String>, String> {
    use savepoint_plugin::PluginError;
    let kept = "so gc kept the compiled code of every component; name the plugins folder \
                with --plugins to prune it";
    let paths = savepoint_plugin::scan_dir(&global.plugins).map_err(|error| {
        format!(
            "warning: cannot read the plugins folder {} ({error}), {kept}",
            global.plugins.display()
        )
    })?;
    let mut digests = Vec::new();
    for path in paths {
        match savepoint_plugin::read_plugin_file(&path, global.max_component_size).await {
            Ok(bytes) => digests.push(savepoint_base::digest::sha256(&bytes)),
            // It may be a component whose code is cached.
            Err(error @ (PluginError::Io { .. } | PluginError::ReadTimedOut { .. })) => {
                return Err(format!("warning: {error}, {kept}"));
            }
            // No component (a folder, a file over the size limit): no code to keep.
            Err(_) => {}
        }
    }
    Ok(digests)
}

/// Refuses a VACUUM without room for it: SQLite writes the `used` bytes the file keeps
/// into a temporary database in its temporary folder, then through the `-wal` beside the
/// database (a volume that fills up meanwhile fails it, changing nothing, but only after
/// it filled the volume that the daemons and runs on it need).
fn check_room(db: &Path, used: u64) -> anyhow::Result<()> {
    let db_dir = super::db_dir(db);
    let temp = sqlite_temp_dir();
    let mut needs: Vec<(PathBuf, u64)> = vec![(db_dir.clone(), used)];
    match (volume(&db_dir), volume(&temp)) {
        (Some(a), Some(b)) if a == b => needs[0].1 = used.saturating_mul(2),
        _ => needs.push((temp.clone(), used)),
    }
    for (dir, need) in needs {
        let Some(free) = free_space(&dir) else {
            continue;
        };
        if free < need {
            bail!(
                Failure::environment(format!(
                    "not enough free space for savepoint gc --vacuum: it writes the {used} \
                     bytes the database {} keeps once through its -wal and once into SQLite's \
                     temporary folder {} (SQLITE_TMPDIR), {need} bytes on the volume of {}, \
                     which has {free} bytes free; free some space there, or run {} gc \
                     without --vacuum (SQLite reuses the free pages)",
                    db.display(),
                    temp.display(),
                    dir.display(),
                    output::savepoint()
                ))
                .with_details(json!({"folder": dir, "needed": need, "free": free}))
            );
        }
    }
    Ok(())
}

/// The folder SQLite (on Unix) writes temporary files to: the first of
/// `SQLITE_TMPDIR`, `TMPDIR`, `/var/tmp`, `/usr/tmp`, `/tmp` that is a folder.
fn sqlite_temp_dir() -> PathBuf {
    let candidates = ["SQLITE_TMPDIR", "TMPDIR"]
        .into_iter()
        .filter_map(|var| std::env::var_os(var).map(PathBuf::from))
        .chain(["/var/tmp", "/usr/tmp", "/tmp"].map(PathBuf::from));
    candidates
        .into_iter()
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The device `dir` is on.
fn volume(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| m.dev())
}

/// The bytes an unprivileged process may still write on the volume of `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string and `stats` a buffer of the right type,
    // which statvfs fills when it returns 0.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}
