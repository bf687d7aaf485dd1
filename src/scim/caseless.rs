//! How the bridge compares text that SCIM says is not case-exact (RFC 7643
//! §2.2: `displayName`, a group's name in the mapping): ignoring case in
//! every script, not in ASCII only, so that "ÉQUIPE" is the group "Équipe"
//! wherever names meet: filters, uniqueness, the mapping's group entries,
//! role-backed groups.
//!
//! Case is folded letter by letter, as the lower case of the letter's
//! upper case: Unicode's simple case folding. Lower case alone is not
//! enough: it keeps the Greek final sigma apart ("ΟΔΟΣ1" lowers to
//! "οδος1", "οδοσ1" stays as it is; both upper to "ΟΔΟΣ1"), and the other
//! letters with two lower forms ("ϐ" and "β", "µ" and "μ"). Full folding
//! (CaseFolding.txt's F entries) would also make "Straße" the name
//! "STRASSE": then an ASCII name would equal names holding other letters,
//! which the exact, ASCII-only comparison a database makes of an ASCII
//! name (`=`, see `Condition::ignoring_case`) cannot find, and a check of
//! uniqueness would miss them. For the same reason a letter whose folding
//! is ASCII though it is not (the long "ſ", the dotless "ı") keeps its
//! lower case. This is the standard library's Unicode, updated with each
//! Rust release: no crate is needed for it.
//! Two spellings of one text in Unicode (a precomposed "É", or "E" and a
//! combining accent) are one name: the comparison is of normalization
//! form C.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The form two names compare in.
pub fn fold(text: &str) -> String {
    let text = nfc(text);
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut folded = String::with_capacity(text.len());
    for c in text.chars() {
        let mut upper = c.to_uppercase();
        let simple = match (upper.next(), upper.next()) {
            (Some(u), None) => {
                let mut lower = u.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) if !l.is_ascii() || c.is_ascii() => Some(l),
                    _ => None,
                }
            }
            _ => None,
        };
        match simple {
            Some(l) => folded.push(l),
            None => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// `text` in Unicode normalization form C, borrowed when it already is.
pub fn nfc(text: &str) -> std::borrow::Cow<'_, str> {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(text),
        _ => std::borrow::Cow::Owned(text.nfc().collect()),
    }
}

/// `text` in normalization forms C and D: the spellings of one name a
/// database compares byte by byte.
pub fn compositions(text: &str) -> std::collections::BTreeSet<String> {
    [nfc(text).into_owned(), text.nfd().collect()].into()
}

/// `text` as written, lower-cased and upper-cased: the spellings to ask a
/// database for when its collation ignores case in ASCII only (SQLite),
/// so that the usual spellings of a name are found; the caller then
/// compares with [`same`].
pub fn spellings(text: &str) -> std::collections::BTreeSet<String> {
    [
        text.to_string(),
        text.to_lowercase(),
        fold(text),
        text.to_uppercase(),
    ]
    .into()
}

/// Whether `a` and `b` are the same ignoring case.
pub fn same(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    fold(a) == fold(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_is_ignored_in_every_script_and_nothing_more() {
        assert!(same("Équipe", "ÉQUIPE"));
        assert!(same("Ärzte", "ärzte"));
        assert!(same("ΣΟΦΙΑ", "σοφια"));
        assert!(same("Sales", "SALES"));
        assert!(!same("Café", "Cafe"), "accents are not case");
        assert!(!same("Straße", "STRASSE"), "simple case folding, not full");
        assert!(same("Straße", "STRAẞE"));
        assert!(!same("ſtop", "stop"), "never folded into ASCII");
        assert!(!same("ılık", "ilik"));
        assert!(same("µs", "ΜS"));
        assert!(same("ΟΔΟΣ1", "οδοσ1"), "the final sigma is a sigma");
        assert!(same("οδος1", "οδοσ1"));
        assert!(same("ΟΔΟΣx", "οδοςx"));
        assert!(!same("ab", "a\u{301}b"));
        assert!(same("E\u{301}quipe", "équipe"), "one text in two spellings");
        assert!(same("Jose\u{301}", "JOSÉ"));
        assert_eq!(
            compositions("E\u{301}quipe"),
            ["Équipe", "E\u{301}quipe"].map(String::from).into()
        );
        assert_eq!(
            spellings("Équipe"),
            ["Équipe", "ÉQUIPE", "équipe"].map(String::from).into()
        );
    }

    proptest! {
        #[test]
        fn same_is_equality_of_the_folded_forms(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            prop_assert_eq!(same(&a, &b), fold(&a) == fold(&b));
            prop_assert_eq!(same(&a, &a.to_uppercase()), fold(&a) == fold(&a.to_uppercase()));
        }
    }
}
