//! SCIM user operations carried out on Drupal.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::audited;
use super::count_cache::Turn;
use super::deprovisioned::Mark;
use super::marker::not_marked;
use super::pushdown::{translate, Pushdown};
use super::render::render_user;
use super::roles::{ExposedGroup, RoleCatalog};
use super::seen_accounts::REMEMBERED_PER_LIST;
use super::term_names::TermName;
use super::user_json::{write_user, write_users, UserJson};
use super::write_guard::Clearance;
use super::{
    ActiveMapping, Provisioner, ProvisioningError, ScimUser, UserList, UserQuery, CANDIDATE_LIMIT,
    DEFAULT_COUNT, MAX_RESULTS,
};
use crate::audit::{self, AuditEvent, EventKind};
use crate::config::DeprovisionPolicy;
use crate::drupal::document::{roles_relationship, ApiError};
use crate::drupal::{
    referenced_terms, Caseless, CollectionQuery, Condition, DrupalError, DrupalUser, Operator,
    RoleRef, SortKey, UserPage, UserWrite, DRUPAL_PAGE_CAP,
};
use crate::mapping::{
    AttributeSource, DrupalWrite, FieldType, MappedAttribute, Mapping, MappingError, WritePurpose,
};
use crate::scim::caseless;
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::list::SortOrder;
use crate::scim::patch::{apply_patch, CreatedValue, PatchRequest};
use crate::scim::path::{AttrPath, ResolvedPath};
use crate::scim::projection::Projection;
use crate::scim::resource::Replacement;
use crate::scim::version::Preconditions;

type Result<T> = std::result::Result<T, ProvisioningError>;

/// The most accounts a count probes for (about a billion): past it, Drupal's
/// pages are taken to never end.
const MAX_COUNTED_ACCOUNTS: usize = 1 << 30;

/// The Drupal account a SCIM create writes, with the UUID the bridge chose.
pub fn new_account(
    mapping: &Mapping,
    resource: &Map<String, Value>,
    id: Option<String>,
) -> std::result::Result<UserWrite, MappingError> {
    let mapped = mapping.to_drupal(resource, WritePurpose::Create)?;
    let mut write = UserWrite {
        id,
        attributes: mapped.attributes,
        relationships: mapped.relationships,
    };
    // Drupal blocks an account whose status is omitted; SCIM users are
    // active unless the IdP says otherwise.
    let active = resource
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    write
        .attributes
        .entry("status")
        .or_insert(Value::Bool(active));
    Ok(write)
}

/// A page of users: the ListResponse written (`Resources`, then
/// `itemsPerPage`, `schemas`, `startIndex`, `totalResults`), or the users
/// rendered for the map path.
#[derive(Debug)]
pub enum UsersRead {
    Json(Vec<u8>),
    Rendered(UserList),
}

/// The accounts of one page, with what they are shown with.
struct Listed {
    total: usize,
    accounts: Vec<Arc<DrupalUser>>,
    mapping: Arc<Mapping>,
    catalog: Arc<RoleCatalog>,
}

/// A user read by id: its answer written, or the resource for the map path.
#[derive(Debug)]
pub enum UserRead {
    Json(UserJson),
    Rendered(ScimUser),
}

impl Provisioner {
    pub async fn get_user(&self, id: &str) -> Result<ScimUser> {
        let user = self.load_visible_read(id).await?;
        let catalog = self.role_catalog(None).await?;
        Ok(self.named(render_user(&user, &self.mapping(), &catalog)))
    }

    /// A user read by id as the answer's bytes, its `$ref`s and
    /// `meta.location` under `base` (see [`super::write_user`]); the
    /// rendered user when only the map path can answer.
    pub async fn read_user(
        &self,
        id: &str,
        base: &str,
        projection: &Projection,
    ) -> Result<UserRead> {
        let user = self.load_visible_read(id).await?;
        let catalog = self.role_catalog(None).await?;
        let mapping = self.mapping();
        if let Some(json) = write_user(
            &user,
            &mapping,
            &catalog,
            &self.term_names,
            base,
            projection,
        ) {
            return Ok(UserRead::Json(json));
        }
        Ok(UserRead::Rendered(
            self.named(render_user(&user, &mapping, &catalog)),
        ))
    }

    /// `rendered` with its term-backed groups named (see `term_names`).
    fn named(&self, mut rendered: ScimUser) -> ScimUser {
        self.term_names.name_groups(&mut rendered);
        rendered
    }

    pub async fn create_user(&self, resource: Map<String, Value>) -> Result<ScimUser> {
        self.know_own_account().await?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut write = new_account(&self.mapping(), &resource, Some(id.clone()))?;
        if let Some(roles) = self.ruled_roles(&resource, &[]).await? {
            write.relationships.insert("roles".into(), roles);
        }

        let created = self.create_account(&id, &write).await?;
        tracing::Span::current().record("user", created.name().unwrap_or_default());
        Ok(self.written(created).await)
    }

    /// Writes a new account; each outcome is audited (an account
    /// deprovisioned earlier and revived is audited as a reactivation).
    async fn create_account(&self, id: &str, write: &UserWrite) -> Result<DrupalUser> {
        let outcome = self.create_in_drupal(write).await;
        // The account this create makes is no clash of its own: a 500
        // Drupal gave after saving it is told apart from one its name
        // index gave for another account.
        let created = match self.name_clash(outcome, write, Some(id)).await {
            Ok(user) => user,
            // The answer was lost or garbled, or a gateway's: the account
            // may exist.
            Err(e) if e.may_have_been_applied() => {
                match self.find_lost_create(id, &e).await {
                    Ok(user) => user,
                    Err(e) => {
                        // Not found now is no proof: Drupal may still be
                        // working through the create.
                        audit::record(
                            audited::user_write(None, id, write, None).outcome_unknown(&e),
                        );
                        return Err(e);
                    }
                }
            }
            // Drupal failed after its save (a hook, a module): the account
            // with this create's UUID says whether the create happened.
            Err(
                e @ DrupalError::Server {
                    status: 500 | 503, ..
                },
            ) => match self.created_after_all(id, &e).await {
                Ok(Some(user)) => user,
                _ => {
                    audit::record(audited::user_write(None, id, write, None).failed(&e));
                    return Err(e.into());
                }
            },
            // A name taken, or an e-mail address: Drupal's check of a name
            // ignores case in ASCII only, so an account SCIM deprovisioned
            // holding the name in another case beyond ASCII ("ÉMILE" for
            // "émile") shows as its e-mail address taken.
            Err(DrupalError::Validation(errors))
                if errors.iter().any(|e| {
                    matches!(
                        e.pointer.as_deref(),
                        Some("/data/attributes/name" | "/data/attributes/mail")
                    )
                }) =>
            {
                // Audited by `revive_deprovisioned` when it writes.
                match self.revive_deprovisioned(write).await? {
                    Some(user) => return Ok(user),
                    None => {
                        let e = DrupalError::Validation(errors);
                        audit::record(audited::user_write(None, id, write, None).failed(&e));
                        return Err(self.mail_holder(e, write, Some(id)).await);
                    }
                }
            }
            Err(e) => {
                audit::record(audited::user_write(None, id, write, None).failed(&e));
                return Err(e.into());
            }
        };
        audit::record(audited::user_write(
            None,
            &created.id,
            write,
            Some(&created),
        ));
        Ok(created)
    }

    pub async fn replace_user(
        &self,
        id: &str,
        replacement: Replacement,
        conditions: &Preconditions,
    ) -> Result<ScimUser> {
        let Replacement {
            resource,
            unassigned,
        } = replacement;
        self.know_own_account().await?;
        let _turn = self.user_turn(id).await?;
        if conditions.is_empty() {
            if let Some(seen) = self.writable_seen(id) {
                let mapping = self.mapping();
                let desired = mapping.to_drupal_replacing(&resource, &unassigned)?;
                let desired = keep_required(&mapping, &seen.attributes, desired)?;
                // Every field the resource maps to is written, since one the
                // account seen holds may have changed since. When none
                // differs from what was seen, only a read tells whether
                // anything must be written.
                if !changed_fields(&seen.attributes, &desired.attributes).is_empty() {
                    let write = UserWrite {
                        id: None,
                        attributes: desired.attributes,
                        relationships: desired.relationships,
                    };
                    return self.write_unread(&seen, write).await;
                }
            }
        }
        let current = self.load_visible(id).await?;
        self.ensure_writable(&current)?;
        self.check_version(&current, conditions).await?;
        let mapping = self.mapping();
        let desired = mapping.to_drupal_replacing(&resource, &unassigned)?;
        let desired = keep_required(&mapping, &current.attributes, desired)?;
        let mut write = UserWrite {
            id: None,
            attributes: changed_fields(&current.attributes, &desired.attributes),
            relationships: desired.relationships,
        };
        if let Some(roles) = self.ruled_roles(&resource, &current.roles).await? {
            write.relationships.insert("roles".into(), roles);
        }
        self.write_changes(&current, write).await
    }

