//! The provisioning service: SCIM operations carried out on Drupal, with the
//! bridge's policies (deprovisioning, protected accounts, which roles are
//! groups). It speaks typed SCIM values on one side and the Drupal client on
//! the other, and keeps no state of its own beyond short-lived caches.

mod audited;
mod bulk;
mod count_cache;
mod deprovisioned;
mod group_field;
mod group_preview;
mod group_turns;
mod groups;
mod languages;
mod marker;
mod member_lookup;
mod membership;
mod own_account;
mod published;
mod pushdown;
mod render;
mod roles;
mod seen_accounts;
mod term_groups;
mod term_names;
pub mod turns;
mod user_json;
mod users;
mod write_guard;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::config::PolicySettings;
use crate::drupal::account_locks::AccountLocks;
use crate::drupal::{DrupalClient, DrupalError};
use crate::mapping::{CustomSchema, Mapping, MappingError};
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::list::SortOrder;
use crate::scim::schema::{ResourceSchema, SchemaDef, SchemaError, SchemaRegistry};
use crate::scim::service_provider::ServiceProviderConfig;

pub use bulk::{BulkOutcome, BulkSuccess, MAX_BULK_OPERATIONS};
pub use group_preview::preview_group;
pub use groups::{GroupList, GroupQuery, PatchAnswer};
pub use membership::{CreateFate, MemberAction, MemberFailure, MemberProblem, MembershipFailures};
pub use own_account::OwnAccount;
pub use render::{render_user, ScimGroup, ScimUser};
pub use roles::RoleCatalog;
pub use term_groups::new_group_id;
pub use term_names::TermNames;
pub use user_json::{write_user, write_users, UserJson};
pub use users::{new_account, UserRead, UsersRead};
// Public for the benchmarks in benches/: the hot path of every list.
pub use pushdown::{translate, Pushdown};

/// Largest page a client can ask for (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 200;
/// Page size when the client names none.
pub const DEFAULT_COUNT: usize = 100;
/// How many accounts the bridge fetches at most to evaluate the part of a
/// filter that Drupal cannot (documented in the README).
pub const CANDIDATE_LIMIT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The request itself is wrong, in SCIM terms.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("no user with id {0}")]
    NotFound(String),
    #[error("no group with id {0}")]
    GroupNotFound(String),
    /// A write to an account the bridge must never change.
    #[error("{0}")]
    Protected(String),
    /// Some members of a group could not be added or removed; the others were.
    #[error(transparent)]
    Membership(#[from] MembershipFailures),
    #[error("mapping: {0}")]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Drupal(#[from] DrupalError),
}

/// A list request in typed form.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: Option<usize>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
}

/// One page of users and the total number that match.
#[derive(Debug, Clone)]
pub struct UserList {
    pub total: usize,
    pub users: Vec<ScimUser>,
}

/// What the mapping file decides: the mapping and the SCIM schemas it
/// publishes. Reloading replaces all three at once; a request holds the
/// ones it started with until it ends.
#[derive(Clone)]
pub struct ActiveMapping {
    pub mapping: Arc<Mapping>,
    pub registry: Arc<SchemaRegistry>,
    pub user_schema: Arc<ResourceSchema>,
}

impl ActiveMapping {
    /// Requests are read against the whole RFC schemas plus the mapping's
    /// custom schemas; `/Schemas` publishes what the mapping keeps.
    pub fn new(mapping: Arc<Mapping>) -> Result<ActiveMapping, SchemaError> {
        let custom: Vec<SchemaDef> = mapping
            .custom_schemas()
            .iter()
            .map(CustomSchema::schema_def)
            .collect();
        let user_schema = published::full_registry()?
            .with_extensions("User", custom.clone())?
            .resource_schema("User")
            .cloned()
            .ok_or_else(|| SchemaError::UnknownResourceType("User".into()))?;
        let registry = published::published_registry(&mapping)?.with_extensions("User", custom)?;
        Ok(ActiveMapping {
            mapping,
            registry: Arc::new(registry),
            user_schema: Arc::new(user_schema),
        })
    }
}

