//! What a schedule fires at a given time (pure): the due times that came since its
//! `next_due_ms`, under its catch-up policy.
//!
//! A due time less than [`ON_TIME`] old is on time: it is fired whatever the policy (a
//! host that wakes late, or a busy machine, still fires it). Older ones were missed while
//! no host ran the schedule (or while it was paused): `none` skips them, `last` fires the
//! latest of them, `all` fires each of them, at most [`CATCH_UP_MAX`] (the latest; older
//! ones are skipped).

use std::collections::VecDeque;

use savepoint_store::CatchUp;

use super::spec::Due;

/// How old a due time may be and still count as on time rather than missed.
pub const ON_TIME_MS: i64 = 5_000;

/// The most runs `--catch-up all` starts for the due times missed during one downtime
/// (the latest ones): a schedule every second that was down for a day would otherwise
/// start 86,400 runs at once.
pub const CATCH_UP_MAX: usize = 100;

/// What one look at a schedule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The due times to start a run for, oldest first.
    pub fire: Vec<i64>,
    /// The schedule's next due time once these are fired: the first after now.
    pub next_due_ms: i64,
    /// How many missed due times were skipped (by `none`, `last` or the bound of `all`);
    /// `None`: more than could be counted cheaply.
    pub skipped: Option<u64>,
}

/// The plan of a schedule whose `next_due_ms` is `next_due_ms`, at `now_ms`; `None` when
/// nothing is due yet, or when it will never be due again.
pub(crate) fn plan(due: &Due, catch_up: CatchUp, next_due_ms: i64, now_ms: i64) -> Option<Plan> {
    if next_due_ms > now_ms {
        return None;
    }
    let following = due.after(now_ms)?;
    let on_time_from = now_ms.saturating_sub(ON_TIME_MS).max(next_due_ms);
    let current = latest(due, on_time_from, now_ms, usize::MAX);
    let missed_until = on_time_from - 1;
    let keep = match catch_up {
        CatchUp::None => 0,
        CatchUp::Last => 1,
        CatchUp::All => CATCH_UP_MAX,
    };
    let (mut fire, missed) = if missed_until >= next_due_ms {
        let kept = latest(due, next_due_ms, missed_until, keep.max(1));
        let count = count(due, next_due_ms, missed_until);
        let kept: Vec<i64> = kept.times.into_iter().rev().take(keep).rev().collect();
        (kept, count)
    } else {
        (Vec::new(), Some(0))
    };
    let skipped = missed.map(|m| m.saturating_sub(fire.len() as u64));
    fire.extend(current.times);
    Some(Plan {
        fire,
        next_due_ms: following,
        skipped,
    })
}

/// The latest `keep` due times in `[from, to]`, oldest first.
struct Latest {
    times: Vec<i64>,
}

/// Looks in windows that double from the end of `[from, to]` back, so that a long
/// downtime of a frequent schedule costs about `keep` due times, not all of them.
fn latest(due: &Due, from: i64, to: i64, keep: usize) -> Latest {
    let mut width: i64 = 60_000;
    loop {
        let start = to.saturating_sub(width).max(from);
        let mut times = VecDeque::new();
        let mut t = due.after(start - 1);
        while let Some(time) = t.filter(|time| *time <= to) {
            if time >= start {
                if times.len() == keep {
                    times.pop_front();
                }
                times.push_back(time);
            }
            t = due.after(time);
        }
        if times.len() >= keep || start == from {
            return Latest {
                times: times.into(),
            };
        }
        width = width.saturating_mul(2);
    }
}

