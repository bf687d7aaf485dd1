//! Resource versions (RFC 7644 §3.14): the `If-Match` and `If-None-Match`
//! conditions a client sends, compared with a resource's `meta.version`.
//! Versions are weak entity tags, so comparison is weak (RFC 7232 §2.3.2):
//! `W/"x"` and `"x"` match.

use super::error::ScimError;

/// The entity tags of one `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCondition {
    /// `*`: any current version.
    Any,
    /// The opaque parts of the listed tags.
    OneOf(Vec<String>),
}

impl VersionCondition {
    /// Reads a header value: `*` or a comma-separated list of entity tags.
    /// A bare, unquoted version is accepted too, as some clients send
    /// `meta.version` without its quotes.
    pub fn parse(header: &str) -> Result<VersionCondition, ScimError> {
        let text = header.trim();
        if text == "*" {
            return Ok(VersionCondition::Any);
        }
        let mut tags = Vec::new();
        let mut rest = text;
        loop {
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
            if rest.is_empty() {
                break;
            }
            let unweak = rest.strip_prefix("W/").unwrap_or(rest);
            let (tag, after) = match unweak.strip_prefix('"') {
                Some(quoted) => {
                    let (tag, after) = quoted.split_once('"').ok_or_else(|| malformed(header))?;
                    // A tag ends at its closing quote: only a comma may follow.
                    let next = after.trim_start();
                    if !next.is_empty() && !next.starts_with(',') {
                        return Err(malformed(header));
                    }
                    (tag, after)
                }
                None => unweak.split_once(',').unwrap_or((unweak, "")),
            };
            let tag = tag.trim();
            // `*` stands alone (RFC 9110 §13.1.1): in a list it is no tag.
            if tag.is_empty() || (tag == "*" && !unweak.starts_with('"')) {
                return Err(malformed(header));
            }
            tags.push(tag.to_string());
            rest = after;
        }
        if tags.is_empty() {
            return Err(malformed(header));
        }
        Ok(VersionCondition::OneOf(tags))
    }

    /// Whether the resource's current `version` satisfies the condition.
    pub fn matches(&self, version: &str) -> bool {
        match self {
            VersionCondition::Any => true,
            VersionCondition::OneOf(tags) => {
                let current = opaque(version);
                tags.iter().any(|t| t == current)
            }
        }
    }
}

/// `If-Match` (RFC 7644 §3.14) of a write to the `kind` (`user`, `group`)
/// `id`, whose version is `current`: a write based on an older version is
/// refused with 412 before anything is written. No condition passes.
pub fn require_match(
    if_match: Option<&VersionCondition>,
    kind: &str,
    id: &str,
    current: &str,
) -> Result<(), ScimError> {
    match if_match {
        Some(condition) if !condition.matches(current) => Err(ScimError::precondition_failed(format!(
            "The {kind} {id} has changed since the version named in If-Match; its current version is {current}. Read it again and retry."
        ))),
        _ => Ok(()),
    }
}

/// The opaque part of an entity tag: `W/"abc"` → `abc`.
fn opaque(tag: &str) -> &str {
    let tag = tag.trim();
    let tag = tag.strip_prefix("W/").unwrap_or(tag);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

fn malformed(header: &str) -> ScimError {
    ScimError::bad_request(format!(
        "the version condition '{header}' is not an entity tag list such as W/\"1700000000-ab12\" or *"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = r#"W/"1700000000-ab12""#;

    #[test]
    fn weak_and_strong_spellings_of_the_same_tag_match() {
        for header in [
            r#"W/"1700000000-ab12""#,
            r#""1700000000-ab12""#,
            "1700000000-ab12",
        ] {
            let condition = VersionCondition::parse(header).unwrap();
            assert!(condition.matches(VERSION), "{header}");
        }
    }

    #[test]
    fn any_tag_of_a_list_may_match_and_a_star_matches_every_version() {
        let list = VersionCondition::parse(r#"W/"old", W/"1700000000-ab12""#).unwrap();
        assert!(list.matches(VERSION));
        assert!(!VersionCondition::parse(r#"W/"old""#)
            .unwrap()
            .matches(VERSION));
        assert!(VersionCondition::parse(" * ").unwrap().matches(VERSION));
    }

    #[test]
    fn quoted_tags_may_hold_commas() {
        let condition = VersionCondition::parse(r#""a,b", "c""#).unwrap();
        assert_eq!(
            condition,
            VersionCondition::OneOf(vec!["a,b".into(), "c".into()])
        );
    }

    #[test]
    fn a_stale_if_match_is_412_naming_the_current_version() {
        let stale = VersionCondition::parse(r#"W/"old""#).unwrap();
        let e = require_match(Some(&stale), "group", "g1", VERSION).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(e.detail.contains("group g1"), "{}", e.detail);
        assert!(e.detail.contains(VERSION), "{}", e.detail);
        let current = VersionCondition::parse(VERSION).unwrap();
        assert!(require_match(Some(&current), "group", "g1", VERSION).is_ok());
        assert!(require_match(Some(&VersionCondition::Any), "group", "g1", VERSION).is_ok());
        assert!(require_match(None, "group", "g1", VERSION).is_ok());
    }

    #[test]
    fn empty_or_unterminated_tags_are_bad_requests() {
        for header in [
            "",
            r#"W/"abc"#,
            r#""""#,
            " , ",
            r#"W/"x", *"#,
            r#"*, "x""#,
            r#""a"b"#,
        ] {
            let e = VersionCondition::parse(header).unwrap_err();
            assert_eq!(e.status, 400, "{header}");
        }
    }
}
