//! Resource versions (RFC 7644 §3.14): the `If-Match` and `If-None-Match`
//! conditions a client sends, compared with a resource's `meta.version`.
//! Versions are weak entity tags, so comparison is weak (RFC 7232 §2.3.2):
//! `W/"x"` and `"x"` match.

use super::error::ScimError;
use crate::untrusted::quote;

/// The entity tags of one `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCondition {
    /// `*`: any current version.
    Any,
    /// The opaque parts of the listed tags.
    OneOf(Vec<String>),
}

/// Where a version condition was read, as its errors name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConditionSource {
    #[default]
    IfMatch,
    IfNoneMatch,
    /// A bulk operation's `version` (RFC 7644 §3.7), its `If-Match`.
    BulkVersion,
}

impl ConditionSource {
    fn name(self) -> &'static str {
        match self {
            ConditionSource::IfMatch => "the If-Match header",
            ConditionSource::IfNoneMatch => "the If-None-Match header",
            ConditionSource::BulkVersion => "the operation's \"version\"",
        }
    }

    /// The condition as a 412 names it.
    fn short_name(self) -> &'static str {
        match self {
            ConditionSource::IfMatch => "If-Match",
            ConditionSource::IfNoneMatch => "If-None-Match",
            ConditionSource::BulkVersion => "the operation's \"version\"",
        }
    }
}

impl VersionCondition {
    /// Reads `*` or a comma-separated list of entity tags (RFC 9110
    /// §13.1.1): `[W/] DQUOTE *etagc DQUOTE` (RFC 7232 §2.3), so `""` is a
    /// tag (one no version matches) and a bare word is none. Empty list
    /// elements are skipped (RFC 9110 §5.6.1); `*` stands alone.
    pub fn parse(text: &str, source: ConditionSource) -> Result<VersionCondition, ScimError> {
        let malformed = || {
            ScimError::bad_request(format!(
                "{} ({}) is not an entity-tag list: send * or quoted tags such as W/\"1700000000-ab12\", as meta.version and the ETag header give them",
                source.name(),
                quote(text)
            ))
        };
        let list_space = |c: char| c == ' ' || c == '\t';
        let trimmed = text.trim_matches(list_space);
        if trimmed == "*" {
            return Ok(VersionCondition::Any);
        }
        let mut tags = Vec::new();
        let mut rest = trimmed;
        loop {
            rest = rest.trim_start_matches(|c: char| c == ',' || list_space(c));
            if rest.is_empty() {
                break;
            }
            let unweak = rest.strip_prefix("W/").unwrap_or(rest);
            let quoted = unweak.strip_prefix('"').ok_or_else(malformed)?;
            let end = quoted.find('"').ok_or_else(malformed)?;
            let tag = &quoted[..end];
            if !tag.bytes().all(is_etagc) {
                return Err(malformed());
            }
            // A tag ends at its closing quote: only a comma may follow.
            rest = quoted[end + 1..].trim_start_matches(list_space);
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(malformed());
            }
            tags.push(tag.to_string());
        }
        if tags.is_empty() {
            return Err(malformed());
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
/// refused with 412 before anything is written, naming where the condition
/// was read (`source`). No condition passes.
pub fn require_match(
    if_match: Option<&VersionCondition>,
    source: ConditionSource,
    kind: &str,
    id: &str,
    current: &str,
) -> Result<(), ScimError> {
    match if_match {
        Some(condition) if !condition.matches(current) => Err(ScimError::precondition_failed(format!(
            "The {kind} {id} has changed since the version named in {}; its current version is {current}. Read it again and retry.",
            source.short_name()
        ))),
        _ => Ok(()),
    }
}

/// `If-None-Match` of a write (RFC 7232 §3.2): `*` asks for the write only
/// where no `kind` `id` exists, a list only where its current version is
/// none of those listed. The resource exists (its version is `current`);
/// when the condition fails, the write is refused with 412 before anything
/// is written. No condition passes.
pub fn require_none_match(
    if_none_match: Option<&VersionCondition>,
    kind: &str,
    id: &str,
    current: &str,
) -> Result<(), ScimError> {
    match if_none_match {
        Some(VersionCondition::Any) => Err(ScimError::precondition_failed(format!(
            "The {kind} {id} exists, and If-None-Match: * asks for this write only where none does. Nothing was changed; send it without If-None-Match to change the {kind}."
        ))),
        Some(condition) if condition.matches(current) => Err(ScimError::precondition_failed(format!(
            "The {kind} {id} is still at the version {current}, which If-None-Match lists: the write was asked for only once it has changed from those. Nothing was changed; read it again and send the write without that version to make it."
        ))),
        _ => Ok(()),
    }
}

/// The version conditions of a write: its `If-Match` and `If-None-Match`,
/// checked once the resource is read and before anything is written,
/// `If-Match` first (RFC 7232 §6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub if_match: Option<VersionCondition>,
    pub if_none_match: Option<VersionCondition>,
    /// Where `if_match` was read, for its 412: the header, or a bulk
    /// operation's `version`.
    pub if_match_source: ConditionSource,
}

impl Preconditions {
    /// A bulk operation's `version`: its `If-Match`, alone.
    pub fn bulk_version(condition: Option<VersionCondition>) -> Preconditions {
        Preconditions {
            if_match: condition,
            if_none_match: None,
            if_match_source: ConditionSource::BulkVersion,
        }
    }

