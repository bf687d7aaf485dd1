//! The stored entities (users, roles), the user field catalogue and Drupal's
//! access rules for users (`UserAccessControlHandler`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::{permissions, FieldKind, FieldSeed};

/// The anonymous user's display name (`user.settings:anonymous`).
pub(crate) const ANONYMOUS_NAME: &str = "Anonymous";
pub(crate) const ROLE_ANONYMOUS: &str = "anonymous";
pub(crate) const ROLE_AUTHENTICATED: &str = "authenticated";

/// A user entity. uid 0 is the anonymous user.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct User {
    pub(crate) uid: u64,
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) mail: Option<String>,
    pub(crate) pass: Option<String>,
    pub(crate) status: bool,
    pub(crate) created: i64,
    pub(crate) changed: i64,
    pub(crate) access: i64,
    pub(crate) login: i64,
    pub(crate) init: Option<String>,
    pub(crate) timezone: String,
    pub(crate) langcode: String,
    /// `None` once a write cleared it (Drupal stores null; a new account
    /// gets the site's language).
    pub(crate) preferred_langcode: Option<String>,
    pub(crate) preferred_admin_langcode: Option<String>,
    /// Role machine names in the order they were granted (never `authenticated`).
    pub(crate) roles: Vec<String>,
    /// Custom field values; a missing key reads as null.
    pub(crate) fields: BTreeMap<String, Value>,
    /// `field_scim_groups`: references to group terms, in delta order.
    pub(crate) term_refs: Vec<super::taxonomy::TermRef>,
}

impl User {
    pub(crate) fn new(uid: u64, uuid: String, name: String, now: i64) -> User {
        User {
            uid,
            uuid,
            name,
            mail: None,
            pass: None,
            status: false,
            created: now,
            changed: now,
            access: 0,
            login: 0,
            init: None,
            timezone: "UTC".to_string(),
            langcode: "en".to_string(),
            preferred_langcode: Some("en".to_string()),
            preferred_admin_langcode: None,
            roles: Vec::new(),
            fields: BTreeMap::new(),
            term_refs: Vec::new(),
        }
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        self.uid == 0
    }

    pub(crate) fn display_name(&self) -> String {
        if self.is_anonymous() {
            ANONYMOUS_NAME.to_string()
        } else {
            self.name.clone()
        }
    }

    pub(crate) fn field(&self, name: &str) -> Value {
        self.fields.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// A `user_role` config entity.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Role {
    pub(crate) machine_name: String,
    pub(crate) label: String,
    pub(crate) uuid: String,
    /// `None` serialises as `null`, which is what roles created without the flag show.
    pub(crate) is_admin: Option<bool>,
    pub(crate) permissions: Vec<String>,
    pub(crate) weight: i64,
}

impl Role {
    /// The two roles every site has; they depend on the `system` module.
    pub(crate) fn is_built_in(&self) -> bool {
        self.machine_name == ROLE_ANONYMOUS || self.machine_name == ROLE_AUTHENTICATED
    }
}

/// Who a request runs as. uid 0 = anonymous.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Caller {
    pub(crate) uid: u64,
    /// Effective roles, including the implicit `anonymous`/`authenticated`.
    pub(crate) roles: Vec<String>,
}

impl Caller {
    pub(crate) fn anonymous() -> Caller {
        Caller {
            uid: 0,
            roles: vec![ROLE_ANONYMOUS.to_string()],
        }
    }

    pub(crate) fn for_user(user: &User) -> Caller {
        let mut roles = vec![ROLE_AUTHENTICATED.to_string()];
        roles.extend(user.roles.iter().cloned());
        Caller {
            uid: user.uid,
            roles,
        }
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        self.uid != 0
    }

    /// uid 1 and holders of an admin role have every permission.
    pub(crate) fn has_permission(&self, roles: &[Role], permission: &str) -> bool {
        if self.uid == 1 {
            return true;
        }
        roles
            .iter()
            .filter(|role| self.roles.contains(&role.machine_name))
            .any(|role| {
                role.is_admin == Some(true) || role.permissions.iter().any(|p| p == permission)
            })
    }
}

/// A user field as JSON:API exposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserField {
    Id,
    DisplayName,
    Uid,
    Langcode,
    PreferredLangcode,
    PreferredAdminLangcode,
    Name,
    Mail,
    Timezone,
    Status,
    Created,
    Changed,
    Access,
    Login,
    Init,
    DefaultLangcode,
    Custom(String, FieldKind),
    Roles,
    Pass,
}

/// The base attributes in the order Drupal serialises them.
pub(crate) const BASE_ATTRIBUTES: [UserField; 15] = [
    UserField::DisplayName,
    UserField::Uid,
    UserField::Langcode,
    UserField::PreferredLangcode,
    UserField::PreferredAdminLangcode,
    UserField::Name,
    UserField::Mail,
    UserField::Timezone,
    UserField::Status,
    UserField::Created,
    UserField::Changed,
    UserField::Access,
    UserField::Login,
    UserField::Init,
    UserField::DefaultLangcode,
];

impl UserField {
    /// The attribute/relationship name clients use.
    pub(crate) fn public_name(&self) -> &str {
        match self {
            UserField::Id => "id",
            UserField::DisplayName => "display_name",
            UserField::Uid => "drupal_internal__uid",
            UserField::Langcode => "langcode",
            UserField::PreferredLangcode => "preferred_langcode",
            UserField::PreferredAdminLangcode => "preferred_admin_langcode",
            UserField::Name => "name",
            UserField::Mail => "mail",
            UserField::Timezone => "timezone",
            UserField::Status => "status",
            UserField::Created => "created",
            UserField::Changed => "changed",
            UserField::Access => "access",
            UserField::Login => "login",
            UserField::Init => "init",
            UserField::DefaultLangcode => "default_langcode",
            UserField::Custom(name, _) => name,
            UserField::Roles => "roles",
            UserField::Pass => "pass",
        }
    }