    pub async fn patch_user(
        &self,
        id: &str,
        request: &PatchRequest,
        conditions: &Preconditions,
    ) -> Result<ScimUser> {
        self.know_own_account().await?;
        let _turn = self.user_turn(id).await?;
        let active = self.active();
        if conditions.is_empty() && request.is_state_independent(&*active.user_schema) {
            if let Some(written) = self.patch_seen(id, request, &active).await? {
                return Ok(written);
            }
            if let Some(written) = self.patch_unseen(id, request, &active).await? {
                return Ok(written);
            }
        }
        let current = self.load_visible(id).await?;
        self.ensure_writable(&current)?;
        let catalog = self.role_catalog(None).await?;
        let rendered = render_user(&current, &active.mapping, &catalog);
        conditions.check("user", &rendered.id, Some(&rendered.version))?;
        let before = rendered.resource;
        let mut after = before.clone();
        let outcome = apply_patch(&mut after, request, &*active.user_schema)?;
        refuse_unkept_creations(&active.mapping, &after, &outcome.created)?;
        if !outcome.changed {
            return Ok(self.named(render_user(&current, &active.mapping, &catalog)));
        }
        let write = self.patch_write(&current, &before, &after, &active).await?;
        self.write_changes(&current, write).await
    }

    /// A PATCH that does not depend on the account's values, of an account
    /// seen a moment ago: written without reading it again. `None` when a
    /// read must come first.
    async fn patch_seen(
        &self,
        id: &str,
        request: &PatchRequest,
        active: &ActiveMapping,
    ) -> Result<Option<ScimUser>> {
        let Some(seen) = self.writable_seen(id) else {
            return Ok(None);
        };
        let catalog = self.role_catalog(None).await?;
        let before = render_user(&seen, &active.mapping, &catalog).resource;
        let mut after = before.clone();
        let outcome = apply_patch(&mut after, request, &*active.user_schema)?;
        refuse_unkept_creations(&active.mapping, &after, &outcome.created)?;
        // What the patch sets, applied to nothing. A value equal to the one
        // seen may no longer be the account's: only a read tells whether it
        // must be written.
        let mut set = Map::new();
        set.insert("id".into(), Value::String(id.to_string()));
        apply_patch(&mut set, request, &*active.user_schema)?;
        if !outcome.changed || !differs_throughout(&set, &before) {
            return Ok(None);
        }
        let write = self.patch_write(&seen, &before, &after, active).await?;
        if write.is_empty() {
            return Ok(None);
        }
        self.write_unread(&seen, write).await.map(Some)
    }

    /// A PATCH that sets simple attributes of its own (Entra's and Okta's
    /// deactivation), of an account not seen in the window but on no list
    /// of accounts to refuse (see `write_guard`): written without a read,
    /// as a PATCH of an account just seen is. `None` when a read must come
    /// first.
    async fn patch_unseen(
        &self,
        id: &str,
        request: &PatchRequest,
        active: &ActiveMapping,
    ) -> Result<Option<ScimUser>> {
        let mut set = Map::new();
        set.insert("id".into(), Value::String(id.to_string()));
        let id = id.to_ascii_lowercase();
        // A copy, even one that may not be written unread, is the
        // account's: its own rules decide.
        if uuid::Uuid::parse_str(&id).is_err() || self.seen.get(&id).is_some() {
            return Ok(None);
        }
        apply_patch(&mut set, request, &*active.user_schema)?;
        set.remove("id");
        let Some(desired) = active.mapping.write_of_own(&set) else {
            return Ok(None);
        };
        if desired.attributes.is_empty() && desired.relationships.is_empty() {
            return Ok(None);
        }
        let write = UserWrite {
            id: None,
            attributes: desired.attributes,
            relationships: desired.relationships,
        };
        let clearance = self.clearance(&id).await;
        match clearance {
            Clearance::Clear => {}
            Clearance::UnlessDeprovisioned if blocks_only(&write) => {}
            Clearance::UnlessDeprovisioned | Clearance::Read => return Ok(None),
        }
        let outcome = self.update_in_drupal(&id, &write).await;
        let updated = match self.name_clash(outcome, &write, Some(&id)).await {
            Ok(updated) => {
                let name = updated.name().unwrap_or(id.as_str());
                tracing::Span::current().record("user", name);
                updated
            }
            Err(DrupalError::NotFound) => return Err(ProvisioningError::NotFound(id)),
            Err(e) => {
                audit::record(audited::unseen_user_write(&id, &write, None).failed(&e));
                return Err(e.into());
            }
        };
        if self.marker.is_marked(&updated) {
            // Gone for SCIM. Blocking it again changed nothing; any other
            // write went to an account deprovisioned inside the window.
            self.guard.refuse(&id);
            if clearance == Clearance::Clear {
                audit::record(audited::unseen_user_write(&id, &write, Some(&updated)));
                tracing::error!(
                    user = updated.name().unwrap_or_default(),
                    "an account SCIM DELETE deprovisioned less than account_cache_secs ago was written without a read; the write happened. Check the account, and set account_cache_secs: 0 to read before every write"
                );
            }
            return Err(ProvisioningError::NotFound(id));
        }
        audit::record(audited::unseen_user_write(&id, &write, Some(&updated)));
        Ok(Some(self.written_unread(updated).await))
    }

    /// What the list of accounts to refuse, read less than
    /// `account_cache_secs` ago, says of a write to the account `id`
    /// without reading it; always a read when role rules need its roles.
    pub(super) async fn clearance(&self, id: &str) -> Clearance {
        // Known by its UUID (oauth2), the bridge's own account is on no
        // list Drupal gives: read, and refused from what it shows.
        if !self.mapping().rule_roles().is_empty() || self.own.is_id(id) {
            return Clearance::Read;
        }
        self.guard.clearance(id, &self.drupal, &self.marker).await
    }

    /// The write that turns `current` (rendered as `before`) into `after`.
    /// Only what the patch changed is written: comparing the mapping's
    /// output before and after keeps fields whose mapping cannot be read
    /// back (templates, write-only fields) untouched.
    async fn patch_write(
        &self,
        current: &DrupalUser,
        before: &Map<String, Value>,
        after: &Map<String, Value>,
        active: &ActiveMapping,
    ) -> Result<UserWrite> {
        let old = active.mapping.to_drupal(before, WritePurpose::Update)?;
        let new = active.mapping.to_drupal(after, WritePurpose::Update)?;
        let mut attributes = changed_fields(&old.attributes, &new.attributes);
        for key in old.attributes.keys() {
            if new.attributes.contains_key(key) {
                continue;
            }
            if active.mapping.never_cleared(key) {
                return Err(never_cleared(key).into());
            }
            attributes.insert(key.clone(), Value::Null);
        }
        let attributes = changed_fields(&current.attributes, &attributes);
        let mut relationships = changed_fields(&old.relationships, &new.relationships);
        if let Some(roles) = self.ruled_roles(after, &current.roles).await? {
            relationships.insert("roles".into(), roles);
        }
        Ok(UserWrite {
            id: None,
            attributes,
            relationships,
        })
    }

    pub async fn delete_user(&self, id: &str, conditions: &Preconditions) -> Result<()> {
        self.know_own_account().await?;
        let _turn = self.user_turn(id).await?;
        let current = self.load_visible(id).await?;
        self.ensure_writable(&current)?;
        self.check_version(&current, conditions).await?;
        // A member addition waiting for this account's turn leaves it out
        // (taken off again below when the write certainly did not land).
        self.deprovisioned_now.mark(&current.id);
        let deprovisioned = self.deprovision(&current).await;
        if deprovisioned.is_err() && self.deprovisioned_now.state(&current.id) == Some(Mark::Sure) {
            // Failed before its write was sent (reading the roles, say).
            self.deprovisioned_now.clear(&current.id);
        }
        deprovisioned?;
        self.seen.forget(&current.id);
        tracing::info!(
            user = current.name().unwrap_or_default(),
            policy = ?self.policy.deprovision,
            "deprovisioned"
        );
        self.counts.clear();
        Ok(())
    }

    /// What SCIM DELETE's failed write leaves: no mark when Drupal refused
    /// it or it never reached Drupal (the account is as it was), an unsure
    /// one when it may have landed (see `deprovisioned`).
    fn unmark_unless_written(&self, id: &str, failure: Option<&DrupalError>) {
        match failure {
            None => {}
            Some(e) if e.may_have_been_applied() => self.deprovisioned_now.mark_unsure(id),
            Some(_) => self.deprovisioned_now.clear(id),
        }
    }

