//! Retry policies and durations: how long to wait before a failed node is tried
//! again. Pure arithmetic; the caller supplies the randomness for the jitter.

use std::fmt;
use std::time::Duration;

/// How a node that failed is tried again. In the file, `retry = { ... }` at the top
/// level (the workflow's default) and per node (overriding the default key by key).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total tries, the first one included; at least 1 (1 = never retried).
    pub attempts: u32,
    pub backoff: Backoff,
    /// The delay before the first retry; at most `max`.
    pub initial: Duration,
    /// No delay is longer than this.
    pub max: Duration,
    /// Relative spread of a delay, in `[0, 1]`: 0.2 = up to 20% shorter or longer.
    pub jitter: f64,
}

/// How the delay grows from one retry to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Backoff {
    /// `initial`, then twice that, four times... up to `max`.
    #[default]
    Exponential,
    /// Always `initial`.
    Fixed,
}

impl Backoff {
    pub const ALL: [Backoff; 2] = [Backoff::Exponential, Backoff::Fixed];

    pub fn as_str(self) -> &'static str {
        match self {
            Backoff::Exponential => "exponential",
            Backoff::Fixed => "fixed",
        }
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for RetryPolicy {
    /// No retries (retries are opt-in); the other keys are what a `retry` table
    /// that sets only `attempts` gets.
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff: Backoff::Exponential,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5 * 60),
            jitter: 0.1,
        }
    }
}

impl RetryPolicy {
    /// May the node be tried again after `attempts_made` attempts (all failed)?
    pub fn allows_another(&self, attempts_made: u32) -> bool {
        attempts_made < self.attempts
    }

    /// Delay before attempt number `next_attempt` (2 = the first retry; 0 and 1 are
    /// treated as 2). `random` in `[0, 1)` is supplied by the caller (values outside
    /// are clamped, NaN means no jitter).
    ///
    /// base = `initial * 2^(next_attempt - 2)` (exponential, saturating) or `initial`
    /// (fixed), capped at `max`; then jittered: `base * (1 + jitter * (2 * random - 1))`,
    /// clamped to `[0, max]`.
    pub fn delay(&self, next_attempt: u32, random: f64) -> Duration {
        let mut base = self.initial;
        if self.backoff == Backoff::Exponential {
            // Doubling stops at `max` (or at zero), so this loops at most ~95 times.
            for _ in 2..next_attempt {
                if base >= self.max || base.is_zero() {
                    break;
                }
                base = base.saturating_mul(2);
            }
        }
        let base = base.min(self.max);
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        let random = if random.is_nan() {
            0.5
        } else {
            random.clamp(0.0, 1.0)
        };
        // In [-1, 1]; the offset is computed on its magnitude so that it never
        // exceeds `base * jitter` (rounding included).
        let spread = 2.0 * random - 1.0;
        let offset = Duration::try_from_secs_f64(base.as_secs_f64() * jitter * spread.abs())
            .unwrap_or(Duration::ZERO)
            .min(base);
        let delay = if spread < 0.0 {
            base - offset
        } else {
            base.saturating_add(offset)
        };
        delay.min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn policy(backoff: Backoff, initial: Duration, max: Duration, jitter: f64) -> RetryPolicy {
        RetryPolicy {
            attempts: 10,
            backoff,
            initial,
            max,
            jitter,
        }
    }

    #[test]
    fn default_policy_does_not_retry() {
        let p = RetryPolicy::default();
        assert_eq!(p.attempts, 1);
        assert_eq!(p.backoff, Backoff::Exponential);
        assert_eq!((p.initial, p.max, p.jitter), (secs(1), secs(300), 0.1));
        assert!(p.allows_another(0));
        assert!(!p.allows_another(1));
    }

    #[test]
    fn allows_another_counts_attempts() {
        let p = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(p.allows_another(1));
        assert!(p.allows_another(2));
        assert!(!p.allows_another(3));
        assert!(!p.allows_another(4));
    }

    #[test]
    fn exponential_doubles_then_caps_at_max() {
        let p = policy(Backoff::Exponential, secs(1), secs(60), 0.0);
        let delays: Vec<u64> = (2..=10).map(|n| p.delay(n, 0.3).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Attempts before the first retry behave like it.
        assert_eq!(p.delay(0, 0.5), secs(1));
        assert_eq!(p.delay(1, 0.5), secs(1));
    }

    #[test]
    fn exponential_saturates() {
        let p = policy(Backoff::Exponential, secs(1), Duration::MAX, 0.0);
        assert_eq!(p.delay(40, 0.5), secs(1 << 38));
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::MAX);
        let p = policy(Backoff::Exponential, secs(3), secs(3600), 0.5);
        assert_eq!(p.delay(u32::MAX, 0.5), secs(3600));
        assert!(p.delay(u32::MAX, 0.999_999) <= secs(3600));
    }

    #[test]
    fn fixed_stays_at_initial() {
        let p = policy(Backoff::Fixed, Duration::from_millis(250), secs(60), 0.0);
        for n in 2..20 {
            assert_eq!(p.delay(n, 0.9), Duration::from_millis(250));
        }
        // Still capped at max.
        let p = policy(Backoff::Fixed, secs(10), secs(5), 0.0);
        assert_eq!(p.delay(2, 0.5), secs(5));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let randoms = [0.0, 0.25, 0.5, 0.75, 0.999_999_999];
        for backoff in Backoff::ALL {
            for jitter in [0.0, 0.1, 0.2, 0.5, 1.0] {
                let p = policy(backoff, Duration::from_millis(700), secs(20), jitter);
                for n in 2..12 {
                    let base = match backoff {
                        Backoff::Fixed => p.initial,
                        Backoff::Exponential => p.initial * 2u32.pow(n - 2),
                    }
                    .min(p.max);
                    let spread = base.mul_f64(jitter);
                    let low = base.saturating_sub(spread);
                    let high = (base + spread).min(p.max);
                    for r in randoms {
                        let d = p.delay(n, r);
                        assert!(
                            low <= d && d <= high,
                            "{backoff} jitter {jitter} attempt {n} random {r}: {d:?} not in [{low:?}, {high:?}]"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn jitter_extremes() {
        let p = policy(Backoff::Fixed, secs(10), secs(60), 0.2);
        assert_eq!(p.delay(2, 0.0), secs(8));
        assert_eq!(p.delay(2, 0.5), secs(10));
        let top = p.delay(2, 0.999_999);
        assert!(
            top > Duration::from_millis(11_999) && top <= secs(12),
            "{top:?}"
        );
        // At the cap, jitter can only shorten the delay.
        let p = policy(Backoff::Fixed, secs(60), secs(60), 0.2);
        assert_eq!(p.delay(2, 0.0), secs(48));
        assert_eq!(p.delay(2, 0.999), secs(60));
        // Full jitter reaches zero; nonsense inputs do not panic.
        let p = policy(Backoff::Fixed, secs(10), secs(60), 1.0);
        assert_eq!(p.delay(2, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, f64::NAN), secs(10));
        assert_eq!(p.delay(2, -3.0), Duration::ZERO);
        let p = policy(Backoff::Fixed, secs(10), secs(60), f64::NAN);
        assert_eq!(p.delay(2, 0.0), secs(10));
    }
}
