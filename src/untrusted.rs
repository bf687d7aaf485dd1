//! Text that came from a client, shown to people: quoted short in error
//! details and log fields, and never able to break a log line.
//!
//! Two helpers, used by every layer that repeats what a client sent:
//! [`quote`] keeps a short prefix of an arbitrarily long value and says how
//! long it was; [`escape_line`] makes one formatted log record stay one line
//! whatever its fields hold (the log writer applies it to every record, in
//! every format, so no field can be forgotten).

use std::borrow::Cow;

/// Characters of a client's value an error detail or a log field repeats.
pub const QUOTED_CHARS: usize = 64;

/// `text` whole when it is short, else its first [`QUOTED_CHARS`]
/// characters marked as cut, with the length of the whole:
/// `nnnn… (70000 characters)`.
pub fn quote(text: &str) -> Cow<'_, str> {
    cut(text, QUOTED_CHARS)
}

/// Like [`quote`], keeping up to `max` characters.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    // No more bytes than `max`, so no more characters: nothing to count.
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} characters)",
            &text[..end],
            text.chars().count()
        )),
    }
}

/// Whether `c` must not reach a log raw: C0 and C1 controls (newlines, NUL,
/// escape sequences), DEL, the Unicode line and paragraph separators, and
/// the bidirectional controls that reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// One formatted log record with every unsafe character escaped, except
/// the newline that ends it. Escapes are `\n`, `\r`, `\t` and `\uXXXX`,
/// which are also valid inside a JSON string: a JSON record stays valid JSON
/// and decodes to the same text.
pub fn escape_line(line: &str) -> Cow<'_, str> {
    let (body, end) = match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    };
    if !body.chars().any(is_unsafe) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str(end);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole_and_long_text_cut_with_its_length() {
        assert_eq!(quote("bob"), "bob");
        assert_eq!(quote(&"a".repeat(64)), "a".repeat(64));
        let long = "é".repeat(70_000);
        let quoted = quote(&long);
        assert!(quoted.starts_with(&"é".repeat(64)));
        assert!(quoted.ends_with("… (70000 characters)"), "{quoted}");
        assert!(quoted.chars().count() < 100);
    }

    #[test]
    fn text_is_cut_by_characters_not_bytes() {
        assert!(matches!(cut("abc", 3), Cow::Borrowed("abc")));
        assert!(matches!(cut("ééé", 3), Cow::Borrowed("ééé")));
        assert_eq!(cut("abcd", 3), "abc… (4 characters)");
        assert_eq!(cut("éééé", 3), "ééé… (4 characters)");
    }

    #[test]
    fn a_record_stays_one_line_whatever_its_fields_hold() {
        let forged = "member=x\n2026-01-01T00:00:00Z ERROR forged\r\0\x7f\u{202e}\u{2066}\u{2028}\u{85} end\n";
        let escaped = escape_line(forged);
        assert_eq!(escaped.matches('\n').count(), 1);
        assert!(escaped.ends_with(" end\n"));
        assert!(escaped.contains("x\\n2026"));
        for raw in [
            '\r', '\0', '\x7f', '\u{202e}', '\u{2066}', '\u{2028}', '\u{85}',
        ] {
            assert!(!escaped.contains(raw), "{raw:?} in {escaped}");
        }
        assert!(escaped.contains("\\u0000") && escaped.contains("\\u202e"));
    }

    #[test]
    fn an_escaped_json_record_is_valid_json_with_the_same_text() {
        let value = "x\u{202e}y\u{7f}z\u{2028}";
        let record = format!("{}\n", serde_json::json!({ "member": value }));
        let escaped = escape_line(&record);
        assert!(!escaped.contains('\u{202e}'));
        let parsed: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(parsed["member"], value);
    }

    #[test]
    fn plain_records_are_not_copied() {
        assert!(matches!(escape_line("plain record\n"), Cow::Borrowed(_)));
    }
}
