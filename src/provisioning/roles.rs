//! The Drupal roles the bridge works with: which are SCIM groups (the
//! mapping's `groups`, minus those the policy refuses) and which the role
//! rules may grant. Role metadata changes rarely, so it is read from Drupal
//! at most once per TTL, and again at once when a request names a group or
//! a role the cached list lacks.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::drupal::{DrupalRole, DrupalUser};
use crate::mapping::{GroupExposure, Mapping};
use crate::scim::caseless;

/// A Drupal role exposed as a SCIM group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedGroup {
    /// The role's UUID: the group's SCIM id.
    pub id: String,
    /// The role's machine name.
    pub role: String,
    pub display_name: String,
    /// The operator exposed a protected role on purpose: holding this role
    /// does not protect an account from changes to this group.
    pub allow_protected: bool,
}

/// A mapped group the bridge does not expose, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    display_name: String,
    why: String,
}

/// The roles as of one read of Drupal's role list.
#[derive(Debug, Clone)]
pub struct RoleCatalog {
    roles: Vec<DrupalRole>,
    groups: Vec<ExposedGroup>,
    refused: Vec<Refusal>,
    /// Roles the role rules may grant and revoke: machine name → UUID.
    rule_roles: BTreeMap<String, String>,
    /// Rule roles Drupal does not have.
    missing_rule_roles: Vec<String>,
    /// What the operator must hear about, once.
    warnings: Vec<String>,
    /// The policy's protected roles, for hints about exposing them.
    protected_roles: Vec<String>,
    /// The roles of the bridge's own account, when Drupal said them (the
    /// session login's answer): protected too.
    own_roles: Vec<String>,
    loaded_at: Instant,
}

impl RoleCatalog {
    /// Applies the mapping and the policy to the roles Drupal listed.
    pub fn build(
        roles: Vec<DrupalRole>,
        mapping: &Mapping,
        protected_roles: &[String],
        loaded_at: Instant,
    ) -> RoleCatalog {
        RoleCatalog::build_for(roles, mapping, protected_roles, &[], loaded_at)
    }

    /// [`Self::build`] for a bridge whose own account holds `own_roles`
    /// (machine names), which are protected as `protected_roles` are.
    pub fn build_for(
        roles: Vec<DrupalRole>,
        mapping: &Mapping,
        protected_roles: &[String],
        own_roles: &[String],
        loaded_at: Instant,
    ) -> RoleCatalog {
        let mut catalog = RoleCatalog {
            roles,
            groups: Vec::new(),
            refused: Vec::new(),
            rule_roles: BTreeMap::new(),
            missing_rule_roles: Vec::new(),
            warnings: Vec::new(),
            protected_roles: protected_roles.to_vec(),
            own_roles: own_roles.to_vec(),
            loaded_at,
        };
        if catalog.roles.is_empty() && !mapping.exposed_groups().is_empty() {
            catalog.warnings.push(
                "Drupal lists no roles to the bridge's account, so no SCIM group is exposed: give the account the 'administer permissions' permission (Drupal shows roles only to accounts that have it)".into(),
            );
        }
        for exposure in mapping.exposed_groups() {
            catalog.expose(exposure);
        }
        for role in mapping.rule_roles() {
            catalog.allow_rule_role(role);
        }
        catalog.check_grants(mapping);
        catalog
    }

    /// Warnings for term-backed groups whose roles cannot be granted.
    fn check_grants(&mut self, mapping: &Mapping) {
        if self.roles.is_empty() {
            return;
        }
        for grant in mapping.group_grants() {
            for role in &grant.roles {
                let warning = match self.role(role) {
                    None => format!(
                        "groups: the group \"{}\" grants the role \"{role}\", which Drupal does not have; it grants nothing until the role exists",
                        grant.display_name
                    ),
                    Some(found) => match self.protection(found) {
                        Some(reason) if !grant.allow_protected => format!(
                            "groups: the role \"{role}\" {reason}; the group \"{}\" does NOT grant it. To let it, add `allow_protected: true` to its entry.",
                            grant.display_name
                        ),
                        _ => continue,
                    },
                };
                self.warnings.push(warning);
            }
        }
    }

    /// A catalog that knows no role, for answers given while Drupal's
    /// roles cannot be read.
    pub fn empty() -> RoleCatalog {
        RoleCatalog {
            roles: Vec::new(),
            groups: Vec::new(),
            refused: Vec::new(),
            rule_roles: BTreeMap::new(),
            missing_rule_roles: Vec::new(),
            warnings: Vec::new(),
            protected_roles: Vec::new(),
            own_roles: Vec::new(),
            loaded_at: Instant::now(),
        }
    }

