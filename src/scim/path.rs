//! Attribute paths (RFC 7644 §3.10) and PATCH paths (RFC 7644 §3.5.2):
//! parsing, canonical printing, and resolution against a resource type's
//! schemas through [`AttributeResolver`].

use std::fmt;

use serde_json::{Map, Value};

use super::attributes::{AttrMeta, AttrType, AttributeResolver};
use super::error::ScimError;
use super::filter::{self, Filter};

/// Entra addresses enterprise attributes such as `manager` without their URN,
/// so an unqualified name unknown to the core schema is looked up here too.
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// `[URN ":"] attribute ["." subAttribute]`, as written by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN when the path was URN-qualified.
    pub schema: Option<String>,
    pub attr: String,
    pub sub_attr: Option<String>,
}

/// A path that breaks the grammar; `offset` counts characters of the text parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathSyntaxError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for PathSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.offset, self.message)
    }
}

/// A path naming no attribute of the resource type; carries the path text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttribute(pub String);

impl fmt::Display for UnknownAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown attribute \"{}\"",
            crate::untrusted::quote(&self.0)
        )
    }
}

impl AttrPath {
    /// Parses an attribute path. In a URN-qualified path the attribute is what
    /// follows the last ':' (URNs contain dots, as in `2.0`).
    pub fn parse(text: &str) -> Result<AttrPath, PathSyntaxError> {
        let is_urn = text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        let (schema, rest, rest_start) = match text.rsplit_once(':') {
            Some((schema, rest)) if is_urn && schema.len() > 3 => {
                (Some(schema), rest, schema.len() + 1)
            }
            _ if is_urn => {
                return Err(syntax_error(
                    text,
                    text.len(),
                    "a URN must be followed by \":\" and an attribute name",
                ));
            }
            _ => (None, text, 0),
        };
        let (attr, sub_attr) = match rest.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (rest, None),
        };
        check_name(text, rest_start, attr)?;
        if let Some(sub) = sub_attr {
            check_name(text, rest_start + attr.len() + 1, sub)?;
        }
        Ok(AttrPath {
            schema: schema.map(str::to_string),
            attr: attr.to_string(),
            sub_attr: sub_attr.map(str::to_string),
        })
    }

    /// Looks the path up, case-insensitively. A URN-qualified path that names
    /// no attribute and has no sub-attribute is read as a bare extension URN
    /// (the extension object as a whole); whether that extension exists shows
    /// when its attributes are resolved.
    pub fn resolve(
        &self,
        resolver: &dyn AttributeResolver,
    ) -> Result<ResolvedPath, UnknownAttribute> {
        let unknown = || UnknownAttribute(self.to_string());
        let found = resolver
            .resolve(self.schema.as_deref(), &self.attr)
            .or_else(|| match self.schema {
                None => resolver.resolve(Some(ENTERPRISE_USER), &self.attr),
                Some(_) => None,
            });
        let Some((schema, attr)) = found else {
            return match &self.schema {
                Some(urn)
                    if self.sub_attr.is_none()
                        && !urn.eq_ignore_ascii_case(resolver.core_schema()) =>
                {
                    Ok(ResolvedPath::Extension(format!("{urn}:{}", self.attr)))
                }
                _ => Err(unknown()),
            };
        };
        let sub = match &self.sub_attr {
            None => None,
            Some(sub) => Some(
                resolver
                    .resolve_sub(&schema, &attr.name, sub)
                    .ok_or_else(unknown)?,
            ),
        };
        let is_core = schema.eq_ignore_ascii_case(resolver.core_schema());
        Ok(ResolvedPath::Attribute(ResolvedAttr {
            schema,
            is_core,
            attr,
            sub,
        }))
    }
}

fn syntax_error(text: &str, byte_offset: usize, message: impl Into<String>) -> PathSyntaxError {
    PathSyntaxError {
        offset: text
            .get(..byte_offset)
            .map_or(byte_offset, |head| head.chars().count()),
        message: message.into(),
    }
}

