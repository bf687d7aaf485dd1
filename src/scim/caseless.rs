//! How the bridge compares text that SCIM says is not case-exact (RFC 7643
//! §2.2: `displayName`, a group's name in the mapping): ignoring case in
//! every script, not in ASCII only, so that "ÉQUIPE" is the group "Équipe"
//! wherever names meet: filters, uniqueness, the mapping's group entries,
//! role-backed groups.
//!
//! Case is Unicode's lower case (`str::to_lowercase`), not full case
//! folding: "Straße" and "STRASSE" stay two names. Two spellings of one
//! text in Unicode (a precomposed "É", or "E" and a combining accent) are
//! one name: the comparison is of normalization form C.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// The form two names compare in.
pub fn fold(text: &str) -> String {
    nfc(text).to_lowercase()
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
    [text.to_string(), fold(text), text.to_uppercase()].into()
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
        assert!(!same("Straße", "STRASSE"), "lower case, not full folding");
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
