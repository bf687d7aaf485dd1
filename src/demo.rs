//! The `demo` command's set-up: the bridge in front of the built-in Drupal
//! stand-in, with the mapping shipped in `mappings/demo.yaml`.

use std::net::SocketAddr;

use crate::config::{ConfigError, Settings};
use crate::mapping::{Mapping, MappingError};

/// The demo mapping, embedded so `demo` works from any directory. It is
/// used as it is, so that `map --mapping mappings/demo.yaml` shows what the
/// demo does: it serves term-backed groups too (the stand-in has the
/// `scim_groups` vocabulary and the users' `field_scim_groups`), so that
/// `POST /Groups` with any name works at once; `editor` and `engineering`
/// stay role-backed groups.
const DEMO_MAPPING: &str = include_str!("../mappings/demo.yaml");

/// Where the demo departs from a site's defaults, so that the outside
/// conformance suites' group checks pass against it (README, "Conformance"):
/// scim-sanity adds the member `fake-member-id`, which names no account,
/// and accepts only a 200 with the group. A site keeps `refuse` (the
/// identity provider's log shows the member) and 0 reads (no member list
/// read back on every push) unless it chooses otherwise.
fn suite_settings() -> [(&'static str, serde_json::Value); 2] {
    [
        ("unknown_members", serde_json::json!("skip")),
        ("group_patch_reads", serde_json::json!(1)),
    ]
}

/// The Drupal account the demo signs in with (a session).
pub struct Account<'a> {
    pub name: &'a str,
    pub password: &'a str,
}

pub fn settings(
    listen: SocketAddr,
    drupal_url: &str,
    token: &str,
    account: Account<'_>,
    metrics_listen: Option<SocketAddr>,
) -> Result<Settings, ConfigError> {
    // Built through the same parser as a file, so the demo cannot drift
    // from what `serve` accepts. serde_json output is valid YAML.
    let mut yaml = serde_json::json!({
        "listen": listen.to_string(),
        "scim": {"tokens": [token]},
        "drupal": {
            "base_url": drupal_url,
            "auth": {"mode": "session", "username": account.name, "password": account.password},
        },
        "mapping": "mappings/demo.yaml",
    });
    for (key, value) in suite_settings() {
        yaml[key] = value;
    }
    if let Some(addr) = metrics_listen {
        yaml["metrics"] = serde_json::json!({"listen": addr.to_string()});
    }
    Settings::from_yaml(&yaml.to_string())
}

pub fn mapping() -> Result<Mapping, MappingError> {
    Mapping::parse(DEMO_MAPPING, "mappings/demo.yaml")
}

/// The banner's line for the operator's listener, when there is one.
fn status_line(settings: &Settings, indent: &str) -> String {
    settings
        .metrics
        .listen
        .map(|addr| {
            format!("{indent}Status page:     http://{addr}/status (metrics at /metrics)\n")
        })
        .unwrap_or_default()
}

pub fn banner(settings: &Settings, drupal_url: &str, token: &str, drupal_password: &str) -> String {
    let scim = format!("http://{}/scim/v2", settings.listen);
    let status = status_line(settings, "  ");
    format!(
        "drupal-scim-bridge demo is running.\n\n  SCIM base URL:   {scim}\n  Bearer token:    {token}\n  Drupal stand-in: {drupal_url} (user admin / {drupal_password})\n{status}\nTry:\n  curl -H 'Authorization: Bearer {token}' {scim}/Users\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ada\",\"emails\":[{{\"value\":\"ada@example.org\",\"primary\":true}}]}}' {scim}/Users\n\nGroups: the stand-in's roles editor and engineering are the SCIM groups \"editor\" and \"engineering\"; any other group is created as a taxonomy term:\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n       -d '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"Sales\"}}' {scim}/Groups\n  curl -H 'Authorization: Bearer {token}' {scim}/Groups\n\nPress Ctrl-C to stop."
    )
}

/// `demo --drupal-url`: what runs, without the account's password.
pub fn site_banner(settings: &Settings, drupal_url: &str, token: &str, user: &str) -> String {
    format!(
        "drupal-scim-bridge demo is running in front of {drupal_url} (account {user}), with the demo's mapping and settings.\n\n  SCIM base URL:   http://{}/scim/v2\n  Bearer token:    {token}\n\nPress Ctrl-C to stop.",
        settings.listen
    )
}

