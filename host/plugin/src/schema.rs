//! A node's `config` checked against the JSON Schema its plugin's `describe()`
//! declares (`config-schema`), so that a wrong config is the host's error,
//! naming the workflow file, the node and the field, before the first node
//! runs: not a failure of the node halfway through a run.
//!
//! The messages are written here from the kind of each problem, never from
//! the value found: a config may hold a secret (`${env:NAME}`, resolved).

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError};
use serde_json::Value;

use super::NodeInfo;

/// One way a config breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The top-level config key the problem is in (for its line in the
    /// workflow file); `None` for the config as a whole (a missing key).
    pub key: Option<String>,
    /// The offending field, e.g. `config.greeting`, `config.list[2]`.
    pub field: String,
    /// What is wrong, e.g. `config.greeting must be a string`.
    pub message: String,
}

/// The plugin's config schema is not a JSON Schema this host can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its config schema is not a valid JSON Schema: {0}")]
pub struct BadSchema(pub String);

/// A plugin's config schema, compiled: compile it once for every node that
/// uses the plugin (a workflow may have thousands).
pub struct ConfigSchema(jsonschema::Validator);

impl std::fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSchema").finish_non_exhaustive()
    }
}

impl NodeInfo {
    /// The declared config schema, compiled; `None` when the plugin declares
    /// none.
    pub fn compiled_config_schema(&self) -> Result<Option<ConfigSchema>, BadSchema> {
        let Some(schema) = &self.config_schema else {
            return Ok(None);
        };
        let validator = jsonschema::validator_for(schema).map_err(|e| BadSchema(e.to_string()))?;
        Ok(Some(ConfigSchema(validator)))
    }

    /// The ways `config` breaks the declared config schema (none when the
    /// plugin declares no schema): see [`ConfigSchema::problems`].
    pub fn config_problems(&self, config: &Value) -> Result<Vec<ConfigProblem>, BadSchema> {
        Ok(match self.compiled_config_schema()? {
            Some(schema) => schema.problems(config),
            None => Vec::new(),
        })
    }
}

impl ConfigSchema {
    /// The ways `config` breaks the schema, in the order the schema finds
    /// them.
    pub fn problems(&self, config: &Value) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = Vec::new();
        for error in self.0.iter_errors(config) {
            for problem in describe(&error) {
                if !problems.contains(&problem) {
                    problems.push(problem);
                }
            }
        }
        problems
    }
}

/// The problems one validation error stands for (one per unknown key).
fn describe(error: &ValidationError<'_>) -> Vec<ConfigProblem> {
    let segments: Vec<LocationSegment<'_>> = error.instance_path().iter().collect();
    let key = match segments.first() {
        Some(LocationSegment::Property(name)) => Some(name.to_string()),
        _ => None,
    };
    let field = field_name(&segments);
    let problem = |message: String| ConfigProblem {
        key: key.clone(),
        field: field.clone(),
        message,
    };
    let must = |what: String| vec![problem(format!("{field} must {what}"))];
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                let mut inner = segments.clone();
                inner.push(LocationSegment::Property(name.as_str().into()));
                ConfigProblem {
                    key: key.clone().or_else(|| Some(name.clone())),
                    field: field_name(&inner),
                    message: format!("{field} has an unknown key {}", quote(name)),
                }
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), quote);
            vec![problem(format!(
                "{field} is missing the required key {name}"
            ))]
        }
        ValidationErrorKind::Type { kind } => must(format!("be {}", types(kind))),
        ValidationErrorKind::Minimum { limit } => must(format!("be at least {limit}")),
        ValidationErrorKind::Maximum { limit } => must(format!("be at most {limit}")),
        ValidationErrorKind::ExclusiveMinimum { limit } => must(format!("be greater than {limit}")),
        ValidationErrorKind::ExclusiveMaximum { limit } => must(format!("be less than {limit}")),
        ValidationErrorKind::MultipleOf { multiple_of } => {
            must(format!("be a multiple of {multiple_of}"))
        }
        ValidationErrorKind::Enum { options } => match options.as_array() {
            Some(options) => must(format!(
                "be one of {}",
                options
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => must(format!("be one of {options}")),
        },
        ValidationErrorKind::Constant { expected_value } => must(format!("be {expected_value}")),
        ValidationErrorKind::MinLength { limit } => {
            must(format!("be at least {} long", plural(*limit, "character")))
        }
        ValidationErrorKind::MaxLength { limit } => {
            must(format!("be at most {} long", plural(*limit, "character")))
        }
        ValidationErrorKind::MinItems { limit } => {
            must(format!("have at least {}", plural(*limit, "item")))
        }
        ValidationErrorKind::MaxItems { limit } => {
            must(format!("have at most {}", plural(*limit, "item")))
        }
        ValidationErrorKind::MinProperties { limit } => {
            must(format!("have at least {}", plural(*limit, "key")))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            must(format!("have at most {}", plural(*limit, "key")))
        }
        ValidationErrorKind::UniqueItems => must("not repeat an item".to_string()),
        ValidationErrorKind::Pattern { pattern } => {
            must(format!("match the pattern {}", quote(pattern)))
        }
        ValidationErrorKind::Format { format } => must(format!("be a valid {format}")),
        ValidationErrorKind::FalseSchema => vec![problem(format!("{field} is not allowed"))],
        other => vec![problem(format!(
            "{field} does not match the schema (its \"{}\")",
            other.keyword()
        ))],
    }
}

