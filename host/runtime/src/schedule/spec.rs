//! When a schedule is due: cron expressions (parsed by `croner`, read in an IANA time
//! zone from `chrono-tz`) and fixed periods, and the checks `schedule add` and the API
//! make before a schedule is stored.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use savepoint_store::ScheduleSpec;
pub use savepoint_workflow::schedule::{parse_cron, parse_zone};

/// The shortest period of `--every` ([`savepoint_workflow::schedule::MIN_EVERY`]).
pub const MIN_EVERY_MS: i64 = savepoint_workflow::schedule::MIN_EVERY.as_millis() as i64;

/// Checks a schedule's name: it is part of its runs' threads (`NAME@DUE`) and of the
/// API's paths (one rule for every layer: [`savepoint_base::vocab::check_schedule_name`]).
pub use savepoint_base::vocab::check_schedule_name as check_name;

/// Checks a spec as `schedule add` and the API do before storing it: the expression, the
/// zone, the period. The message names what is wrong but not the flag or field that
/// gave it (the caller adds that).
pub fn check_spec(spec: &ScheduleSpec) -> Result<(), SpecError> {
    match spec {
        ScheduleSpec::Cron { expr, tz } => {
            parse_cron(expr).map_err(|reason| SpecError::Cron {
                expr: expr.clone(),
                reason,
            })?;
            if let Some(tz) = tz {
                parse_zone(tz).map_err(SpecError::Zone)?;
            }
        }
        ScheduleSpec::Every { every_ms } => {
            if *every_ms < MIN_EVERY_MS {
                return Err(SpecError::Every(format!(
                    "{}: the shortest period is 1s",
                    savepoint_base::units::format_duration(std::time::Duration::from_millis(
                        u64::try_from(*every_ms).unwrap_or(0)
                    ))
                )));
            }
        }
    }
    Ok(())
}

/// What is wrong with a spec, by the field that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The cron expression, and why (`minute field: ...`).
    #[error("cron {expr:?}: {reason}")]
    Cron { expr: String, reason: String },
    #[error("{0}")]
    Zone(String),
    #[error("every {0}")]
    Every(String),
}

/// A spec ready to compute due times.
#[derive(Debug, Clone)]
pub(crate) enum Due {
    Cron {
        cron: Box<Cron>,
        tz: Tz,
    },
    /// Every `every_ms`, counted from `from_ms` (the schedule's creation).
    Every {
        every_ms: i64,
        from_ms: i64,
    },
}

impl Due {
    /// The due times of `spec` for a schedule created at `created_ms`.
    pub(crate) fn new(spec: &ScheduleSpec, created_ms: i64) -> Result<Due, SpecError> {
        check_spec(spec)?;
        Ok(match spec {
            ScheduleSpec::Cron { expr, tz } => Due::Cron {
                cron: Box::new(parse_cron(expr).map_err(|reason| SpecError::Cron {
                    expr: expr.clone(),
                    reason,
                })?),
                tz: match tz {
                    Some(tz) => parse_zone(tz).map_err(SpecError::Zone)?,
                    None => Tz::UTC,
                },
            },
            ScheduleSpec::Every { every_ms } => Due::Every {
                every_ms: *every_ms,
                from_ms: created_ms,
            },
        })
    }

    /// The first due time strictly after `t_ms`; `None` if there is none (a cron
    /// expression that never matches again, e.g. February 30th).
    pub(crate) fn after(&self, t_ms: i64) -> Option<i64> {
        match self {
            Due::Every { every_ms, from_ms } => {
                if t_ms < *from_ms {
                    return from_ms.checked_add(*every_ms);
                }
                let k = (t_ms - from_ms) / every_ms + 1;
                from_ms.checked_add(k.checked_mul(*every_ms)?)
            }
            Due::Cron { cron, tz } => {
                // Cron times are whole seconds: from the second `t_ms` falls in.
                let seconds = t_ms.div_euclid(1000);
                let start: DateTime<Tz> = tz.timestamp_opt(seconds, 0).single()?;
                let next = cron.find_next_occurrence(&start, false).ok()?;
                Some(next.with_timezone(&Utc).timestamp() * 1000)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_periods_are_checked() {
        assert_eq!(
            check_spec(&ScheduleSpec::Every { every_ms: 500 })
                .unwrap_err()
                .to_string(),
            "every 500ms: the shortest period is 1s"
        );
        assert!(check_name("nightly-report_2.v1").is_ok());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn cron_due_times_are_read_in_the_zone() {
        let spec = ScheduleSpec::Cron {
            expr: "0 9 * * *".to_owned(),
            tz: Some("Europe/Paris".to_owned()),
        };
        let due = Due::new(&spec, 0).unwrap();
        // 09:00 in Paris is 08:00 UTC in winter.
        assert_eq!(
            due.after(ms("2026-11-28T07:59:59.500Z")),
            Some(ms("2026-11-28T08:00:00Z"))
        );
        assert_eq!(
            due.after(ms("2026-11-28T08:00:00Z")),
            Some(ms("2026-11-29T08:00:00Z"))
        );
        // And 07:00 UTC in summer.
        assert_eq!(
            due.after(ms("2026-07-01T00:00:00Z")),
            Some(ms("2026-07-01T07:00:00Z"))
        );
        let utc = Due::new(
            &ScheduleSpec::Cron {
                expr: "*/5 * * * *".to_owned(),
                tz: None,
            },
            0,
        )
        .unwrap();
        assert_eq!(
            utc.after(ms("2026-11-28T09:01:00.250Z")),
            Some(ms("2026-11-28T09:05:00Z"))
        );
    }

    #[test]
    fn every_counts_from_the_creation() {
        let due = Due::new(&ScheduleSpec::Every { every_ms: 1_000 }, 10_500).unwrap();
        assert_eq!(due.after(0), Some(11_500));
        assert_eq!(due.after(10_500), Some(11_500));
        assert_eq!(due.after(11_499), Some(11_500));
        assert_eq!(due.after(11_500), Some(12_500));
    }
}
