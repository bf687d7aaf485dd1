//! What the bridge makes of a SCIM group the IdP creates, under one
//! mapping and touching no server: the kind of group it becomes, the
//! Drupal document that creates it and the roles its members get. Used by
//! `drupal-scim-bridge map`, computed with the same rules as `POST /Groups`.

use serde_json::{json, Map, Value};

use super::groups::{display_name, external_id};
use super::term_groups::{new_group_id, vocabulary};
use super::ProvisioningError;
use crate::drupal::TermWrite;
use crate::mapping::Mapping;
use crate::scim::caseless;
use crate::scim::error::ScimError;
use crate::scim::members::member_ids;

/// The preview of `resource` (a SCIM Group as an IdP POSTs it).
pub fn preview_group(
    mapping: &Mapping,
    resource: &Map<String, Value>,
) -> Result<Value, ProvisioningError> {
    let name = display_name(resource)?;
    let members = match resource.get("members") {
        Some(value) => member_ids(value)?,
        None => Vec::new(),
    };
    let exposed = mapping
        .exposed_groups()
        .iter()
        .find(|g| caseless::same(&g.display_name, name));
    if let Some(group) = exposed {
        return Ok(json!({
            "group": group.display_name,
            "kind": "role",
            "role": group.role,
            "members_get_roles": [group.role],
            "allow_protected": group.allow_protected,
            "members": members,
            "note": "a role-backed group: the Drupal role exists already; POST /Groups adds the members to it",
        }));
    }
    let Some(terms) = mapping.group_terms() else {
        return Err(ScimError::invalid_value(format!(
            "this mapping serves no group called \"{}\": without `group_terms`, a group must be a role listed under `groups:` with `role:`",
            crate::untrusted::quote(name)
        ))
        .into());
    };
    // A create chooses a new random id: this one shows the form only.
    let id = new_group_id();
    let write = TermWrite {
        name: Some(name.to_string()),
        external_id: Some(external_id(resource)?),
        published: Some(terms.published),
    };
    let grant = mapping.grant_for(name);
    let mut preview = json!({
        "group": name,
        "kind": "term",
        "term": write.document(&vocabulary(terms), &id),
        "members_get_roles": grant.map(|g| g.roles.clone()).unwrap_or_default(),
        "allow_protected": grant.is_some_and(|g| g.allow_protected),
        "members": members,
    });
    if grant.is_none() {
        if let Some(fields) = preview.as_object_mut() {
            fields.insert(
                "note".into(),
                json!("the mapping's `groups:` does not name this group: it is kept and listed, and grants no role"),
            );
        }
    }
    Ok(preview)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: emails.value, drupal: mail}
group_terms:
  external_id_field: field_scim_external_id
groups:
  - {role: editor, display_name: Editors}
  - {display_name: Engineering, roles: [engineering, reviewer]}
"#;

    fn preview(group: Value) -> Result<Value, ProvisioningError> {
        let mapping = Mapping::parse(MAPPING, "test").unwrap();
        preview_group(&mapping, group.as_object().unwrap())
    }

    #[test]
    fn a_named_term_group_shows_its_term_document_and_the_roles_it_grants() {
        let out = preview(json!({"displayName": "engineering", "externalId": "e-1",
                                 "members": [{"value": "u1"}]}))
        .unwrap();
        assert_eq!(out["kind"], "term");
        assert_eq!(out["members_get_roles"], json!(["engineering", "reviewer"]));
        assert_eq!(out["members"], json!(["u1"]));
        let id = out["term"]["data"]["id"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        assert_eq!(out["term"]["data"]["type"], "taxonomy_term--scim_groups");
        assert_eq!(
            out["term"]["data"]["attributes"],
            json!({"name": "engineering", "field_scim_external_id": "e-1", "status": false})
        );
        assert!(out.get("note").is_none());
    }

    #[test]
    fn an_unnamed_term_group_grants_nothing_and_says_so() {
        let out = preview(json!({"displayName": "Sales"})).unwrap();
        assert_eq!(out["members_get_roles"], json!([]));
        assert!(out["note"].as_str().unwrap().contains("grants no role"));
    }

    #[test]
    fn a_role_backed_group_names_its_role() {
        let out = preview(json!({"displayName": "EDITORS"})).unwrap();
        assert_eq!(out["kind"], "role");
        assert_eq!(out["role"], "editor");
    }

    #[test]
    fn without_group_terms_an_unknown_group_is_refused_with_the_reason() {
        let mapping =
            Mapping::parse("rules:\n  - {scim: userName, drupal: name}\n", "test").unwrap();
        let err =
            preview_group(&mapping, json!({"displayName": "X"}).as_object().unwrap()).unwrap_err();
        assert!(err.to_string().contains("group_terms"), "{err}");
        assert!(preview(json!({"displayName": " "})).is_err());
    }
}