    /// Whether a member addition must leave the account `id` out, as one
    /// SCIM DELETE deprovisioned a moment ago. Called under the account's
    /// turn. A DELETE whose outcome is unknown costs one read: the account
    /// shown active and unmarked was not deprovisioned, and the mark goes.
    pub(super) async fn deprovisioned_lately(
        &self,
        id: &str,
    ) -> std::result::Result<bool, DrupalError> {
        match self.deprovisioned_now.state(id) {
            None => Ok(false),
            Some(Mark::Sure) => Ok(true),
            Some(Mark::Unsure) => {
                let gone = match self.drupal.get_user(id).await? {
                    None => true,
                    Some(user) if self.marker.is_marked(&user) => true,
                    // Without the marker field, a blocked account is what
                    // the DELETE would have left.
                    Some(user) => {
                        self.marker.field().is_none()
                            && user.attributes.get_bool("status") != Some(true)
                    }
                };
                if gone {
                    self.deprovisioned_now.mark(id);
                } else {
                    self.deprovisioned_now.clear(id);
                }
                Ok(gone)
            }
        }
    }

    /// SCIM DELETE's write, under the account's turn.
    async fn deprovision(&self, current: &DrupalUser) -> Result<()> {
        match self.policy.deprovision {
            DeprovisionPolicy::Block => {
                let mut write = UserWrite::default();
                write.attributes.insert("status".into(), Value::Bool(false));
                // Access the IdP granted goes with the account: a blocked,
                // kept account must not carry it into a later reactivation.
                // Its term-backed groups go too, and the roles only they
                // granted, in the same write.
                let catalog = self.role_catalog(None).await?;
                let dropped = self.term_groups_dropped(current, &catalog).await?;
                let taken = dropped.as_ref().map(|d| &d.roles);
                if let Some(roles) = roles_without_managed(&catalog, &current.roles, taken, &[]) {
                    write.relationships.insert("roles".into(), roles);
                }
                if let Some(dropped) = dropped {
                    write
                        .relationships
                        .insert(dropped.field, json!({"data": []}));
                }
                if let Some(field) = self.marker.field() {
                    write.attributes.insert(field.into(), Value::Bool(true));
                }
                // Gone for SCIM from now: no write reaches it unread.
                self.guard.refuse(&current.id);
                let outcome = match self.update_in_drupal(&current.id, &write).await {
                    Err(e) if self.marker.absorb_missing_field(&e) => {
                        write.attributes.retain(|k, _| k == "status");
                        self.update_in_drupal(&current.id, &write).await
                    }
                    other => other,
                };
                let mut event =
                    audited::user_write(Some(current), &current.id, &write, outcome.as_ref().ok());
                event.event = EventKind::UserDeprovisioned;
                audit::record(match &outcome {
                    Ok(_) => event,
                    Err(e) => event.failed(e),
                });
                self.unmark_unless_written(&current.id, outcome.as_ref().err());
                outcome?;
            }
            DeprovisionPolicy::Delete => {
                let outcome = self.drupal.delete_user(&current.id).await;
                let event = AuditEvent::new(EventKind::UserDeleted, &current.id, current.name());
                audit::record(match &outcome {
                    Ok(()) => event,
                    Err(e) => event.failed(e),
                });
                self.unmark_unless_written(&current.id, outcome.as_ref().err());
                outcome?;
            }
        }
        Ok(())
    }

    /// A page of users as the answer's bytes, each user's `$ref`s and
    /// `meta.location` under `base` (see [`super::write_users`]); the
    /// rendered users when only the map path can answer one of them.
    pub async fn list_users(
        &self,
        query: &UserQuery,
        base: &str,
        projection: &Projection,
    ) -> Result<UsersRead> {
        let listed = self.list_accounts(query).await?;
        if let Some(list) = write_users(
            &listed.accounts,
            &listed.mapping,
            &listed.catalog,
            &self.term_names,
            base,
            projection,
        ) {
            return Ok(UsersRead::Json(
                list.finish(listed.total, query.start_index),
            ));
        }
        Ok(UsersRead::Rendered(UserList {
            total: listed.total,
            users: listed
                .accounts
                .iter()
                .map(|u| self.named(render_user(u, &listed.mapping, &listed.catalog)))
                .collect(),
        }))
    }

    async fn list_accounts(&self, query: &UserQuery) -> Result<Listed> {
        let count = query.count.unwrap_or(DEFAULT_COUNT).min(MAX_RESULTS);
        let active = self.active();
        let filter = query
            .filter
            .as_ref()
            .map(|f| f.canonicalize(&*active.user_schema))
            .transpose()?
            .map(|f| super::pushdown::as_stored(f, &active.mapping));
        if let Some(filter) = &filter {
            super::pushdown::refuse_refs(filter)?;
        }

        if let Some(id) = filter.as_ref().and_then(single_id) {
            return self
                .list_by_id(&id, query.start_index, count, &active.mapping)
                .await;
        }
        let catalog = self.role_catalog(None).await?;

        let pushdown = match &filter {
            Some(f) => translate(f, &active.mapping, &*active.user_schema)?,
            None => Pushdown {
                condition: None,
                exact: true,
            },
        };
        let sort = self.sort_keys(query)?;
        loop {
            let base = CollectionQuery {
                filter: Some(self.visible_accounts(pushdown.condition.clone())),
                sort: sort.clone(),
                include: self.term_include(),
                ..Default::default()
            };
            let included = base.include.is_some();
            let listed = match (pushdown.exact, &filter) {
                (false, Some(filter)) => {
                    self.list_evaluated(filter, base, query.start_index, count, &active, &catalog)
                        .await
                }
                _ => self.list_exact(base, query.start_index, count).await,
            };
            match listed {
                Err(ProvisioningError::Drupal(e))
                    if self.marker.absorb_missing_field(&e)
                        || (included && self.absorb_missing_group_field(&e)) =>
                {
                    continue
                }
                Err(e) => return Err(e),
                Ok((total, accounts)) => {
                    return Ok(Listed {
                        total,
                        accounts,
                        mapping: Arc::clone(&active.mapping),
                        catalog,
                    })
                }
            }
        }
    }

    /// `condition`, limited to accounts SCIM DELETE has not marked.
    pub(super) fn visible_accounts(&self, condition: Option<Condition>) -> Condition {
        let mut conditions: Vec<Condition> =
            self.marker.field().map(not_marked).into_iter().collect();
        conditions.extend(condition);
        match conditions.len() {
            // Any filter makes Drupal leave out the anonymous user (uid 0),
            // which unfiltered collections list: keeps offsets true.
            0 => Condition::null_check("name", Operator::IsNotNull),
            1 => conditions.remove(0),
            _ => Condition::all(conditions),
        }
    }

    /// Drupal's answer is the SCIM answer: page in Drupal. The total and
    /// the page's accounts.
    async fn list_exact(
        &self,
        base: CollectionQuery,
        start_index: usize,
        count: usize,
    ) -> Result<(usize, Vec<Arc<DrupalUser>>)> {
        let offset = start_index.saturating_sub(1);
        let mut users = Vec::new();
        let mut reached_end = false;
        // Also what `count_matching` counts: it reads the filter alone
        // (its probes set the rest), so no copy of the query is kept for it.
        let first = CollectionQuery {
            offset,
            limit: Some(count.min(DRUPAL_PAGE_CAP)),
            ..base
        };
        let read_at = self.user_turns.stamp();
        if count > 0 {
            let mut page = self.drupal.list_users(&first).await?;
            let mut distinct = crate::drupal::Distinct::default();
            loop {
                page.keep_new(&mut distinct);
                self.learn_term_names(&page.users.iter().collect::<Vec<_>>(), &page.included);
                users.append(&mut page.users);
                match page.next.take() {
                    Some(next) if users.len() < count => {
                        page = self.drupal.list_users(&next).await?
                    }
                    Some(_) => break,
                    None => {
                        reached_end = true;
                        break;
                    }
                }
            }
        }
        // The last page may hold more than the client asked for: the total
        // counts everything fetched, the answer only `count` of it.
        let fetched = users.len();
        users.truncate(count);
        let users: Vec<Arc<DrupalUser>> = users.into_iter().map(Arc::new).collect();
        if users.len() <= REMEMBERED_PER_LIST {
            for user in &users {
                self.remember_read(user, read_at);
            }
        }
        let total = if reached_end && (fetched > 0 || offset == 0) {
            offset + fetched
        } else {
            self.count_matching(&first).await?
        };
        Ok((total, users))
    }

