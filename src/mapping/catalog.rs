//! The SCIM User attributes a rule may name: RFC 7643 §4.1 (core), §4.3
//! (enterprise) and the custom schemas the mapping file declares.
//! `id`, `meta`, `schemas` and `groups` are left out on purpose: the bridge
//! owns them, the mapping does not.

use crate::scim::attributes::AttrType;

use super::schema::{CustomAttribute, CustomSchema};

pub(super) const CORE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const ENTERPRISE_URN: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The short prefix rules may write instead of the enterprise URN.
pub(super) const ENTERPRISE_ALIAS: &str = "enterprise";

/// One attribute (or sub-attribute) as the mapping needs to know it.
#[derive(Debug, Clone)]
pub(super) struct AttrDef {
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    /// `password`: the IdP may send it, nobody may read it back.
    pub write_only: bool,
    pub subs: Vec<AttrDef>,
}

impl AttrDef {
    pub fn sub(&self, name: &str) -> Option<&AttrDef> {
        self.subs.iter().find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone)]
pub(super) struct SchemaDef {
    pub urn: String,
    /// Prefix usable instead of the URN (`enterprise:department`).
    pub alias: Option<String>,
    pub attrs: Vec<AttrDef>,
}

impl SchemaDef {
    pub fn is_core(&self) -> bool {
        self.urn == CORE_URN
    }

    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// How a rule spells an attribute of this schema: `userName`,
    /// `enterprise:department`, `acme:badge`.
    pub fn qualified(&self, attr: &str) -> String {
        match (&self.alias, self.is_core()) {
            (_, true) => attr.to_string(),
            (Some(alias), false) => format!("{alias}:{attr}"),
            (None, false) => format!("{}:{attr}", self.urn),
        }
    }
}

/// Every schema a rule may draw from: core, then the enterprise extension
/// and the custom schemas in file order.
#[derive(Debug, Clone)]
pub(super) struct Catalog {
    core: SchemaDef,
    extensions: Vec<SchemaDef>,
}

impl Catalog {
    pub fn new(custom: &[CustomSchema]) -> Catalog {
        let mut extensions = vec![enterprise_schema()];
        extensions.extend(custom.iter().map(|schema| SchemaDef {
            urn: schema.urn.clone(),
            alias: schema.alias.clone(),
            attrs: schema.attributes.iter().map(custom_attr).collect(),
        }));
        Catalog {
            core: core_schema(),
            extensions,
        }
    }

    pub fn core(&self) -> &SchemaDef {
        &self.core
    }

    fn schemas(&self) -> impl Iterator<Item = &SchemaDef> {
        std::iter::once(&self.core).chain(&self.extensions)
    }

    /// The schema whose URN starts `text` (followed by `:`); the longest
    /// URN wins so that nested URNs cannot shadow each other.
    pub fn by_urn_prefix(&self, text: &str) -> Option<(&SchemaDef, usize)> {
        self.schemas()
            .filter(|s| {
                starts_with_ignoring_case(text, &s.urn)
                    && text
                        .get(s.urn.len()..)
                        .is_some_and(|rest| rest.len() > 1 && rest.starts_with(':'))
            })
            .max_by_key(|s| s.urn.len())
            .map(|s| (s, s.urn.len() + 1))
    }

    pub fn by_alias(&self, alias: &str) -> Option<&SchemaDef> {
        self.extensions.iter().find(|s| {
            s.alias
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(alias))
        })
    }

    pub fn aliases(&self) -> Vec<&str> {
        self.extensions
            .iter()
            .filter_map(|s| s.alias.as_deref())
            .collect()
    }

    /// Every path a rule could name, spelled as a rule would spell it;
    /// the pool "did you mean" suggestions are drawn from.
    pub fn spellings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for schema in self.schemas() {
            for attr in &schema.attrs {
                let top = schema.qualified(&attr.name);
                if attr.subs.is_empty() {
                    out.push(top);
                } else {
                    out.extend(attr.subs.iter().map(|s| format!("{top}.{}", s.name)));
                }
            }
        }
        out
    }
}

