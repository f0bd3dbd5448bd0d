//! The keys a workflow and each node may set: `retry`, `timeout`, `reuse` and
//! the limits. Each bad value is reported, and the level below it (the
//! workflow's key, or the default) stands in for it, so that one pass finds
//! every bad key.

use std::time::Duration;

use savepoint_base::units::{format_duration, format_size, parse_duration, parse_size};
use serde_spanned::Spanned;

use super::{DurationText, RawLimits, RawRetry, SizeValue, Validator, WorkflowRetry};
use crate::{Backoff, HttpGrant, Limits, RetryPolicy, WorkflowError};

impl Validator<'_> {
    /// Validates a `retry` table and lays it over `base`. `prefix` starts messages
    /// (`node "a": `, or nothing for the workflow's table); `workflow` is the
    /// workflow's retry when this is a node's table.
    pub(super) fn retry(
        &self,
        raw: &RawRetry,
        prefix: &str,
        base: RetryPolicy,
        workflow: Option<&WorkflowRetry>,
    ) -> RetryPolicy {
        let mut policy = base;
        if let Some(attempts) = &raw.attempts {
            let n = *attempts.get_ref();
            if n < 1 {
                let msg = format!(
                    "{prefix}retry.attempts must be at least 1 (it counts the first try; \
                     1 = no retries), got {n}"
                );
                self.problem(attempts.span(), msg);
            } else {
                match u32::try_from(n) {
                    Ok(n) => policy.attempts = n,
                    Err(_) => {
                        let msg = format!(
                            "{prefix}retry.attempts must be at most {}, got {n}",
                            u32::MAX
                        );
                        self.problem(attempts.span(), msg);
                    }
                }
            }
        }
        if let Some(backoff) = &raw.backoff {
            match Backoff::ALL
                .into_iter()
                .find(|b| b.as_str() == backoff.get_ref())
            {
                Some(found) => policy.backoff = found,
                None => {
                    let msg = format!(
                        "{prefix}retry.backoff is \"{}\", but valid backoffs are: exponential, fixed",
                        backoff.get_ref()
                    );
                    self.problem(backoff.span(), msg);
                }
            }
        }
        let mut durations_valid = true;
        if let Some(initial) = &raw.initial {
            match self.duration(initial, prefix, "retry.initial") {
                Ok(initial) => policy.initial = initial,
                Err(problem) => {
                    self.report(problem);
                    durations_valid = false;
                }
            }
        }
        if let Some(max) = &raw.max {
            match self.duration(max, prefix, "retry.max") {
                Ok(max) => policy.max = max,
                Err(problem) => {
                    self.report(problem);
                    durations_valid = false;
                }
            }
        }
        if let Some(jitter) = &raw.jitter {
            let j = *jitter.get_ref();
            if (0.0..=1.0).contains(&j) {
                policy.jitter = j;
            } else {
                let msg = format!(
                    "{prefix}retry.jitter must be between 0 and 1 (the fraction by which a \
                     delay may vary), got {j}"
                );
                self.problem(jitter.span(), msg);
            }
        }
        if durations_valid && policy.initial > policy.max {
            // Point at the key of this table that makes them conflict (the later one
            // in the file when it sets both).
            // (One of them is set: `base` always has initial <= max.)
            let span = (raw.initial.iter().chain(&raw.max))
                .map(Spanned::span)
                .max_by_key(|span| span.start)
                .unwrap_or(0..0);
            let origin = |set_here: bool, set_by_workflow: bool| match (set_here, workflow) {
                (true, _) => "",
                (false, Some(_)) if set_by_workflow => ", from the workflow's retry",
                (false, _) => ", the default",
            };
            let msg = format!(
                "{prefix}retry.initial ({}{}) must not be longer than retry.max ({}{})",
                format_duration(policy.initial),
                origin(
                    raw.initial.is_some(),
                    workflow.is_some_and(|w| w.sets_initial)
                ),
                format_duration(policy.max),
                origin(raw.max.is_some(), workflow.is_some_and(|w| w.sets_max)),
            );
            self.problem(span, msg);
            policy = base;
        }
        policy
    }

    /// A `timeout` value: a duration longer than zero, or `"none"` (no limit:
    /// `None`).
    pub(super) fn timeout(
        &self,
        raw: &Spanned<DurationText>,
        prefix: &str,
    ) -> Result<Option<Duration>, WorkflowError> {
        if raw.get_ref().0 == "none" {
            return Ok(None);
        }
        let timeout = self.duration(raw, prefix, "timeout")?;
        if timeout.is_zero() {
            let msg = format!("{prefix}timeout must be longer than 0 (\"none\" for no limit)");
            return Err(self.err(raw.span(), msg));
        }
        Ok(Some(timeout))
    }

    /// A node's `reuse` value: a boolean.
    pub(super) fn reuse(
        &self,
        raw: &Spanned<toml::Value>,
        prefix: &str,
    ) -> Result<bool, WorkflowError> {
        match raw.get_ref() {
            toml::Value::Boolean(reuse) => Ok(*reuse),
            other => {
                let msg = format!(
                    "{prefix}reuse must be true or false (true keeps the node's instance warm \
                     between calls), got {other}"
                );
                Err(self.err(raw.span(), msg))
            }
        }
    }

    /// Validates the limit keys of the top level or of a node and lays them over
    /// `base`, key by key; a bad key keeps `base`'s value. `prefix` starts
    /// messages, as for [`Self::retry`].
    pub(super) fn limits(&self, raw: RawLimits<'_>, prefix: &str, base: &Limits) -> Limits {
        let mut limits = base.clone();
        if let Some(memory) = raw.memory
            && let Ok(bytes) = self
                .size(memory, prefix, "memory")
                .map_err(|p| self.report(p))
        {
            if (Limits::MIN_MEMORY..=Limits::MAX_MEMORY).contains(&bytes) {
                limits.memory = bytes;
            } else {
                let msg = format!(
                    "{prefix}memory must be between {} and {}, got {}",
                    format_size(Limits::MIN_MEMORY),
                    format_size(Limits::MAX_MEMORY),
                    format_size(bytes)
                );
                self.problem(memory.span(), msg);
            }
        }
        if let Some(fuel) = raw.fuel {
            let n = *fuel.get_ref();
            match u64::try_from(n).ok().filter(|&n| n >= 1) {
                Some(fuel) => limits.fuel = Some(fuel),
                None => {
                    let msg = format!(
                        "{prefix}fuel must be at least 1 (the instructions one call may run; \
                         remove it for no limit), got {n}"
                    );
                    self.problem(fuel.span(), msg);
                }
            }
        }
        if let Some(max_state) = raw.max_state
            && let Ok(bytes) = self
                .size(max_state, prefix, "max_state")
                .map_err(|p| self.report(p))
        {
            if bytes < Limits::MIN_MAX_STATE {
                let msg = format!(
                    "{prefix}max_state must be at least {}, got {}",
                    format_size(Limits::MIN_MAX_STATE),
                    format_size(bytes)
                );
                self.problem(max_state.span(), msg);
            } else {
                limits.max_state = bytes;
            }
        }
        if let Some(max_log) = raw.max_log {
            if let Some(lines) = &max_log.lines {
                let n = *lines.get_ref();
                match u64::try_from(n) {
                    Ok(n) => limits.max_log.lines = n,
                    Err(_) => {
                        let msg = format!(
                            "{prefix}max_log.lines must be 0 or more (the log lines one call \
                             keeps), got {n}"
                        );
                        self.problem(lines.span(), msg);
                    }
                }
            }
            if let Some(bytes) = &max_log.bytes
                && let Ok(bytes) = self
                    .size(bytes, prefix, "max_log.bytes")
                    .map_err(|p| self.report(p))
            {
                limits.max_log.bytes = bytes;
            }
        }
        if let Some(entries) = raw.allow_http {
            let mut grants: Vec<HttpGrant> = Vec::new();
            for entry in entries {
                let grant = match HttpGrant::parse(entry.get_ref()) {
                    Ok(grant) => grant,
                    Err(m) => {
                        self.problem(entry.span(), format!("{prefix}{m}"));
                        continue;
                    }
                };
                if grants.contains(&grant) {
                    let msg = format!("{prefix}allow_http lists \"{grant}\" twice");
                    self.problem(entry.span(), msg);
                    continue;
                }
                grants.push(grant);
            }
            limits.allow_http = grants;
        }
        limits
    }

    /// A size value in bytes (bounds are the caller's).
    fn size(
        &self,
        raw: &Spanned<SizeValue>,
        prefix: &str,
        key: &str,
    ) -> Result<u64, WorkflowError> {
        match raw.get_ref() {
            SizeValue::Text(text) => {
                parse_size(text).map_err(|m| self.err(raw.span(), format!("{prefix}{key}: {m}")))
            }
            SizeValue::Bytes(n) => u64::try_from(*n).map_err(|_| {
                let msg = format!("{prefix}{key}: invalid size {n}: a size cannot be negative");
                self.err(raw.span(), msg)
            }),
        }
    }

    pub(super) fn duration(
        &self,
        raw: &Spanned<DurationText>,
        prefix: &str,
        key: &str,
    ) -> Result<Duration, WorkflowError> {
        parse_duration(&raw.get_ref().0)
            .map_err(|m| self.err(raw.span(), format!("{prefix}{key}: {m}")))
    }
}