    /// Drupal narrows the candidates; the bridge evaluates the filter. The
    /// total and the page's accounts.
    async fn list_evaluated(
        &self,
        filter: &Filter,
        base: CollectionQuery,
        start_index: usize,
        count: usize,
        active: &ActiveMapping,
        catalog: &RoleCatalog,
    ) -> Result<(usize, Vec<Arc<DrupalUser>>)> {
        let first = CollectionQuery {
            limit: Some(DRUPAL_PAGE_CAP),
            ..base
        };
        let mut page = self.drupal.list_users(&first).await?;
        let mut matched = Vec::new();
        let mut seen = 0usize;
        let mut distinct = crate::drupal::Distinct::default();
        loop {
            page.keep_new(&mut distinct);
            seen += page.users.len();
            self.learn_term_names(&page.users.iter().collect::<Vec<_>>(), &page.included);
            if seen > CANDIDATE_LIMIT {
                return Err(ScimError::too_many(format!(
                    "this filter needs the bridge to check more than {CANDIDATE_LIMIT} accounts itself; add a condition Drupal can answer, such as userName eq, externalId eq or emails.value eq"
                ))
                .into());
            }
            for user in page.users.drain(..) {
                let scim = self.named(render_user(&user, &active.mapping, catalog));
                if filter.matches(&scim.resource, &*active.user_schema) {
                    matched.push(user);
                }
            }
            match page.next.take() {
                Some(next) => page = self.drupal.list_users(&next).await?,
                None => break,
            }
        }
        let total = matched.len();
        let users = matched
            .into_iter()
            .skip(start_index.saturating_sub(1))
            .take(count)
            .map(Arc::new)
            .collect();
        Ok((total, users))
    }