/// RFC 7644 ATTRNAME (`ALPHA *(ALPHA / DIGIT / "-" / "_")`), plus `$ref`.
fn check_name(text: &str, start: usize, name: &str) -> Result<(), PathSyntaxError> {
    let body = name.strip_prefix('$').unwrap_or(name);
    if !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(syntax_error(
            text,
            start,
            format!(
                "expected an attribute name, found \"{}\"",
                crate::untrusted::quote(name)
            ),
        ));
    }
    match body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        Some(bad) => {
            let at = start + (name.len() - body.len()) + bad;
            let found: String = text.get(at..).unwrap_or_default().chars().take(1).collect();
            Err(syntax_error(
                text,
                at,
                format!(
                    "unexpected \"{found}\" in attribute name \"{}\"",
                    crate::untrusted::quote(name)
                ),
            ))
        }
        None => Ok(()),
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// What an [`AttrPath`] designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedPath {
    Attribute(ResolvedAttr),
    /// A bare extension URN: the extension object as a whole.
    Extension(String),
}

/// An attribute (and maybe one of its sub-attributes) with canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAttr {
    /// Canonical URN of the schema the attribute belongs to.
    pub schema: String,
    /// Whether that schema is the resource type's core schema: core attributes
    /// sit at the top of a resource, extension attributes under their URN.
    pub is_core: bool,
    pub attr: AttrMeta,
    pub sub: Option<AttrMeta>,
}

impl ResolvedAttr {
    /// The metadata of what the path ends on: the sub-attribute if any.
    pub fn target(&self) -> &AttrMeta {
        self.sub.as_ref().unwrap_or(&self.attr)
    }

    /// The canonical path: unqualified for core attributes, URN-qualified for
    /// extension attributes.
    pub fn path(&self) -> AttrPath {
        AttrPath {
            schema: (!self.is_core).then(|| self.schema.clone()),
            attr: self.attr.name.clone(),
            sub_attr: self.sub.as_ref().map(|s| s.name.clone()),
        }
    }

    /// The object holding the attribute in a canonical resource.
    pub fn container<'a>(
        &self,
        resource: &'a Map<String, Value>,
    ) -> Option<&'a Map<String, Value>> {
        if self.is_core {
            Some(resource)
        } else {
            get_ci(resource, &self.schema)?.as_object()
        }
    }

    /// The attribute's whole value (not narrowed to the sub-attribute).
    pub fn value<'a>(&self, resource: &'a Map<String, Value>) -> Option<&'a Value> {
        get_ci(self.container(resource)?, &self.attr.name)
    }
}

impl fmt::Display for ResolvedAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path().fmt(f)
    }
}

/// Case-insensitive member lookup: attribute names are case-insensitive (RFC 7643 §2.1).
pub(crate) fn get_ci<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// `attrPath [ "[" valFilter "]" ] [ "." subAttr ]` (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub value_filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`).
    pub sub_attr: Option<String>,
}

