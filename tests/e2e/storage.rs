//! Database faults: a full disk and a database that cannot be written.
//!
//! A full disk is a real small volume (a tmpfs mount) filled up by a filler file; a
//! database that cannot be written is a tmpfs remounted read-only, or an immutable file or
//! folder (`chattr +i`): the tests run as root, who ignores permission bits, so `chmod`
//! would simulate nothing. Mounts and flags are undone by Drop guards, also when a test
//! fails.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::fixtures::{DEADLINE, Env, golden, wait_for};

/// A tmpfs volume mounted on a folder of a test's scratch folder; unmounted when dropped.
struct Volume {
    dir: PathBuf,
}

impl Volume {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`, created if missing.
    fn mount(dir: PathBuf, size: &str) -> Volume {
        std::fs::create_dir_all(&dir).expect("create the mount point");
        let options = format!("size={size}");
        sh(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&dir));
        Volume { dir }
    }

    fn remount_read_only(&self) {
        sh(Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.dir));
    }

    /// Fills the volume with the file `filler` until a write fails for want of space, then
    /// gives `leave` bytes back. Returns the filler's path.
    fn fill(&self, leave: u64) -> PathBuf {
        let path = self.dir.join("filler");
        let mut file = File::create(&path).expect("create the filler");
        let chunk = vec![0x55u8; 64 << 10];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::StorageFull => break,
                Err(error) => panic!("fill {}: {error}", path.display()),
            }
        }
        let written = file.metadata().expect("stat the filler").len();
        file.set_len(written.saturating_sub(leave))
            .expect("give space back");
        path
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        // Lazily: a daemon the test has not reaped yet may still hold a file there.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A file or folder made immutable (`chattr +i`): not even root may write to it, or
/// create files in it; made mutable again when dropped.
struct Immutable(PathBuf);

impl Immutable {
    fn new(path: PathBuf) -> Immutable {
        sh(Command::new("chattr").arg("+i").arg(&path));
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Runs a system command that must succeed (the tests need root for these).
fn sh(command: &mut Command) {
    let output = command.output().expect("run a system command");
    assert!(
        output.status.success(),
        "{command:?} failed (these tests need root, as the suite runs): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A process killed when dropped, with its stderr in a file.
struct Spawned {
    child: Option<Child>,
    stderr: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `savepoint args` (a daemon, maybe) that must exit by itself within [`DEADLINE`];
/// returns its exit code and stderr.
fn exits_by_itself(env: &Env, args: &[&str]) -> (Option<i32>, String) {
    let stderr = env
        .path()
        .join(format!("stderr-{}", args.join("_").replace('/', "_")));
    let mut spawned = Spawned {
        child: Some(
            env.command(args)
                .stdout(Stdio::null())
                .stderr(File::create(&stderr).expect("create the stderr file"))
                .spawn()
                .expect("start savepoint"),
        ),
        stderr,
    };
    let child = spawned.child.as_mut().unwrap();
    let status = wait_for(
        &format!("savepoint {args:?} to exit"),
        DEADLINE,
        || match child.try_wait().expect("wait for savepoint") {
            Some(status) => Ok(status),
            None => Err("still running".to_string()),
        },
    );
    spawned.child = None;
    let text = std::fs::read_to_string(&spawned.stderr).expect("read stderr");
    (status.code(), text)
}

/// One command's outcome, for a golden file.
fn transcript(out: &mut String, args: &[&str], (code, stderr): (Option<i32>, String)) {
    writeln!(out, "$ savepoint {}", args.join(" ")).unwrap();
    writeln!(
        out,
        "exit {}",
        code.map_or("by a signal".to_string(), |c| c.to_string())
    )
    .unwrap();
    out.push_str(&stderr);
}

fn wal_len(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}

const GROW: &str = r#"
name = "grow"
start = "ask"
[nodes.ask]
plugin = "approval"
next = "grow"
[nodes.grow]
plugin = "hostile"
config = { mode = "huge_state", bytes = 1048576 }
next = "end"
"#;

#[test]
fn a_full_disk_is_waited_out_quietly_and_the_run_continues_when_space_returns() {
    crate::sqlite_only!(
        "a full or read-only volume under the SQLite file; Postgres keeps its data on the server"
    );
    let env = Env::new(&["approval", "hostile"]);
    let volume = Volume::mount(env.path().join("vol"), "16m");
    let db = "vol/savepoint.db";
    let workflow = env.daemon_workflow("grow", GROW);
    let daemon = env.serve(&["--db", db]);
    env.ok(&["start", &workflow, "--thread", "grow", "--db", db]);
    daemon.wait_run("grow", "waiting for approval", |s| {
        s["status"] == "interrupted"
    });

    // Room for small writes (the answer, a claim, the first step's commit, each with its
    // event: some 20 pages of WAL), not for the second step's 1 MiB state.
    let filler = volume.fill(128 << 10);
    let answer = daemon.post("/runs/grow/resume", &json!({"input": {"approved": true}}));
    assert_eq!(answer.status, 200, "{answer:?}");
    let full = wait_for("the daemon to report the full disk", DEADLINE, || {
        let log = daemon.stderr();
        // (Before, SQLite's own words: "database or disk is full".)
        match log.lines().position(|line| line.contains("full")) {
            Some(at) => Ok(at),
            None => Err(log),
        }
    });
    // While the disk stays full the daemon retries, with a growing wait, and says nothing
    // more: before, it wrote a line per attempt, several a second, for as long as it
    // lasted. (A window of time to count lines in, not a wait for something to happen.)
    std::thread::sleep(Duration::from_secs(3));
    let during = daemon.stderr();
    assert_eq!(
        during.lines().count(),
        full + 1,
        "one line for the whole outage:\n{during}"
    );
    let status = daemon.get("/runs/grow").json();
    assert_eq!(status["step"], 1, "the first step is committed: {status}");

    std::fs::remove_file(&filler).expect("delete the filler");
    let done = daemon.wait_run("grow", "completed", |s| {
        s["status"] == "completed" || s["status"] == "failed"
    });
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["step"], 2, "{done}");
    let state = daemon.get("/runs/grow/state").json();
    assert_eq!(state["approved"], true, "{state}");
    assert_eq!(state["big"].as_str().map(str::len), Some(1 << 20));
    let after = daemon.stderr();
    let lines: Vec<&str> = after.lines().skip(full).collect();
    assert_eq!(
        lines.len(),
        2,
        "one more line when it works again:\n{after}"
    );
    // Which of the daemon's writes meets the full disk first may vary: the golden file
    // holds the message from "disk full" on.
    let message = &lines[0][lines[0].find("disk full").unwrap()..];
    golden("disk-full-serve.txt", &format!("{message}\n{}\n", lines[1]));

    // Idle, the daemon gives the WAL's space back.
    wait_for("the WAL to be emptied", DEADLINE, || {
        match wal_len(&env.path().join(db)) {
            0 => Ok(()),
            len => Err(format!("{len} bytes")),
        }
    });
}

#[test]
fn a_disk_full_at_open_says_so_and_names_the_database() {
    crate::sqlite_only!(
        "a full or read-only volume under the SQLite file; Postgres keeps its data on the server"
    );
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    // Room for the database to be created and closed cleanly: creating the schema leaves
    // a WAL of some 450 KiB (migration 0008 rebuilds a table), which the close folds into
    // the file; on a 1 MiB volume that fold failed for lack of room and left the WAL.
    let volume = Volume::mount(env.path().join("vol"), "4m");
    // A database closed cleanly: no -wal or -shm file is left, and SQLite needs room for
    // them before it can even read.
    env.ok(&[
        "run",
        &workflow,
        "--thread",
        "before",
        "-q",
        "--db",
        "vol/old.db",
    ]);
    volume.fill(0);

    let mut out = String::new();
    for args in [
        vec!["run", &workflow, "--thread", "t", "--db", "vol/new.db"],
        vec!["run", &workflow, "--thread", "t", "--db", "vol/old.db"],
        vec!["status", "before", "--db", "vol/old.db"],
        vec!["serve", "--listen", "127.0.0.1:0", "--db", "vol/old.db"],
    ] {
        transcript(&mut out, &args, exits_by_itself(&env, &args));
    }
    golden("disk-full-at-open.txt", &out);
}

#[test]
fn a_database_that_cannot_be_written_stops_serve_and_the_writing_commands_at_once() {
    crate::sqlite_only!(
        "a full or read-only volume under the SQLite file; Postgres keeps its data on the server"
    );
    let env = Env::new(&["counter"]);
    let workflow = env.example_workflow("chain.toml");
    let volume = Volume::mount(env.path().join("ro"), "4m");
    std::fs::create_dir(env.path().join("frozen")).unwrap();
    for db in ["plain.db", "frozen/in-folder.db", "ro/on-mount.db"] {
        env.ok(&["run", &workflow, "--thread", "before", "-q", "--db", db]);
    }
    let _file = Immutable::new(env.path().join("plain.db"));
    let _folder = Immutable::new(env.path().join("frozen"));
    volume.remount_read_only();

    let mut out = String::new();
    for (what, db) in [
        ("an immutable file", "plain.db"),
        ("an immutable folder", "frozen/in-folder.db"),
        ("a read-only mount", "ro/on-mount.db"),
    ] {
        writeln!(out, "# {what}").unwrap();
        for args in [
            vec!["serve", "--listen", "127.0.0.1:0", "--db", db],
            vec!["run", &workflow, "--thread", "t", "--db", db],
            vec!["start", &workflow, "--thread", "t", "--db", db],
            vec!["resume", "before", "--db", db],
        ] {
            transcript(&mut out, &args, exits_by_itself(&env, &args));
        }
    }
    golden("read-only-database.txt", &out);

    // Reading a read-only file still works.
    let status = env.json(&["status", "before", "--json", "--db", "plain.db"]);
    assert_eq!(status["status"], "completed", "{status}");
}