    async fn list_by_id(
        &self,
        id: &str,
        start_index: usize,
        count: usize,
        mapping: &Arc<Mapping>,
    ) -> Result<Listed> {
        // Drupal finds a UUID in any case; SCIM's `id` is caseExact (RFC
        // 7643 §3.1), so `id eq` in another case matches nothing. (A path
        // `/Users/{id}` is no comparison and still finds it.)
        let found = match self.load_visible_read(id).await {
            Ok(user) if user.id == id => vec![user],
            Ok(_) => Vec::new(),
            Err(ProvisioningError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let total = found.len();
        let accounts: Vec<Arc<DrupalUser>> = found
            .into_iter()
            .skip(start_index.saturating_sub(1))
            .take(count)
            .collect();
        // No account, no request for the roles it would be shown with.
        let catalog = if accounts.is_empty() {
            Arc::new(RoleCatalog::empty())
        } else {
            self.role_catalog(None).await?
        };
        Ok(Listed {
            total,
            accounts,
            mapping: Arc::clone(mapping),
            catalog,
        })
    }

    /// How many accounts match, without fetching them all: pages of names
    /// at doubling offsets, then a binary search for the last page. About
    /// 2·log2(n/50) requests; `meta.count` is used where the site sends it.
    /// Only `base`'s filter counts: the probes set its paging, fields, sort
    /// and include.
    /// Counts the accounts `base` matches, by probing page offsets when
    /// Drupal gives no count. At most [`MAX_COUNTED_ACCOUNTS`].
    /// Concurrent lists of one filter share one count (`count_cache`).
    async fn count_matching(&self, base: &CollectionQuery) -> Result<usize> {
        let key = format!("{:?}", base.filter);
        loop {
            match self.counts.turn(&key) {
                Turn::Known(n) => return Ok(n),
                Turn::Wait(count) => {
                    if let Some(outcome) = Turn::wait(count).await {
                        return Ok(outcome?);
                    }
                    // The list counting went away: ask again.
                }
                Turn::Count(flight) => {
                    return Ok(flight.land(self.count_by_probing(base).await)?);
                }
            }
        }
    }

    async fn count_by_probing(
        &self,
        base: &CollectionQuery,
    ) -> std::result::Result<usize, DrupalError> {
        let probe = |offset: usize| {
            let q = CollectionQuery {
                offset,
                limit: Some(DRUPAL_PAGE_CAP),
                fields: Some(vec!["name".into()]),
                sort: vec![SortKey {
                    field: "drupal_internal__uid".into(),
                    descending: false,
                }],
                include: None,
                ..base.clone()
            };
            async move { self.drupal.list_users(&q).await }
        };
        let first = probe(0).await?;
        let total = if let Some(n) = first.count {
            n as usize
        } else if let Some(n) = last_page_total(0, &first) {
            n
        } else {
            // `full` is a page offset known to be full, `empty` one known empty.
            let mut full = 0usize;
            let mut step = DRUPAL_PAGE_CAP;
            let mut found = None;
            let mut empty = loop {
                let page = probe(step).await?;
                if let Some(n) = last_page_total(step, &page) {
                    found = Some(n);
                    break step;
                }
                if page.users.is_empty() {
                    break step;
                }
                full = step;
                // A real site ends long before; a Drupal answering full
                // pages at every offset would otherwise be asked forever.
                step = match step.checked_mul(2).filter(|s| *s <= MAX_COUNTED_ACCOUNTS) {
                    Some(next) => next,
                    None => {
                        return Err(DrupalError::Protocol(format!(
                            "Drupal lists accounts past offset {step}; its pages never end"
                        )))
                    }
                };
            };
            while found.is_none() && empty - full > DRUPAL_PAGE_CAP {
                let mid = full + ((empty - full) / 2 / DRUPAL_PAGE_CAP) * DRUPAL_PAGE_CAP;
                let page = probe(mid).await?;
                if let Some(n) = last_page_total(mid, &page) {
                    found = Some(n);
                } else if page.users.is_empty() {
                    empty = mid;
                } else {
                    full = mid;
                }
            }
            found.unwrap_or(empty)
        };
        Ok(total)
    }

    fn sort_keys(&self, query: &UserQuery) -> Result<Vec<SortKey>> {
        let descending = query.sort_order == Some(SortOrder::Descending);
        let mut keys = Vec::new();
        if let Some(attr) = &query.sort_by {
            let field = self.sort_field(attr).ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "cannot sort by {}: the bridge's mapping does not store it in a Drupal field",
                    crate::untrusted::quote(attr)
                ))
            })?;
            keys.push(SortKey { field, descending });
        }
        // A stable order makes startIndex paging consistent.
        keys.push(SortKey {
            field: "drupal_internal__uid".into(),
            descending: descending && keys.is_empty(),
        });
        Ok(keys)
    }

    /// The Drupal field `attr` sorts by. `attr` is read as `filter` and
    /// `attributes` read names (RFC 7644 §3.10): case-insensitive, and
    /// fully qualified by its schema's URN or not.
    fn sort_field(&self, attr: &str) -> Option<String> {
        let active = self.active();
        let path = match AttrPath::parse(attr).ok()?.resolve(&*active.user_schema) {
            Ok(ResolvedPath::Attribute(resolved)) => resolved.path(),
            // `id` and `meta` are common attributes, not the schema's.
            _ => AttrPath::parse(attr).ok().filter(|p| p.schema.is_none())?,
        };
        if path.schema.is_none() {
            let whole = match &path.sub_attr {
                Some(sub) => format!("{}.{sub}", path.attr),
                None => path.attr.clone(),
            };
            match whole.to_ascii_lowercase().as_str() {
                "meta.lastmodified" => return Some("changed".into()),
                "meta.created" => return Some("created".into()),
                "id" => return Some("id".into()),
                _ => {}
            }
        }
        active
            .mapping
            .binding_for(
                path.schema.as_deref(),
                &path.attr,
                path.sub_attr.as_deref(),
                None,
            )
            .map(|b| b.filter_path())
    }

    /// `If-Match` and `If-None-Match` (RFC 7644 §3.14, RFC 7232 §3.2)
    /// against the account as SCIM shows it: a write based on an older
    /// version, or asked for only where the account is not (`*`) or has
    /// changed, is refused before anything is written. Nothing is read
    /// when no condition names versions.
    async fn check_version(&self, current: &DrupalUser, conditions: &Preconditions) -> Result<()> {
        if !conditions.names_versions() {
            return Ok(conditions.check("user", &current.id, None)?);
        }
        let catalog = self.role_catalog(None).await?;
        let rendered = render_user(current, &self.mapping(), &catalog);
        Ok(conditions.check("user", &rendered.id, Some(&rendered.version))?)
    }

    /// The account, unless it does not exist or SCIM DELETE marked it.
    /// The account `id` read for a write, under its turn: remembered as
    /// read (no write of this process can be under way).
    async fn load_visible(&self, id: &str) -> Result<Arc<DrupalUser>> {
        self.load_visible_as(id, None).await
    }

    /// The account `id` read for a GET: remembered only if no write of
    /// this process to it was under way or ended meanwhile, as such a read
    /// may show it half written or as before.
    async fn load_visible_read(&self, id: &str) -> Result<Arc<DrupalUser>> {
        self.load_visible_as(id, Some(self.user_turns.stamp()))
            .await
    }

    /// Remembers `user`, read after `read_at`, unless a write of this
    /// process to it was under way or ended since: a later write decided
    /// from the copy must see what that write did.
    fn remember_read(&self, user: &Arc<DrupalUser>, read_at: crate::drupal::account_locks::Stamp) {
        if !self.user_turns.changed_since(&user.id, read_at) {
            self.seen.remember(user);
        }
    }

    async fn load_visible_as(
        &self,
        id: &str,
        read_at: Option<crate::drupal::account_locks::Stamp>,
    ) -> Result<Arc<DrupalUser>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ProvisioningError::NotFound(id.to_string()));
        }
        let found = self.get_user_with_terms(id).await?;
        if let Some((user, included)) = &found {
            self.learn_term_names(&[user], included);
        }
        match found.map(|(user, _)| user) {
            Some(user) if !self.marker.is_marked(&user) => {
                tracing::Span::current().record("user", user.name().unwrap_or_default());
                let user = Arc::new(user);
                match read_at {
                    Some(read_at) => self.remember_read(&user, read_at),
                    None => self.seen.remember(&user),
                }
                Ok(user)
            }
            _ => Err(ProvisioningError::NotFound(id.to_string())),
        }
    }

    /// uid 1 and holders of protected roles are never changed, nor an
    /// account whose roles Drupal does not show: it may hold one (502, as
    /// a broken answer: the site must show the bridge its accounts' roles).
    fn ensure_writable(&self, user: &DrupalUser) -> Result<()> {
        if user.uid() != Some(1) && !self.own.is(user) && !user.shows_roles() {
            let why = roles_hidden(user);
            tracing::error!(
                user = %crate::untrusted::quote(user.name().unwrap_or_default()),
                id = %user.id,
                "{why}"
            );
            self.guard.refuse(&user.id);
            return Err(DrupalError::Protocol(why).into());
        }
        match self.protection(user, None) {
            Some(why) => {
                self.guard.refuse(&user.id);
                audit::record(audited::refused(user, &why));
                Err(ProvisioningError::Protected(why))
            }
            None => Ok(()),
        }
    }

    /// Why the bridge must not change `user`, if it must not. For a change
    /// to the membership of `group`, the group's own role does not count
    /// when the operator exposed it with `allow_protected`: else its members
    /// could never be removed.
    pub(super) fn protection(
        &self,
        user: &DrupalUser,
        group: Option<&ExposedGroup>,
    ) -> Option<String> {
        let exempt: Vec<&str> = group
            .filter(|g| g.allow_protected)
            .map(|g| g.role.as_str())
            .into_iter()
            .collect();
        self.protection_except(user, &exempt)
    }

    /// As `protection`, leaving out the protected roles in `exempt`: those
    /// a term-backed group grants with `allow_protected`.
    pub(super) fn protection_except(&self, user: &DrupalUser, exempt: &[&str]) -> Option<String> {
        let name = user.name().unwrap_or_default();
        if user.uid() == Some(1) {
            return Some(format!(
                "The account {name} is Drupal's first account (uid 1); the bridge never changes, blocks or deletes it."
            ));
        }
        if self.own.is(user) {
            return Some(format!(
                "The account {name} is one the bridge logs in to Drupal as (drupal.auth, of this site or of another site of this bridge in front of the same Drupal); the bridge never changes, blocks or deletes it, which would lock that site out of Drupal. Change it in Drupal if you must."
            ));
        }
        if !user.shows_roles() {
            return Some(roles_hidden(user));
        }
        self.policy
            .protected_roles
            .iter()
            .filter(|r| !exempt.contains(&r.as_str()))
            .find(|r| user.has_role(r))
            .map(|role| format!(
                "The account {name} holds the protected role {role}; the bridge never changes, blocks or deletes such accounts. Change it in Drupal, or take the role out of protected_roles."
            ))
    }

    async fn write_changes(&self, current: &DrupalUser, write: UserWrite) -> Result<ScimUser> {
        if write.is_empty() {
            return Ok(self.render_written(current).await);
        }
        let outcome = self.update_in_drupal(&current.id, &write).await;
        let updated = self.name_clash(outcome, &write, Some(&current.id)).await;
        audit::record(match &updated {
            Ok(after) => audited::user_write(Some(current), &current.id, &write, Some(after)),
            Err(e) => audited::user_write(Some(current), &current.id, &write, None).failed(e),
        });
        match updated {
            Ok(updated) => Ok(self.written(updated).await),
            Err(e) => Err(self.mail_holder(e, &write, Some(&current.id)).await),
        }
    }

    /// The account seen less than `account_cache_secs` ago, when a write
    /// may go to it without reading it again: it was no account the bridge
    /// must refuse, and no role rule needs its current roles. A refusal is
    /// always decided from the account as Drupal holds it now.
    pub(super) fn writable_seen(&self, id: &str) -> Option<Arc<DrupalUser>> {
        if !self.mapping().rule_roles().is_empty() {
            return None;
        }
        self.seen
            .get(id)
            .filter(|user| self.must_not_write(user).is_none())
    }

    /// Why no write may go to `user`: it is protected, or SCIM DELETE
    /// deprovisioned it.
    fn must_not_write(&self, user: &DrupalUser) -> Option<String> {
        self.protection(user, None).or_else(|| {
            self.marker
                .is_marked(user)
                .then(|| "SCIM DELETE deprovisioned it".to_string())
        })
    }

    /// Writes to an account seen a moment ago without reading it again.
    /// Drupal's answer tells whether it became one the bridge must not
    /// change in between; too late to refuse, so the operator is told.
    async fn write_unread(&self, seen: &DrupalUser, write: UserWrite) -> Result<ScimUser> {
        tracing::Span::current().record("user", seen.name().unwrap_or_default());
        let outcome = self.update_in_drupal(&seen.id, &write).await;
        let updated = match self.name_clash(outcome, &write, Some(&seen.id)).await {
            Ok(updated) => {
                audit::record(audited::user_write(
                    Some(seen),
                    &seen.id,
                    &write,
                    Some(&updated),
                ));
                updated
            }
            Err(e) => {
                audit::record(audited::user_write(Some(seen), &seen.id, &write, None).failed(&e));
                self.seen.forget(&seen.id);
                return Err(self.mail_holder(e, &write, Some(&seen.id)).await);
            }
        };
        Ok(self.written_unread(updated).await)
    }

    /// The answer after a write made without a read. Drupal's answer tells
    /// whether the account became one the bridge must not change in
    /// between; too late to refuse, so the operator is told (and the
    /// account goes on the list of accounts to refuse).
    async fn written_unread(&self, updated: DrupalUser) -> ScimUser {
        self.written_as(
            updated,
            "an account written without a read (seen, or on no list of accounts to refuse, less than account_cache_secs ago) changed in Drupal in between into one the bridge must not change; the write happened. Check the account, and set account_cache_secs: 0 to read before every write",
        )
        .await
    }

    /// The answer after a write, which Drupal answered with the account.
    /// The account was read and found writable just before; an answer
    /// showing otherwise (a protected role granted in Drupal meanwhile,
    /// its roles hidden) is logged, as after a write made without a read.
    async fn written(&self, user: DrupalUser) -> ScimUser {
        self.written_as(
            user,
            "Drupal's answer to a write shows an account the bridge must not change; the write happened. Check the account",
        )
        .await
    }

    /// Logs `problem` as an error when Drupal's answer to a write shows an
    /// account the bridge must not change, then answers with it.
    async fn written_as(&self, user: DrupalUser, problem: &str) -> ScimUser {
        let why = self.must_not_write(&user);
        if let Some(why) = &why {
            tracing::error!(user = user.name().unwrap_or_default(), why, "{problem}");
        }
        self.answer_written(user, why.is_some()).await
    }

    /// Remembers the account Drupal answered a write with (on the list of
    /// accounts to refuse when `refuse`) and renders it.
    async fn answer_written(&self, user: DrupalUser, refuse: bool) -> ScimUser {
        self.counts.clear();
        if refuse {
            self.guard.refuse(&user.id);
        }
        let user = Arc::new(user);
        self.seen.remember(&user);
        self.render_written(&user).await
    }

    /// A user after a write: a role list that cannot be read now must not
    /// turn a write that happened into an error (the IdP would repeat it),
    /// so the answer then leaves the groups out.
    async fn render_written(&self, user: &DrupalUser) -> ScimUser {
        match self.role_catalog(None).await {
            Ok(catalog) => self.named(render_user(user, &self.mapping(), &catalog)),
            Err(e) => {
                tracing::warn!(error = %e, "the answer leaves out the user's groups: Drupal's roles cannot be read now");
                self.named(render_user(user, &self.mapping(), &RoleCatalog::empty()))
            }
        }
    }

    /// The `roles` relationship the role rules want for the SCIM `user`,
    /// when it differs from the roles `held`; `None` without role rules.
    async fn ruled_roles(
        &self,
        user: &Map<String, Value>,
        held: &[RoleRef],
    ) -> Result<Option<Value>> {
        if self.mapping().rule_roles().is_empty() {
            return Ok(None);
        }
        let granted = self.mapping().roles_for(user);
        let catalog = self.catalog_having(|c| c.has_rule_roles(&granted)).await?;
        Ok(ruled_roles(&catalog, &granted, held))
    }

    /// A create whose answer never came may still have been written. The
    /// bridge chose the UUID, so one read tells.
    async fn find_lost_create(&self, id: &str, lost: &DrupalError) -> Result<DrupalUser> {
        match self.created_after_all(id, lost).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => {
                tracing::error!(
                    id,
                    error = %lost,
                    "a create's answer was lost and Drupal did not show the account when asked; the create may still complete"
                );
                // 503 to retry, as the lost answer's own error words it.
                Err(match lost {
                    DrupalError::Protocol(why) => DrupalError::Unreadable(why.clone()),
                    other => other.clone(),
                }
                .into())
            }
            Err(e) => {
                tracing::error!(id, error = %e, lost = %lost, "a create's answer was lost and the bridge cannot tell whether Drupal wrote it; a retry cannot create a second account, as Drupal user names are unique");
                Err(e.into())
            }
        }
    }

    /// The account a create that failed with `error` gave the UUID `id`, if
    /// Drupal shows it: the create happened after all.
    async fn created_after_all(
        &self,
        id: &str,
        error: &DrupalError,
    ) -> std::result::Result<Option<DrupalUser>, DrupalError> {
        let found = self.drupal.get_user(id).await?;
        if found.is_some() {
            tracing::warn!(
                id,
                error = %error,
                "Drupal's answer to a create was lost or an error, yet the account was created; it is returned"
            );
        }
        Ok(found)
    }

    /// Drupal's check that a name is free and its `filter[name]` compare
    /// case in ASCII only, while the unique index on names ignores case in
    /// every script (SQLite, whose index Drupal collates NOCASE_UTF8, and
    /// MariaDB's default collation alike). A name differing from another
    /// account's only in non-ASCII case ("émile", "ÉMILE") passes the check
    /// and breaks the index: Drupal answers 500, not its 422 "already
    /// taken" (seen on a real Drupal 10.2 on both databases). So does the
    /// very same name when two writes set it at once: both pass the check
    /// before either is saved. After a 500
    /// on a write that sets a name, this answers as Drupal answers a taken
    /// name (409, or a revival of a deprovisioned account on create) when
    /// Drupal's message names that index, or when another account holds
    /// the name ignoring case. Otherwise the 500 stands.
    async fn name_clash<T>(
        &self,
        outcome: std::result::Result<T, DrupalError>,
        write: &UserWrite,
        own_id: Option<&str>,
    ) -> std::result::Result<T, DrupalError> {
        let error = match outcome {
            Err(error) => error,
            ok => return ok,
        };
        let (
            DrupalError::Server {
                status: 500,
                detail,
                ..
            },
            Some(name),
        ) = (&error, write.attributes.get("name").and_then(Value::as_str))
        else {
            return Err(error);
        };
        let index_named = ["users_field_data.name", "'user__name'"]
            .iter()
            .any(|index| detail.contains(index));
        if index_named || self.name_held(name, own_id).await {
            return Err(DrupalError::Validation(vec![ApiError {
                status: 422,
                // True of every way the index refuses: the same name (two
                // renames to one name at once both pass Drupal's check), or
                // one the database's collation counts as the same.
                detail: format!(
                    "name: The username {} is already taken by another account (Drupal's database counts the names as the same: identical, or differing only in case, or, where MySQL/MariaDB ignore accents, only in accents).",
                    crate::untrusted::quote(name)
                ),
                pointer: Some("/data/attributes/name".into()),
            }]));
        }
        Err(error)
    }

    /// Drupal's "The email address … is already taken." for the address
    /// `write` sets: a 409 naming the account holding it and what frees the
    /// address. One Drupal read, on this error only; any other error is
    /// returned as it is.
    ///
    /// The holder may be an account SCIM DELETE deprovisioned (kept
    /// blocked, shown to no IdP, which therefore cannot see what it
    /// conflicts with): RFC 7644 §3.6 says a deleted resource SHOULD NOT
    /// count in conflicts, but Drupal keeps addresses unique and the
    /// account is kept; see README, "Not supported yet, and known limits".
    /// Or it is an account SCIM shows, which the IdP did not find (renamed
    /// in Drupal, or never provisioned by it): the detail names it as SCIM
    /// shows it, with its id.
    async fn mail_holder(
        &self,
        error: DrupalError,
        write: &UserWrite,
        own_id: Option<&str>,
    ) -> ProvisioningError {
        let mail_taken = matches!(&error, DrupalError::Validation(errors)
            if errors.iter().any(|e| e.detail.starts_with("mail:") && e.detail.contains("is already taken")));
        let name_taken = matches!(&error, DrupalError::Validation(errors)
            if errors.iter().any(|e| e.detail.starts_with("name:") && e.detail.contains("is already taken")));
        if name_taken {
            if let Some(name) = write.attributes.get("name").and_then(Value::as_str) {
                return self.name_holder(error, name, own_id).await;
            }
        }
        let mail = write.attributes.get("mail").and_then(Value::as_str);
        let (true, Some(mail)) = (mail_taken, mail) else {
            return error.into();
        };
        let query = CollectionQuery {
            filter: Some(Condition::field("mail", Operator::Eq, mail)),
            limit: Some(DRUPAL_PAGE_CAP),
            ..Default::default()
        };
        let Ok(page) = self.drupal.list_users(&query).await else {
            return error.into();
        };
        let others: Vec<DrupalUser> = page
            .users
            .into_iter()
            .filter(|user| own_id.is_none_or(|own| !user.id.eq_ignore_ascii_case(own)))
            .collect();
        if let Some(holder) = others.iter().find(|user| self.marker.is_marked(user)) {
            let name = holder.name().unwrap_or_default();
            return ScimError::uniqueness(format!(
                "The e-mail address {} is held by the Drupal account \"{}\", which SCIM DELETE deprovisioned: Drupal keeps it blocked with its content and shows it to no identity provider, and keeps e-mail addresses unique. Creating the userName \"{}\" again revives that account with its address; otherwise a Drupal administrator gives that account another address, or deletes it, to free this one. Nothing was changed.",
                crate::untrusted::quote(mail),
                crate::untrusted::quote(name),
                crate::untrusted::quote(name),
            ))
            .into();
        }
        // Another value taken too (the name: an IdP's retry of a create
        // that happened): Drupal's own list of them says more.
        let more_taken = matches!(&error, DrupalError::Validation(errors)
            if errors.iter().any(|e| !e.detail.starts_with("mail:") && e.detail.contains("is already taken")));
        let (Some(holder), false) = (others.first(), more_taken) else {
            return error.into();
        };
        let user_name = self.shown_user_name(holder);
        ScimError::uniqueness(format!(
            "The e-mail address {} belongs to the user \"{}\" (id {}), and Drupal keeps e-mail addresses unique. If that user is the one meant (renamed in Drupal, so that a lookup by userName does not find it), update it instead; otherwise give one of the two users another address. Nothing was changed.",
            crate::untrusted::quote(mail),
            crate::untrusted::quote(&user_name),
            crate::untrusted::quote(&holder.id),
        ))
        .into()
    }

    /// A user's userName as SCIM shows it: the one the IdP can look up.
    fn shown_user_name(&self, user: &DrupalUser) -> String {
        let shown = self
            .mapping()
            .from_drupal(&user.attributes, &user.relationships);
        shown
            .get("userName")
            .and_then(Value::as_str)
            .or(user.name())
            .unwrap_or_default()
            .to_string()
    }

    /// Drupal's "The username … is already taken." (its own check's, or
    /// [`Self::name_clash`]'s): when an account SCIM shows holds the name,
    /// a 409 naming it with its userName and id, the usual cause being an
    /// earlier create of the IdP's whose answer was lost (it landed after
    /// the bridge answered 503). Advice about deprovisioned accounts would
    /// mislead then. One Drupal read, on this error only; otherwise (a
    /// deprovisioned holder, a failed read) Drupal's error as it is.
    async fn name_holder(
        &self,
        error: DrupalError,
        name: &str,
        own_id: Option<&str>,
    ) -> ProvisioningError {
        let Ok(page) = self.drupal.list_users(&holders_of(name)).await else {
            return error.into();
        };
        let holders: Vec<&DrupalUser> = page
            .users
            .iter()
            .filter(|user| own_id.is_none_or(|own| !user.id.eq_ignore_ascii_case(own)))
            .collect();
        let Some(holder) = holders.first().filter(|h| !self.marker.is_marked(h)) else {
            return error.into();
        };
        if holders.iter().any(|h| self.marker.is_marked(h)) {
            return error.into();
        }
        let DrupalError::Validation(errors) = &error else {
            return error.into();
        };
        let taken: Vec<String> = errors
            .iter()
            .filter(|v| v.detail.contains("is already taken"))
            .map(|v| {
                let detail = crate::untrusted::cut(&v.detail, 300);
                detail.trim_end().trim_end_matches('.').to_string()
            })
            .collect();
        ScimError::uniqueness(format!(
            "Drupal already has an account with this value: {}. It is the user \"{}\" (id {}), which SCIM shows. If it is the user meant (an earlier create whose answer was lost may have made it), use or update it instead of creating it; otherwise choose another userName. Nothing was changed.",
            taken.join("; "),
            crate::untrusted::quote(&self.shown_user_name(holder)),
            crate::untrusted::quote(&holder.id),
        ))
        .into()
    }

    /// Whether an account other than `own_id` holds `name` as Drupal's
    /// database compares names: ignoring case, and on MySQL or MariaDB
    /// accents too. Drupal's filter ignores case in ASCII only, so the name
    /// is asked for as written, lower-cased and upper-cased, which finds the
    /// usual spellings; any account the database answers with compares
    /// equal to one of them by the collation its unique index uses too
    /// ("josé" for "jose" on MariaDB). A failed read answers no.
    async fn name_held(&self, name: &str, own_id: Option<&str>) -> bool {
        let query = CollectionQuery {
            fields: Some(vec!["name".into()]),
            ..holders_of(name)
        };
        let Ok(page) = self.drupal.list_users(&query).await else {
            return false;
        };
        page.users
            .iter()
            .any(|user| own_id.is_none_or(|own| !user.id.eq_ignore_ascii_case(own)))
    }

    /// What an account SCIM DELETE deprovisions loses of its term-backed
    /// groups: every reference (the field written empty, which also drops
    /// one to a term deleted since) and the roles those groups granted,
    /// as the mapping's `groups` entries name them. `None` without term
    /// groups, or when the account references none. The names come from
    /// the read of the account (which includes its terms); a term not
    /// named there is read.
    async fn term_groups_dropped(
        &self,
        user: &DrupalUser,
        catalog: &RoleCatalog,
    ) -> Result<Option<TermGroupsDropped>> {
        let mapping = self.mapping();
        let Some(terms) = mapping.group_terms() else {
            return Ok(None);
        };
        let held_any = user
            .relationships
            .get(&terms.user_field)
            .and_then(|r| r.get("data"))
            .and_then(Value::as_array)
            .is_some_and(|items| !items.is_empty());
        if !held_any {
            return Ok(None);
        }
        let mut roles = BTreeSet::new();
        if !mapping.group_grants().is_empty() {
            let refs = referenced_terms(&user.relationships, &terms.user_field);
            let names = self.term_names.names_of(&refs);
            for (id, name) in refs.iter().zip(names) {
                let name = match name {
                    TermName::Named(name) => name,
                    TermName::Gone => continue,
                    TermName::Unknown => match self.find_term_group(id).await {
                        Ok(term) => term.name,
                        Err(ProvisioningError::GroupNotFound(_)) => continue,
                        Err(e) => return Err(e),
                    },
                };
                if let Some(grant) = mapping.grant_for(&name) {
                    roles.extend(
                        grant
                            .roles
                            .iter()
                            .filter_map(|r| catalog.grantable_role(r, grant.allow_protected)),
                    );
                }
            }
        }
        Ok(Some(TermGroupsDropped {
            field: terms.user_field.clone(),
            roles,
        }))
    }

    /// An IdP creating a user that SCIM DELETE deprovisioned earlier gets
    /// that account back, reactivated, instead of a name conflict forever.
    async fn revive_deprovisioned(&self, write: &UserWrite) -> Result<Option<DrupalUser>> {
        let Some(field) = self.marker.field() else {
            return Ok(None);
        };
        let Some(name) = write.attributes.get("name").and_then(Value::as_str) else {
            return Ok(None);
        };
        // Drupal's unique index ignores the name's case in every script,
        // its filter only in ASCII: the account holding the name in another
        // case beyond ASCII ("ÉMILE" for "émile") is among the candidates
        // of a caseless condition, compared here.
        let filter = match Condition::ignoring_case("name", Operator::Eq, name) {
            Caseless::Exact(condition) | Caseless::Superset(condition) => condition,
            Caseless::Unnarrowed => Condition::field("name", Operator::Eq, name),
        };
        let query = CollectionQuery {
            filter: Some(filter),
            limit: Some(DRUPAL_PAGE_CAP),
            ..Default::default()
        };
        let page = self.drupal.list_users(&query).await?;
        let Some(existing) = page
            .users
            .into_iter()
            .find(|user| user.name().is_some_and(|held| caseless::same(held, name)))
        else {
            return Ok(None);
        };
        if !self.marker.is_marked(&existing) {
            return Ok(None);
        }
        // The revival is a change of the account like a PUT's: it holds the
        // account from its read to its write. Creates of the name sent at
        // once all found it deprovisioned above; only the first to hold it
        // finds it so still, and the others answer as a create sent after
        // the revival does (the name is taken), instead of each writing
        // its own values over the others' and answering 201.
        let _turn = self.user_turn(&existing.id).await?;
        let Some((existing, included)) = self.get_user_with_terms(&existing.id).await? else {
            return Ok(None);
        };
        self.learn_term_names(&[&existing], &included);
        if !self.marker.is_marked(&existing) {
            return Ok(None);
        }
        // Deprovisioned by SCIM, then given a protected role in Drupal: the
        // name is not merely taken, the account is one the bridge never
        // changes, and the IdP is told so, as for any other write to it.
        self.ensure_writable(&existing)?;
        // The account comes back as the IdP creates it now: the custom
        // fields it did not send are cleared (whatever an update would
        // keep), and no role the bridge manages survives from before
        // unless granted again.
        let mut revive = UserWrite {
            id: None,
            attributes: write.attributes.clone(),
            relationships: write.relationships.clone(),
        };
        for mapped in self.mapping().mapped_fields() {
            let attribute = mapped.field_type != FieldType::EntityReference;
            if attribute
                && mapped.name.starts_with("field_")
                && !revive.attributes.contains_key(&mapped.name)
            {
                revive.attributes.insert(mapped.name, Value::Null);
            }
        }
        revive.attributes.insert(field.into(), Value::Null);
        let granted: Vec<RoleRef> = write
            .relationships
            .get("roles")
            .and_then(|r| r.get("data"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_str))
                    .map(|id| RoleRef {
                        id: id.to_string(),
                        machine_name: String::new(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        revive.relationships.remove("roles");
        let catalog = self.role_catalog(None).await?;
        // An account deprovisioned before SCIM DELETE took its term-backed
        // groups may still hold them: they do not come back either.
        let dropped = self.term_groups_dropped(&existing, &catalog).await?;
        let taken = dropped.as_ref().map(|d| &d.roles);
        if let Some(roles) = roles_without_managed(&catalog, &existing.roles, taken, &granted) {
            revive.relationships.insert("roles".into(), roles);
        }
        if let Some(dropped) = dropped {
            revive
                .relationships
                .insert(dropped.field, json!({"data": []}));
        }
        let outcome = self.update_in_drupal(&existing.id, &revive).await;
        let mut event = audited::user_write(
            Some(&existing),
            &existing.id,
            &revive,
            outcome.as_ref().ok(),
        );
        event.event = EventKind::UserReactivated;
        audit::record(match &outcome {
            Ok(_) => event,
            Err(e) => event.failed(e),
        });
        let user = outcome?;
        self.deprovisioned_now.clear(&user.id);
        tracing::info!(
            user = name,
            "an account deprovisioned by SCIM was created again: reactivated it"
        );
        Ok(Some(user))
    }
}

/// What a deprovisioned account loses of its term-backed groups.
struct TermGroupsDropped {
    /// The users' reference field to the groups' vocabulary.
    field: String,
    /// The role ids the groups granted.
    roles: BTreeSet<String>,
}

/// The roles `held` without those the bridge manages and those `taken`
/// (role ids: what term-backed groups granted), plus `granted`, as a
/// `roles` relationship; `None` when that changes nothing.
fn roles_without_managed(
    catalog: &RoleCatalog,
    held: &[RoleRef],
    taken: Option<&BTreeSet<String>>,
    granted: &[RoleRef],
) -> Option<Value> {
    let mut ids: Vec<String> = held
        .iter()
        .filter(|r| !catalog.manages(&r.id) && taken.is_none_or(|t| !t.contains(&r.id)))
        .map(|r| r.id.clone())
        .collect();
    for role in granted {
        if !ids.contains(&role.id) {
            ids.push(role.id.clone());
        }
    }
    let unchanged = ids.len() == held.len() && held.iter().all(|h| ids.contains(&h.id));
    (!unchanged).then(|| roles_relationship(&ids))
}

/// The `roles` relationship the role rules want, when it differs from the
/// roles `held`: rule-managed roles follow `granted` (machine names), every
/// other role stays as it is.
fn ruled_roles(
    catalog: &RoleCatalog,
    granted: &BTreeSet<String>,
    held: &[RoleRef],
) -> Option<Value> {
    let managed = catalog.rule_roles();
    if managed.is_empty() {
        return None;
    }
    let mut ids: Vec<String> = held
        .iter()
        .filter(|r| !managed.contains_key(&r.machine_name) || granted.contains(&r.machine_name))
        .map(|r| r.id.clone())
        .collect();
    let added = granted
        .iter()
        .filter(|role| !held.iter().any(|h| &h.machine_name == *role))
        .filter_map(|role| managed.get(role));
    ids.extend(added.cloned());
    let unchanged = ids.len() == held.len() && held.iter().all(|h| ids.contains(&h.id));
    (!unchanged).then(|| roles_relationship(&ids))
}

/// RFC 7644 §3.5.2.3 answers `noTarget` when a value filter matches
/// nothing; the bridge creates the value an `eq` filter describes instead
/// (Entra replaces `phoneNumbers[type eq "mobile"].value` of a user who
/// has none). Where the mapping stores the attribute but not that value
/// (it keeps one e-mail, read back as the primary work one, and the
/// filter asked for `type eq "home"`), the value would be dropped and a
/// success would say otherwise: 400 `noTarget`, naming what the site keeps.
/// An attribute the mapping does not store at all is ignored, as in any
/// request.
fn refuse_unkept_creations(
    mapping: &Mapping,
    after: &Map<String, Value>,
    created: &[CreatedValue],
) -> Result<()> {
    for made in created {
        let kept: Vec<MappedAttribute> = mapping
            .mapped_attributes()
            .into_iter()
            .filter(|m| {
                m.writes
                    && m.schema.eq_ignore_ascii_case(&made.schema)
                    && m.attr.eq_ignore_ascii_case(&made.attr)
            })
            .collect();
        if kept.is_empty() {
            continue;
        }
        let mut without = after.clone();
        if !remove_created(&mut without, made) {
            continue;
        }
        let dropped = match (
            mapping.to_drupal(after, WritePurpose::Update),
            mapping.to_drupal(&without, WritePurpose::Update),
        ) {
            (Ok(with), Ok(without)) => with == without,
            _ => false,
        };
        if dropped {
            return Err(ScimError::no_target(unkept_detail(made, &kept)).into());
        }
    }
    Ok(())
}

fn unkept_detail(made: &CreatedValue, kept: &[MappedAttribute]) -> String {
    let attr = &made.attr;
    let what: Vec<String> = kept
        .iter()
        .map(|m| match (&m.element_type, m.marks_primary) {
            (Some(t), true) => format!("the primary one, read back with type \"{t}\""),
            (Some(t), false) => format!("the one of type \"{t}\""),
            (None, true) => "the primary one".to_string(),
            (None, false) => "one".to_string(),
        })
        .collect();
    let path = kept
        .first()
        .map(|m| match &m.element_type {
            Some(t) => format!("{attr}[type eq \"{t}\"]"),
            None => format!("{attr}[primary eq true]"),
        })
        .unwrap_or_else(|| attr.clone());
    format!(
        "no value of {attr} matches [{}], and this site keeps no other value of {attr} than {}: the value the filter describes would not be kept. Change {path} instead. Nothing was changed.",
        crate::untrusted::quote(&made.filter),
        what.join(" and ")
    )
}

/// `after` without the value `made` created; false when a later operation
/// changed it.
fn remove_created(after: &mut Map<String, Value>, made: &CreatedValue) -> bool {
    let container = if made.is_core {
        Some(after)
    } else {
        after
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&made.schema))
            .and_then(|(_, v)| v.as_object_mut())
    };
    let Some(container) = container else {
        return false;
    };
    let Some(key) = container
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&made.attr))
        .cloned()
    else {
        return false;
    };
    let Some(Value::Array(items)) = container.get_mut(&key) else {
        return false;
    };
    let Some(at) = items.iter().position(|item| *item == made.value) else {
        return false;
    };
    items.remove(at);
    if items.is_empty() {
        container.remove(&key);
    }
    true
}

