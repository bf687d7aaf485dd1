//! The `demo` command's set-up: the bridge in front of the built-in Drupal
//! stand-in, with the mapping shipped in `mappings/demo.yaml`.

use std::net::SocketAddr;

use crate::config::{ConfigError, Settings};
use crate::mapping::{Mapping, MappingError};

/// The demo mapping, embedded so `demo` works from any directory.
const DEMO_MAPPING: &str = include_str!("../mappings/demo.yaml");
/// The demo also serves term-backed groups (the stand-in has the
/// `scim_groups` vocabulary and the users' `field_scim_groups`), so that
/// `POST /Groups` with any name works at once; `editor` and `engineering`
/// stay role-backed groups.
const DEMO_GROUP_TERMS: &str = "\ngroup_terms: {}\n";

pub fn settings(
    listen: SocketAddr,
    drupal_url: &str,
    token: &str,
    drupal_password: &str,
) -> Result<Settings, ConfigError> {
    // Built through the same parser as a file, so the demo cannot drift
    // from what `serve` accepts. serde_json output is valid YAML.
    let yaml = serde_json::json!({
        "listen": listen.to_string(),
        "scim": {"tokens": [token]},
        "drupal": {
            "base_url": drupal_url,
            "auth": {"mode": "session", "username": "admin", "password": drupal_password},
        },
        "mapping": "mappings/demo.yaml",
    })
    .to_string();
    Settings::from_yaml(&yaml)
}

pub fn mapping() -> Result<Mapping, MappingError> {
    Mapping::parse(
        &format!("{DEMO_MAPPING}{DEMO_GROUP_TERMS}"),
        "mappings/demo.yaml (plus group_terms)",
    )
}

pub fn banner(settings: &Settings, drupal_url: &str, token: &str, drupal_password: &str) -> String {
    let scim = format!("http://{}/scim/v2", settings.listen);
    format!(
        "drupal-scim-bridge demo is running.\n\n  SCIM base URL:   {scim}\n  Bearer token:    {token}\n  Drupal stand-in: {drupal_url} (user admin / {drupal_password})\n\nTry:\n  curl -H 'Authorization: Bearer {token}' {scim}/Users\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ada\",\"emails\":[{{\"value\":\"ada@example.org\",\"primary\":true}}]}}' {scim}/Users\n\nGroups: the stand-in's roles editor and engineering are the SCIM groups \"editor\" and \"engineering\"; any other group is created as a taxonomy term:\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Sales\"}}' {scim}/Groups\n  curl -H 'Authorization: Bearer {token}' {scim}/Groups\n\nPress Ctrl-C to stop."
    )
}
