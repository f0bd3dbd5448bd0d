//! Where the time goes on Postgres: the CPU the client side (this process, or
//! the `savepoint serve` hosts) and the server's processes used, and the WAL
//! flushes the server made (`pg_stat_wal`), sampled around each timed round
//! or floor block only, so that the figures per step or per commit belong to
//! the configuration they are reported with. On 2 cores shared by the host
//! and the server, CPU per step bounds steps/s; WAL flushes per step show how
//! well commits were grouped.
//!
//! The server's processes are the postmaster and its children, found through
//! `/proc` from the admin connection's backend: a server on another machine
//! has none here, and its CPU figures are null.

use std::time::Duration;

use crate::pg::Server;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_S: u64 = 100;

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
    client_ticks: u64,
    server_ticks: Option<u64>,
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
        let client_ticks = std::iter::once(std::process::id())
            .chain(clients.iter().copied())
            .filter_map(ticks)
            .sum();
        Sample {
            client_ticks,
            server_ticks: self.postmaster.map(family_ticks),
            wal_syncs: self.server.wal_syncs().await.unwrap_or(0),
        }
    }

    /// Add what was used between `before` and now to `cost`.
    pub async fn add(&self, cost: &mut Cost, before: &Sample, clients: &[u32]) {
        let after = self.sample(clients).await;
        cost.client += ticks_time(after.client_ticks.saturating_sub(before.client_ticks));
        cost.server = match (before.server_ticks, after.server_ticks) {
            (Some(b), Some(a)) => {
                Some(cost.server.unwrap_or_default() + ticks_time(a.saturating_sub(b)))
            }
            _ => None,
        };
        cost.wal_syncs += after.wal_syncs.saturating_sub(before.wal_syncs);
    }
}

fn ticks_time(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_S)
}

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces and parentheses: it ends at the last `)`).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of a process (fields 14 and 15 of stat; 12 and 13 after the name).
fn ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The parent of a process (field 4; 2 after the name).
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The CPU of `root` and its children (the postmaster and the backends,
/// checkpointer, WAL writer...), those alive now.
fn family_ticks(root: u32) -> u64 {
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent(*pid) == Some(root));
    std::iter::once(root)
        .chain(children)
        .filter_map(ticks)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_parent_and_uses_cpu() {
        let me = std::process::id();
        let busy = std::time::Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(ticks(me).is_some());
        assert!(parent(me).is_some_and(|p| p > 0));
        assert!(family_ticks(parent(me).unwrap()) >= ticks(me).unwrap());
    }
}
