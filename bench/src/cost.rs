//! Where the time goes on Postgres: the CPU the client side (this process, or
//! the `savepoint serve` hosts) and the server's processes used, and the WAL
//! flushes the server made (`pg_stat_wal`), sampled around each timed round
//! or floor block only, so that the figures per step or per commit belong to
//! the configuration they are reported with. On 2 cores shared by the host
//! and the server, CPU per step bounds steps/s; WAL flushes per step show how
//! well commits were grouped.
//!
//! CPU time is each process's time on a CPU as the scheduler counts it
//! (`/proc/PID/task/*/schedstat`, nanoseconds): `utime`/`stime` of `/proc/PID/stat`
//! come in 10 ms ticks, and a hundred backends that each ran a few ms in a
//! block would all read as nothing. The server's processes are the postmaster
//! and its children, found through `/proc` from the admin connection's
//! backend: a server on another machine has none here, and its CPU figures
//! are null. Processes that exit between two samples are not counted (the
//! section's connections stay open while it measures).

use std::time::Duration;

use crate::pg::Server;

/// What a configuration used, summed over its timed parts.
#[derive(Debug, Default, Clone)]
pub struct Cost {
    /// CPU of the client side: this process and the hosts it started.
    pub client: Duration,
    /// CPU of the server's processes; `None` when they cannot be seen.
    pub server: Option<Duration>,
    /// WAL flushes (`pg_stat_wal.wal_sync`).
    pub wal_syncs: u64,
}

impl Cost {
    /// `client` CPU per unit of work (step or commit), in microseconds.
    pub fn client_us_per(&self, units: u64) -> Option<f64> {
        per(self.client, units)
    }

    pub fn server_us_per(&self, units: u64) -> Option<f64> {
        self.server.and_then(|cpu| per(cpu, units))
    }

    pub fn wal_syncs_per(&self, units: u64) -> Option<f64> {
        (units > 0).then(|| self.wal_syncs as f64 / units as f64)
    }
}

/// This process's user + system CPU time so far, every thread's, those that
/// ended too (`getrusage(RUSAGE_SELF)`): the in-process W1 host's CPU, its
/// tokio workers and the SQLite writer thread included.
pub fn process_cpu() -> Duration {
    // SAFETY: `getrusage` only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage`; RUSAGE_SELF cannot fail.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn per(cpu: Duration, units: u64) -> Option<f64> {
    (units > 0).then(|| cpu.as_secs_f64() * 1e6 / units as f64)
}

/// Takes samples on one server.
pub struct Meter<'a> {
    server: &'a Server,
    postmaster: Option<u32>,
}

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Nanoseconds on a CPU.
    client: u64,
    server: Option<u64>,
    wal_syncs: u64,
}

impl<'a> Meter<'a> {
    pub async fn new(server: &'a Server) -> Meter<'a> {
        let postmaster = match server.backend_pid().await {
            Ok(backend) => parent(backend),
            Err(_) => None,
        };
        Meter { server, postmaster }
    }

    /// The counters now; `clients` are the client processes besides this one.
    pub async fn sample(&self, clients: &[u32]) -> Sample {
        let client = std::iter::once(std::process::id())
            .chain(clients.iter().copied())
            .filter_map(cpu_ns)
            .sum();
        Sample {
            client,
            server: self.postmaster.map(family_cpu_ns),
            wal_syncs: self.server.wal_syncs().await.unwrap_or(0),
        }
    }

    /// Add what was used between `before` and now to `cost`.
    pub async fn add(&self, cost: &mut Cost, before: &Sample, clients: &[u32]) {
        let after = self.sample(clients).await;
        cost.client += Duration::from_nanos(after.client.saturating_sub(before.client));
        cost.server = match (before.server, after.server) {
            (Some(b), Some(a)) => {
                Some(cost.server.unwrap_or_default() + Duration::from_nanos(a.saturating_sub(b)))
            }
            _ => None,
        };
        cost.wal_syncs += after.wal_syncs.saturating_sub(before.wal_syncs);
    }
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces and parentheses: it ends at the last `)`).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// A process's time on a CPU, in nanoseconds: the first field of the
/// schedstat of each of its threads (the process's own file counts only its
/// first thread). Threads that ended are not counted.
fn cpu_ns(pid: u32) -> Option<u64> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        threads
            .flatten()
            .filter_map(|thread| {
                let stat = std::fs::read_to_string(thread.path().join("schedstat")).ok()?;
                stat.split_whitespace().next()?.parse::<u64>().ok()
            })
            .sum(),
    )
}

/// The parent of a process (field 4; 2 after the name).
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The CPU of `root` and its children (the postmaster and the backends,
/// checkpointer, WAL writer...), those alive now.
fn family_cpu_ns(root: u32) -> u64 {
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent(*pid) == Some(root));
    std::iter::once(root)
        .chain(children)
        .filter_map(cpu_ns)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_thread_counts_in_its_process_cpu() {
        let me = std::process::id();
        let before = cpu_ns(me).unwrap();
        // The test runs on a thread other than the process's first: its work
        // must count. (Spin until it shows, so a busy machine only slows this.)
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while cpu_ns(me).unwrap() < before + 20_000_000 {
            assert!(std::time::Instant::now() < deadline, "no CPU counted");
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
        }
        let mine = cpu_ns(me).unwrap();
        let parent = parent(me).unwrap();
        assert!(
            family_cpu_ns(parent) >= mine,
            "the parent's family includes this process"
        );
    }
}
