//! The User schema as this bridge serves it: `/Schemas` lists only the
//! attributes the mapping keeps in Drupal, so a client (an IdP's attribute
//! editor, a conformance tool) sees what a write will keep. Requests are
//! still read against the whole RFC 7643 schema: an attribute the mapping
//! does not keep is accepted and ignored (RFC 7644 §3.3), never refused.

use crate::mapping::{MappedAttribute, Mapping};
use crate::scim::attributes::{AttrType, Mutability, Returned};
use crate::scim::schema::{
    AttributeDef, ResourceTypeDef, SchemaDef, SchemaError, SchemaRegistry, ENTERPRISE_USER_URN,
};

/// The whole RFC 7643 schemas, with Group as this bridge serves it.
pub fn full_registry() -> Result<SchemaRegistry, SchemaError> {
    SchemaRegistry::new(
        vec![
            SchemaDef::user(),
            SchemaDef::enterprise_user(),
            group_schema(),
        ],
        vec![ResourceTypeDef::user(), group_resource_type()],
    )
}

/// The registry `/Schemas` and `/ResourceTypes` serve for `mapping`.
pub fn published_registry(mapping: &Mapping) -> Result<SchemaRegistry, SchemaError> {
    let mapped = mapping.advertised_attributes();
    let user = narrowed(&SchemaDef::user(), &mapped);
    let enterprise = narrowed(&SchemaDef::enterprise_user(), &mapped);
    let mut user_type = ResourceTypeDef::user();
    let mut schemas = vec![user];
    if enterprise.attributes.is_empty() {
        user_type
            .schema_extensions
            .retain(|(urn, _)| urn != ENTERPRISE_USER_URN);
    } else {
        schemas.push(enterprise);
    }
    schemas.push(published_group_schema(mapping.group_terms().is_some()));
    SchemaRegistry::new(schemas, vec![user_type, published_group_type(mapping)])
}

/// The Group schema as this bridge serves it: `displayName` can be given when
/// a group is linked but never changed, since Drupal cannot rename roles.
pub fn group_schema() -> SchemaDef {
    let mut schema = SchemaDef::group();
    for attr in schema
        .attributes
        .iter_mut()
        .filter(|a| a.name == "displayName")
    {
        attr.mutability = Mutability::Immutable;
    }
    schema
}

/// The Group schema `/Schemas` publishes. With `term_groups` most groups are
/// taxonomy terms, which can be renamed, so `displayName` is `readWrite`
/// (one attribute has one mutability); its description says that a group
/// kept as a Drupal role still refuses a rename.
fn published_group_schema(term_groups: bool) -> SchemaDef {
    if !term_groups {
        return group_schema();
    }
    let mut schema = SchemaDef::group();
    for attr in schema
        .attributes
        .iter_mut()
        .filter(|a| a.name == "displayName")
    {
        attr.mutability = Mutability::ReadWrite;
        attr.description = "A human-readable name for the Group. REQUIRED. A group kept as a taxonomy term can be renamed; a group kept as a Drupal role (the mapping's groups section) cannot, and a rename of it is refused with 400 mutability.".into();
    }
    schema
}

/// What a group is, whatever the mapping: for reading requests.
fn group_resource_type() -> ResourceTypeDef {
    ResourceTypeDef {
        description: format!("{ROLE_GROUPS}, and, with the mapping's group_terms, {TERM_GROUPS}"),
        ..ResourceTypeDef::group()
    }
}

const ROLE_GROUPS: &str = "Drupal roles listed in the mapping's groups section (members are the accounts holding the role; roles are created, renamed and deleted in Drupal)";
const TERM_GROUPS: &str =
    "any other group as a taxonomy term created, renamed and deleted over SCIM";

/// The Group resource type `/ResourceTypes` publishes: what a group is
/// with the mapping in use.
fn published_group_type(mapping: &Mapping) -> ResourceTypeDef {
    let roles = !mapping.exposed_groups().is_empty();
    let description = match (roles, mapping.group_terms()) {
        (true, Some(terms)) => format!(
            "{ROLE_GROUPS}, and {TERM_GROUPS} (vocabulary {})",
            terms.vocabulary
        ),
        (true, None) => format!("{ROLE_GROUPS}; no other group can be created"),
        (false, Some(terms)) => format!(
            "Groups kept as taxonomy terms of the vocabulary {}, created, renamed and deleted over SCIM",
            terms.vocabulary
        ),
        (false, None) => "None: the mapping exposes no Drupal role as a group and keeps no group as a taxonomy term".to_string(),
    };
    ResourceTypeDef {
        description,
        ..ResourceTypeDef::group()
    }
}

