//! When a schedule is due: cron expressions (parsed by `croner`, read in an IANA time
//! zone from `chrono-tz`) and fixed periods, and the checks `schedule add` and the API
//! make before a schedule is stored.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use savepoint_store::ScheduleSpec;

/// The shortest period of `--every`: a run per second at most (the thread of a
/// scheduled run names its due time to the second).
pub const MIN_EVERY_MS: i64 = 1_000;

/// The longest a schedule name may be; names are `A-Z a-z 0-9 _ . -`.
const MAX_NAME: usize = 100;

/// Checks a schedule's name: it is part of its runs' threads (`NAME@DUE`) and of the
/// API's paths.
pub fn check_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(allowed) {
        return Err(format!(
            "invalid schedule name {name:?}: use 1 to {MAX_NAME} letters, digits, '_', '.' \
             or '-'"
        ));
    }
    Ok(())
}

/// The names of a cron expression's fields, for 5 fields and for 6 (seconds first).
const FIELDS_5: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELDS_6: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

/// The largest step that can reach a second value of each field (its range less one),
/// by field name.
fn max_step(field: &str) -> u32 {
    match field {
        "second" | "minute" => 59,
        "hour" => 23,
        "day-of-month" => 30,
        "month" => 11,
        _ => 6,
    }
}

/// Parses a cron expression of 5 fields (minute first) or 6 (second first). An error
/// names the field at fault (`minute field: ...`): croner's own messages do not, so each
/// field is tried alone, the others `*`. A step that can never reach a second value
/// (`*/61` for minutes), which croner takes as "only the first", is refused too: it is
/// a typo far more often than meant.
pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    let parse = |text: &str| Cron::new(text).with_seconds_optional().parse();
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let names: &[&str] = match fields.len() {
        5 => &FIELDS_5,
        6 => &FIELDS_6,
        // croner also reads nicknames (`@daily`): one field.
        1 if expr.trim_start().starts_with('@') => &[],
        n => {
            return Err(format!(
                "{n} fields: a cron expression has 5 (minute hour day-of-month month \
                 day-of-week) or 6 (second first)"
            ));
        }
    };
    for (index, name) in names.iter().enumerate() {
        let alone: Vec<&str> = (0..fields.len())
            .map(|i| if i == index { fields[i] } else { "*" })
            .collect();
        if let Err(error) = parse(&alone.join(" ")) {
            return Err(format!("{name} field: {}", croner_message(&error)));
        }
        let steps = fields[index]
            .split(',')
            .filter_map(|part| part.split_once('/'));
        for (_, step) in steps {
            let max = max_step(name);
            if step.parse::<u32>().is_ok_and(|step| step > max) {
                return Err(format!(
                    "{name} field: step {step} is larger than the field allows (1-{max})"
                ));
            }
        }
    }
    parse(expr).map_err(|error| croner_message(&error))
}

/// croner's message without its prefix ("Component error: ").
fn croner_message(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    match error {
        CronError::ComponentError(text)
        | CronError::InvalidPattern(text)
        | CronError::IllegalCharacters(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_zone(zone: &str) -> Result<Tz, String> {
    zone.parse::<Tz>().map_err(|_| {
        format!("unknown time zone {zone:?}: use an IANA name such as \"Europe/Paris\" or \"UTC\"")
    })
}

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
    fn a_bad_cron_field_is_named() {
        assert_eq!(
            parse_cron("*/61 * * * *").unwrap_err(),
            "minute field: step 61 is larger than the field allows (1-59)"
        );
        let hour = parse_cron("0 25 * * *").unwrap_err();
        assert!(hour.starts_with("hour field: "), "{hour}");
        let second = parse_cron("61 * * * * *").unwrap_err();
        assert!(second.starts_with("second field: "), "{second}");
        let dow = parse_cron("* * * * funday").unwrap_err();
        assert!(dow.starts_with("day-of-week field: "), "{dow}");
        assert_eq!(
            parse_cron("* * *").unwrap_err(),
            "3 fields: a cron expression has 5 (minute hour day-of-month month day-of-week) \
             or 6 (second first)"
        );
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("*/2 * * * * *").is_ok());
        assert!(parse_cron("@daily").is_ok());
        assert!(parse_cron("0-30/15,45 */23 * * 1-5").is_ok());
    }

    #[test]
    fn zones_and_periods_are_checked() {
        assert!(parse_zone("Europe/Paris").is_ok());
        assert_eq!(
            parse_zone("Europe/Pariss").unwrap_err(),
            "unknown time zone \"Europe/Pariss\": use an IANA name such as \"Europe/Paris\" \
             or \"UTC\""
        );
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