/// Why a mapping cannot serve a site.
#[derive(Debug, thiserror::Error)]
pub enum UnfitMapping {
    #[error("the mapping's schemas do not fit the built-in ones: {0}")]
    Schemas(#[from] SchemaError),
    /// A rule writes a field the site's policy gives to the bridge.
    #[error(transparent)]
    Owned(MappingError),
}

/// Refuses a mapping whose rules write a field the site's policy gives to
/// the bridge: `deprovisioned_field`, the marker that makes an account gone
/// for SCIM. A rule writing it would deprovision (hide) accounts at create
/// or update, or bring deprovisioned ones back. Refused under either
/// policy: under `delete` the field is not used, but a switch to `block`
/// would then hide every account the rule marked.
pub fn check_policy_fields(mapping: &Mapping, policy: &PolicySettings) -> Result<(), MappingError> {
    let field = &policy.deprovisioned_field;
    mapping.refuse_writes_to(
        field,
        "the deprovisioning marker (deprovisioned_field) that SCIM DELETE sets: an account the rule marks is gone for SCIM at once, one it clears comes back",
        &format!("delete the rule or give it `direction: from_drupal`, or write the value to another field; {field} is written by the bridge alone"),
    )
}

pub struct Provisioner {
    drupal: DrupalClient,
    active: RwLock<ActiveMapping>,
    group_schema: ResourceSchema,
    policy: PolicySettings,
    marker: marker::DeprovisionMarker,
    counts: count_cache::CountCache,
    roles: roles::RoleCache,
    seen: seen_accounts::SeenAccounts,
    accounts: member_lookup::AccountLookup,
    term_names: term_names::TermNames,
    /// Whether the site lacks the users' field of term-backed groups.
    group_field: group_field::GroupField,
    /// Held by a write that claims a term group's name (a create, a
    /// rename) from its check that no other group has the name until the
    /// write is verified: on one bridge, two such writes cannot both pass
    /// the check. Across replicas the verification alone keeps names
    /// unique (see `term_groups`).
    name_claims: tokio::sync::Mutex<()>,
    guard: write_guard::WriteGuard,
    /// A SCIM change of a user (PUT, PATCH, DELETE) holds the account from
    /// its read to its last write, so another change of it cannot fall in
    /// between: a PATCH that read the account before a DELETE blocked it
    /// would otherwise write it active again, gone for SCIM yet able to
    /// log in. Shared by every site of this process on the same Drupal.
    user_turns: Arc<AccountLocks>,
    /// A write setting an e-mail address holds the address while Drupal
    /// saves it: Drupal checks that an address is free, then inserts, with
    /// no unique index behind the check, so two creates of one address at
    /// once both passed it. Shared like `user_turns`.
    mail_claims: Arc<AccountLocks>,
    /// A SCIM change of a group holds it (see `group_turns`): alone from
    /// its version check to its last write when it depends on the whole
    /// group, beside others for a plain PATCH of members.
    group_turns: group_turns::GroupTurns,
    /// Accounts SCIM DELETE deprovisioned a moment ago, which a member
    /// addition that waited for their turn must leave out.
    deprovisioned_now: deprovisioned::RecentlyDeprovisioned,
    /// The account the bridge logs in as, which no SCIM write may reach.
    own: OwnAccount,
    /// Term groups whose create failed on a member and could not be undone
    /// (see `term_groups`): a retry of the same create takes them over.
    unfinished_creates:
        std::sync::Mutex<std::collections::HashMap<String, term_groups::Unfinished>>,
}

impl Provisioner {
    pub fn new(
        drupal: DrupalClient,
        mapping: Arc<Mapping>,
        policy: PolicySettings,
        own: OwnAccount,
    ) -> Result<Provisioner, UnfitMapping> {
        check_policy_fields(&mapping, &policy).map_err(UnfitMapping::Owned)?;
        let active = RwLock::new(ActiveMapping::new(mapping)?);
        let drupal_url = &drupal.base_url().to_string();
        let marker = marker::DeprovisionMarker::new(&policy);
        let counts = count_cache::CountCache::new(policy.count_cache);
        let roles = roles::RoleCache::new(policy.role_cache);
        let seen = seen_accounts::SeenAccounts::new(policy.account_cache);
        let guard = write_guard::WriteGuard::new(
            policy.account_cache,
            policy.protected_roles.clone(),
            own.clone(),
        );
        Ok(Provisioner {
            drupal,
            active,
            group_schema: ResourceSchema::new(published::group_schema(), Vec::new()),
            policy,
            marker,
            counts,
            roles,
            seen,
            accounts: member_lookup::AccountLookup::new(member_lookup::BATCH_IDS),
            term_names: term_names::TermNames::default(),
            group_field: Default::default(),
            name_claims: tokio::sync::Mutex::new(()),
            guard,
            user_turns: AccountLocks::shared_in("scim-changes", drupal_url),
            mail_claims: AccountLocks::shared_in("mail-claims", drupal_url),
            group_turns: Default::default(),
            deprovisioned_now: Default::default(),
            own,
            unfinished_creates: Default::default(),
        })
    }