/// A PATCH `remove` (or `replace` with nothing) of the attribute a field
/// Drupal keeps a value in is stored in, or a PUT's `null` or `[]` for it.
fn never_cleared(field: &str) -> ScimError {
    ScimError::mutability(format!(
        "Drupal keeps a value in the field {field} of every account, so the attribute stored there cannot be removed (nor set to null or []); replace it with a new value instead."
    ))
}

/// A PUT's `null` for a field Drupal keeps a value in (`name`, `mail`,
/// `status`, `pass`): refused as a PATCH `remove` of its attribute is where
/// the account holds a value (Drupal would answer "Email field is required."
/// for `mail`, and would store a `null` status), and left out where it holds
/// none (a `password`, which is never read back; an account without `mail`).
fn keep_required(
    mapping: &Mapping,
    current: &(impl AttributeSource + ?Sized),
    mut desired: DrupalWrite,
) -> Result<DrupalWrite> {
    let mut held = None;
    desired.attributes.retain(|key, value| {
        if !value.is_null() || !mapping.never_cleared(key) {
            return true;
        }
        if current.attribute(key).is_some_and(|v| !v.is_null()) {
            held.get_or_insert_with(|| key.clone());
        }
        false
    });
    match held {
        Some(field) => Err(never_cleared(&field).into()),
        None => Ok(desired),
    }
}

