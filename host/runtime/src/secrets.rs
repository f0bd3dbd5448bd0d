//! Secrets in node configs: a string value `${env:NAME}` (or one that contains
//! it) is replaced by the host's environment variable NAME when the node is
//! called. The resolved values are never stored: configs are not part of
//! checkpoints, and everything the node returns or writes but its state
//! (failure messages, goto targets, interrupt payloads, log lines, stdout and
//! stderr) is redacted at the plugin boundary, in one place
//! ([`savepoint_plugin::Secrets`]), before the host keeps or prints it.

use serde_json::Value;

/// `config` with every `${env:NAME}` resolved, and the resolved values (to
/// redact). A variable that is not set is an error naming the config path.
pub fn resolve(
    config: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Value, Vec<String>), String> {
    let mut secrets = Vec::new();
    let resolved = walk(config, "config", env, &mut secrets)?;
    secrets.retain(|s| !s.is_empty());
    Ok((resolved, secrets))
}

/// A `${env:...}` reference of a config that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReference {
    /// The config value it is in, e.g. `config.auth`.
    pub field: String,
    /// What is wrong, naming the field.
    pub message: String,
    /// The reference is well formed, but its variable is not set (here).
    pub unset: bool,
}

/// `config` with every `${env:NAME}` that can be resolved resolved (a value
/// with one that cannot stays as written), and every reference that cannot
/// be: what `savepoint validate` checks without calling a node.
pub fn check(config: &Value, env: &dyn Fn(&str) -> Option<String>) -> (Value, Vec<BadReference>) {
    let mut bad = Vec::new();
    let resolved = walk_all(config, "config", env, &mut bad);
    (resolved, bad)
}

fn walk_all(
    value: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    bad: &mut Vec<BadReference>,
) -> Value {
    match value {
        Value::String(text) if text.contains("${env:") => {
            match substitute(text, path, env, &mut Vec::new()) {
                Ok(resolved) => Value::String(resolved),
                Err(problem) => {
                    bad.push(BadReference {
                        field: path.to_string(),
                        unset: matches!(problem, Unresolved::Unset(_)),
                        message: problem.into_message(),
                    });
                    value.clone()
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| walk_all(item, &format!("{path}[{i}]"), env, bad))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), walk_all(v, &format!("{path}.{k}"), env, bad)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Why a reference cannot be resolved; each message names the config path.
enum Unresolved {
    Malformed(String),
    Unset(String),
}

impl Unresolved {
    fn into_message(self) -> String {
        match self {
            Unresolved::Malformed(message) | Unresolved::Unset(message) => message,
        }
    }
}

fn walk(
    value: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if text.contains("${env:") => {
            Value::String(substitute(text, path, env, secrets).map_err(Unresolved::into_message)?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| walk(item, &format!("{path}[{i}]"), env, secrets))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), walk(v, &format!("{path}.{k}"), env, secrets)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute(
    text: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<String, Unresolved> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else {
            return Err(Unresolved::Malformed(format!(
                "{path}: unterminated ${{env:...}} in {text:?}"
            )));
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Unresolved::Malformed(format!(
                "{path}: invalid variable name {name:?} in ${{env:{name}}}"
            )));
        }
        let value = env(name).ok_or_else(|| {
            Unresolved::Unset(format!(
                "{path} uses ${{env:{name}}}, but the environment variable {name} is not set"
            ))
        })?;
        out.push_str(&value);
        secrets.push(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "USER_NAME" => Some("ada".into()),
            _ => None,
        }
    }

    #[test]
    fn references_are_resolved_anywhere_in_the_config() {
        let config =
            json!({"auth": "Bearer ${env:TOKEN}", "list": ["${env:USER_NAME}", 1], "plain": "x"});
        let (resolved, secrets) = resolve(&config, &env).unwrap();
        assert_eq!(
            resolved,
            json!({"auth": "Bearer s3cr3t", "list": ["ada", 1], "plain": "x"})
        );
        assert_eq!(secrets, vec!["s3cr3t".to_string(), "ada".to_string()]);
    }

    #[test]
    fn a_missing_variable_names_the_path() {
        let error = resolve(&json!({"a": {"b": "${env:NOPE}"}}), &env).unwrap_err();
        assert_eq!(
            error,
            "config.a.b uses ${env:NOPE}, but the environment variable NOPE is not set"
        );
    }

    #[test]
    fn bad_references_are_errors() {
        assert!(
            resolve(&json!("${env:TOKEN"), &env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            resolve(&json!("${env:A-B}"), &env)
                .unwrap_err()
                .contains("invalid variable name")
        );
    }

    #[test]
    fn check_reports_every_reference_it_cannot_resolve_and_resolves_the_rest() {
        let config = json!({"a": "${env:TOKEN}", "b": ["${env:NOPE}"], "c": "${env:A-B}"});
        let (resolved, bad) = check(&config, &env);
        assert_eq!(
            resolved,
            json!({"a": "s3cr3t", "b": ["${env:NOPE}"], "c": "${env:A-B}"})
        );
        let found: Vec<(&str, bool)> = bad.iter().map(|b| (b.field.as_str(), b.unset)).collect();
        assert_eq!(found, vec![("config.b[0]", true), ("config.c", false)]);
        assert_eq!(
            bad[0].message,
            "config.b[0] uses ${env:NOPE}, but the environment variable NOPE is not set"
        );
    }
}
