//! Lease owners: who executes a run. An owner id is `host:pid:start_ms`, so a
//! process can tell that a lease holder on the same machine has died and take
//! its runs over at once instead of waiting for the lease to expire.

use std::path::Path;

/// A fresh owner id for this process.
pub fn new_owner() -> String {
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("{}:{}:{start}", hostname(), std::process::id())
}

/// The owners among `owners` that ran on this machine and whose process no
/// longer exists.
pub fn dead_owners(owners: &[String], me: &str) -> Vec<String> {
    let host = hostname();
    owners
        .iter()
        .filter(|owner| owner.as_str() != me)
        .filter(|owner| {
            let mut parts = owner.split(':');
            let (Some(h), Some(pid)) = (parts.next(), parts.next()) else {
                return false;
            };
            h == host
                && pid
                    .parse::<u32>()
                    .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        })
        .cloned()
        .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().replace(':', "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_is_not_dead_and_a_gone_pid_is() {
        let me = new_owner();
        let host = me.split(':').next().unwrap().to_string();
        // PID 1 always exists; u32::MAX never does.
        let alive = format!("{host}:1:0");
        let gone = format!("{host}:{}:0", u32::MAX);
        let elsewhere = format!("other-host:{}:0", u32::MAX);
        let dead = dead_owners(&[alive, gone.clone(), elsewhere, me.clone()], &me);
        assert_eq!(dead, vec![gone]);
    }
}
