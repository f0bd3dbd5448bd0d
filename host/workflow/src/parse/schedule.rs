//! The `[schedule]` table: `cron` or `every`, `tz` (with `cron`), `catch_up`, `input`.
//! Each problem points at its key's value and names the field (a cron expression's
//! problem names the cron field too: `schedule.cron: minute field: ...`).

use serde_json::Value;
use serde_spanned::Spanned;

use super::Validator;
use super::node::table_to_json;
use super::raw::RawSchedule;
use crate::schedule::{FileSchedule, MIN_EVERY, When, parse_cron, parse_zone};

impl Validator<'_> {
    /// The checked table, or `None` (reported) when it cannot say when to fire.
    pub(super) fn schedule(&self, raw: Spanned<RawSchedule>) -> Option<FileSchedule> {
        let span = raw.span();
        let raw = raw.into_inner();
        let field = |problem: crate::WorkflowError, key: &str| {
            problem.with_field(&format!("schedule.{key}"))
        };
        let when = match (&raw.cron, &raw.every) {
            (Some(cron), None) => match parse_cron(cron.get_ref()) {
                Ok(_) => Some(When::Cron {
                    expr: cron.get_ref().clone(),
                    tz: raw.tz.as_ref().map(|tz| tz.get_ref().clone()),
                }),
                Err(reason) => {
                    let msg = format!("schedule.cron {:?}: {reason}", cron.get_ref());
                    self.report(field(self.err(cron.span(), msg), "cron"));
                    None
                }
            },
            (None, Some(every)) => match self.duration(every, "schedule.", "every") {
                Ok(period) if period < MIN_EVERY => {
                    let msg = format!(
                        "schedule.every is {}: the shortest period is 1s",
                        every.get_ref().0
                    );
                    self.report(field(self.err(every.span(), msg), "every"));
                    None
                }
                Ok(period) => Some(When::Every(period)),
                Err(problem) => {
                    self.report(field(problem, "every"));
                    None
                }
            },
            (Some(_), Some(every)) => {
                let msg = "schedule has both cron and every; keep one";
                self.report(field(self.err(every.span(), msg), "every"));
                None
            }
            (None, None) => {
                let msg = "schedule needs cron = \"MIN HOUR DAY MONTH WEEKDAY\" or every = \
                           \"DURATION\" (e.g. every = \"1h\")";
                self.problem(span, msg);
                None
            }
        };
        if let Some(tz) = &raw.tz {
            if raw.cron.is_none() {
                let msg = "schedule.tz goes with schedule.cron (an `every` period is the same \
                           in every time zone)";
                self.report(field(self.err(tz.span(), msg), "tz"));
            } else if let Err(reason) = parse_zone(tz.get_ref()) {
                self.report(field(
                    self.err(tz.span(), format!("schedule.tz: {reason}")),
                    "tz",
                ));
            }
        }
        let catch_up = raw.catch_up.as_ref().and_then(|word| {
            word.get_ref()
                .parse()
                .map_err(|reason: String| {
                    let msg = format!("schedule.catch_up: {reason}");
                    self.report(field(self.err(word.span(), msg), "catch_up"));
                })
                .ok()
        });
        let input = raw.input.as_ref().and_then(|table| {
            match table_to_json(table.get_ref(), "schedule.input") {
                Ok(Value::Object(map)) => Some(map),
                Ok(_) => None,
                Err(reason) => {
                    self.report(field(self.err(table.span(), reason), "input"));
                    None
                }
            }
        });
        Some(FileSchedule {
            when: when?,
            catch_up,
            input,
        })
    }
}