fn narrowed(schema: &SchemaDef, mapped: &[MappedAttribute]) -> SchemaDef {
    let attributes = schema
        .attributes
        .iter()
        .filter_map(|attr| {
            // Group memberships come from Drupal roles, not from rules.
            if attr.name == "groups" {
                return Some(attr.clone());
            }
            let rules: Vec<&MappedAttribute> = mapped
                .iter()
                .filter(|m| {
                    m.schema.eq_ignore_ascii_case(&schema.id)
                        && m.attr.eq_ignore_ascii_case(&attr.name)
                })
                .collect();
            published_attribute(attr, &rules)
        })
        .collect();
    SchemaDef {
        attributes,
        ..schema.clone()
    }
}

/// `attr` as far as `rules` keep it; `None` when they keep nothing of it.
fn published_attribute(attr: &AttributeDef, rules: &[&MappedAttribute]) -> Option<AttributeDef> {
    if rules.is_empty() {
        return None;
    }
    let mut published = with_access(attr.clone(), rules);
    if attr.kind == AttrType::Complex {
        published.sub_attributes = attr
            .sub_attributes
            .iter()
            .filter_map(|sub| published_sub_attribute(attr, sub, rules))
            .collect();
        if published.sub_attributes.is_empty() {
            return None;
        }
    }
    Some(published)
}

fn published_sub_attribute(
    parent: &AttributeDef,
    sub: &AttributeDef,
    rules: &[&MappedAttribute],
) -> Option<AttributeDef> {
    let naming: Vec<&MappedAttribute> = rules
        .iter()
        .copied()
        .filter(|r| {
            r.sub_attr
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(&sub.name))
        })
        .collect();
    if !naming.is_empty() {
        return Some(with_access(sub.clone(), &naming));
    }
    // Elements of a multi-valued attribute carry the `type` and `primary`
    // their rules select; the values a `type` can take are those.
    if !parent.multi_valued {
        return None;
    }
    match sub.name.as_str() {
        "type" => {
            let mut types: Vec<&str> = rules
                .iter()
                .filter_map(|r| r.element_type.as_deref())
                .collect();
            types.sort_unstable();
            types.dedup();
            (!types.is_empty()).then(|| sub.clone().canonical_values(&types))
        }
        "primary" => rules.iter().any(|r| r.marks_primary).then(|| sub.clone()),
        _ => None,
    }
}