    fn expose(&mut self, exposure: &GroupExposure) {
        let GroupExposure {
            role,
            display_name,
            allow_protected,
        } = exposure;
        let Some(found) = self.role(role) else {
            let why = if self.roles.is_empty() {
                "Drupal lists no roles to the bridge's account (it needs the 'administer permissions' permission)".to_string()
            } else {
                format!("the mapping exposes the role \"{role}\" as this group, but Drupal has no role with that machine name")
            };
            if !self.roles.is_empty() {
                self.warnings.push(format!(
                    "groups: the role \"{role}\" (group \"{display_name}\") does not exist in Drupal; the group is NOT exposed. Create the role in Drupal or correct its machine name in the mapping."
                ));
            }
            self.refused.push(Refusal {
                display_name: display_name.clone(),
                why,
            });
            return;
        };
        let id = found.id.clone();
        match self.protection(found) {
            Some(reason) if !allow_protected => {
                self.warnings.push(format!(
                    "groups: the role \"{role}\" {reason}; the group \"{display_name}\" is NOT exposed, so the identity provider cannot grant it. To expose it anyway, add `allow_protected: true` to its entry in the mapping."
                ));
                self.refused.push(Refusal {
                    display_name: display_name.clone(),
                    why: format!("the role \"{role}\" behind it {reason}, and its entry in the mapping does not say `allow_protected: true`"),
                });
            }
            protected => {
                if let Some(reason) = protected {
                    self.warnings.push(format!(
                        "groups: the role \"{role}\" {reason}, and it IS exposed as the group \"{display_name}\" because its entry says allow_protected: the identity provider can grant and revoke it"
                    ));
                }
                self.groups.push(ExposedGroup {
                    id,
                    role: role.clone(),
                    display_name: display_name.clone(),
                    allow_protected: *allow_protected,
                });
            }
        }
    }

    fn allow_rule_role(&mut self, role: &str) {
        let Some(found) = self.role(role) else {
            if !self.roles.is_empty() {
                self.warnings.push(format!(
                    "role_rules: the role \"{role}\" does not exist in Drupal; rules naming it grant nothing"
                ));
            }
            self.missing_rule_roles.push(role.to_string());
            return;
        };
        let allowed = self
            .groups
            .iter()
            .any(|g| g.role == role && g.allow_protected);
        match self.protection(found) {
            Some(reason) if !allowed => self.warnings.push(format!(
                "role_rules: the role \"{role}\" {reason}; rules naming it grant nothing. To let them, expose it under groups with `allow_protected: true`."
            )),
            _ => {
                self.rule_roles
                    .insert(role.to_string(), found.id.clone());
            }
        }
    }

    fn role(&self, machine_name: &str) -> Option<&DrupalRole> {
        self.roles.iter().find(|r| r.machine_name == machine_name)
    }

    /// The UUID of the role a term group may grant: `None` when Drupal has
    /// no such role, or it is protected and the entry does not say
    /// `allow_protected` (the escalation guard).
    pub fn grantable_role(&self, machine_name: &str, allow_protected: bool) -> Option<String> {
        let role = self.role(machine_name)?;
        match self.protection(role) {
            Some(_) if !allow_protected => None,
            _ => Some(role.id.clone()),
        }
    }

