//! Custom SCIM schemas declared in the mapping file. Rules may draw from
//! them, and the discovery endpoints publish them.

use crate::scim::attributes::{AttrMeta, AttrType, Mutability, Returned};
use crate::scim::schema::{AttributeDef, SchemaDef, GROUP_URN};

use super::catalog::{starts_with_ignoring_case, CORE_URN, ENTERPRISE_ALIAS, ENTERPRISE_URN};
use super::document::NodePath;
use super::error::{Problem, Section};
use super::raw::{RawAttrType, RawAttribute, RawMutability, RawSchema};

/// An extension schema of the User resource, declared in the mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomSchema {
    pub urn: String,
    pub name: String,
    pub description: Option<String>,
    /// Short prefix rules use instead of the URN: `acme:badgeNumber`.
    pub alias: Option<String>,
    pub attributes: Vec<CustomAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomAttribute {
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub description: Option<String>,
    /// Only for `complex` attributes.
    pub sub_attributes: Vec<CustomAttribute>,
}

impl CustomSchema {
    /// The schema as `/Schemas` publishes it and requests are parsed with.
    pub fn schema_def(&self) -> SchemaDef {
        SchemaDef {
            id: self.urn.clone(),
            name: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
            attributes: self
                .attributes
                .iter()
                .map(CustomAttribute::attribute_def)
                .collect(),
        }
    }
}

impl CustomAttribute {
    fn attribute_def(&self) -> AttributeDef {
        let meta = self.meta();
        let mut def = AttributeDef::new(meta.name, meta.kind)
            .describe(self.description.clone().unwrap_or_default())
            .mutability(meta.mutability)
            .returned(meta.returned)
            .sub_attributes(
                self.sub_attributes
                    .iter()
                    .map(CustomAttribute::attribute_def)
                    .collect(),
            );
        def.multi_valued = meta.multi_valued;
        def.required = meta.required;
        def.case_exact = meta.case_exact;
        def
    }

    /// The attribute as the SCIM protocol core describes attributes.
    pub fn meta(&self) -> AttrMeta {
        AttrMeta {
            name: self.name.clone(),
            kind: self.kind,
            multi_valued: self.multi_valued,
            case_exact: self.case_exact,
            mutability: self.mutability,
            returned: if self.mutability == Mutability::WriteOnly {
                Returned::Never
            } else {
                Returned::Default
            },
            required: self.required,
        }
    }
}

pub(super) fn compile_schemas(raw: &[RawSchema]) -> Result<Vec<CustomSchema>, Problem> {
    let mut out: Vec<CustomSchema> = Vec::new();
    for (index, schema) in raw.iter().enumerate() {
        let at = NodePath::entry(Section::Schema, index);
        check_urn(&schema.urn, &out, &at.key("urn"))?;
        if schema.name.trim().is_empty() {
            return Err(Problem::new(at.key("name"), "the schema has no name")
                .hint("give it the name /Schemas shows, such as `AcmeUser`"));
        }
        if let Some(alias) = &schema.alias {
            check_alias(alias, &out, &at.key("alias"))?;
        }
        if schema.attributes.is_empty() {
            return Err(
                Problem::new(at.key("attributes"), "the schema declares no attributes")
                    .hint("list at least one attribute: `- {name: badgeNumber, type: string}`"),
            );
        }
        out.push(CustomSchema {
            urn: schema.urn.clone(),
            name: schema.name.clone(),
            description: schema.description.clone(),
            alias: schema.alias.clone(),
            attributes: compile_attributes(&schema.attributes, &at.key("attributes"), true)?,
        });
    }
    Ok(out)
}

fn check_urn(urn: &str, earlier: &[CustomSchema], at: &NodePath) -> Result<(), Problem> {
    let shape_ok = urn.len() > 4
        && starts_with_ignoring_case(urn, "urn:")
        && !urn.ends_with(':')
        && !urn.contains(char::is_whitespace);
    if !shape_ok {
        return Err(
            Problem::new(at.clone(), format!("\"{urn}\" is not a schema URN")).hint(
                "write a URN such as `urn:example:params:scim:schemas:extension:acme:2.0:User`",
            ),
        );
    }
    if urn.eq_ignore_ascii_case(CORE_URN) || urn.eq_ignore_ascii_case(ENTERPRISE_URN) {
        return Err(Problem::new(at.clone(), format!("{urn} is built in"))
            .hint("rules can use its attributes without declaring it; delete this schema"));
    }
    if urn.eq_ignore_ascii_case(GROUP_URN) {
        return Err(
            Problem::new(at.clone(), format!("{urn} is the Group schema"))
                .hint("custom schemas extend the User resource; give yours its own URN"),
        );
    }
    if earlier.iter().any(|s| s.urn.eq_ignore_ascii_case(urn)) {
        return Err(Problem::new(at.clone(), format!("{urn} is declared twice"))
            .hint("merge the two declarations into one"));
    }
    Ok(())
}

