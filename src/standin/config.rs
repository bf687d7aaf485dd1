//! What the stand-in site looks like when it starts: accounts, roles, custom
//! user fields and the two settings the recordings show changing behaviour.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

pub use super::oauth::OAuthClientSeed;

/// The seeded site. `StandInConfig::demo` gives a ready-made one.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// Shown in the `WWW-Authenticate` realm and the HTML 404 page.
    pub site_name: String,
    /// User 1, the superuser.
    pub admin: Account,
    /// Further accounts, created after user 1 in this order (uid 2, 3, ...).
    pub extra_accounts: Vec<AccountSeed>,
    /// Roles besides the built-in `anonymous` and `authenticated`.
    pub roles: Vec<RoleSeed>,
    /// Custom fields on the user entity, listed after the base fields.
    pub user_fields: Vec<FieldSeed>,
    /// `user.settings:cancel_method`: what DELETE does to an account.
    pub cancel_method: CancelMethod,
    /// `jsonapi.settings:read_only`: every write answers 405 when set.
    pub read_only: bool,
    /// UUID of the anonymous user entity (uid 0); random when `None`.
    pub anonymous_uuid: Option<Uuid>,
    /// UUID of user 1; random when `None`.
    pub admin_uuid: Option<Uuid>,
    /// `simple_oauth` consumers allowed the client-credentials grant.
    pub oauth_clients: Vec<OAuthClientSeed>,
    /// The site has the vocabulary `scim_groups` (with the term field
    /// `field_scim_external_id`) and the users' unlimited reference field
    /// `field_scim_groups` to it, as the README's set-up makes them.
    pub taxonomy: bool,
}

/// Credentials and mail of user 1.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub password: String,
    pub mail: String,
}

/// An account created out of band (seeding, not through JSON:API).
#[derive(Debug, Clone, Default)]
pub struct AccountSeed {
    pub name: String,
    pub password: Option<String>,
    pub mail: Option<String>,
    /// Role machine names.
    pub roles: Vec<String>,
    pub uuid: Option<Uuid>,
    pub status: bool,
    /// Custom field values by field name.
    pub fields: BTreeMap<String, Value>,
}

impl AccountSeed {
    /// An active account without mail, password or roles.
    pub fn new(name: &str) -> Self {
        AccountSeed {
            name: name.to_string(),
            status: true,
            ..AccountSeed::default()
        }
    }
}

/// A role (`user_role` config entity).
#[derive(Debug, Clone)]
pub struct RoleSeed {
    pub machine_name: String,
    pub label: String,
    /// An admin role holds every permission.
    pub is_admin: bool,
    pub permissions: Vec<String>,
    pub uuid: Option<Uuid>,
}

impl RoleSeed {
    pub fn new(machine_name: &str, label: &str, permissions: &[&str]) -> Self {
        RoleSeed {
            machine_name: machine_name.to_string(),
            label: label.to_string(),
            is_admin: false,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            uuid: None,
        }
    }
}

/// A custom field on the user entity (`field_*`).
#[derive(Debug, Clone)]
pub struct FieldSeed {
    pub name: String,
    pub kind: FieldKind,
}

/// The storage types a custom user field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A plain string; Drupal compares it case-insensitively.
    String {
        max_len: usize,
    },
    Boolean,
    Integer,
}

/// `user.settings:cancel_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMethod {
    /// Drupal's default: DELETE only blocks the account.
    Block,
    /// Blocks the account and unpublishes its content (users look the same).
    BlockUnpublish,
    /// Deletes the account and hands its content to the anonymous user.
    Reassign,
    /// Deletes the account and its content.
    Delete,
}

impl CancelMethod {
    /// Whether DELETE really removes the account (otherwise it only blocks it).
    pub(crate) fn removes_account(self) -> bool {
        matches!(self, CancelMethod::Reassign | CancelMethod::Delete)
    }
}

/// Permission names the stand-in knows the meaning of.
pub mod permissions {
    pub const ADMINISTER_USERS: &str = "administer users";
    pub const ADMINISTER_PERMISSIONS: &str = "administer permissions";
    pub const ACCESS_USER_PROFILES: &str = "access user profiles";
    pub const CHANGE_OWN_USERNAME: &str = "change own username";
    pub const CANCEL_ACCOUNT: &str = "cancel account";
}

/// Name of the custom field the bridge stores the SCIM `externalId` in.
pub const EXTERNAL_ID_FIELD: &str = "field_scim_external_id";
/// Name of the custom field the bridge flags soft-deprovisioned accounts with.
pub const DEPROVISIONED_FIELD: &str = "field_scim_deprovisioned";
/// The demo site's name fields, which `mappings/demo.yaml` fills from
/// `displayName`, `name.givenName` and `name.familyName`.
pub const DEMO_NAME_FIELDS: [&str; 3] =
    ["field_display_name", "field_first_name", "field_last_name"];

impl StandInConfig {
    /// The site used by `demo` and the integration tests: admin (uid 1) with
    /// the given password, roles `administrator` (admin role), `editor`,
    /// `engineering`, the two SCIM fields and three name fields.
    pub fn demo(admin_password: &str) -> Self {
        let mut administrator = RoleSeed::new("administrator", "Administrator", &[]);
        administrator.is_admin = true;
        StandInConfig {
            site_name: "Drupal stand-in".to_string(),
            admin: Account {
                name: "admin".to_string(),
                password: admin_password.to_string(),
                mail: "admin@example.com".to_string(),
            },
            extra_accounts: Vec::new(),
            roles: vec![
                administrator,
                RoleSeed::new("editor", "Editor", &[]),
                RoleSeed::new("engineering", "Engineering", &[]),
            ],
            user_fields: vec![
                FieldSeed {
                    name: EXTERNAL_ID_FIELD.to_string(),
                    kind: FieldKind::String { max_len: 255 },
                },
                FieldSeed {
                    name: DEPROVISIONED_FIELD.to_string(),
                    kind: FieldKind::Boolean,
                },
            ]
            .into_iter()
            .chain(DEMO_NAME_FIELDS.map(|name| FieldSeed {
                name: name.to_string(),
                kind: FieldKind::String { max_len: 255 },
            }))
            .collect(),
            cancel_method: CancelMethod::Block,
            read_only: false,
            anonymous_uuid: None,
            admin_uuid: None,
            oauth_clients: Vec::new(),
            taxonomy: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_site_has_an_admin_role_the_scim_fields_and_the_name_fields() {
        let config = StandInConfig::demo("pw");
        assert_eq!(config.admin.password, "pw");
        assert!(config
            .roles
            .iter()
            .any(|r| r.machine_name == "administrator" && r.is_admin));
        let fields: Vec<&str> = config.user_fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            fields,
            [EXTERNAL_ID_FIELD, DEPROVISIONED_FIELD]
                .into_iter()
                .chain(DEMO_NAME_FIELDS)
                .collect::<Vec<_>>()
        );
        assert_eq!(config.cancel_method, CancelMethod::Block);
    }

    #[test]
    fn only_delete_and_reassign_remove_the_account() {
        assert!(!CancelMethod::Block.removes_account());
        assert!(!CancelMethod::BlockUnpublish.removes_account());
        assert!(CancelMethod::Reassign.removes_account());
        assert!(CancelMethod::Delete.removes_account());
    }
}
