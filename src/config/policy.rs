//! What the bridge may change in Drupal: deprovisioning, protected roles,
//! and how long it trusts what it read.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionPolicy {
    /// Block the account, keep it and its content, hide it from SCIM.
    #[default]
    Block,
    /// Send a JSON:API DELETE (the site's account-cancellation method decides).
    Delete,
}

#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub deprovision: DeprovisionPolicy,
    pub deprovisioned_field: String,
    pub protected_roles: Vec<String>,
    pub count_cache: Duration,
    pub role_cache: Duration,
    pub account_cache: Duration,
}