/// `text` starts with `prefix`, ASCII case ignored; never slices inside a character.
pub(super) fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn custom_attr(attr: &CustomAttribute) -> AttrDef {
    AttrDef {
        name: attr.name.clone(),
        kind: attr.kind,
        multi_valued: attr.multi_valued,
        write_only: false,
        subs: attr.sub_attributes.iter().map(custom_attr).collect(),
    }
}

fn simple(name: &str, kind: AttrType) -> AttrDef {
    AttrDef {
        name: name.to_string(),
        kind,
        multi_valued: false,
        write_only: false,
        subs: Vec::new(),
    }
}

fn complex(name: &str, multi_valued: bool, subs: &[(&str, AttrType)]) -> AttrDef {
    AttrDef {
        name: name.to_string(),
        kind: AttrType::Complex,
        multi_valued,
        write_only: false,
        subs: subs.iter().map(|(n, k)| simple(n, *k)).collect(),
    }
}

/// `value`, `display`, `type`, `primary`: the sub-attributes most
/// multi-valued User attributes share (RFC 7643 §2.4), `value` typed per attribute.
fn plural(name: &str, value_kind: AttrType) -> AttrDef {
    complex(
        name,
        true,
        &[
            ("value", value_kind),
            ("display", AttrType::String),
            ("type", AttrType::String),
            ("primary", AttrType::Boolean),
        ],
    )
}

fn core_schema() -> SchemaDef {
    use AttrType::{Boolean, Reference, String as Str};
    let password = AttrDef {
        write_only: true,
        ..simple("password", Str)
    };
    SchemaDef {
        urn: CORE_URN.to_string(),
        alias: None,
        attrs: vec![
            simple("userName", Str),
            complex(
                "name",
                false,
                &[
                    ("formatted", Str),
                    ("familyName", Str),
                    ("givenName", Str),
                    ("middleName", Str),
                    ("honorificPrefix", Str),
                    ("honorificSuffix", Str),
                ],
            ),
            simple("displayName", Str),
            simple("nickName", Str),
            simple("profileUrl", Reference),
            simple("title", Str),
            simple("userType", Str),
            simple("preferredLanguage", Str),
            simple("locale", Str),
            simple("timezone", Str),
            simple("active", Boolean),
            password,
            simple("externalId", Str),
            plural("emails", Str),
            plural("phoneNumbers", Str),
            plural("ims", Str),
            plural("photos", Reference),
            complex(
                "addresses",
                true,
                &[
                    ("formatted", Str),
                    ("streetAddress", Str),
                    ("locality", Str),
                    ("region", Str),
                    ("postalCode", Str),
                    ("country", Str),
                    ("type", Str),
                    ("primary", Boolean),
                ],
            ),
            plural("entitlements", Str),
            plural("roles", Str),
            plural("x509Certificates", AttrType::Binary),
        ],
    }
}

fn enterprise_schema() -> SchemaDef {
    use AttrType::{Reference, String as Str};
    SchemaDef {
        urn: ENTERPRISE_URN.to_string(),
        alias: Some(ENTERPRISE_ALIAS.to_string()),
        attrs: vec![
            simple("employeeNumber", Str),
            simple("costCenter", Str),
            simple("organization", Str),
            simple("division", Str),
            simple("department", Str),
            complex(
                "manager",
                false,
                &[("value", Str), ("$ref", Reference), ("displayName", Str)],
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enterprise_urn_prefix_is_found_case_insensitively() {
        let catalog = Catalog::new(&[]);
        let text = "URN:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
        let (schema, rest) = catalog.by_urn_prefix(text).expect("enterprise");
        assert_eq!(schema.urn, ENTERPRISE_URN);
        assert_eq!(&text[rest..], "department");
    }

    #[test]
    fn spellings_use_the_enterprise_alias_and_sub_attributes() {
        let spellings = Catalog::new(&[]).spellings();
        assert!(spellings.contains(&"name.givenName".to_string()));
        assert!(spellings.contains(&"enterprise:manager.value".to_string()));
        assert!(!spellings.contains(&"name".to_string()));
    }
}
