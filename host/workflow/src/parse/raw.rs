//! What the TOML deserializes into before validation: every value that a
//! message may point at is [`Spanned`], durations and sizes stay text until the
//! validator reads them (so an error names its key), and unknown keys are
//! errors (`deny_unknown_fields`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_spanned::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    pub(super) name: Spanned<String>,
    pub(super) start: Spanned<String>,
    pub(super) max_steps: Option<Spanned<i64>>,
    pub(super) max_fanout: Option<Spanned<i64>>,
    pub(super) max_concurrency: Option<Spanned<i64>>,
    pub(super) retry: Option<RawRetry>,
    pub(super) timeout: Option<Spanned<DurationText>>,
    pub(super) memory: Option<Spanned<SizeValue>>,
    pub(super) fuel: Option<Spanned<i64>>,
    pub(super) max_state: Option<Spanned<SizeValue>>,
    pub(super) max_log: Option<RawMaxLog>,
    pub(super) allow_http: Option<Vec<Spanned<String>>>,
    pub(super) state: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub(super) nodes: Option<Spanned<RawNodes>>,
    pub(super) schedule: Option<Spanned<RawSchedule>>,
}

/// The `[schedule]` table (see `crate::schedule`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) cron: Option<Spanned<String>>,
    pub(super) every: Option<Spanned<DurationText>>,
    pub(super) tz: Option<Spanned<String>>,
    pub(super) catch_up: Option<Spanned<String>>,
    pub(super) input: Option<Spanned<toml::Table>>,
}

/// A file's `[nodes]`: each table by its name, as written.
pub(super) type RawNodes = BTreeMap<Spanned<String>, Spanned<RawNode>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) plugin: Option<Spanned<String>>,
    /// A sub-workflow node: the child workflow's file, relative to this file's folder.
    pub(super) workflow: Option<Spanned<String>>,
    /// Child input key -> parent state key (a sub-workflow node only).
    pub(super) input: Option<Spanned<BTreeMap<String, String>>>,
    /// Parent state key -> child final state key (a sub-workflow node only).
    pub(super) output: Option<Spanned<BTreeMap<String, String>>>,
    /// The child run's thread template (a sub-workflow node only).
    pub(super) id: Option<Spanned<String>>,
    /// Each key spanned, so that a problem with one (its plugin's schema) can
    /// point at it.
    pub(super) config: Option<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
    pub(super) next: Option<Spanned<RawNext>>,
    pub(super) routes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) after: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) retry: Option<RawRetry>,
    pub(super) timeout: Option<Spanned<DurationText>>,
    pub(super) memory: Option<Spanned<SizeValue>>,
    pub(super) fuel: Option<Spanned<i64>>,
    pub(super) max_state: Option<Spanned<SizeValue>>,
    pub(super) max_log: Option<RawMaxLog>,
    pub(super) allow_http: Option<Vec<Spanned<String>>>,
    /// Any TOML value, so that a wrong type gets a message naming the node.
    pub(super) reuse: Option<Spanned<toml::Value>>,
}

/// The limit keys of the top level or of a node.
pub(super) struct RawLimits<'a> {
    pub(super) memory: Option<&'a Spanned<SizeValue>>,
    pub(super) fuel: Option<&'a Spanned<i64>>,
    pub(super) max_state: Option<&'a Spanned<SizeValue>>,
    pub(super) max_log: Option<&'a RawMaxLog>,
    pub(super) allow_http: Option<&'a [Spanned<String>]>,
}

/// A `max_log` table: each key optional, each overriding the level below it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaxLog {
    pub(super) lines: Option<Spanned<i64>>,
    pub(super) bytes: Option<Spanned<SizeValue>>,
}

impl RawWorkflow {
    pub(super) fn limits(&self) -> RawLimits<'_> {
        RawLimits {
            memory: self.memory.as_ref(),
            fuel: self.fuel.as_ref(),
            max_state: self.max_state.as_ref(),
            max_log: self.max_log.as_ref(),
            allow_http: self.allow_http.as_deref(),
        }
    }
}

impl RawNode {
    pub(super) fn limits(&self) -> RawLimits<'_> {
        RawLimits {
            memory: self.memory.as_ref(),
            fuel: self.fuel.as_ref(),
            max_state: self.max_state.as_ref(),
            max_log: self.max_log.as_ref(),
            allow_http: self.allow_http.as_deref(),
        }
    }
}

/// A `retry` table: every key optional, each overriding the level below it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetry {
    pub(super) attempts: Option<Spanned<i64>>,
    pub(super) backoff: Option<Spanned<String>>,
    pub(super) initial: Option<Spanned<DurationText>>,
    pub(super) max: Option<Spanned<DurationText>>,
    pub(super) jitter: Option<Spanned<f64>>,
}

/// `next = "b"` or `next = ["b", "c"]`.
pub(super) enum RawNext {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawNext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NextVisitor;

        impl<'de> Visitor<'de> for NextVisitor {
            type Value = RawNext;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node name, \"end\", or a list of node names")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNext, E> {
                Ok(RawNext::One(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNext, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<String>>()? {
                    items.push(item);
                }
                Ok(RawNext::Many(items))
            }
        }

        deserializer.deserialize_any(NextVisitor)
    }
}

/// A duration as written (a string); parsed by [`parse_duration`](savepoint_base::units::parse_duration) during validation
/// so that the error can say which key it belongs to.
pub(super) struct DurationText(pub(super) String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"30s\" or \"1m30s\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
        }

        deserializer.deserialize_str(DurationVisitor)
    }
}

/// A size as written: a string with a unit (parsed by
/// [`parse_size`](savepoint_base::units::parse_size) during
/// validation), or a TOML integer counting bytes.
pub(super) enum SizeValue {
    Text(String),
    Bytes(i64),
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\", or a number of bytes")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SizeValue, E> {
                i64::try_from(v)
                    .map(SizeValue::Bytes)
                    .map_err(|_| E::custom(format!("invalid size {v}: too large")))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}
