//! A Drupal user rendered as a SCIM User resource.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use crate::drupal::DrupalUser;
use crate::mapping::Mapping;
use crate::scim::schema::USER_URN;

/// A SCIM user on its way out. `meta.location` is added by the HTTP layer,
/// which knows the public URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub id: String,
    pub resource: Map<String, Value>,
    /// Weak ETag from Drupal's `changed`.
    pub version: String,
}

pub fn render_user(user: &DrupalUser, mapping: &Mapping) -> ScimUser {
    let mut resource = mapping.from_drupal(&user.attributes, &user.relationships);
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