/// `config`, `config.greeting`, `config.items[2]`, `config["odd key"]`.
fn field_name(segments: &[LocationSegment<'_>]) -> String {
    let mut field = String::from("config");
    for segment in segments {
        match segment {
            LocationSegment::Index(i) => field.push_str(&format!("[{i}]")),
            LocationSegment::Property(name) if is_plain_key(name) => {
                field.push('.');
                field.push_str(name);
            }
            LocationSegment::Property(name) => field.push_str(&format!("[{}]", quote(name))),
        }
    }
    field
}

fn is_plain_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A name as a JSON string: `"typo_key"`.
fn quote(name: &str) -> String {
    Value::from(name).to_string()
}

/// `a string`, `a string or null`.
fn types(kind: &TypeKind) -> String {
    let one = |t: JsonType| match t {
        JsonType::Null => "null",
        JsonType::Boolean => "a boolean",
        JsonType::Integer => "an integer",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "an array",
        JsonType::Object => "an object",
    };
    match kind {
        TypeKind::Single(t) => one(*t).to_string(),
        TypeKind::Multiple(set) => set.iter().map(one).collect::<Vec<_>>().join(" or "),
    }
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The template contract's schema (every `savepoint new node` template).
    fn greet() -> NodeInfo {
        NodeInfo {
            name: "greet".into(),
            version: "0.1.0".into(),
            description: String::new(),
            config_schema: Some(json!({
                "type": "object",
                "properties": {
                    "greeting": {"type": "string", "default": "Hello"},
                    "delay_ms": {"type": "integer", "minimum": 0, "default": 0}
                },
                "additionalProperties": false
            })),
        }
    }

    fn messages(config: Value) -> Vec<(Option<String>, String, String)> {
        greet()
            .config_problems(&config)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.field, p.message))
            .collect()
    }

    #[test]
    fn a_config_that_fits_has_no_problems() {
        assert!(messages(json!({})).is_empty());
        assert!(messages(json!({"greeting": "Hi", "delay_ms": 5})).is_empty());
        let none = NodeInfo {
            config_schema: None,
            ..greet()
        };
        assert!(none.config_problems(&json!({"x": 1})).unwrap().is_empty());
    }

    #[test]
    fn every_problem_names_its_field_without_the_value() {
        let mut found = messages(json!({"greeting": 5, "typo_key": "s3cr3t", "delay_ms": -1}));
        found.sort();
        let problem = |key: &str, message: &str| {
            (
                Some(key.to_string()),
                format!("config.{key}"),
                message.to_string(),
            )
        };
        assert_eq!(
            found,
            vec![
                problem("delay_ms", "config.delay_ms must be at least 0"),
                problem("greeting", "config.greeting must be a string"),
                problem("typo_key", "config has an unknown key \"typo_key\""),
            ]
        );
        assert!(!format!("{found:?}").contains("s3cr3t"));
    }

    #[test]
    fn nested_fields_and_missing_keys_are_named() {
        let info = NodeInfo {
            config_schema: Some(json!({
                "type": "object",
                "required": ["url"],
                "properties": {"hosts": {"type": "array", "items": {"type": ["string", "null"]}}}
            })),
            ..greet()
        };
        let found: Vec<String> = info
            .config_problems(&json!({"hosts": ["a", 1]}))
            .unwrap()
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert!(
            found.contains(&"config.hosts[1] must be null or a string".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"config is missing the required key \"url\"".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn a_schema_that_is_not_one_is_reported_as_such() {
        let info = NodeInfo {
            config_schema: Some(json!({"type": "no-such-type"})),
            ..greet()
        };
        assert!(info.config_problems(&json!({})).is_err());
    }
}