    /// The mapping and schemas in effect now. An operation that consults
    /// them more than once takes this once, so a reload cannot change them
    /// halfway through.
    pub fn active(&self) -> ActiveMapping {
        // The lock only guards a swap of three pointers: a panic cannot
        // leave it half-written, so a poisoned lock is still consistent.
        self.active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new mapping in effect for every request that starts from now
    /// on; requests already running finish with the old one.
    pub fn replace_mapping(&self, mapping: Mapping) -> Result<(), UnfitMapping> {
        check_policy_fields(&mapping, &self.policy).map_err(UnfitMapping::Owned)?;
        let next = ActiveMapping::new(Arc::new(mapping))?;
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = next;
        // Counts were taken with the old mapping's filter translation, and
        // the role catalog with its groups section.
        self.counts.clear();
        self.roles.invalidate();
        Ok(())
    }

    pub fn mapping(&self) -> Arc<Mapping> {
        self.active().mapping
    }

    pub fn user_schema(&self) -> Arc<ResourceSchema> {
        self.active().user_schema
    }

    pub fn registry(&self) -> Arc<SchemaRegistry> {
        self.active().registry
    }

    pub fn group_schema(&self) -> &ResourceSchema {
        &self.group_schema
    }

    pub fn drupal(&self) -> &DrupalClient {
        &self.drupal
    }

    /// The longest a write waits for its turn on an account or a group
    /// (see `turns`): as long as one Drupal request may take.
    fn turn_bound(&self) -> std::time::Duration {
        self.drupal.timeout()
    }

    /// The turn of the account `id` for a SCIM change of it, within
    /// [`Self::turn_bound`] and while its client is there.
    async fn user_turn(
        &self,
        id: &str,
    ) -> Result<crate::drupal::account_locks::AccountGuard<'_>, DrupalError> {
        turns::wait_for(self.user_turns.lock(id), self.turn_bound()).await
    }

    /// Makes sure the bridge's own account is known before a write (see
    /// `own_account`): one request, once, under `oauth2` only.
    async fn know_own_account(&self) -> Result<(), ProvisioningError> {
        Ok(self.own.learn(&self.drupal).await?)
    }

    /// The role catalog, from the cache unless it is older than the TTL or
    /// than `newer_than`.
    async fn role_catalog(
        &self,
        newer_than: Option<Instant>,
    ) -> Result<Arc<RoleCatalog>, ProvisioningError> {
        let mapping = self.mapping();
        // A mapping without groups or role rules needs nothing from
        // Drupal's roles: no request spent on them.
        if mapping.exposed_groups().is_empty()
            && mapping.rule_roles().is_empty()
            && mapping.group_grants().is_empty()
        {
            return Ok(Arc::new(RoleCatalog::empty()));
        }
        self.roles
            .get(newer_than, || async {
                let roles = self.drupal.list_roles().await?;
                // Known once the bridge logged in (the list's request did).
                let own_roles = self.drupal.own_roles().unwrap_or_default();
                Ok(RoleCatalog::build_for(
                    roles,
                    &mapping,
                    &self.policy.protected_roles,
                    &own_roles,
                    Instant::now(),
                ))
            })
            .await
    }

    /// The role catalog, read again once if the cached one fails `has`: a
    /// group or role the IdP names may have been added in Drupal since.
    async fn catalog_having(
        &self,
        has: impl Fn(&RoleCatalog) -> bool,
    ) -> Result<Arc<RoleCatalog>, ProvisioningError> {
        let catalog = self.role_catalog(None).await?;
        if has(&catalog) {
            return Ok(catalog);
        }
        self.role_catalog(Some(catalog.loaded_at())).await
    }

    /// What this bridge supports, as `/ServiceProviderConfig` states it;
    /// the HTTP layer adds the bulk limits, which it enforces.
    pub fn service_provider_config(&self) -> ServiceProviderConfig {
        let mut config = ServiceProviderConfig {
            sort: true,
            etag: true,
            // Per request, from the mapping in effect: a reload changes it.
            change_password: self.mapping().changes_password(),
            ..ServiceProviderConfig::default()
        };
        config.filter.max_results = MAX_RESULTS as u32;
        config
    }
}
