//! Time as the store and the runtime see it: unix milliseconds from an injected [`Clock`],
//! so that timers, retries and timestamps are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in unix milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            // A system clock set before 1970: report negative time rather than panic.
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `now_ms` until it is set or advanced.
    pub fn new(now_ms: i64) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    /// Sets the time to `now_ms`.
    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by` (saturating at whole milliseconds).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(ms))
            })
            .ok();
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// The longest the host parks a run for: 100 years (36,525 days). A sleep or a retry wait
/// asked for longer waits this long (in effect forever: cancel the run to stop it), and an
/// interrupt deadline this far off or further is no deadline. Nodes can ask for up to
/// `u64::MAX` milliseconds (584 million years), which no unix-millisecond time can hold.
pub const LONGEST_WAIT: Duration = Duration::from_secs(36_525 * 86_400);

/// The time `wait` after `now_ms`, with `wait` cut to [`LONGEST_WAIT`]; saturating, so it
/// never wraps into the past.
pub fn wake_time(now_ms: i64, wait: Duration) -> i64 {
    let wait_ms = i64::try_from(wait.min(LONGEST_WAIT).as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_add(wait_ms)
}

/// Formats unix milliseconds as RFC 3339 in UTC with milliseconds:
/// `2026-11-25T12:53:17.123Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let secs_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_795_611_197_123), "2026-11-25T12:53:17.123Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
        clock.set(42);
        assert_eq!(clock.now_ms(), 42);
    }

    #[test]
    fn wake_times_saturate_at_the_longest_wait() {
        let now = 1_795_611_197_123;
        assert_eq!(wake_time(now, Duration::from_millis(1_500)), now + 1_500);
        let longest = now + LONGEST_WAIT.as_millis() as i64;
        assert_eq!(format_time(longest), "2126-11-26T12:53:17.123Z");
        for huge in [u64::MAX, i64::MAX as u64, i64::MAX as u64 + 1] {
            assert_eq!(
                wake_time(now, Duration::from_millis(huge)),
                longest,
                "{huge}"
            );
        }
        assert_eq!(wake_time(now, Duration::MAX), longest);
        assert_eq!(wake_time(i64::MAX - 1, LONGEST_WAIT), i64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
