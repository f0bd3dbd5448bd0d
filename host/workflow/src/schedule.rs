//! A workflow's own schedule (the optional `[schedule]` table), and the reading of what
//! says when a schedule is due: cron expressions (parsed by `croner`, each field checked
//! alone so that an error names it) and IANA time zones (`chrono-tz`). One owner of
//! these checks: `validate` and `run` meet them here when they parse a file, and
//! `schedule add` and `POST /schedules` (the runtime's `schedule` module) for what they
//! are given.
//!
//! ```toml
//! [schedule]
//! cron = "0 9 * * 1-5"        # or: every = "1h"
//! tz = "Europe/Paris"         # cron only; default UTC
//! catch_up = "last"           # none (default), last or all
//! input = { report = "daily" }
//! ```

use std::time::Duration;

use chrono_tz::Tz;
use croner::Cron;
use serde_json::{Map, Value};

pub use savepoint_base::vocab::CatchUp;

/// The shortest period of a schedule (`every`): a run per second at most (the thread of a
/// scheduled run names its due time to the second).
pub const MIN_EVERY: Duration = Duration::from_secs(1);

/// A workflow file's `[schedule]` table, checked: what `schedule add NAME WORKFLOW` takes
/// when it is given no `--cron` or `--every`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSchedule {
    pub when: When,
    /// `None` when the table does not say.
    pub catch_up: Option<CatchUp>,
    /// `None` when the table does not say.
    pub input: Option<Map<String, Value>>,
}

/// When a schedule is due, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// A cron expression that [`parse_cron`] reads, in the IANA zone `tz` (`None`: UTC).
    Cron { expr: String, tz: Option<String> },
    /// A period of at least [`MIN_EVERY`].
    Every(Duration),
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
            return Err(format!(
                "{name} field: {:?} is not valid: {} (it takes {})",
                fields[index],
                croner_message(&error),
                allowed(name)
            ));
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

/// What a field takes, for messages.
fn allowed(field: &str) -> &'static str {
    match field {
        "second" | "minute" => "0-59, lists, ranges and */steps",
        "hour" => "0-23, lists, ranges and */steps",
        "day-of-month" => "1-31, L, lists, ranges and */steps",
        "month" => "1-12 or JAN-DEC, lists, ranges and */steps",
        _ => "0-7 or SUN-SAT (0 and 7 are Sunday), lists, ranges and */steps",
    }
}

/// croner's message without its prefix ("Component error: ") or its final period, in
/// lower case as our messages are ("number out of bounds").
fn croner_message(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError;
    let text = match error {
        CronError::ComponentError(text)
        | CronError::InvalidPattern(text)
        | CronError::IllegalCharacters(text) => text.clone(),
        other => other.to_string(),
    };
    let text = text.trim().trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

/// Parses an IANA time zone name (`Europe/Paris`, `UTC`).
pub fn parse_zone(zone: &str) -> Result<Tz, String> {
    zone.parse::<Tz>().map_err(|_| {
        format!("unknown time zone {zone:?}: use an IANA name such as \"Europe/Paris\" or \"UTC\"")
    })
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
    fn zones_are_iana_names() {
        assert!(parse_zone("Europe/Paris").is_ok());
        assert_eq!(
            parse_zone("Europe/Pariss").unwrap_err(),
            "unknown time zone \"Europe/Pariss\": use an IANA name such as \"Europe/Paris\" \
             or \"UTC\""
        );
    }
}