    /// The machine name of the role with this UUID, else the UUID itself.
    pub fn role_name(&self, id: &str) -> String {
        self.roles
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(id))
            .map_or_else(|| id.to_string(), |r| r.machine_name.clone())
    }

    /// Whether Drupal has a role with this machine name.
    pub fn has_role(&self, machine_name: &str) -> bool {
        self.role(machine_name).is_some()
    }

    /// The exposed groups, in the mapping's order.
    pub fn groups(&self) -> &[ExposedGroup] {
        &self.groups
    }

    pub fn group_by_id(&self, id: &str) -> Option<&ExposedGroup> {
        self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(id))
    }

    /// Display names compare ignoring case, as IdPs match them.
    pub fn group_by_display_name(&self, name: &str) -> Option<&ExposedGroup> {
        let name = name.trim();
        self.groups
            .iter()
            .find(|g| caseless::same(&g.display_name, name))
    }

    /// Whether `id` is the UUID of any Drupal role (a group offered as a member).
    pub fn is_role_id(&self, id: &str) -> bool {
        self.roles.iter().any(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// The exposed groups `user` holds.
    /// (The user is borrowed, not its role ids copied: this runs on every
    /// read.)
    pub fn groups_of<'a>(&'a self, user: &'a DrupalUser) -> impl Iterator<Item = &'a ExposedGroup> {
        self.groups.iter().filter(move |g| {
            user.roles
                .iter()
                .any(|held| held.id.eq_ignore_ascii_case(&g.id))
        })
    }

    /// Roles the role rules manage: machine name → UUID.
    pub fn rule_roles(&self) -> &BTreeMap<String, String> {
        &self.rule_roles
    }

    /// Whether the bridge grants and takes this role (by UUID): an exposed
    /// group's role, or one a role rule grants.
    pub fn manages(&self, role_id: &str) -> bool {
        self.groups.iter().any(|g| g.id == role_id)
            || self.rule_roles.values().any(|id| id == role_id)
    }

    /// Whether Drupal had every one of these rule roles when the list was read.
    pub fn has_rule_roles<'r>(&self, roles: impl IntoIterator<Item = &'r String>) -> bool {
        roles
            .into_iter()
            .all(|r| !self.missing_rule_roles.contains(r))
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn loaded_at(&self) -> Instant {
        self.loaded_at
    }

    /// Why no group is called `display_name`, and the mapping entry that
    /// would expose one: the answer to a POST /Groups the bridge cannot link.
    pub fn explain_unknown_group(&self, display_name: &str) -> String {
        let name = display_name.trim();
        if let Some(refusal) = self
            .refused
            .iter()
            .find(|r| caseless::same(&r.display_name, name))
        {
            return format!(
                "The group \"{name}\" is not available: {}. Nothing was changed.",
                refusal.why
            );
        }
        let lowered = name.to_lowercase();
        // Every account holds these implicitly: they cannot be groups.
        let implicit =
            |r: &DrupalRole| matches!(r.machine_name.as_str(), "anonymous" | "authenticated");
        let candidate = self.roles.iter().filter(|r| !implicit(r)).find(|r| {
            r.label.to_lowercase() == lowered || r.machine_name == lowered.replace([' ', '-'], "_")
        });
        let mut allow_protected = "";
        let (role, hint) = match candidate {
            Some(role) => {
                let mut hint = format!(
                    "Drupal has a role \"{}\" ({}) that looks like it",
                    role.label, role.machine_name
                );
                if let Some(reason) = self.protection(role) {
                    hint.push_str(&format!(
                        "; that role {reason}, so exposing it needs `allow_protected: true` and gives the identity provider power over it"
                    ));
                    allow_protected = "\n    allow_protected: true";
                }
                (role.machine_name.clone(), hint)
            }
            None => (
                "<machine name>".to_string(),
                "Create the role in Drupal first (People › Roles): Drupal's JSON:API cannot create roles".to_string(),
            ),
        };
        let quoted = serde_json::Value::String(name.to_string());
        format!(
            "No Drupal role is exposed as the group \"{name}\"; SCIM groups are existing Drupal roles, which the bridge links to but cannot create. {hint}. To expose it, add this entry under `groups:` in the bridge's mapping file (the running bridge picks the change up):\n  - role: {role}\n    display_name: {quoted}{allow_protected}\nNothing was changed."
        )
    }
}

/// Permissions with which an account may make itself an administrator:
/// grant itself any role, or give any role any permission.
const ESCALATING_PERMISSIONS: [&str; 2] = ["administer permissions", "administer users"];

impl RoleCatalog {
    /// Why `role` is protected (not exposed, granted by no group or rule,
    /// unless the mapping says `allow_protected`), if it is.
    fn protection(&self, role: &DrupalRole) -> Option<String> {
        protection(role, &self.protected_roles, &self.own_roles)
    }
}

/// Why accounts holding `role` count as protected, if they do: it has
/// administrator rights, it is listed in `protected_roles`, it is a role of
/// the bridge's own account (whose power the IdP would then hand out), or
/// it holds a permission with which its holder may make itself an
/// administrator.
fn protection(
    role: &DrupalRole,
    protected_roles: &[String],
    own_roles: &[String],
) -> Option<String> {
    if role.is_admin {
        Some("has administrator rights (is_admin)".into())
    } else if protected_roles.contains(&role.machine_name) {
        Some("is listed in protected_roles".into())
    } else if own_roles.contains(&role.machine_name) {
        Some("is a role of the bridge's own Drupal account".into())
    } else {
        ESCALATING_PERMISSIONS
            .iter()
            .find(|p| role.permissions.iter().any(|held| held == *p))
            .map(|permission| {
                format!(
                    "has the permission \"{permission}\", with which its holders may make themselves administrators"
                )
            })
    }
}

/// The role catalog, reused for a TTL; one refresh at a time.
pub struct RoleCache {
    ttl: Duration,
    current: RwLock<Option<Arc<RoleCatalog>>>,
    refreshing: tokio::sync::Mutex<()>,
    /// What was last logged (warnings, exposed groups), so that a refresh
    /// logs only what changed.
    reported: Mutex<Option<(Vec<String>, Vec<String>)>>,
}

impl RoleCache {
    pub fn new(ttl: Duration) -> RoleCache {
        RoleCache {
            ttl,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            reported: Mutex::new(None),
        }
    }

    /// Forgets the catalog: the next use loads it again (a new mapping may
    /// expose other roles).
    pub fn invalidate(&self) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn cached(&self) -> Option<Arc<RoleCatalog>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The catalog: the cached one when it is younger than the TTL and was
    /// loaded after `newer_than`, else a fresh one from `load`. Concurrent
    /// callers share one load.
    pub async fn get<E, F, Fut>(
        &self,
        newer_than: Option<Instant>,
        load: F,
    ) -> Result<Arc<RoleCatalog>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<RoleCatalog, E>>,
    {
        let usable = |catalog: &RoleCatalog| {
            catalog.loaded_at.elapsed() < self.ttl
                && newer_than.is_none_or(|t| catalog.loaded_at > t)
        };
        if let Some(catalog) = self.cached().filter(|c| usable(c)) {
            return Ok(catalog);
        }
        let _only_one = self.refreshing.lock().await;
        // Whoever held the lock may have loaded what this caller needs.
        if let Some(catalog) = self.cached().filter(|c| usable(c)) {
            return Ok(catalog);
        }
        let catalog = Arc::new(load().await?);
        self.report(&catalog);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(catalog.clone());
        Ok(catalog)
    }

    /// Logs the catalog's warnings and groups when they differ from the
    /// last ones logged.
    fn report(&self, catalog: &RoleCatalog) {
        let groups: Vec<String> = catalog
            .groups
            .iter()
            .map(|g| g.display_name.clone())
            .collect();
        let now = Some((catalog.warnings.clone(), groups.clone()));
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if *reported == now {
            return;
        }
        for warning in &catalog.warnings {
            tracing::warn!("{warning}");
        }
        tracing::info!(?groups, "SCIM groups exposed");
        *reported = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(machine_name: &str, is_admin: bool) -> DrupalRole {
        DrupalRole {
            id: format!("uuid-{machine_name}"),
            machine_name: machine_name.into(),
            label: machine_name.to_uppercase(),
            is_admin,
            permissions: Vec::new(),
        }
    }

    fn site_roles() -> Vec<DrupalRole> {
        vec![
            role("authenticated", false),
            role("administrator", true),
            role("editor", false),
            role("auditor", false),
        ]
    }

    fn catalog(groups: &str, role_rules: &str) -> RoleCatalog {
        let yaml = format!(
            "rules:\n  - scim: userName\n    drupal: name\n  - scim: enterprise:department\n    drupal: field_department\ngroups:\n{groups}\nrole_rules:\n{role_rules}\n"
        );
        let mapping = Mapping::parse(&yaml, "test.yaml").expect("mapping");
        RoleCatalog::build(
            site_roles(),
            &mapping,
            &["auditor".to_string()],
            Instant::now(),
        )
    }

    #[test]
    fn term_groups_grant_only_existing_roles_and_protected_ones_only_when_allowed() {
        let c = catalog(
            "  - {display_name: Eng, roles: [editor]}\n  - {display_name: Admins, roles: [administrator]}\n  - {display_name: Root, roles: [administrator], allow_protected: true}\n  - {display_name: Ghosts, roles: [ghost]}",
            "  []",
        );
        assert_eq!(
            c.grantable_role("editor", false).as_deref(),
            Some("uuid-editor")
        );
        assert_eq!(c.grantable_role("administrator", false), None);
        assert_eq!(
            c.grantable_role("administrator", true).as_deref(),
            Some("uuid-administrator")
        );
        assert_eq!(c.grantable_role("auditor", false), None, "protected_roles");
        assert_eq!(c.grantable_role("ghost", true), None);
        let warnings = c.warnings().join("\n");
        assert!(
            warnings.contains("the group \"Admins\" does NOT grant it"),
            "{warnings}"
        );
        assert!(
            warnings.contains("\"ghost\", which Drupal does not have"),
            "{warnings}"
        );
        assert!(!warnings.contains("\"Root\""), "{warnings}");
        assert!(!warnings.contains("\"Eng\""), "{warnings}");
    }

    #[test]
    fn plain_roles_are_exposed_under_their_display_names() {
        let c = catalog("  - {role: editor, display_name: Editors}", "  []");
        assert_eq!(c.groups().len(), 1);
        assert_eq!(
            c.group_by_display_name("editors").unwrap().id,
            "uuid-editor"
        );
        assert_eq!(c.group_by_id("UUID-EDITOR").unwrap().role, "editor");
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn admin_and_protected_roles_are_refused_loudly_unless_allowed() {
        let c = catalog(
            "  - {role: administrator, display_name: Admins}\n  - {role: auditor, display_name: Auditors}",
            "  []",
        );
        assert!(c.groups().is_empty());
        assert_eq!(c.warnings().len(), 2);
        assert!(c.warnings()[0].contains("is_admin") && c.warnings()[0].contains("NOT exposed"));
        assert!(c.warnings()[1].contains("protected_roles"));
        assert!(c
            .explain_unknown_group("admins")
            .contains("allow_protected: true"));

        let allowed = catalog(
            "  - {role: administrator, display_name: Admins, allow_protected: true}",
            "  []",
        );
        assert_eq!(allowed.groups().len(), 1);
        assert!(allowed.warnings()[0].contains("IS exposed"));
    }

    #[test]
    fn roles_missing_in_drupal_are_not_exposed_and_warned_about() {
        let c = catalog("  - {role: ghost, display_name: Ghosts}", "  []");
        assert!(c.groups().is_empty());
        assert!(c.warnings()[0].contains("does not exist"));
        assert!(c.explain_unknown_group("Ghosts").contains("no role"));
    }

    #[test]
    fn an_empty_role_list_means_a_missing_permission() {
        let yaml = "rules:\n  - scim: userName\n    drupal: name\ngroups:\n  - {role: editor, display_name: Editors}\n";
        let mapping = Mapping::parse(yaml, "t.yaml").unwrap();
        let c = RoleCatalog::build(Vec::new(), &mapping, &[], Instant::now());
        assert_eq!(c.warnings().len(), 1);
        assert!(c.warnings()[0].contains("administer permissions"));
        assert!(c
            .explain_unknown_group("Editors")
            .contains("administer permissions"));
    }

    #[test]
    fn unknown_group_names_get_the_mapping_entry_to_add() {
        let c = catalog("  []", "  []");
        let detail = c.explain_unknown_group("Editor");
        assert!(
            detail.contains("  - role: editor\n    display_name: \"Editor\""),
            "{detail}"
        );
        let detail = c.explain_unknown_group("Sales Team");
        assert!(detail.contains("- role: <machine name>"), "{detail}");
        assert!(detail.contains("cannot create roles"), "{detail}");
    }

    #[test]
    fn rule_roles_skip_missing_and_protected_roles() {
        let c = catalog(
            "  []",
            "  - {when: enterprise:department eq Eng, role: editor}\n  - {when: enterprise:department eq Audit, role: auditor}\n  - {when: title pr, role: ghost}",
        );
        assert_eq!(c.rule_roles().keys().collect::<Vec<_>>(), vec!["editor"]);
        assert!(!c.has_rule_roles([&"ghost".to_string()]));
        assert!(c.has_rule_roles([&"editor".to_string(), &"auditor".to_string()]));
        assert_eq!(c.warnings().len(), 2, "{:?}", c.warnings());
    }

    #[tokio::test]
    async fn the_cache_reloads_after_the_ttl_or_when_asked_for_a_newer_list() {
        let cache = RoleCache::new(Duration::from_secs(60));
        let loads = std::sync::atomic::AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>(catalog("  []", "  []"))
        };
        let first = cache.get(None, load).await.unwrap();
        cache.get(None, load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 1);
        cache.get(Some(first.loaded_at()), load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2);

        let expired = RoleCache::new(Duration::ZERO);
        expired.get(None, load).await.unwrap();
        expired.get(None, load).await.unwrap();
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 4);
    }
}
