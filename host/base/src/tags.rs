//! Run tags: `key=value` labels given when a run is created (`--tag`, `"tags"` of
//! `POST /runs`) and filtered on in listings (`runs --tag`, `GET /runs?tag=`). One
//! parser and one set of limits, so that the CLI and the API accept and refuse the same
//! tags with the same words, and a tag that can be given can also be searched for.

use std::collections::BTreeMap;

/// The longest tag key, in bytes.
pub const MAX_KEY: usize = 64;
/// The longest tag value, in bytes.
pub const MAX_VALUE: usize = 256;
/// The most tags one run carries: tags are for finding runs, not for storing data (the
/// state is for that), and each one is a row of the search index.
pub const MAX_TAGS: usize = 32;

/// What is wrong with a tag; the caller names the flag or field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("{0:?} is not key=value (e.g. customer=acme)")]
    NoEquals(String),
    #[error(
        "tag key {0:?} is not valid: use 1 to {MAX_KEY} letters, digits, '_', '-', '.', ':' or '/'"
    )]
    Key(String),
    #[error(
        "tag value {0:?} is not valid: use 1 to {MAX_VALUE} bytes of text without control characters"
    )]
    Value(String),
    #[error("tag key {0:?} is given more than once (a run has one value per key)")]
    Repeated(String),
    #[error("{0} tags are more than the {MAX_TAGS} a run may carry")]
    TooMany(usize),
}

/// Checks a key: ASCII letters, digits and `_-.:/`, 1 to [`MAX_KEY`] bytes.
pub fn check_key(key: &str) -> Result<(), TagError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:/".contains(c);
    if key.is_empty() || key.len() > MAX_KEY || !key.chars().all(allowed) {
        return Err(TagError::Key(key.to_string()));
    }
    Ok(())
}

/// Checks a value: 1 to [`MAX_VALUE`] bytes, no control characters (it is shown in
/// tables and on terminals).
pub fn check_value(value: &str) -> Result<(), TagError> {
    if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
        return Err(TagError::Value(value.to_string()));
    }
    Ok(())
}

/// Parses `key=value` (split at the first `=`: a value may hold `=`).
pub fn parse_tag(text: &str) -> Result<(String, String), TagError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| TagError::NoEquals(text.to_string()))?;
    check_key(key)?;
    check_value(value)?;
    Ok((key.to_string(), value.to_string()))
}

/// The tags of a new run: each checked, no key twice, at most [`MAX_TAGS`].
pub fn tag_set(
    tags: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, TagError> {
    let mut set = BTreeMap::new();
    for (key, value) in tags {
        check_key(&key)?;
        check_value(&value)?;
        if set.contains_key(&key) {
            return Err(TagError::Repeated(key));
        }
        set.insert(key, value);
    }
    if set.len() > MAX_TAGS {
        return Err(TagError::TooMany(set.len()));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_splits_at_its_first_equals_sign() {
        assert_eq!(
            parse_tag("customer=acme"),
            Ok(("customer".into(), "acme".into()))
        );
        assert_eq!(
            parse_tag("query=a=b c"),
            Ok(("query".into(), "a=b c".into()))
        );
        assert_eq!(
            parse_tag("k8s.io/zone:eu-1=x"),
            Ok(("k8s.io/zone:eu-1".into(), "x".into()))
        );
    }

    #[test]
    fn malformed_tags_are_refused_with_what_is_wrong() {
        let cases = [
            ("customer", TagError::NoEquals("customer".into())),
            ("=acme", TagError::Key("".into())),
            ("cust omer=acme", TagError::Key("cust omer".into())),
            ("kunde\u{e4}=x", TagError::Key("kunde\u{e4}".into())),
            ("customer=", TagError::Value("".into())),
            ("customer=a\nb", TagError::Value("a\nb".into())),
        ];
        for (text, error) in cases {
            assert_eq!(parse_tag(text), Err(error), "{text:?}");
        }
        assert!(check_key(&"k".repeat(MAX_KEY)).is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY + 1)).is_err());
        assert!(check_value(&"v".repeat(MAX_VALUE)).is_ok());
        assert!(check_value(&"v".repeat(MAX_VALUE + 1)).is_err());
        assert_eq!(
            parse_tag("customer").unwrap_err().to_string(),
            "\"customer\" is not key=value (e.g. customer=acme)"
        );
    }

    #[test]
    fn a_run_has_one_value_per_key_and_a_bounded_number_of_tags() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            tag_set([pair("a", "1"), pair("a", "2")]),
            Err(TagError::Repeated("a".into()))
        );
        let many = (0..=MAX_TAGS).map(|i| pair(&format!("k{i}"), "v"));
        assert_eq!(tag_set(many), Err(TagError::TooMany(MAX_TAGS + 1)));
        let set = tag_set([pair("b", "2"), pair("a", "1")]).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [pair("a", "1"), pair("b", "2")]
        );
    }
}
