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
/// the host never stores or prints. Each secret is looked for as written,
/// JSON-escaped (`serde_json`, `JSON.stringify`, and `json.dumps` with its
/// `\uXXXX` escapes) and Rust-`Debug`-escaped, whole or cut off (see
/// [`Secrets::redact`]). Longest first, so that a secret that contains
/// another is redacted whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<Pattern>);

/// One form of a secret, and the shortest piece of it that is redacted when
/// the text is cut off: [`MIN_PIECE`] characters, or half the secret
/// (rounded up) when that is shorter.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    /// Byte length of the shortest prefix redacted at a cut.
    min_prefix: usize,
    /// Byte offset of the shortest suffix redacted after a cut.
    min_suffix: usize,
}

/// Characters of a secret that, at the end of a cut-off text or right after
/// one, are redacted as the piece of a secret they may be.
pub const MIN_PIECE: usize = 4;

/// What marks where a text was cut: an ellipsis, as `...` or `…` (the host's
/// own cut marker starts with one).
const CUT_MARKS: [&str; 2] = ["...", "\u{2026}"];

impl Pattern {
    fn new(text: String) -> Pattern {
        let chars = text.chars().count();
        let min = MIN_PIECE.min(chars.div_ceil(2)).max(1);
        let min_prefix = text.char_indices().nth(min).map_or(text.len(), |(i, _)| i);
        let min_suffix = text.char_indices().nth(chars - min).map_or(0, |(i, _)| i);
        Pattern {
            text,
            min_prefix,
            min_suffix,
        }
    }
}

