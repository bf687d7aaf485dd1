//! `drupal-scim-bridge map`: what a mapping makes of one user, both ways,
//! computed exactly as `serve` computes it and touching no server.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::drupal::DrupalUser;
use crate::mapping::{Mapping, MappingError};
use crate::provisioning::{
    new_account, preview_group, render_user, ActiveMapping, ProvisioningError, RoleCatalog,
};
use crate::scim::error::ScimError;
use crate::scim::resource::parse_resource;
use crate::scim::schema::{SchemaError, GROUP_URN};

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the input is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("{0}")]
    WrongInput(String),
    #[error("the SCIM user is not valid: {}", .0.detail)]
    Scim(ScimError),
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("the SCIM group is not valid: {0}")]
    Group(#[from] ProvisioningError),
    #[error("the mapping's schemas do not fit the built-in ones: {0}")]
    Schemas(#[from] SchemaError),
}

/// The mapping with the schemas it publishes, ready to convert users.
pub struct Preview {
    active: ActiveMapping,
}

impl Preview {
    pub fn new(mapping: Mapping) -> Result<Preview, PreviewError> {
        Ok(Preview {
            active: ActiveMapping::new(Arc::new(mapping))?,
        })
    }

    /// A SCIM user, as an IdP POSTs it, to the JSON:API document the bridge
    /// would send to create the Drupal account. Roles the role rules grant
    /// are listed in the document's `meta`: the bridge writes them by role
    /// UUID, which only the site knows.
    pub fn to_drupal(&self, scim_user: &str) -> Result<Value, PreviewError> {
        let body: Value = serde_json::from_str(scim_user)?;
        if looks_like_jsonapi(&body) {
            return Err(PreviewError::WrongInput(
                "the input is a Drupal JSON:API document, not a SCIM user; add --reverse to convert it to SCIM".into(),
            ));
        }
        if let Some(group) = as_group(&body) {
            return Ok(preview_group(&self.active.mapping, group)?);
        }
        let resource =
            parse_resource(&body, &self.active.user_schema).map_err(PreviewError::Scim)?;
        let write = new_account(&self.active.mapping, &resource, None)?;
        let mut document = write.to_document();
        let roles = self.active.mapping.roles_for(&resource);
        if let (false, Some(members)) = (roles.is_empty(), document.as_object_mut()) {
            members.insert(
                "meta".into(),
                json!({ "roles_granted_by_role_rules": roles }),
            );
        }
        Ok(document)
    }

    /// A Drupal JSON:API user document (or its `data` resource) to the SCIM
    /// user the bridge would return to the IdP.
    pub fn to_scim(&self, drupal_user: &str) -> Result<Value, PreviewError> {
        let body: Value = serde_json::from_str(drupal_user)?;
        let resource = body.get("data").unwrap_or(&body);
        if resource.is_array() {
            return Err(PreviewError::WrongInput(
                "the input is a collection; give one user (one element of `data`)".into(),
            ));
        }
        if !looks_like_jsonapi(&body) {
            return Err(PreviewError::WrongInput(
                "the input is not a Drupal JSON:API user (no `data` or `attributes`); to convert a SCIM user, leave out --reverse".into(),
            ));
        }
        let user = DrupalUser::from_resource(resource.clone()).ok_or_else(|| {
            PreviewError::WrongInput("the Drupal user has no `id` (its UUID)".into())
        })?;
        // Which roles are groups is the site's to say: none without one.
        let scim = render_user(&user, &self.active.mapping, &RoleCatalog::empty());
        Ok(Value::Object(scim.resource))
    }
}

/// A SCIM Group (by its schema, or a `displayName` with no `userName`),
/// rather than a user.
fn as_group(body: &Value) -> Option<&serde_json::Map<String, Value>> {
    let fields = body.as_object()?;
    let schema = fields
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(GROUP_URN)));
    let shaped = fields.contains_key("displayName")
        && !["userName", "name", "emails"]
            .iter()
            .any(|k| fields.contains_key(*k));
    (schema || shaped).then_some(fields)
}

/// A JSON:API document or resource object, rather than a SCIM resource.
fn looks_like_jsonapi(body: &Value) -> bool {
    body.as_object()
        .is_some_and(|m| m.contains_key("data") || m.contains_key("attributes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: emails.value, drupal: mail}
  - {scim: active, drupal: status}
  - {scim: password, drupal: pass}
  - {scim: "enterprise:department", drupal: field_department}
role_rules:
  - {when: 'enterprise:department eq "Engineering"', role: engineering}
"#;

    fn preview() -> Preview {
        Preview::new(Mapping::parse(MAPPING, "test.yaml").expect("mapping")).expect("preview")
    }

    #[test]
    fn a_scim_user_becomes_the_create_document_with_granted_roles_in_meta() {
        let document = preview()
            .to_drupal(
                r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ada", "active": "True", "password": "pw",
                    "emails": {"value": "ada@example.org"},
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering"}}"#,
            )
            .expect("converted");
        assert_eq!(
            document,
            json!({
                "data": {"type": "user--user", "attributes": {
                    "name": "ada", "mail": "ada@example.org", "status": true,
                    "pass": {"value": "pw"}, "field_department": "Engineering"
                }},
                "meta": {"roles_granted_by_role_rules": ["engineering"]}
            })
        );
    }

    #[test]
    fn a_drupal_user_becomes_the_scim_user_the_idp_reads() {
        let user = preview()
            .to_scim(
                r#"{"data": {"type": "user--user", "id": "6f1c0b7e-3b7a-4c55-9d7e-0a4e8b1f2c3d",
                    "attributes": {"name": "ada", "mail": "ada@example.org", "status": false,
                                   "field_department": "Sales", "changed": "2024-05-01T10:00:00+00:00"}}}"#,
            )
            .expect("converted");
        assert_eq!(user["id"], "6f1c0b7e-3b7a-4c55-9d7e-0a4e8b1f2c3d");
        assert_eq!(user["userName"], "ada");
        assert_eq!(user["active"], false);
        assert_eq!(
            user["emails"],
            json!([{"value": "ada@example.org", "primary": true}])
        );
        assert_eq!(
            user["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Sales"
        );
        assert_eq!(user["meta"]["resourceType"], "User");
    }

    #[test]
    fn input_in_the_other_direction_is_refused_with_the_flag_to_use() {
        let err = preview()
            .to_drupal(r#"{"data": {"type": "user--user", "id": "x", "attributes": {}}}"#)
            .expect_err("wrong direction");
        assert!(err.to_string().contains("add --reverse"), "{err}");
        let err = preview()
            .to_scim(r#"{"userName": "ada"}"#)
            .expect_err("wrong direction");
        assert!(err.to_string().contains("leave out --reverse"), "{err}");
    }

    #[test]
    fn a_value_the_field_cannot_take_names_the_rule() {
        let mapping = "rules:\n  - {scim: userName, drupal: name}\n  - {scim: title, drupal: field_vip, type: boolean}\n";
        let preview =
            Preview::new(Mapping::parse(mapping, "m.yaml").expect("mapping")).expect("preview");
        let err = preview
            .to_drupal(r#"{"userName": "ada", "title": "maybe"}"#)
            .expect_err("not a boolean");
        assert!(err.to_string().starts_with("rule 2 (scim: title)"), "{err}");
    }
}