fn check_alias(alias: &str, earlier: &[CustomSchema], at: &NodePath) -> Result<(), Problem> {
    let shape_ok = alias.starts_with(|c: char| c.is_ascii_lowercase())
        && alias
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !shape_ok {
        return Err(Problem::new(at.clone(), format!("\"{alias}\" is not a usable alias"))
            .hint("use lower-case letters, digits, `_` and `-`, starting with a letter, such as `acme`"));
    }
    let taken = alias == ENTERPRISE_ALIAS
        || alias == "urn"
        || earlier.iter().any(|s| s.alias.as_deref() == Some(alias));
    if taken {
        return Err(Problem::new(
            at.clone(),
            format!("the alias \"{alias}\" is already taken"),
        )
        .hint("choose another short name"));
    }
    Ok(())
}

fn compile_attributes(
    raw: &[RawAttribute],
    at: &NodePath,
    top_level: bool,
) -> Result<Vec<CustomAttribute>, Problem> {
    let mut out: Vec<CustomAttribute> = Vec::new();
    for (index, attr) in raw.iter().enumerate() {
        let here = at.index(index);
        if !is_attribute_name(&attr.name) {
            return Err(Problem::new(
                here.key("name"),
                format!("\"{}\" is not a SCIM attribute name", attr.name),
            )
            .hint("start with a letter; then letters, digits, `_` or `-` (RFC 7643 §2.1)"));
        }
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(&attr.name)) {
            return Err(Problem::new(
                here.key("name"),
                format!("the attribute \"{}\" is declared twice", attr.name),
            )
            .hint("SCIM attribute names ignore case; rename or delete one"));
        }
        let complex = attr.kind == RawAttrType::Complex;
        if complex && !top_level {
            return Err(
                Problem::new(here.key("type"), "a sub-attribute cannot be complex")
                    .hint("SCIM allows one level of sub-attributes (RFC 7643 §2.3.8)"),
            );
        }
        if complex && attr.sub_attributes.is_empty() {
            return Err(
                Problem::new(here.key("type"), "a complex attribute needs sub-attributes")
                    .hint("add `sub_attributes:` with at least one attribute"),
            );
        }
        if !complex && !attr.sub_attributes.is_empty() {
            return Err(Problem::new(
                here.key("sub_attributes"),
                "only complex attributes have sub-attributes",
            )
            .hint("set `type: complex` or delete `sub_attributes`"));
        }
        out.push(CustomAttribute {
            name: attr.name.clone(),
            kind: attr_type(attr.kind),
            multi_valued: attr.multi_valued,
            required: attr.required,
            case_exact: attr.case_exact,
            mutability: attr.mutability.map_or(Mutability::ReadWrite, mutability),
            description: attr.description.clone(),
            sub_attributes: compile_attributes(
                &attr.sub_attributes,
                &here.key("sub_attributes"),
                false,
            )?,
        });
    }
    Ok(out)
}

/// RFC 7643 §2.1 ATTRNAME.
pub(super) fn is_attribute_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn attr_type(raw: RawAttrType) -> AttrType {
    match raw {
        RawAttrType::String => AttrType::String,
        RawAttrType::Boolean => AttrType::Boolean,
        RawAttrType::Decimal => AttrType::Decimal,
        RawAttrType::Integer => AttrType::Integer,
        RawAttrType::DateTime => AttrType::DateTime,
        RawAttrType::Reference => AttrType::Reference,
        RawAttrType::Binary => AttrType::Binary,
        RawAttrType::Complex => AttrType::Complex,
    }
}

fn mutability(raw: RawMutability) -> Mutability {
    match raw {
        RawMutability::ReadOnly => Mutability::ReadOnly,
        RawMutability::ReadWrite => Mutability::ReadWrite,
        RawMutability::Immutable => Mutability::Immutable,
        RawMutability::WriteOnly => Mutability::WriteOnly,
    }
}
