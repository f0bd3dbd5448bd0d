//! Text from outside (a node's log lines, failure messages and describe()
//! fields, workflow names, file names) shown on a terminal: the characters that
//! would act on the terminal instead of printing (escape sequences that move the
//! cursor, set the window title or hide text; bidirectional controls that reorder
//! what a reader sees; zero-width characters that hide a difference) are shown as
//! escapes. The CLI prints every such string through [`escape`] (via
//! `cli::output`), the daemon its stderr lines, and thread ids refuse these
//! characters outright (`savepoint_runtime::check_thread_id`).

use std::borrow::Cow;
use std::fmt::Write;

/// What kind of character `c` is when it must not reach a terminal raw, or `None`
/// for a character that prints as itself.
pub fn hazard(c: char) -> Option<&'static str> {
    match c {
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some("a bidirectional control character"),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some("a zero-width character"),
        '\u{2028}' | '\u{2029}' => Some("a line separator"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    }
}

/// How [`escape`] writes a hazardous character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Free text on one line: every hazard (`\n` and `\t` too) as `\u{1b}`.
    Line,
    /// Free text that may span lines: as [`Style::Line`], but `\n` and `\t` kept.
    Lines,
    /// JSON text (as serde_json writes it): hazards as JSON escapes (`\u001b`),
    /// so the text stays valid JSON with the same value; `\n` kept (serde_json
    /// only writes it raw between values, in pretty output).
    Json,
}

/// `text` with every hazardous character escaped as `style` says; borrowed when
/// there is nothing to escape.
pub fn escape(text: &str, style: Style) -> Cow<'_, str> {
    let keep = |c: char| match style {
        Style::Line => false,
        Style::Lines => c == '\n' || c == '\t',
        Style::Json => c == '\n',
    };
    let needs = |c: char| hazard(c).is_some() && !keep(c);
    let Some(first) = text.find(needs) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !needs(c) {
            out.push(c);
        } else if style == Style::Json {
            // Every hazard is in the Basic Multilingual Plane: one \uXXXX each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape("héllo wörld ✓", Style::Line),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escapes_terminal_sequences() {
        let osc = "\u{1b}]0;pwned\u{7}title \u{1b}[2J\u{9b}31m";
        assert_eq!(
            escape(osc, Style::Line),
            "\\u{1b}]0;pwned\\u{7}title \\u{1b}[2J\\u{9b}31m"
        );
        assert_eq!(
            escape("a\r\nb\tc\u{7f}", Style::Line),
            "a\\u{d}\\u{a}b\\u{9}c\\u{7f}"
        );
        assert_eq!(escape("a\r\nb\tc", Style::Lines), "a\\u{d}\nb\tc");
    }

    #[test]
    fn escapes_bidi_and_zero_width() {
        assert_eq!(
            escape(
                "safe\u{202e}txt.exe\u{200b}\u{2066}\u{feff}\u{61c}",
                Style::Line
            ),
            "safe\\u{202e}txt.exe\\u{200b}\\u{2066}\\u{feff}\\u{61c}"
        );
        assert_eq!(
            hazard('\u{2069}'),
            Some("a bidirectional control character")
        );
        assert_eq!(hazard('\u{2060}'), Some("a zero-width character"));
        assert_eq!(hazard('a'), None);
        assert_eq!(hazard('é'), None);
    }

    #[test]
    fn json_stays_json_with_the_same_value() {
        let value = serde_json::json!({"m": "\u{1b}[31mred\u{9b}\u{202e}\u{7f}", "n": [1]});
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let safe = escape(&pretty, Style::Json);
        assert!(
            !safe.chars().any(|c| hazard(c).is_some() && c != '\n'),
            "{safe}"
        );
        assert!(safe.contains('\n'), "pretty layout kept: {safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }
}