impl Secrets {
    /// The secrets among `values` (empty strings are not secrets).
    pub fn new(values: Vec<String>) -> Secrets {
        let mut forms: Vec<String> = Vec::new();
        for value in values.into_iter().filter(|s| !s.is_empty()) {
            let json = serde_json::to_string(&value).unwrap_or_default();
            let debug = format!("{value:?}");
            for quoted in [json, ascii_json(&value), debug] {
                forms.push(quoted[1..quoted.len() - 1].to_string());
            }
            forms.push(value);
        }
        forms.retain(|s| !s.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Secrets(forms.into_iter().map(Pattern::new).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The longest secret's length in bytes, in any of its forms (0 without
    /// secrets): how far past a bound a text must be kept for a secret
    /// across the bound to be seen.
    pub fn longest(&self) -> usize {
        self.0.first().map_or(0, |p| p.text.len())
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed (no copy)
    /// when there is nothing to replace. A secret is replaced whole, in any
    /// of its forms, and also when it is cut off: a piece of it (at least
    /// `MIN_PIECE` characters, or half of it) that begins the secret and
    /// ends the text or comes right before an ellipsis (`...`, `…`, the
    /// host's cut marker), or that ends the secret and begins the text or
    /// comes right after an ellipsis.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut text = Cow::Borrowed(text);
        for secret in &self.0 {
            if text.contains(secret.text.as_str()) {
                text = Cow::Owned(text.replace(secret.text.as_str(), REDACTED));
            }
        }
        match self.cut_pieces(&text) {
            None => text,
            Some(redacted) => Cow::Owned(redacted),
        }
    }

    /// [`Secrets::redact`] of an owned text: the same text, not a copy, when
    /// it holds no secret.
    pub fn redact_owned(&self, text: String) -> String {
        let redacted = match self.redact(&text) {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        };
        redacted.unwrap_or(text)
    }

    /// `text` with the cut-off pieces of secrets redacted, if it has any.
    fn cut_pieces(&self, text: &str) -> Option<String> {
        let ends_cut = |at: usize| {
            text.is_char_boundary(at)
                && (at == text.len() || CUT_MARKS.iter().any(|m| text[at..].starts_with(m)))
        };
        let starts_cut = |at: usize| {
            text.is_char_boundary(at)
                && (at == 0 || CUT_MARKS.iter().any(|m| text[..at].ends_with(m)))
        };
        let mut pieces: Vec<(usize, usize)> = Vec::new();
        for secret in &self.0 {
            let form = secret.text.as_str();
            // A prefix: starts where the secret's first characters do, and
            // ends at a cut, as far along the secret as the text follows it.
            for (start, _) in text.match_indices(&form[..secret.min_prefix]) {
                let same = common_prefix(&text[start..], form);
                if let Some(len) = (secret.min_prefix..=same)
                    .rev()
                    .find(|&len| ends_cut(start + len))
                {
                    pieces.push((start, start + len));
                }
            }
            // A suffix: ends where the secret's last characters do, and
            // starts at a cut.
            let tail = &form[secret.min_suffix..];
            for (at, _) in text.match_indices(tail) {
                let end = at + tail.len();
                let same = common_suffix(&text[..end], form);
                if let Some(len) = (tail.len()..=same).rev().find(|&len| starts_cut(end - len)) {
                    pieces.push((end - len, end));
                }
            }
        }
        if pieces.is_empty() {
            return None;
        }
        pieces.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut done = 0;
        for (start, end) in pieces {
            if end <= done {
                continue;
            }
            if start >= done {
                out.push_str(&text[done..start]);
                out.push_str(REDACTED);
            }
            done = end;
        }
        out.push_str(&text[done..]);
        Some(out)
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

/// `value` as `json.dumps` writes it by default: JSON with every character
/// past ASCII as `\uXXXX` (a surrogate pair past the BMP).
fn ascii_json(value: &str) -> String {
    let mut out = String::new();
    for c in serde_json::to_string(value).unwrap_or_default().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Bytes that `a` and `b` begin with alike, at a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut len = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(len) {
        len -= 1;
    }
    len
}

/// Bytes that `a` and `b` end with alike, at a character boundary.
fn common_suffix(a: &str, b: &str) -> usize {
    let mut len = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take_while(|(x, y)| x == y)
        .count();
    while !a.is_char_boundary(a.len() - len) {
        len -= 1;
    }
    len
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
    text.push_str(&cut_marker(total));
}

/// The marker of a cut text of `total` bytes in all.
pub fn cut_marker(total: usize) -> String {
    format!("… [cut: {total} bytes in all]")
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
    fn escaped_forms_of_a_secret_are_redacted() {
        let secrets = Secrets::new(vec![r#"pa"ss\wo/rdQ"#.into(), "pässwörd1".into()]);
        for (text, kept) in [
            // Rust `{:?}` and JSON (the same escapes here).
            (
                r#"Config { p: "pa\"ss\\wo/rdQ" }"#,
                r#"Config { p: "[redacted]" }"#,
            ),
            (r#"{"p":"pa\"ss\\wo/rdQ"}"#, r#"{"p":"[redacted]"}"#),
            (r#"as written: pa"ss\wo/rdQ."#, "as written: [redacted]."),
            // `json.dumps` writes non-ASCII as `\uXXXX`.
            (r#"{"p": "p\u00e4ssw\u00f6rd1"}"#, r#"{"p": "[redacted]"}"#),
            ("pässwörd1", "[redacted]"),
        ] {
            assert_eq!(secrets.redact(text), kept, "{text}");
        }
    }

    #[test]
    fn a_cut_off_secret_is_redacted_at_the_cut() {
        let secrets = Secrets::new(vec!["Zq9SECRETvalue77".into(), "abcdef".into()]);
        for (text, kept) in [
            // The Rust SDK's old config excerpt: a prefix before `...`.
            (
                r#"config {"a":"aaa","b":"Zq9SECRE... (220 bytes): invalid type"#,
                r#"config {"a":"aaa","b":"[redacted]... (220 bytes): invalid type"#,
            ),
            // A prefix at the end, before the host's cut marker, escaped.
            ("the token Zq9S", "the token [redacted]"),
            (
                "x Zq9SECRETval… [cut: 9 bytes in all]",
                "x [redacted]… [cut: 9 bytes in all]",
            ),
            // A suffix at the start, or after an ellipsis.
            ("value77 and on", "[redacted] and on"),
            ("...ETvalue77\"}", "...[redacted]\"}"),
            // Half of a short secret.
            ("x abc", "x [redacted]"),
            ("def y", "[redacted] y"),
        ] {
            assert_eq!(secrets.redact(text), kept, "{text}");
        }
        for text in [
            // Too short a piece, or not at a cut.
            "the token Zq9",
            "x ab",
            "ef y",
            "Zq9SECRE and on",
            "a value77",
            "née…",
        ] {
            assert!(matches!(secrets.redact(text), Cow::Borrowed(_)), "{text}");
        }
        assert!(matches!(
            Secrets::default().redact("x Zq9S"),
            Cow::Borrowed(_)
        ));
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
