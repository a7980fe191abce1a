//! Making untrusted text safe and short for a terminal, and formatting times and counts.

use jiff::{SignedDuration, Timestamp};
use minimalagent::TokenUsage;

/// Replaces control characters (escape sequences above all: a tool result must not be able to
/// move the cursor, retitle the terminal or hide text) with visible escapes. Newlines and tabs
/// are kept when `multiline`, else shown as `\n` and `\t`.
pub(crate) fn sanitize(text: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if multiline => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// Bidirectional-text controls, which can make text read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `text` cut to `limit` characters (when given), saying how much was left out.
pub(crate) fn shorten(text: &str, limit: Option<usize>) -> String {
    let Some(limit) = limit else {
        return text.to_owned();
    };
    let total = text.chars().count();
    if total <= limit {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push_str(&format!(
        " … ({} more characters; --full shows all)",
        total - limit
    ));
    cut
}

/// `text` cut to `limit` characters (when given), ending with `…` when cut: for table cells,
/// where a note would not fit.
pub(crate) fn clip(text: &str, limit: Option<usize>) -> String {
    match limit {
        Some(limit) if text.chars().count() > limit => {
            let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => text.to_owned(),
    }
}

/// One line: newlines and other controls escaped (for error messages and single-line fields).
pub(crate) fn one_line(text: &str) -> String {
    sanitize(text.trim(), false)
}

/// A timestamp as `2026-05-01 10:00:00Z` (UTC, to the second).
pub(crate) fn timestamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// A duration as `350 ms`, `1.24 s` or `3 min 05 s`.
pub(crate) fn duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", ms as f64 / 1_000.0)
    } else {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1_000)
    }
}

/// The time between two timestamps in milliseconds (0 when `end` is before `start`).
pub(crate) fn millis_between(start: Timestamp, end: Timestamp) -> u64 {
    let elapsed: SignedDuration = end.duration_since(start);
    u64::try_from(elapsed.as_millis()).unwrap_or(0)
}

/// Token usage as `120 in / 45 out`, with the prompt cache's reads and writes when there were any.
pub(crate) fn usage(usage: &TokenUsage) -> String {
    let mut out = format!("{} in / {} out", usage.input_tokens, usage.output_tokens);
    if usage.cache_read_input_tokens > 0 {
        out.push_str(&format!(" / {} cache read", usage.cache_read_input_tokens));
    }
    if usage.cache_write_input_tokens > 0 {
        out.push_str(&format!(
            " / {} cache write",
            usage.cache_write_input_tokens
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            sanitize("a\u{1b}[31mred\u{7}\nb", true),
            "a\\u{1b}[31mred\\u{7}\nb"
        );
        assert_eq!(sanitize("x\ny\u{202e}", false), "x\\ny\\u{202e}");
        assert_eq!(one_line("  two\nlines "), "two\\nlines");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        assert_eq!(
            shorten("abcdef", Some(3)),
            "abc … (3 more characters; --full shows all)"
        );
        assert_eq!(shorten("abc", Some(3)), "abc");
        assert_eq!(shorten("abcdef", None), "abcdef");
        assert_eq!(clip("abcdef", Some(4)), "abc…");
        assert_eq!(clip("abcd", Some(4)), "abcd");
        assert_eq!(clip("abcdef", None), "abcdef");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_ms(350), "350 ms");
        assert_eq!(duration_ms(1_240), "1.24 s");
        assert_eq!(duration_ms(185_000), "3 min 05 s");
    }
}