/// What a [`PatchPath`] designates, with canonical names.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedPatchPath {
    Attribute {
        /// `emails[...].value` and `name.givenName` both resolve to an
        /// attribute with a sub-attribute.
        target: ResolvedAttr,
        /// The value filter, its paths canonical sub-attribute names.
        value_filter: Option<Filter>,
    },
    /// A bare extension URN.
    Extension(String),
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let invalid = |e: PathSyntaxError| {
            ScimError::invalid_path(format!(
                "invalid path {:?} {e}",
                crate::untrusted::quote(&crate::untrusted::without_literals(text))
            ))
        };
        let (attr, value_filter, sub_attr) = filter::parse_patch_path(text).map_err(invalid)?;
        if value_filter.is_some() && attr.sub_attr.is_some() {
            return Err(ScimError::invalid_path(format!(
                "invalid path {:?}: a value filter applies to an attribute, not to the sub-attribute \"{}\"",
                crate::untrusted::quote(&crate::untrusted::without_literals(text)),
                crate::untrusted::quote(&attr.to_string())
            )));
        }
        Ok(PatchPath {
            attr,
            value_filter,
            sub_attr,
        })
    }

    /// Resolves names and checks that filters and sub-attributes sit on
    /// complex attributes; failures are `invalidPath`.
    pub fn resolve(
        &self,
        resolver: &dyn AttributeResolver,
    ) -> Result<ResolvedPatchPath, ScimError> {
        let invalid = |detail: String| {
            ScimError::invalid_path(format!("invalid path \"{}\": {detail}", self.shown()))
        };
        let full = AttrPath {
            sub_attr: self.sub_attr.clone().or_else(|| self.attr.sub_attr.clone()),
            ..self.attr.clone()
        };
        let target = match full.resolve(resolver).map_err(|e| invalid(e.to_string()))? {
            ResolvedPath::Attribute(target) => target,
            ResolvedPath::Extension(urn) if self.value_filter.is_none() => {
                return Ok(ResolvedPatchPath::Extension(urn))
            }
            ResolvedPath::Extension(urn) => {
                return Err(invalid(format!(
                    "unknown attribute \"{}\"",
                    crate::untrusted::quote(&urn)
                )))
            }
        };
        let value_filter = match &self.value_filter {
            None => None,
            Some(_) if target.attr.kind != AttrType::Complex => {
                return Err(invalid(format!(
                    "\"{}\" is not a complex attribute, so it takes no value filter",
                    target.attr.name
                )))
            }
            Some(value_filter) => Some(
                value_filter
                    .canonicalize_for_element(&target.schema, &target.attr.name, resolver)
                    .map_err(|e| match e {
                        // RFC 7644 §3.12: invalidFilter is the path filter's error.
                        filter::SchemaMismatch::Literal { .. } => ScimError::invalid_filter(
                            format!("invalid filter in path \"{}\": {e}", self.shown()),
                        ),
                        filter::SchemaMismatch::Path(detail) => invalid(detail),
                    })?,
            ),
        };
        Ok(ResolvedPatchPath::Attribute {
            target,
            value_filter,
        })
    }
}

