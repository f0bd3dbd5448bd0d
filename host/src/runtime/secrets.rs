//! Secrets in node configs: a string value `${env:NAME}` (or one that contains
//! it) is replaced by the host's environment variable NAME when the node is
//! called. The resolved values are never stored: configs are not part of
//! checkpoints, and everything the node returns or writes but its state
//! (failure messages, goto targets, interrupt payloads, log lines, stdout and
//! stderr) is redacted at the plugin boundary, in one place
//! ([`crate::plugin::Secrets`]), before the host keeps or prints it.

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

fn walk(
    value: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secrets: &mut Vec<String>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if text.contains("${env:") => {
            Value::String(substitute(text, path, env, secrets)?)
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
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else {
            return Err(format!("{path}: unterminated ${{env:...}} in {text:?}"));
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{path}: invalid variable name {name:?} in ${{env:{name}}}"
            ));
        }
        let value = env(name).ok_or_else(|| {
            format!("{path} uses ${{env:{name}}}, but the environment variable {name} is not set")
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
}
