//! Plugin files as untrusted input: read only if regular, never past a size limit, never
//! blocking the async threads, and a read that hangs is given up (see [`off_thread`]).
//! `load` reads every plugin file through here.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::PluginError;

/// A plugin-file read (or `stat`) that has not returned after this long is
/// given up: the file is reported as unreadable and skipped. Reading a local
/// file of the largest size allowed takes well under a second; past this the
/// file is on a hung mount or is a special file that blocks.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time while digesting a plugin file.
const CHUNK: usize = 256 << 10;
/// The largest plugin file loaded when the command line does not say
/// (`--max-component-size`): the biggest interpreter components we build are
/// 12 MB (JavaScript) and 18.5 MB (Python).
pub const DEFAULT_MAX_COMPONENT_SIZE: u64 = 64 << 20;

/// A plugin file's size is at most `limit`: a file over it is refused before
/// it is read (a sparse 3 GiB file would otherwise be read whole).
pub(super) fn check_size(path: &Path, size: u64, limit: u64) -> Result<(), PluginError> {
    if size > limit {
        return Err(PluginError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    Ok(())
}

/// Open a plugin file whose size is at most `limit` (checked before reading).
///
/// Only a regular file is a plugin: the file is opened without blocking (a
/// FIFO with no writer would block `open` itself), then what was opened is
/// checked, so a link cannot swap it in between. A kernel file under /proc
/// or /sys says it is regular (of size 0) but its reads may block for ever
/// (`/proc/kmsg`), so those are refused too.
pub(super) fn open_bounded(path: &Path, limit: u64) -> Result<std::fs::File, PluginError> {
    let io = |source| PluginError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let not_a_file = |kind: &'static str| PluginError::NotAFile {
        path: path.to_path_buf(),
        kind,
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(not_a_file(if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }));
    }
    if let Some(kind) = kernel_file_system(&file) {
        return Err(not_a_file(kind));
    }
    check_size(path, meta.len(), limit)?;
    Ok(file)
}

/// What kind of kernel interface `file` is on, if it is on procfs or sysfs.
pub(super) fn kernel_file_system(file: &std::fs::File) -> Option<&'static str> {
    use std::os::fd::AsRawFd;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    let mut fs = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: the descriptor is open for the call, and `fs` is a statfs
    // buffer the kernel fills (read only when the call succeeds).
    let fs = unsafe {
        if libc::fstatfs(file.as_raw_fd(), fs.as_mut_ptr()) != 0 {
            return None;
        }
        fs.assume_init()
    };
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    match i64::from(fs.f_type) {
        PROC_SUPER_MAGIC => Some("a kernel file on procfs, whose reads may block"),
        SYSFS_MAGIC => Some("a kernel file on sysfs, whose reads may block"),
        _ => None,
    }
}

/// Plugin-file reads that outlived [`READ_TIMEOUT`] and have not returned
/// yet, per path: a file stays refused at once while one is, so a file that
/// hangs ties up one thread, not one per scan or request.
static STUCK: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);

/// Run `read` (a read or `stat` of the plugin file `path`) on a blocking
/// thread and wait for it at most [`READ_TIMEOUT`]. Past that the file is
/// reported as unreadable and the thread is left to finish on its own
/// (nothing waits for it, shutdown included): a read stuck in the kernel
/// cannot be cancelled.
pub async fn off_thread<T: Send + 'static>(
    path: &Path,
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PluginError> {
    within(path, READ_TIMEOUT, read).await
}

async fn within<T: Send + 'static>(
    path: &Path,
    limit: Duration,
    read: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PluginError> {
    let stuck = || STUCK.lock().unwrap_or_else(PoisonError::into_inner);
    let unreadable = |earlier| PluginError::ReadTimedOut {
        path: path.to_path_buf(),
        after: limit,
        earlier,
    };
    if stuck()
        .as_ref()
        .is_some_and(|reads| reads.contains_key(path))
    {
        return Err(unreadable(true));
    }
    // Whether the read finished, and whether it was given up: both only
    // changed with STUCK locked, so the count is right whichever comes first.
    let state = Arc::new(Mutex::new((false, false)));
    let (task_state, file) = (state.clone(), path.to_path_buf());
    let task = tokio::task::spawn_blocking(move || {
        let result = read();
        let mut reads = stuck();
        let mut state = task_state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = true;
        if state.1
            && let Some(map) = reads.as_mut()
            && let Some(count) = map.get_mut(&file)
        {
            *count -= 1;
            if *count == 0 {
                map.remove(&file);
            }
        }
        result
    });
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(join)) => Err(PluginError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(join),
        }),
        Err(_elapsed) => {
            let mut reads = stuck();
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if !state.0 {
                state.1 = true;
                *reads
                    .get_or_insert_with(HashMap::new)
                    .entry(path.to_path_buf())
                    .or_default() += 1;
            }
            Err(unreadable(false))
        }
    }
}