/// How many due times are in `[from, to]`, when that is cheap to know (at most 100,000
/// of them); `None` beyond.
fn count(due: &Due, from: i64, to: i64) -> Option<u64> {
    if let Due::Every { every_ms, .. } = due {
        let first = due.after(from - 1)?;
        return Some(if first > to {
            0
        } else {
            ((to - first) / every_ms + 1) as u64
        });
    }
    let mut n = 0;
    let mut t = due.after(from - 1);
    while let Some(time) = t.filter(|time| *time <= to) {
        n += 1;
        if n > 100_000 {
            return None;
        }
        t = due.after(time);
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use savepoint_store::ScheduleSpec;

    /// Every second from 0: due at 1_000, 2_000, ...
    fn every_second() -> Due {
        Due::new(&ScheduleSpec::Every { every_ms: 1_000 }, 0).unwrap()
    }

    #[test]
    fn nothing_is_fired_before_the_due_time() {
        assert_eq!(plan(&every_second(), CatchUp::All, 5_000, 4_999), None);
    }

    #[test]
    fn a_due_time_on_time_is_fired_under_every_policy() {
        for catch_up in [CatchUp::None, CatchUp::Last, CatchUp::All] {
            assert_eq!(
                plan(&every_second(), catch_up, 5_000, 5_020),
                Some(Plan {
                    fire: vec![5_000],
                    next_due_ms: 6_000,
                    skipped: Some(0),
                }),
                "{catch_up:?}"
            );
            // A host late by 2.5 s still fires all three (none were missed).
            assert_eq!(
                plan(&every_second(), catch_up, 5_000, 7_500).unwrap().fire,
                vec![5_000, 6_000, 7_000],
                "{catch_up:?}"
            );
        }
    }

    #[test]
    fn after_a_downtime_none_skips_last_fires_the_latest_missed_all_fires_each() {
        // Due since 10_000, now 20_500: 15_500..=20_500 is on time (16..=20 s), 10..=15 s
        // were missed.
        let at = |catch_up| plan(&every_second(), catch_up, 10_000, 20_500).unwrap();
        let none = at(CatchUp::None);
        assert_eq!(none.fire, vec![16_000, 17_000, 18_000, 19_000, 20_000]);
        assert_eq!((none.next_due_ms, none.skipped), (21_000, Some(6)));
        let last = at(CatchUp::Last);
        assert_eq!(
            last.fire,
            vec![15_000, 16_000, 17_000, 18_000, 19_000, 20_000]
        );
        assert_eq!(last.skipped, Some(5));
        let all = at(CatchUp::All);
        assert_eq!(all.fire, (10..=20).map(|s| s * 1_000).collect::<Vec<_>>());
        assert_eq!(all.skipped, Some(0));
    }

    #[test]
    fn all_is_bounded_to_the_latest_missed_due_times() {
        let day = 86_400_000;
        let all = plan(&every_second(), CatchUp::All, 1_000, day).unwrap();
        let missed_end = day - ON_TIME_MS - 1;
        let first_kept = (missed_end / 1_000 - CATCH_UP_MAX as i64 + 1) * 1_000;
        assert_eq!(all.fire.len(), CATCH_UP_MAX + 6);
        assert_eq!(all.fire[0], first_kept);
        assert_eq!(*all.fire.last().unwrap(), day);
        assert!(all.fire.windows(2).all(|w| w[1] - w[0] == 1_000));
        assert_eq!(all.skipped, Some(86_400 - 6 - CATCH_UP_MAX as u64));
    }

    #[test]
    fn a_cron_schedule_catches_up_in_its_own_times() {
        let hourly = Due::new(
            &ScheduleSpec::Cron {
                expr: "0 * * * *".to_owned(),
                tz: None,
            },
            0,
        )
        .unwrap();
        let hour = 3_600_000;
        // Down from 1h to 5h30: 1h..=5h missed.
        let last = plan(&hourly, CatchUp::Last, hour, 5 * hour + hour / 2).unwrap();
        assert_eq!(last.fire, vec![5 * hour]);
        assert_eq!((last.next_due_ms, last.skipped), (6 * hour, Some(4)));
        let all = plan(&hourly, CatchUp::All, hour, 5 * hour + hour / 2).unwrap();
        assert_eq!(all.fire, (1..=5).map(|h| h * hour).collect::<Vec<_>>());
    }
}
