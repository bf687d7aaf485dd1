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

/// What a value left out of an error detail or a log field reads as.
pub const ELIDED: &str = "…";

/// `text` (a filter or a path) with the content of each of its string
/// literals, `"…"` with `\"` escapes, left out; an unclosed one is left
/// out to the end. For texts that may compare a secret (`password eq
/// "…"`), which no detail or log line may repeat.
pub fn without_literals(text: &str) -> Cow<'_, str> {
    if !text.contains('"') {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        shown.push(c);
        if c != '"' {
            continue;
        }
        shown.push_str(ELIDED);
        let mut escaped = false;
        for inner in chars.by_ref() {
            match (escaped, inner) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    shown.push('"');
                    break;
                }
                _ => escaped = false,
            }
        }
    }
    Cow::Owned(shown)
}

/// [`without_literals`] when `text` names one of `secrets` (attribute
/// names, compared ignoring case), else `text` as it is.
pub fn without_secret_literals<'t, 's>(
    text: &'t str,
    secrets: impl IntoIterator<Item = &'s str>,
) -> Cow<'t, str> {
    if !text.contains('"') {
        return Cow::Borrowed(text);
    }
    let lower = text.to_lowercase();
    match secrets
        .into_iter()
        .any(|name| !name.is_empty() && lower.contains(&name.to_lowercase()))
    {
        true => without_literals(text),
        false => Cow::Borrowed(text),
    }
}

/// Whether `c` is not what a reader sees where it stands: C0 and C1
/// controls (newlines, NUL, escape sequences) and DEL; the line and
/// paragraph separators; every format character (Unicode's category Cf:
/// the bidirectional marks, embeddings, overrides and isolates, the
/// Arabic letter mark, zero-width characters, the soft hyphen, the word
/// joiner, tags); and the other default-ignorable code points (variation
/// selectors, Hangul fillers, the combining grapheme joiner), with the
/// Braille blank. Such a character lets one text pass for another, or
/// reorders what follows it.
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `c` must not reach a log raw: whatever [`is_invisible`] names,
/// so that a log line shows every character a client hid in a value.
fn is_unsafe(c: char) -> bool {
    is_invisible(c)
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
    match escape_invisible(body) {
        Cow::Borrowed(_) => Cow::Borrowed(line),
        Cow::Owned(mut out) => {
            out.push_str(end);
            Cow::Owned(out)
        }
    }
}

/// `text` with every character [`is_invisible`] names written as `\n`,
/// `\r`, `\t` or `\uXXXX` (two, a surrogate pair, beyond U+FFFF): what a page or a log shows of a client's
/// value, so that nothing in it hides or reorders what a reader sees.
pub fn escape_invisible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Beyond the BMP (the tags) as JSON writes it: a surrogate
            // pair, so that a JSON record decodes to the same text.
            c if is_unsafe(c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn literals_are_left_out_escapes_and_unclosed_ones_too() {
        assert_eq!(without_literals("userName pr"), "userName pr");
        assert_eq!(
            without_literals(r#"password eq "s3cret" or x eq "a\"b""#),
            r#"password eq "…" or x eq "…""#
        );
        assert_eq!(
            without_literals(r#"password[value eq "op"#),
            r#"password[value eq "…"#
        );
        assert_eq!(
            without_secret_literals(r#"PassWord sw "x""#, ["password"]),
            r#"PassWord sw "…""#
        );
        assert_eq!(
            without_secret_literals(r#"userName eq "x""#, ["password"]),
            r#"userName eq "x""#
        );
    }

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
    fn every_invisible_character_is_escaped_in_a_record() {
        for hidden in [
            '\u{061C}',
            '\u{00AD}',
            '\u{180E}',
            '\u{034F}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{3164}',
            '\u{2800}',
            '\u{2060}',
            '\u{200B}',
            '\u{FEFF}',
        ] {
            let record = format!("group=Sales{hidden}\n");
            let escaped = escape_line(&record);
            assert!(!escaped.contains(hidden), "{hidden:?} in {escaped}");
            let mut units = [0u16; 2];
            let written: String = hidden
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("\\u{u:04x}"))
                .collect();
            assert!(escaped.contains(&written), "{escaped}");
        }
        for seen in ['é', 'ß', 'Ж', '中', '😀', ' ', '\u{00A0}'] {
            assert!(!is_invisible(seen), "{seen:?}");
        }
    }

    #[test]
    fn an_escaped_json_record_is_valid_json_with_the_same_text() {
        let value = "x\u{202e}y\u{7f}z\u{2028}t\u{E0041}";
        let record = format!("{}\n", serde_json::json!({ "member": value }));
        let escaped = escape_line(&record);
        assert!(!escaped.contains('\u{202e}'));
        assert!(escaped.contains("t\\udb40\\udc41"), "{escaped}");
        let parsed: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(parsed["member"], value);
    }

    #[test]
    fn plain_records_are_not_copied() {
        assert!(matches!(escape_line("plain record\n"), Cow::Borrowed(_)));
    }
}
