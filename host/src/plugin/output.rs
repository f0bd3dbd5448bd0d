//! What a guest hands the host, made safe to keep. Every string a node
//! returns or writes (failure messages, goto targets, interrupt payloads, log
//! lines, stdout and stderr, trap messages quoting stderr) passes through
//! here before the host stores, prints or repeats it: the node's secrets are
//! redacted first, then the text is cut to its bound. Redacting before cutting
//! means a cut never leaves the first half of a secret behind.

use std::borrow::Cow;

use serde_json::Value;

/// What a redacted secret is written as.
pub const REDACTED: &str = "[redacted]";

/// Bytes kept of a failure message, a goto target or a trap message: ample
/// for a sentence and a stack trace's last lines, and no node name is longer.
/// The rest is cut, with a marker that says how long the text was.
pub const MESSAGE_LIMIT: usize = 4 << 10;

/// The resolved values of a node's `${env:...}` config references, which
/// the host never stores or prints. Longest first, so that a secret that
/// contains another is redacted whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// The secrets among `values` (empty strings are not secrets).
    pub fn new(mut values: Vec<String>) -> Secrets {
        values.retain(|s| !s.is_empty());
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Secrets(values)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The longest secret's length in bytes (0 without secrets): how far past
    /// a bound a text must be kept for a secret across the bound to be seen.
    pub fn longest(&self) -> usize {
        self.0.first().map_or(0, String::len)
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed (no copy)
    /// when there is nothing to replace.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in &self.0 {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
            }
        }
        text
    }

    /// [`Secrets::redact`] of an owned text: the same text, not a copy, when
    /// it holds no secret.
    pub fn redact_owned(&self, text: String) -> String {
        if self.0.iter().any(|secret| text.contains(secret.as_str())) {
            self.redact(&text).into_owned()
        } else {
            text
        }
    }

    /// A JSON value with every secret redacted from its strings and keys; a
    /// number whose digits hold a secret becomes the string [`REDACTED`].
    pub fn redact_json(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(text) => Value::String(self.redact(&text).into_owned()),
            Value::Number(n) if self.redact(&n.to_string()) != n.to_string() => {
                Value::String(REDACTED.to_string())
            }
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.redact(&k).into_owned(), self.redact_json(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// A guest's message, goto target or trap message as the host keeps it:
/// redacted, then cut to [`MESSAGE_LIMIT`].
pub fn message(text: String, secrets: &Secrets) -> String {
    let total = text.len();
    cut(secrets.redact_owned(text), MESSAGE_LIMIT, total)
}

/// `text` cut to at most `limit` bytes (at a character boundary), followed
/// by `… [cut: <total> bytes in all]`, when it is longer; `total` is the
/// length of the text as the guest gave it (before redaction).
pub fn cut(mut text: String, limit: usize, total: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.shrink_to_fit();
    mark_cut(&mut text, total);
    text
}

/// Append the marker of a cut text of `total` bytes in all.
pub fn mark_cut(text: &mut String, total: usize) {
    text.push_str(&format!("… [cut: {total} bytes in all]"));
}

/// At most `max` characters of a guest's text, redacted and quoted, for an
/// error message about it (`"..."... (N bytes)` when longer). Reads only the
/// text's head, however long the text.
pub fn excerpt(text: &str, max: usize, secrets: &Secrets) -> String {
    // Enough of the head for `max` characters after redaction, and for a
    // secret that starts within them to be seen whole.
    let mut head_end = text.len().min(max * 4 + secrets.longest());
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let head = secrets.redact(&text[..head_end]);
    match head.char_indices().nth(max) {
        None if head_end == text.len() => format!("{head:?}"),
        None => format!("{head:?}... ({} bytes)", text.len()),
        Some((end, _)) => format!("{:?}... ({} bytes)", &head[..end], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secrets() -> Secrets {
        Secrets::new(vec!["s3cr3t".into(), String::new(), "s3cr3t-long".into()])
    }

    #[test]
    fn secrets_are_redacted_longest_first() {
        let secrets = secrets();
        assert_eq!(
            secrets.redact("a s3cr3t-long and a s3cr3t"),
            "a [redacted] and a [redacted]"
        );
        assert!(matches!(secrets.redact("nothing"), Cow::Borrowed(_)));
        assert!(Secrets::new(vec![String::new()]).is_empty());
    }

    #[test]
    fn json_strings_keys_and_numbers_are_redacted() {
        let secrets = Secrets::new(vec!["s3cr3t".into(), "4242".into()]);
        let value = json!({"s3cr3t": ["x s3cr3t y", 424242, 7, true], "n": null});
        assert_eq!(
            secrets.redact_json(value),
            json!({"[redacted]": ["x [redacted] y", "[redacted]", 7, true], "n": null})
        );
    }

    #[test]
    fn a_long_message_is_cut_with_a_marker_after_redaction() {
        let secrets = secrets();
        // A secret across the cut: redacted whole, not half kept.
        let text = format!("{}s3cr3t{}", "x".repeat(MESSAGE_LIMIT - 3), "y".repeat(100));
        let kept = message(text.clone(), &secrets);
        assert!(!kept.contains("s3c"), "{}", &kept[kept.len() - 60..]);
        assert!(
            kept.ends_with(&format!("x[re… [cut: {} bytes in all]", text.len())),
            "{}",
            &kept[kept.len() - 60..]
        );
        assert_eq!(message("short".into(), &secrets), "short");
        // A cut falls on a character boundary.
        let wide = "é".repeat(MESSAGE_LIMIT);
        let kept = message(wide, &Secrets::default());
        assert!(kept.starts_with(&"é".repeat(MESSAGE_LIMIT / 2)));
        assert!(kept.ends_with(&format!("… [cut: {} bytes in all]", 2 * MESSAGE_LIMIT)));
    }

    #[test]
    fn excerpts_read_the_head_only_and_redact_it() {
        let secrets = secrets();
        assert_eq!(excerpt("abc", 80, &secrets), "\"abc\"");
        let long = format!("{}s3cr3t{}", "a".repeat(78), "b".repeat(1000));
        assert_eq!(
            excerpt(&long, 80, &secrets),
            format!("\"{}[r\"... (1084 bytes)", "a".repeat(78))
        );
    }
}