    /// No condition: the write does not depend on a version.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Whether deciding needs the resource's current version: a condition
    /// lists tags. `*` needs only that the resource exists.
    pub fn names_versions(&self) -> bool {
        [&self.if_match, &self.if_none_match]
            .iter()
            .any(|c| matches!(c, Some(VersionCondition::OneOf(_))))
    }

    /// Checks both conditions against the existing `kind` `id`, whose
    /// version is `current`: 412 when one fails, `If-Match` first.
    /// `current` may be `None` only when no condition names versions.
    pub fn check(&self, kind: &str, id: &str, current: Option<&str>) -> Result<(), ScimError> {
        debug_assert!(current.is_some() || !self.names_versions());
        let current = current.unwrap_or_default();
        require_match(
            self.if_match.as_ref(),
            self.if_match_source,
            kind,
            id,
            current,
        )?;
        require_none_match(self.if_none_match.as_ref(), kind, id, current)
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

/// `etagc` (RFC 7232 §2.3): a visible character but `"`, or obs-text.
fn is_etagc(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7E).contains(&byte) || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = r#"W/"1700000000-ab12""#;

    const IF_MATCH: ConditionSource = ConditionSource::IfMatch;

    fn parse(header: &str) -> Result<VersionCondition, ScimError> {
        VersionCondition::parse(header, ConditionSource::IfMatch)
    }

    #[test]
    fn weak_and_strong_spellings_of_the_same_tag_match() {
        for header in [r#"W/"1700000000-ab12""#, r#""1700000000-ab12""#] {
            let condition = parse(header).unwrap();
            assert!(condition.matches(VERSION), "{header}");
        }
    }

    #[test]
    fn any_tag_of_a_list_may_match_and_a_star_matches_every_version() {
        let list = parse(r#"W/"old", W/"1700000000-ab12""#).unwrap();
        assert!(list.matches(VERSION));
        assert!(!parse(r#"W/"old""#).unwrap().matches(VERSION));
        assert!(parse(" * ").unwrap().matches(VERSION));
    }

    #[test]
    fn quoted_tags_may_hold_commas() {
        let condition = parse(r#""a,b", "c""#).unwrap();
        assert_eq!(
            condition,
            VersionCondition::OneOf(vec!["a,b".into(), "c".into()])
        );
    }

    #[test]
    fn a_stale_if_match_is_412_naming_the_current_version() {
        let stale = parse(r#"W/"old""#).unwrap();
        let e = require_match(Some(&stale), IF_MATCH, "group", "g1", VERSION).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(e.detail.contains("group g1"), "{}", e.detail);
        assert!(e.detail.contains(VERSION), "{}", e.detail);
        let current = parse(VERSION).unwrap();
        assert!(require_match(Some(&current), IF_MATCH, "group", "g1", VERSION).is_ok());
        assert!(require_match(
            Some(&VersionCondition::Any),
            IF_MATCH,
            "group",
            "g1",
            VERSION
        )
        .is_ok());
        assert!(require_match(None, IF_MATCH, "group", "g1", VERSION).is_ok());
    }

    /// A bulk operation has no If-Match header: its 412 names its `version`.
    #[test]
    fn a_stale_bulk_version_is_412_naming_the_operations_version() {
        let stale = Preconditions::bulk_version(Some(parse(r#"W/"old""#).unwrap()));
        let e = stale.check("user", "u1", Some(VERSION)).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(!e.detail.contains("If-Match"), "{}", e.detail);
        assert!(
            e.detail.contains("the operation's \"version\""),
            "{}",
            e.detail
        );
    }

    #[test]
    fn if_none_match_fails_for_a_star_or_a_listed_current_version() {
        let star = Some(&VersionCondition::Any);
        let e = require_none_match(star, "user", "u1", VERSION).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(e.detail.contains("user u1"), "{}", e.detail);
        assert!(e.detail.contains("If-None-Match"), "{}", e.detail);
        let listed = parse(r#"W/"old", "1700000000-ab12""#).unwrap();
        let e = require_none_match(Some(&listed), "group", "g1", VERSION).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(e.detail.contains(VERSION), "{}", e.detail);
        let old = parse(r#"W/"old""#).unwrap();
        assert!(require_none_match(Some(&old), "group", "g1", VERSION).is_ok());
        assert!(require_none_match(None, "group", "g1", VERSION).is_ok());
    }

    #[test]
    fn if_match_is_evaluated_before_if_none_match() {
        let both = Preconditions {
            if_match: Some(parse(r#"W/"old""#).unwrap()),
            if_none_match: Some(VersionCondition::Any),
            ..Preconditions::default()
        };
        assert!(both.names_versions());
        let e = both.check("user", "u1", Some(VERSION)).unwrap_err();
        assert!(e.detail.contains("If-Match;"), "{}", e.detail);
        let star_only = Preconditions {
            if_match: Some(VersionCondition::Any),
            if_none_match: Some(VersionCondition::Any),
            ..Preconditions::default()
        };
        assert!(!star_only.names_versions());
        let e = star_only.check("group", "g1", None).unwrap_err();
        assert!(e.detail.contains("If-None-Match"), "{}", e.detail);
        assert!(Preconditions::default().is_empty());
        assert!(Preconditions::default().check("group", "g1", None).is_ok());
    }

    #[test]
    fn empty_or_unterminated_lists_and_unquoted_words_are_bad_requests() {
        for header in [
            "",
            " , ",
            "garbage",
            "1700000000-ab12",
            "W/garbage",
            "w/\"x\"",
            "W/ \"x\"",
            r#"W/"abc"#,
            r#"W/"x", *"#,
            r#"*, "x""#,
            r#""a", b"#,
            r#""a"b"#,
            r#""a b""#,
        ] {
            let e = parse(header).unwrap_err();
            assert_eq!(e.status, 400, "{header}");
            assert!(e.detail.contains("not an entity-tag list"), "{}", e.detail);
        }
    }

    /// RFC 7232 §2.3: `opaque-tag = DQUOTE *etagc DQUOTE`, so `""` is a tag.
    #[test]
    fn an_empty_opaque_tag_is_a_tag_no_version_matches() {
        for header in [r#""""#, r#"W/"""#, r#"W/"", "x""#, r#", "", "#] {
            let condition = parse(header).unwrap();
            assert!(!condition.matches(VERSION), "{header}");
        }
        assert_eq!(
            parse(r#"W/"""#).unwrap(),
            VersionCondition::OneOf(vec![String::new()])
        );
        assert!(require_match(
            Some(&parse(r#""""#).unwrap()),
            IF_MATCH,
            "user",
            "u1",
            VERSION
        )
        .is_err());
        assert!(require_none_match(Some(&parse(r#""""#).unwrap()), "user", "u1", VERSION).is_ok());
    }

    #[test]
    fn a_malformed_condition_names_where_it_was_read_and_quotes_it_short() {
        let e = VersionCondition::parse("garbage", ConditionSource::IfNoneMatch).unwrap_err();
        assert!(
            e.detail.starts_with("the If-None-Match header (garbage)"),
            "{}",
            e.detail
        );
        let long = "x".repeat(10_000);
        let e = VersionCondition::parse(&long, ConditionSource::BulkVersion).unwrap_err();
        assert!(
            e.detail.starts_with("the operation's \"version\""),
            "{}",
            e.detail
        );
        assert!(e.detail.len() < 400, "{}", e.detail);
    }
}