/// `desired` entries whose value differs from `current` (null = absent).
fn changed_fields(
    current: &(impl AttributeSource + ?Sized),
    desired: &Map<String, Value>,
) -> Map<String, Value> {
    desired
        .iter()
        .filter(|(k, v)| current.attribute(k).as_deref().unwrap_or(&Value::Null) != *v)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The total when `page` (at `offset`) is the last one.
fn last_page_total(offset: usize, page: &UserPage) -> Option<usize> {
    (page.next.is_none() && !page.users.is_empty())
        .then(|| offset + page.users.len())
        .or_else(|| (page.next.is_none() && offset == 0).then_some(0))
}

/// `id eq "<uuid>"`: one read by id instead of a query.
fn single_id(filter: &Filter) -> Option<String> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.schema.is_none() && path.sub_attr.is_none() && path.attr == "id" => {
            Some(id.clone())
        }
        _ => None,
    }
}

/// Whether every value `set` holds (besides `id`) differs from the one at
/// the same place in `seen`, sub-attribute by sub-attribute.
fn differs_throughout(set: &Map<String, Value>, seen: &Map<String, Value>) -> bool {
    set.iter()
        .filter(|(key, _)| key.as_str() != "id")
        .all(|(key, value)| match (value, seen.get(key)) {
            (Value::Object(inner), Some(Value::Object(seen_inner))) => {
                differs_throughout(inner, seen_inner)
            }
            (value, seen_value) => seen_value != Some(value),
        })
}