    /// The Drupal field name (what error messages and pointers for access use).
    pub(crate) fn internal_name(&self) -> &str {
        match self {
            UserField::Id => "uuid",
            UserField::Uid => "uid",
            other => other.public_name(),
        }
    }

    pub(crate) fn from_public(name: &str, custom: &[FieldSeed]) -> Option<UserField> {
        let base = BASE_ATTRIBUTES
            .iter()
            .chain([UserField::Id, UserField::Roles, UserField::Pass].iter())
            .find(|f| f.public_name() == name)
            .cloned();
        base.or_else(|| {
            custom
                .iter()
                .find(|f| f.name == name)
                .map(|f| UserField::Custom(f.name.clone(), f.kind))
        })
    }

    /// Field-level view access (`UserAccessControlHandler::checkFieldAccess`).
    /// `own` = the viewer looks at their own account.
    pub(crate) fn viewable(&self, administers_users: bool, own: bool) -> bool {
        match self {
            UserField::Pass => false,
            _ if administers_users => true,
            UserField::Mail
            | UserField::Timezone
            | UserField::PreferredLangcode
            | UserField::PreferredAdminLangcode => own,
            UserField::Status
            | UserField::Access
            | UserField::Login
            | UserField::Init
            | UserField::Roles => false,
            _ => true,
        }
    }

    /// Field-level edit access for an account editing itself without
    /// `administer users` (administrators may edit every field but the uid).
    pub(crate) fn self_editable(&self, may_change_own_username: bool) -> bool {
        match self {
            UserField::Name => may_change_own_username,
            UserField::Mail
            | UserField::Pass
            | UserField::Timezone
            | UserField::PreferredLangcode
            | UserField::PreferredAdminLangcode
            | UserField::Langcode
            | UserField::Custom(..) => true,
            _ => false,
        }
    }
}

/// How much of a user a caller may see (`view` vs `view label` access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// The resource object, subject to field access.
    Full { administers_users: bool, own: bool },
    /// Only `display_name`, no relationships.
    LabelOnly,
}

pub(crate) fn visibility(caller: &Caller, roles: &[Role], target: &User) -> Visibility {
    if target.is_anonymous() {
        return Visibility::LabelOnly;
    }
    let administers_users = caller.has_permission(roles, permissions::ADMINISTER_USERS);
    let own = caller.uid == target.uid;
    let profiles = caller.has_permission(roles, permissions::ACCESS_USER_PROFILES) && target.status;
    if administers_users || own || profiles {
        Visibility::Full {
            administers_users,
            own,
        }
    } else {
        Visibility::LabelOnly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, perms: &[&str], is_admin: bool) -> Role {
        Role {
            machine_name: name.into(),
            label: name.into(),
            uuid: format!("uuid-{name}"),
            is_admin: is_admin.then_some(true),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
            weight: 0,
        }
    }

    #[test]
    fn uid_one_has_every_permission_without_any_role() {
        let caller = Caller {
            uid: 1,
            roles: vec![ROLE_AUTHENTICATED.into()],
        };
        assert!(caller.has_permission(&[], "administer users"));
    }

    #[test]
    fn permissions_come_from_held_roles_and_admin_roles_grant_everything() {
        let roles = vec![
            role("scim_admin", &["administer users"], false),
            role("boss", &[], true),
        ];
        let scim = Caller {
            uid: 2,
            roles: vec!["authenticated".into(), "scim_admin".into()],
        };
        assert!(scim.has_permission(&roles, "administer users"));
        assert!(!scim.has_permission(&roles, "administer permissions"));
        let boss = Caller {
            uid: 3,
            roles: vec!["authenticated".into(), "boss".into()],
        };
        assert!(boss.has_permission(&roles, "administer permissions"));
    }

    #[test]
    fn anonymous_user_entity_is_only_ever_shown_as_its_label() {
        let anonymous = User::new(0, "u0".into(), String::new(), 0);
        let admin = Caller {
            uid: 1,
            roles: vec![],
        };
        assert_eq!(visibility(&admin, &[], &anonymous), Visibility::LabelOnly);
        assert_eq!(anonymous.display_name(), "Anonymous");
    }

    #[test]
    fn plain_users_see_others_as_labels_and_themselves_in_full() {
        let alice = User::new(3, "u3".into(), "alice".into(), 0);
        let bob = User::new(4, "u4".into(), "bob".into(), 0);
        let caller = Caller::for_user(&alice);
        assert_eq!(visibility(&caller, &[], &bob), Visibility::LabelOnly);
        assert_eq!(
            visibility(&caller, &[], &alice),
            Visibility::Full {
                administers_users: false,
                own: true
            }
        );
    }

    #[test]
    fn mail_is_visible_to_its_owner_but_status_is_not() {
        assert!(UserField::Mail.viewable(false, true));
        assert!(!UserField::Mail.viewable(false, false));
        assert!(!UserField::Status.viewable(false, true));
        assert!(!UserField::Pass.viewable(true, true));
    }

    #[test]
    fn public_names_map_to_fields_including_custom_ones() {
        let custom = vec![FieldSeed {
            name: "field_x".into(),
            kind: FieldKind::Boolean,
        }];
        assert_eq!(
            UserField::from_public("drupal_internal__uid", &custom),
            Some(UserField::Uid)
        );
        assert_eq!(
            UserField::from_public("field_x", &custom),
            Some(UserField::Custom("field_x".into(), FieldKind::Boolean))
        );
        assert_eq!(UserField::from_public("nosuch", &custom), None);
    }
}