/// An attribute only read back is read-only; one only written is
/// write-only and never returned.
fn with_access(attr: AttributeDef, rules: &[&MappedAttribute]) -> AttributeDef {
    let reads = rules.iter().any(|r| r.reads);
    let writes = rules.iter().any(|r| r.writes);
    match (reads, writes) {
        (true, false) => attr.mutability(Mutability::ReadOnly),
        (false, _) => attr
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
        (true, true) => attr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_URN;

    const MAPPING: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: emails.value, prefer: [primary, work], drupal: mail}
  - {scim: name.givenName, drupal: field_first_name}
  - {scim: password, drupal: pass}
  - {scim: nickName, drupal: display_name}
"#;

    fn user_schema(mapping: &str) -> serde_json::Value {
        let mapping = Mapping::parse(mapping, "test.yaml").expect("test mapping");
        published_registry(&mapping)
            .unwrap()
            .schema_json(USER_URN, "https://bridge.example/scim/v2")
            .expect("the user schema")
    }

    fn attribute<'a>(schema: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
        schema["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name))
    }

    fn sub_names(attr: &serde_json::Value) -> Vec<&str> {
        attr["subAttributes"]
            .as_array()
            .map(|subs| subs.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn only_attributes_a_rule_keeps_are_published() {
        let schema = user_schema(MAPPING);
        assert!(attribute(&schema, "userName").is_some());
        assert!(attribute(&schema, "title").is_none());
        assert!(attribute(&schema, "addresses").is_none());
        assert!(
            attribute(&schema, "groups").is_some(),
            "groups come from roles"
        );
    }

    #[test]
    fn complex_attributes_keep_only_their_mapped_sub_attributes() {
        let schema = user_schema(MAPPING);
        let name = attribute(&schema, "name").expect("name");
        assert_eq!(sub_names(name), vec!["givenName"]);
    }

    #[test]
    fn elements_show_the_type_and_primary_their_rules_select() {
        let schema = user_schema(MAPPING);
        let emails = attribute(&schema, "emails").expect("emails");
        assert_eq!(sub_names(emails), vec!["value", "type", "primary"]);
        let kind = &emails["subAttributes"][1];
        assert_eq!(kind["canonicalValues"], serde_json::json!(["work"]));
    }

    #[test]
    fn written_only_is_write_only_and_read_only_is_read_only() {
        let schema = user_schema(MAPPING);
        let password = attribute(&schema, "password").expect("password");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        let nick = attribute(&schema, "nickName").expect("nickName");
        assert_eq!(nick["mutability"], "readOnly");
    }

    #[test]
    fn the_group_display_name_is_read_write_only_with_term_groups() {
        let display_name = |mapping: &str| {
            let mapping = Mapping::parse(mapping, "test.yaml").expect("test mapping");
            let group = published_registry(&mapping)
                .unwrap()
                .schema_json(crate::scim::schema::GROUP_URN, "https://b.example")
                .expect("the group schema");
            attribute(&group, "displayName")
                .expect("displayName")
                .clone()
        };
        assert_eq!(display_name(MAPPING)["mutability"], "immutable");
        let terms = display_name(&format!("{MAPPING}group_terms: {{}}\n"));
        assert_eq!(terms["mutability"], "readWrite");
        assert!(
            terms["description"].as_str().unwrap().contains("role"),
            "{terms}"
        );
    }

    /// A template's placeholders are accepted and written: published,
    /// write-only where no rule reads them back.
    #[test]
    fn attributes_read_only_through_a_template_are_published_write_only() {
        let schema = user_schema(&format!(
            "{MAPPING}  - {{template: \"{{name.familyName}}, {{name.honorificPrefix}} {{emails[type eq \\\"home\\\"].value}}\", drupal: field_display_name}}\n  - {{template: \"{{title}} {{nickName}}\", drupal: field_label}}\n"
        ));
        let name = attribute(&schema, "name").expect("name");
        assert_eq!(
            sub_names(name),
            vec!["familyName", "givenName", "honorificPrefix"],
            "{name}"
        );
        let sub = |attr: &serde_json::Value, wanted: &str| {
            attr["subAttributes"]
                .as_array()
                .and_then(|subs| subs.iter().find(|s| s["name"] == wanted))
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(sub(name, "familyName")["mutability"], "writeOnly");
        assert_eq!(sub(name, "familyName")["returned"], "never");
        assert_eq!(sub(name, "givenName")["mutability"], "readWrite");
        let title = attribute(&schema, "title").expect("title, from a template");
        assert_eq!(title["mutability"], "writeOnly");
        assert_eq!(title["returned"], "never");
        // Read back by a rule, written by a template too: both ways.
        let nick = attribute(&schema, "nickName").expect("nickName");
        assert_eq!(nick["mutability"], "readWrite");
        let emails = attribute(&schema, "emails").expect("emails");
        assert_eq!(
            emails["subAttributes"][1]["canonicalValues"],
            serde_json::json!(["home", "work"])
        );
    }

    #[test]
    fn the_group_resource_type_describes_the_groups_of_the_mapping() {
        let description = |mapping: &str| {
            let mapping = Mapping::parse(mapping, "test.yaml").expect("test mapping");
            let registry = published_registry(&mapping).unwrap();
            let group = registry
                .resource_type_json("Group", "https://b.example")
                .expect("the Group resource type");
            group["description"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let roles = "groups:\n  - {role: editor, display_name: Editors}\n";
        let none = description(MAPPING);
        assert!(
            !none.contains("group_terms") && !none.contains("taxonomy term,"),
            "{none}"
        );
        let only_roles = description(&format!("{MAPPING}{roles}"));
        assert!(only_roles.contains("Drupal roles"), "{only_roles}");
        assert!(!only_roles.contains("taxonomy"), "{only_roles}");
        let only_terms = description(&format!("{MAPPING}group_terms: {{vocabulary: teams}}\n"));
        assert!(
            only_terms.contains("taxonomy terms of the vocabulary teams"),
            "{only_terms}"
        );
        assert!(!only_terms.contains("Drupal roles"), "{only_terms}");
        let both = description(&format!("{MAPPING}{roles}group_terms: {{}}\n"));
        assert!(
            both.contains("Drupal roles") && both.contains("scim_groups"),
            "{both}"
        );
    }

    #[test]
    fn the_enterprise_extension_is_published_only_when_mapped() {
        let mapping = Mapping::parse(MAPPING, "test.yaml").expect("test mapping");
        let registry = published_registry(&mapping).unwrap();
        assert!(registry
            .schema_json(ENTERPRISE_USER_URN, "https://b.example")
            .is_none());
        let with_department =
            format!("{MAPPING}  - {{scim: \"enterprise:department\", drupal: field_department}}\n");
        let mapping = Mapping::parse(&with_department, "test.yaml").expect("test mapping");
        let registry = published_registry(&mapping).unwrap();
        let enterprise = registry
            .schema_json(ENTERPRISE_USER_URN, "https://b.example")
            .expect("published");
        assert_eq!(enterprise["attributes"].as_array().map(Vec::len), Some(1));
    }
}