/// The bytes of a plugin file of at most `limit` bytes, read off the async
/// threads with a time limit (see `off_thread`).
pub async fn read_plugin_file(path: &Path, limit: u64) -> Result<Vec<u8>, PluginError> {
    let file = path.to_path_buf();
    off_thread(path, move || read_file(&file, limit)).await?
}

/// The bytes of a plugin file of at most `limit` bytes; a file that grows
/// past it while it is read is refused too.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, PluginError> {
    let file = open_bounded(path, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| PluginError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    check_size(path, bytes.len() as u64, limit)?;
    Ok(bytes)
}

/// `sha256:<hex>` of a plugin file of at most `limit` bytes, read in chunks,
/// and its first 8 bytes (or fewer).
pub(super) fn digest_file(path: &Path, limit: u64) -> Result<(String, Vec<u8>), PluginError> {
    let mut file = open_bounded(path, limit)?;
    let mut hasher = Sha256::new();
    let mut header = Vec::with_capacity(8);
    let mut buffer = vec![0; CHUNK];
    let mut size: u64 = 0;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                let path = path.to_path_buf();
                return Err(PluginError::Io { path, source });
            }
        };
        size += n as u64;
        check_size(path, size, limit)?;
        let want = 8 - header.len();
        header.extend_from_slice(&buffer[..n.min(want)]);
        hasher.update(&buffer[..n]);
    }
    Ok((savepoint_base::digest::finish(hasher), header))
}

pub(super) fn check_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let not = |reason: &str| PluginError::NotAComponent {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.is_empty() {
        return Err(not("the file is empty"));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not("it does not start with the WebAssembly magic bytes"));
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(not(
            "it is a core WebAssembly module; build for the wasm32-wasip2 target \
             (or wrap it with `wasm-tools component new`)",
        )),
        _ => Err(not("unknown WebAssembly version or layer")),
    }
}

/// The plugin name of a file: its name without `.wasm`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The plugin names (file stems) of a plugins folder, sorted.
pub fn plugin_names(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(scan_dir(dir)?
        .iter()
        .map(|path| plugin_name(path))
        .collect())
}

/// The `*.wasm` entries of a plugins folder, sorted by name: whatever they
/// are (nothing is opened or followed here), so that one that is not a file
/// is reported when it is loaded, not skipped without a word.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Whether a read of `path` that outlived its limit is still running.
    fn is_stuck(path: &Path) -> bool {
        STUCK
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|reads| reads.contains_key(path))
    }

    #[tokio::test]
    async fn a_read_that_hangs_is_given_up_and_not_started_again_until_it_returns() {
        let path = Path::new("/plugins/hung-mount.wasm");
        let (release, hang) = std::sync::mpsc::channel::<()>();
        let limit = Duration::from_millis(50);
        // A read that blocks until the test releases it (a hung mount).
        let first = within(path, limit, move || hang.recv().is_ok()).await;
        let error = first.expect_err("given up past its limit").to_string();
        assert_eq!(
            error,
            "cannot read /plugins/hung-mount.wasm: reading it did not finish within 0s; \
             skipped (a hung network or FUSE mount, or a file that blocks?)"
        );
        assert!(is_stuck(path));
        // While it hangs, the file is refused at once, with no second thread.
        let started = Arc::new(AtomicUsize::new(0));
        let counted = started.clone();
        let again = within(path, limit, move || counted.fetch_add(1, Ordering::SeqCst)).await;
        assert!(
            again
                .expect_err("refused")
                .to_string()
                .contains("an earlier read has not returned"),
        );
        assert_eq!(started.load(Ordering::SeqCst), 0);
        // Other files are read as usual.
        assert_eq!(
            within(Path::new("/plugins/ok.wasm"), limit, || 7)
                .await
                .unwrap(),
            7
        );
        // Once it returns, the file is read again.
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while is_stuck(path) {
            assert!(
                std::time::Instant::now() < deadline,
                "the read never returned"
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(within(path, limit, || 8).await.unwrap(), 8);
    }
}