/// Whether `write` only blocks the account: what a deprovisioned account
/// already is, so that the write changes nothing on one.
fn blocks_only(write: &UserWrite) -> bool {
    write.relationships.is_empty()
        && write.attributes.len() == 1
        && write.attributes.get("status") == Some(&Value::Bool(false))
}

/// Why an account whose roles Drupal does not show is not written.
fn roles_hidden(user: &DrupalUser) -> String {
    format!(
        "Drupal's answer does not show the roles of the account {} (no roles relationship: the roles field is hidden by a field access hook, or renamed or disabled in JSON:API Extras), so the bridge cannot tell whether it holds a protected role and does not write it. Show the bridge's account the users' roles field under its name roles.",
        crate::untrusted::quote(user.name().unwrap_or(&user.id))
    )
}

/// The accounts Drupal's database may find holding `name`: its usual
/// spellings (Drupal's filter ignores case in ASCII only).
fn holders_of(name: &str) -> CollectionQuery {
    CollectionQuery {
        filter: Some(Condition::Field {
            path: "name".into(),
            op: Operator::In,
            values: caseless::spellings(name).into_iter().collect(),
        }),
        limit: Some(DRUPAL_PAGE_CAP),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn every_value_set_must_differ_from_the_one_seen_down_to_sub_attributes() {
        let seen = object(
            json!({"id": "u", "active": true, "name": {"givenName": "Ann", "familyName": "Lee"}}),
        );
        let differs = |set: Value| differs_throughout(&object(set), &seen);
        assert!(differs(json!({"id": "u", "active": false})));
        assert!(differs(
            json!({"name": {"givenName": "Anna"}, "title": "Dr"})
        ));
        assert!(!differs(
            json!({"active": false, "name": {"familyName": "Lee"}})
        ));
        assert!(!differs(json!({"active": true})));
    }
}
