//! `GET /ServiceProviderConfig` (RFC 7643 §5): what the server supports.
//! Start from `ServiceProviderConfig::default()` and override fields with
//! struct update syntax; `to_json` renders the document.

use serde_json::{json, Map, Value};

const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// RFC 7643 §5 `bulk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSupport {
    pub supported: bool,
    pub max_operations: u32,
    /// Bytes.
    pub max_payload_size: u64,
}

/// RFC 7643 §5 `filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterSupport {
    pub supported: bool,
    pub max_results: u32,
}

/// One entry of RFC 7643 §5 `authenticationSchemes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationScheme {
    /// `oauthbearertoken`, `httpbasic`, ...
    pub kind: String,
    pub name: String,
    pub description: String,
    pub spec_uri: Option<String>,
    pub documentation_uri: Option<String>,
    pub primary: bool,
}

impl AuthenticationScheme {
    /// A bearer token in the `Authorization` header (RFC 6750).
    pub fn oauth_bearer_token() -> Self {
        AuthenticationScheme {
            kind: "oauthbearertoken".into(),
            name: "OAuth Bearer Token".into(),
            description: "Authentication with a bearer token in the Authorization header".into(),
            spec_uri: Some("https://www.rfc-editor.org/info/rfc6750".into()),
            documentation_uri: None,
            primary: true,
        }
    }

    fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), json!(self.kind));
        obj.insert("name".into(), json!(self.name));
        obj.insert("description".into(), json!(self.description));
        insert_present(&mut obj, "specUri", self.spec_uri.as_deref());
        insert_present(
            &mut obj,
            "documentationUri",
            self.documentation_uri.as_deref(),
        );
        obj.insert("primary".into(), json!(self.primary));
        Value::Object(obj)
    }
}

/// Absent optional members are left out, never rendered as `null`.
fn insert_present(obj: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        obj.insert(key.into(), json!(value));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProviderConfig {
    pub documentation_uri: Option<String>,
    pub patch: bool,
    pub bulk: BulkSupport,
    pub filter: FilterSupport,
    pub change_password: bool,
    pub sort: bool,
    pub etag: bool,
    pub authentication_schemes: Vec<AuthenticationScheme>,
}

impl Default for ServiceProviderConfig {
    /// PATCH and filtering with at most 200 results, bearer-token
    /// authentication; no bulk, password change, sorting or ETags.
    fn default() -> Self {
        ServiceProviderConfig {
            documentation_uri: None,
            patch: true,
            bulk: BulkSupport {
                supported: false,
                max_operations: 0,
                max_payload_size: 0,
            },
            filter: FilterSupport {
                supported: true,
                max_results: 200,
            },
            change_password: false,
            sort: false,
            etag: false,
            authentication_schemes: vec![AuthenticationScheme::oauth_bearer_token()],
        }
    }
}

impl ServiceProviderConfig {
    pub fn to_json(&self, base_url: &str) -> Value {
        let supported = |flag: bool| json!({ "supported": flag });
        let mut obj = Map::new();
        obj.insert("schemas".into(), json!([SERVICE_PROVIDER_CONFIG_URN]));
        insert_present(
            &mut obj,
            "documentationUri",
            self.documentation_uri.as_deref(),
        );
        obj.insert("patch".into(), supported(self.patch));
        obj.insert(
            "bulk".into(),
            json!({
                "supported": self.bulk.supported,
                "maxOperations": self.bulk.max_operations,
                "maxPayloadSize": self.bulk.max_payload_size,
            }),
        );
        obj.insert(
            "filter".into(),
            json!({"supported": self.filter.supported, "maxResults": self.filter.max_results}),
        );
        obj.insert("changePassword".into(), supported(self.change_password));
        obj.insert("sort".into(), supported(self.sort));
        obj.insert("etag".into(), supported(self.etag));
        let schemes: Vec<Value> = self
            .authentication_schemes
            .iter()
            .map(AuthenticationScheme::to_json)
            .collect();
        obj.insert("authenticationSchemes".into(), Value::Array(schemes));
        obj.insert(
            "meta".into(),
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", base_url.trim_end_matches('/')),
            }),
        );
        Value::Object(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_advertises_patch_filter_and_bearer_token_only() {
        let body = ServiceProviderConfig::default().to_json("https://idm.example.org/scim/v2");
        assert_eq!(body["schemas"], json!([SERVICE_PROVIDER_CONFIG_URN]));
        assert_eq!(body["patch"], json!({"supported": true}));
        assert_eq!(
            body["bulk"],
            json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
        );
        assert_eq!(
            body["filter"],
            json!({"supported": true, "maxResults": 200})
        );
        assert_eq!(body["changePassword"]["supported"], false);
        assert_eq!(body["sort"]["supported"], false);
        assert_eq!(body["etag"]["supported"], false);
        assert_eq!(body["authenticationSchemes"][0]["type"], "oauthbearertoken");
        assert_eq!(body["authenticationSchemes"][0]["primary"], true);
        assert_eq!(
            body["meta"],
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": "https://idm.example.org/scim/v2/ServiceProviderConfig"
            })
        );
    }

    #[test]
    fn absent_documentation_uri_is_left_out_rather_than_null() {
        let body = ServiceProviderConfig::default().to_json("https://x");
        assert!(body.get("documentationUri").is_none());
        assert!(body["authenticationSchemes"][0]
            .get("documentationUri")
            .is_none());
    }

    #[test]
    fn overridden_fields_are_rendered() {
        let config = ServiceProviderConfig {
            documentation_uri: Some("https://docs.example.org/scim".into()),
            sort: true,
            filter: FilterSupport {
                supported: true,
                max_results: 50,
            },
            ..ServiceProviderConfig::default()
        };
        let body = config.to_json("https://x/");
        assert_eq!(body["documentationUri"], "https://docs.example.org/scim");
        assert_eq!(body["sort"]["supported"], true);
        assert_eq!(body["filter"]["maxResults"], 50);
        assert_eq!(body["meta"]["location"], "https://x/ServiceProviderConfig");
    }
}
