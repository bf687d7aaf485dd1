//! Drupal users and roles rendered as SCIM User and Group resources.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::roles::{ExposedGroup, RoleCatalog};
use crate::drupal::DrupalUser;
use crate::mapping::Mapping;
use crate::scim::schema::{GROUP_URN, USER_URN};

/// A SCIM user on its way out. `meta.location` is added by the HTTP layer,
/// which knows the public URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub id: String,
    pub resource: Map<String, Value>,
    /// Weak ETag from Drupal's `changed`.
    pub version: String,
}

/// `groups` lists the exposed groups the user holds, read from the user's
/// own `roles` relationship (no request of its own); `$ref` is added by the
/// HTTP layer with the public URL.
pub fn render_user(user: &DrupalUser, mapping: &Mapping, catalog: &RoleCatalog) -> ScimUser {
    let mut resource = mapping.from_drupal(&user.attributes, &user.relationships);
    let groups: Vec<Value> = catalog
        .groups_of(user)
        .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct"}))
        .collect();
    if !groups.is_empty() {
        resource.insert("groups".into(), Value::Array(groups));
    }
    let mut schemas = vec![Value::String(USER_URN.into())];
    schemas.extend(
        resource
            .keys()
            .filter(|k| k.starts_with("urn:"))
            .map(|k| Value::String(k.clone())),
    );
    let version = version_of(user);
    let mut meta = Map::new();
    meta.insert("resourceType".into(), json!("User"));
    if let Some(created) = user.attribute_str("created") {
        meta.insert("created".into(), json!(created));
    }
    if let Some(changed) = user.attribute_str("changed") {
        meta.insert("lastModified".into(), json!(changed));
    }
    meta.insert("version".into(), json!(version));
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.insert("id".into(), Value::String(user.id.clone()));
    resource.insert("meta".into(), Value::Object(meta));
    ScimUser {
        id: user.id.clone(),
        resource,
        version,
    }
}

/// `W/"<seconds>"` from Drupal's `changed`, which moves on every save.
fn version_of(user: &DrupalUser) -> String {
    let stamp = user
        .attribute_str("changed")
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp().to_string())
        .unwrap_or_else(|| "0".into());
    format!("W/\"{stamp}\"")
}

/// A SCIM group on its way out; `meta.location` and the members' `$ref`
/// are added by the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroup {
    pub id: String,
    pub resource: Map<String, Value>,
}

/// `members` is `None` when the client left them out (they were not read).
pub fn render_group(group: &ExposedGroup, members: Option<&[DrupalUser]>) -> ScimGroup {
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([GROUP_URN]));
    resource.insert("id".into(), json!(group.id));
    resource.insert("displayName".into(), json!(group.display_name));
    if let Some(members) = members {
        let members: Vec<Value> = members
            .iter()
            .map(|u| {
                let mut member = Map::new();
                member.insert("value".into(), json!(u.id));
                if let Some(name) = u.name() {
                    member.insert("display".into(), json!(name));
                }
                member.insert("type".into(), json!("User"));
                Value::Object(member)
            })
            .collect();
        resource.insert("members".into(), Value::Array(members));
    }
    resource.insert("meta".into(), json!({"resourceType": "Group"}));
    ScimGroup {
        id: group.id.clone(),
        resource,
    }
}