/// One stand-in site of `demo --sites`.
pub struct DemoSite {
    pub id: String,
    pub drupal_url: String,
    pub token: String,
}

/// The settings of `demo --sites`: a `sites:` configuration, the shared
/// Drupal account in `defaults:`, as a real multisite's file would be.
pub fn sites_settings(
    listen: SocketAddr,
    sites: &[DemoSite],
    drupal_password: &str,
    metrics_listen: Option<SocketAddr>,
) -> Result<Settings, ConfigError> {
    let entries: Vec<serde_json::Value> = sites
        .iter()
        .map(|site| {
            serde_json::json!({
                "id": site.id,
                "drupal": {"base_url": site.drupal_url},
                "scim": {"clients": [{"name": "idp", "token": site.token}]},
            })
        })
        .collect();
    let mut yaml = serde_json::json!({
        "listen": listen.to_string(),
        "defaults": {
            "drupal": {"auth": {"mode": "session", "username": "admin", "password": drupal_password}},
            "mapping": "mappings/demo.yaml",
        },
        "sites": entries,
    });
    for (key, value) in suite_settings() {
        yaml["defaults"][key] = value;
    }
    if let Some(addr) = metrics_listen {
        yaml["metrics"] = serde_json::json!({"listen": addr.to_string()});
    }
    Settings::from_yaml(&yaml.to_string())
}

pub fn sites_banner(settings: &Settings, sites: &[DemoSite], drupal_password: &str) -> String {
    let mut text = format!(
        "drupal-scim-bridge demo is running with {} sites.\n\n",
        sites.len()
    );
    for site in sites {
        let scim = format!("http://{}/sites/{}/scim/v2", settings.listen, site.id);
        text.push_str(&format!(
            "  site {}:\n    SCIM base URL:   {scim}\n    Bearer token:    {}\n    Drupal stand-in: {} (user admin / {drupal_password})\n",
            site.id, site.token, site.drupal_url
        ));
    }
    text.push_str(&status_line(settings, "  "));
    if let (Some(first), Some(other)) = (sites.first(), sites.get(1)) {
        let scim = |id: &str| format!("http://{}/sites/{id}/scim/v2", settings.listen);
        text.push_str(&format!(
            "\nTry:\n  curl -H 'Authorization: Bearer {}' {}/Users\n  curl -H 'Authorization: Bearer {}' {}/Users    # 401: a site's token opens that site only\n",
            first.token,
            scim(&first.id),
            first.token,
            scim(&other.id),
        ));
    }
    text.push_str("\nPress Ctrl-C to stop.");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UnknownMembers;

    /// What `demo` runs is the shipped file, so that `map --mapping
    /// mappings/demo.yaml` answers as the demo does: a group the demo
    /// creates as a term (`Sales`) is one the file keeps as a term.
    #[test]
    fn the_demo_runs_mappings_demo_yaml_as_it_is() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/demo.yaml");
        let shipped = Mapping::load_file(&path).unwrap();
        let demo = mapping().unwrap();
        assert!(
            shipped.group_terms().is_some(),
            "demo.yaml keeps groups as terms"
        );
        assert_eq!(demo.group_terms(), shipped.group_terms());
        assert_eq!(demo.exposed_groups(), shipped.exposed_groups());
        assert_eq!(demo.mapped_fields(), shipped.mapped_fields());
    }

    #[test]
    fn the_demo_skips_unknown_members_and_answers_small_groups_whole() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let one = settings(
            listen,
            "http://127.0.0.1:8081",
            "t".repeat(24).as_str(),
            Account {
                name: "bridge",
                password: "pw",
            },
            None,
        )
        .unwrap();
        assert_eq!(one.sites[0].drupal.auth.account(), "bridge");
        let sites = sites_settings(
            listen,
            &[DemoSite {
                id: "a".into(),
                drupal_url: "http://127.0.0.1:8082".into(),
                token: "u".repeat(24),
            }],
            "pw",
            Some("127.0.0.1:9464".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(
            sites.metrics.listen,
            Some("127.0.0.1:9464".parse().unwrap()),
            "demo --sites serves --metrics-listen"
        );
        for site in one.sites.iter().chain(&sites.sites) {
            assert_eq!(site.policy.unknown_members, UnknownMembers::Skip);
            assert_eq!(site.policy.group_patch_reads.reads(), 1);
        }
    }
}