impl PatchPath {
    /// The path as an error detail shows it: its filter's values left out,
    /// as they may compare a secret (`password[value eq "…"]`).
    fn shown(&self) -> String {
        crate::untrusted::without_literals(&self.to_string()).into_owned()
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.attr.fmt(f)?;
        if let Some(value_filter) = &self.value_filter {
            write!(f, "[{value_filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// A small User / Group schema set shared by the tests of the protocol core.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::scim::attributes::{AttrMeta, AttrType, AttributeResolver, Mutability, Returned};

    pub(crate) const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    pub(crate) const ENTERPRISE: &str =
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    pub(crate) const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
    /// A made-up extension, because the User schema has no numeric attribute.
    pub(crate) const METRICS: &str = "urn:example:params:scim:schemas:extension:metrics:2.0:User";

    pub(crate) struct TestResolver {
        core: &'static str,
        attributes: Vec<(&'static str, AttrMeta, Vec<AttrMeta>)>,
    }

    fn attr(name: &str, kind: AttrType) -> AttrMeta {
        AttrMeta {
            name: name.to_string(),
            kind,
            multi_valued: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            required: false,
        }
    }

    fn string(name: &str) -> AttrMeta {
        attr(name, AttrType::String)
    }

    trait Tweak {
        fn multi(self) -> Self;
        fn exact(self) -> Self;
        fn mutability(self, mutability: Mutability) -> Self;
    }

    impl Tweak for AttrMeta {
        fn multi(self) -> Self {
            AttrMeta {
                multi_valued: true,
                ..self
            }
        }
        fn exact(self) -> Self {
            AttrMeta {
                case_exact: true,
                ..self
            }
        }
        fn mutability(self, mutability: Mutability) -> Self {
            AttrMeta { mutability, ..self }
        }
    }

    fn common(core: &'static str) -> Vec<(&'static str, AttrMeta, Vec<AttrMeta>)> {
        let meta_subs = vec![
            string("resourceType"),
            attr("created", AttrType::DateTime),
            attr("lastModified", AttrType::DateTime),
            attr("location", AttrType::Reference),
            string("version").exact(),
        ];
        vec![
            (
                core,
                string("id").exact().mutability(Mutability::ReadOnly),
                vec![],
            ),
            (core, string("externalId").exact(), vec![]),
            (
                core,
                attr("meta", AttrType::Complex).mutability(Mutability::ReadOnly),
                meta_subs,
            ),
            (
                core,
                attr("schemas", AttrType::Reference).multi().exact(),
                vec![],
            ),
        ]
    }

    fn multi_complex(name: &str, subs: &[&str]) -> (AttrMeta, Vec<AttrMeta>) {
        let mut subs: Vec<AttrMeta> = subs.iter().map(|s| string(s)).collect();
        subs.push(attr("primary", AttrType::Boolean));
        (attr(name, AttrType::Complex).multi(), subs)
    }

    pub(crate) fn user_resolver() -> TestResolver {
        let mut attributes = common(CORE_USER);
        for name in [
            "userName",
            "displayName",
            "nickName",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
        ] {
            attributes.push((CORE_USER, string(name), vec![]));
        }
        let name_subs = [
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        ];
        attributes.extend([
            (
                CORE_USER,
                attr("name", AttrType::Complex),
                name_subs.iter().map(|s| string(s)).collect(),
            ),
            (CORE_USER, attr("profileUrl", AttrType::Reference), vec![]),
            (CORE_USER, attr("active", AttrType::Boolean), vec![]),
            (
                CORE_USER,
                string("password").mutability(Mutability::WriteOnly),
                vec![],
            ),
        ]);
        let address_subs = [
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
        ];
        for (meta, subs) in [
            multi_complex("emails", &["value", "display", "type"]),
            multi_complex("phoneNumbers", &["value", "display", "type"]),
            multi_complex("ims", &["value", "display", "type"]),
            multi_complex("roles", &["value", "display", "type"]),
            multi_complex("addresses", &address_subs),
        ] {
            attributes.push((CORE_USER, meta, subs));
        }
        attributes.push((
            CORE_USER,
            attr("groups", AttrType::Complex)
                .multi()
                .mutability(Mutability::ReadOnly),
            vec![
                string("value"),
                attr("$ref", AttrType::Reference),
                string("display"),
                string("type"),
            ],
        ));
        for name in [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
        ] {
            attributes.push((ENTERPRISE, string(name), vec![]));
        }
        attributes.extend([
            (
                ENTERPRISE,
                attr("manager", AttrType::Complex),
                vec![
                    string("value"),
                    attr("$ref", AttrType::Reference),
                    string("displayName").mutability(Mutability::ReadOnly),
                ],
            ),
            (METRICS, attr("loginCount", AttrType::Integer), vec![]),
            (METRICS, attr("score", AttrType::Decimal), vec![]),
        ]);
        TestResolver {
            core: CORE_USER,
            attributes,
        }
    }

    pub(crate) fn group_resolver() -> TestResolver {
        let mut attributes = common(CORE_GROUP);
        attributes.extend([
            (CORE_GROUP, string("displayName"), vec![]),
            (
                CORE_GROUP,
                attr("members", AttrType::Complex).multi(),
                vec![
                    string("value").mutability(Mutability::Immutable),
                    string("display"),
                    string("type"),
                    attr("$ref", AttrType::Reference).mutability(Mutability::Immutable),
                ],
            ),
        ]);
        TestResolver {
            core: CORE_GROUP,
            attributes,
        }
    }

    impl TestResolver {
        fn find(
            &self,
            schema: &str,
            attr: &str,
        ) -> Option<&(&'static str, AttrMeta, Vec<AttrMeta>)> {
            self.attributes.iter().find(|(s, meta, _)| {
                s.eq_ignore_ascii_case(schema) && meta.name.eq_ignore_ascii_case(attr)
            })
        }
    }

    impl AttributeResolver for TestResolver {
        fn core_schema(&self) -> &str {
            self.core
        }

        /// `None` means the core schema only, as the trait documents.
        fn resolve(&self, schema: Option<&str>, attr: &str) -> Option<(String, AttrMeta)> {
            self.find(schema.unwrap_or(self.core), attr)
                .map(|(s, meta, _)| (s.to_string(), meta.clone()))
        }

        fn resolve_sub(&self, schema: &str, attr: &str, sub: &str) -> Option<AttrMeta> {
            self.find(schema, attr)?
                .2
                .iter()
                .find(|meta| meta.name.eq_ignore_ascii_case(sub))
                .cloned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{group_resolver, user_resolver, ENTERPRISE};
    use super::*;

    use crate::scim::error::ScimType;
    use serde_json::json;

    #[test]
    fn a_long_bad_path_is_quoted_short_in_its_error() {
        let long = "x".repeat(6_000);
        for text in [
            format!("1{long}"),
            format!("a{long}!"),
            format!("name.1{long}"),
            format!("emails[type eq \"work\"].1{long}"),
        ] {
            let e = PatchPath::parse(&text).unwrap_err();
            assert!(e.detail.len() < 400, "{}", e.detail);
        }
    }

    fn resolved(text: &str) -> ResolvedAttr {
        match AttrPath::parse(text)
            .unwrap()
            .resolve(&user_resolver())
            .unwrap()
        {
            ResolvedPath::Attribute(attr) => attr,
            other => panic!("{text} resolved to {other:?}"),
        }
    }

    #[test]
    fn plain_attribute_path_has_no_schema_and_no_sub_attribute() {
        let path = AttrPath::parse("userName").unwrap();
        assert_eq!(path.schema, None);
        assert_eq!(path.attr, "userName");
        assert_eq!(path.sub_attr, None);
    }

    #[test]
    fn dotted_path_splits_attribute_and_sub_attribute() {
        let path = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(
            (path.attr.as_str(), path.sub_attr.as_deref()),
            ("name", Some("givenName"))
        );
    }

    #[test]
    fn urn_qualified_path_takes_the_attribute_after_the_last_colon() {
        let path = AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert_eq!(
            path.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(path.attr, "userName");
    }

    #[test]
    fn urn_qualified_path_with_sub_attribute_ignores_dots_inside_the_urn() {
        let path = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(path.schema.as_deref(), Some(ENTERPRISE));
        assert_eq!(
            (path.attr.as_str(), path.sub_attr.as_deref()),
            ("manager", Some("value"))
        );
    }

    #[test]
    fn path_display_reprints_the_text() {
        for text in [
            "userName",
            "name.givenName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ] {
            assert_eq!(AttrPath::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_paths_are_rejected_with_the_offending_offset() {
        let err = AttrPath::parse("name.given-Name.x").unwrap_err();
        assert_eq!(err.offset, 15);
        assert_eq!(
            err.message,
            "unexpected \".\" in attribute name \"given-Name.x\""
        );
        assert_eq!(AttrPath::parse("1abc").unwrap_err().offset, 0);
        assert_eq!(AttrPath::parse("name.").unwrap_err().offset, 5);
        assert!(AttrPath::parse("urn:").is_err());
        assert!(AttrPath::parse("user name").is_err());
    }

    #[test]
    fn dollar_ref_is_a_valid_sub_attribute_name() {
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub_attr.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn resolution_canonicalises_names_case_insensitively() {
        let attr = resolved("NAME.GIVENNAME");
        assert_eq!(attr.to_string(), "name.givenName");
        assert!(attr.is_core);
        assert_eq!(attr.target().name, "givenName");
    }

    #[test]
    fn urn_qualified_core_path_prints_unqualified() {
        assert_eq!(
            resolved("urn:ietf:params:scim:schemas:core:2.0:User:username").to_string(),
            "userName"
        );
    }

    #[test]
    fn extension_attribute_prints_with_its_canonical_urn() {
        let attr =
            resolved("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Manager.Value");
        assert!(!attr.is_core);
        assert_eq!(attr.to_string(), format!("{ENTERPRISE}:manager.value"));
    }

    #[test]
    fn unqualified_enterprise_attribute_resolves_to_the_extension() {
        let attr = resolved("manager");
        assert_eq!(attr.schema, ENTERPRISE);
    }

    #[test]
    fn bare_extension_urn_resolves_to_the_extension_object() {
        let path = AttrPath::parse(ENTERPRISE).unwrap();
        assert_eq!(
            path.resolve(&user_resolver()),
            Ok(ResolvedPath::Extension(ENTERPRISE.to_string()))
        );
    }

    #[test]
    fn unknown_attributes_and_sub_attributes_are_named_in_the_error() {
        for text in [
            "nosuch",
            "name.nosuch",
            "userName.x",
            "urn:ietf:params:scim:schemas:core:2.0:User:nosuch",
        ] {
            let err = AttrPath::parse(text)
                .unwrap()
                .resolve(&user_resolver())
                .unwrap_err();
            assert_eq!(err.to_string(), format!("unknown attribute \"{text}\""));
        }
    }

    #[test]
    fn resolved_attribute_reads_core_and_extension_values() {
        let resource = json!({"userName": "bjensen", ENTERPRISE: {"department": "Tour"}});
        let resource = resource.as_object().unwrap();
        assert_eq!(
            resolved("USERNAME").value(resource),
            Some(&json!("bjensen"))
        );
        assert_eq!(resolved("department").value(resource), Some(&json!("Tour")));
        assert_eq!(resolved("manager").value(resource), None);
    }

    #[test]
    fn patch_path_with_filter_and_sub_attribute_parses_and_reprints() {
        let path = PatchPath::parse("emails[type eq \"work\"].value").unwrap();
        assert_eq!(path.attr.attr, "emails");
        assert!(path.value_filter.is_some());
        assert_eq!(path.sub_attr.as_deref(), Some("value"));
        assert_eq!(path.to_string(), "emails[type eq \"work\"].value");
    }

    #[test]
    fn patch_path_without_filter_is_an_attribute_path() {
        let path = PatchPath::parse("name.familyName").unwrap();
        assert_eq!(path.value_filter, None);
        assert_eq!(path.attr.sub_attr.as_deref(), Some("familyName"));
    }

    #[test]
    fn patch_path_resolution_canonicalises_the_filter() {
        let path = PatchPath::parse("ADDRESSES[TYPE eq \"work\"].Formatted").unwrap();
        let ResolvedPatchPath::Attribute {
            target,
            value_filter,
        } = path.resolve(&user_resolver()).unwrap()
        else {
            panic!("not an attribute");
        };
        assert_eq!(target.to_string(), "addresses.formatted");
        assert_eq!(value_filter.unwrap().to_string(), "type eq \"work\"");
    }

    #[test]
    fn member_filter_path_resolves_against_the_group_schema() {
        let path = PatchPath::parse("members[value eq \"2819c223\"]").unwrap();
        assert!(matches!(
            path.resolve(&group_resolver()),
            Ok(ResolvedPatchPath::Attribute {
                value_filter: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn malformed_patch_paths_are_invalid_path_errors() {
        for text in [
            "emails[type eq \"work\"",
            "emails[type eq \"work\"]x",
            "emails[type eq]",
            "",
            "name.givenName[type eq \"x\"]",
        ] {
            let err = PatchPath::parse(text).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{text}: {err}");
        }
    }

    #[test]
    fn patch_path_errors_for_unknown_names_and_filters_on_simple_attributes() {
        for text in [
            "nosuch",
            "emails[kind eq \"work\"]",
            "userName[value eq \"x\"]",
            "emails[type eq \"x\"].nosuch",
        ] {
            let err = PatchPath::parse(text)
                .unwrap()
                .resolve(&user_resolver())
                .unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{text}");
            // Shown with its filter's values left out: they may be secrets.
            let shown = crate::untrusted::without_literals(text);
            assert!(err.detail.contains(&*shown), "{}", err.detail);
        }
    }
}
