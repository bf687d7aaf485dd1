//! The `demo` command's set-up: the bridge in front of the built-in Drupal
//! stand-in, with the mapping shipped in `mappings/demo.yaml`.

use std::net::SocketAddr;

use crate::config::{ConfigError, Settings};
use crate::mapping::{Mapping, MappingError};

/// The demo mapping, embedded so `demo` works from any directory.
const DEMO_MAPPING: &str = include_str!("../mappings/demo.yaml");

pub fn settings(
    listen: SocketAddr,
    drupal_url: &str,
    token: &str,
    drupal_password: &str,
    metrics_listen: Option<SocketAddr>,
) -> Result<Settings, ConfigError> {
    // Built through the same parser as a file, so the demo cannot drift
    // from what `serve` accepts. serde_json output is valid YAML.
    let mut yaml = serde_json::json!({
        "listen": listen.to_string(),
        "scim": {"tokens": [token]},
        "drupal": {
            "base_url": drupal_url,
            "auth": {"mode": "session", "username": "admin", "password": drupal_password},
        },
        "mapping": "mappings/demo.yaml",
    });
    if let Some(addr) = metrics_listen {
        yaml["metrics"] = serde_json::json!({"listen": addr.to_string()});
    }
    Settings::from_yaml(&yaml.to_string())
}

pub fn mapping() -> Result<Mapping, MappingError> {
    Mapping::parse(DEMO_MAPPING, "mappings/demo.yaml")
}

pub fn banner(settings: &Settings, drupal_url: &str, token: &str, drupal_password: &str) -> String {
    let scim = format!("http://{}/scim/v2", settings.listen);
    let status = settings
        .metrics
        .listen
        .map(|addr| format!("  Status page:     http://{addr}/status (metrics at /metrics)\n"))
        .unwrap_or_default();
    format!(
        "drupal-scim-bridge demo is running.\n\n  SCIM base URL:   {scim}\n  Bearer token:    {token}\n  Drupal stand-in: {drupal_url} (user admin / {drupal_password})\n{status}\nTry:\n  curl -H 'Authorization: Bearer {token}' {scim}/Users\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ada\",\"emails\":[{{\"value\":\"ada@example.org\",\"primary\":true}}]}}' {scim}/Users\n\nGroups: the stand-in's roles editor and engineering are the SCIM groups \"editor\" and \"engineering\":\n  curl -H 'Authorization: Bearer {token}' {scim}/Groups\n\nPress Ctrl-C to stop."
    )
}
