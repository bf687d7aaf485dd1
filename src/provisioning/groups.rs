//! SCIM groups carried out on Drupal roles. A group is a role the mapping
//! exposes; its members are the accounts holding the role. Drupal's JSON:API
//! cannot create, rename or delete roles, so POST links to an exposed role,
//! a rename is refused, and DELETE takes the role from all its holders while
//! the role itself stays.

use std::cmp::Ordering;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::group_turns::Hold;
use super::render::{member_ids as member_ids_of, render_group, ScimGroup};
use super::roles::{ExposedGroup, RoleCatalog};
use super::term_groups::render_term_group;
use super::{Provisioner, ProvisioningError, DEFAULT_COUNT, MAX_RESULTS};
use crate::drupal::{DrupalTerm, DrupalUser};
use crate::scim::caseless;
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::list::SortOrder;
use crate::scim::members::{member_ids, GroupPatch, MembershipChange};
use crate::scim::patch::PatchRequest;
use crate::scim::version::Preconditions;
use crate::untrusted::quote;

type Result<T> = std::result::Result<T, ProvisioningError>;

/// A group list request in typed form.
#[derive(Debug, Clone)]
pub struct GroupQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: Option<usize>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
    /// Whether the answer shows members (reading them costs requests).
    pub members: bool,
}

/// One page of groups and the number that match.
#[derive(Debug, Clone)]
pub struct GroupList {
    pub total: usize,
    pub groups: Vec<ScimGroup>,
}

impl Provisioner {
    pub async fn list_groups(&self, query: &GroupQuery) -> Result<GroupList> {
        let count = query.count.unwrap_or(DEFAULT_COUNT).min(MAX_RESULTS);
        let filter = query
            .filter
            .as_ref()
            .map(|f| f.canonicalize(&self.group_schema))
            .transpose()?;
        if let Some(filter) = &filter {
            super::pushdown::refuse_refs(filter)?;
            refuse_last_modified(filter)?;
        }
        let catalog = self.role_catalog(None).await?;
        let mut matched = self.matching_groups(&catalog, filter.as_ref()).await?;
        // A filter that finds nothing may name a role added since the list
        // was read.
        if matched.is_empty() && filter.is_some() {
            let fresh = self.role_catalog(Some(catalog.loaded_at())).await?;
            matched = self.matching_groups(&fresh, filter.as_ref()).await?;
        }
        let mut entries: Vec<Entry> = matched
            .into_iter()
            .map(|(g, m)| Entry::Role(g, m))
            .collect();
        if self.term_vocabulary().is_some() {
            // The IdPs' lookup (`displayName eq "x"`) reads only the terms
            // of that name, in any case and Unicode spelling; the filter
            // below still decides.
            let narrowed = filter
                .as_ref()
                .and_then(name_lookup)
                .and_then(super::term_groups::spelled_condition);
            for term in self.all_term_groups(narrowed).await? {
                let Some(filter) = filter.as_ref() else {
                    entries.push(Entry::Term(term, None));
                    continue;
                };
                let members = match mentions(filter, "members") {
                    true => Some(self.term_members(&term).await?),
                    false => None,
                };
                let ids = members.as_deref().map(member_ids_of);
                let resource = render_term_group(&term, ids.as_deref()).resource;
                if filter.matches(&resource, &self.group_schema) {
                    entries.push(Entry::Term(term, members));
                }
            }
        }
        sort_groups(&mut entries, query)?;
        let total = entries.len();
        // The page's member lists are read side by side (Okta's connection
        // test lists a hundred groups with their members), in order; each
        // read is one the answer needs, and the Drupal limit still bounds
        // how many run at once.
        let groups = stream::iter(
            entries
                .into_iter()
                .skip(query.start_index.saturating_sub(1))
                .take(count),
        )
        .map(|entry| self.render_listed(entry, query.members))
        .buffered(LISTED_MEMBER_READS)
        .try_collect()
        .await?;
        Ok(GroupList { total, groups })
    }

    /// One group of a list, its members read when the answer shows them and
    /// the filter did not already read them.
    async fn render_listed(&self, entry: Entry, show_members: bool) -> Result<ScimGroup> {
        Ok(match entry {
            Entry::Role(group, members) => {
                let members = match members {
                    Some(members) => Some(members),
                    None if show_members => Some(self.members_of(&group).await?),
                    None => None,
                };
                let ids = members.as_deref().map(member_ids_of);
                render_group(&group, ids.as_deref().filter(|_| show_members))
            }
            Entry::Term(term, members) => {
                let members = match members {
                    Some(members) => Some(members),
                    None if show_members => Some(self.term_members(&term).await?),
                    None => None,
                };
                let ids = members.as_deref().map(member_ids_of);
                render_term_group(&term, ids.as_deref().filter(|_| show_members))
            }
        })
    }

    /// The exposed groups `filter` selects, with their members when the
    /// filter had to look at them.
    async fn matching_groups(
        &self,
        catalog: &RoleCatalog,
        filter: Option<&Filter>,
    ) -> Result<Vec<(ExposedGroup, Option<Vec<DrupalUser>>)>> {
        let mut matched = Vec::new();
        for group in catalog.groups() {
            let Some(filter) = filter else {
                matched.push((group.clone(), None));
                continue;
            };
            let members = match mentions(filter, "members") {
                true => Some(self.members_of(group).await?),
                false => None,
            };
            let ids = members.as_deref().map(member_ids_of);
            let resource = render_group(group, ids.as_deref()).resource;
            if filter.matches(&resource, &self.group_schema) {
                matched.push((group.clone(), members));
            }
        }
        Ok(matched)
    }

    pub async fn get_group(&self, id: &str, members: bool) -> Result<ScimGroup> {
        match self.find_any_group(id).await? {
            Found::Role(_, group) => self.render_group_with(&group, members).await,
            Found::Term(term) => self.render_term_with(&term, members).await,
        }
    }

    /// A role-backed group by id, else a term-backed one.
    async fn find_any_group(&self, id: &str) -> Result<Found> {
        match self.find_group(id).await {
            Ok((catalog, group)) => Ok(Found::Role(catalog, group)),
            Err(ProvisioningError::GroupNotFound(_)) if self.term_vocabulary().is_some() => {
                Ok(Found::Term(self.find_term_group(id).await?))
            }
            Err(e) => Err(e),
        }
    }

    /// `If-Match` and `If-None-Match` of a write to the group: its current
    /// version needs its members, read only for a condition that names
    /// versions (`*` is decided by the group being found). Checked before
    /// anything is written.
    async fn check_group_version(&self, found: &Found, conditions: &Preconditions) -> Result<()> {
        if !conditions.names_versions() {
            let id = match found {
                Found::Role(_, group) => &group.id,
                Found::Term(term) => &term.id,
            };
            return Ok(conditions.check("group", id, None)?);
        }
        let current = match found {
            Found::Role(_, group) => self.render_group_with(group, true).await?,
            Found::Term(term) => self.render_term_with(term, true).await?,
        };
        let version = current.version.unwrap_or_default();
        Ok(conditions.check("group", &current.id, Some(&version))?)
    }

    async fn render_term_with(&self, term: &DrupalTerm, members: bool) -> Result<ScimGroup> {
        let members = match members {
            true => Some(self.term_members(term).await?),
            false => None,
        };
        let ids = members.as_deref().map(member_ids_of);
        Ok(render_term_group(term, ids.as_deref()))
    }

    /// POST links the group to the exposed role with this `displayName`;
    /// members given are added (existing holders keep the role).
    pub async fn create_group(
        &self,
        resource: Map<String, Value>,
        members: bool,
    ) -> Result<ScimGroup> {
        self.know_own_account().await?;
        let name = display_name(&resource)?;
        if self.term_vocabulary().is_some()
            && !self
                .mapping()
                .exposed_groups()
                .iter()
                .any(|g| caseless::same(&g.display_name, name))
        {
            let add = match resource.get("members") {
                Some(value) => member_ids(value)?,
                None => Vec::new(),
            };
            let term = self
                .create_term_group(name, external_id(&resource)?, add)
                .await?;
            let term = self.find_term_group(&term.id).await.unwrap_or(term);
            return self.render_term_with(&term, members).await;
        }
        let catalog = self
            .catalog_having(|c| c.group_by_display_name(name).is_some())
            .await?;
        let group = catalog
            .group_by_display_name(name)
            .cloned()
            .ok_or_else(|| ScimError::invalid_value(catalog.explain_unknown_group(name)))?;
        let add = match resource.get("members") {
            Some(value) => member_ids(value)?,
            None => Vec::new(),
        };
        if !add.is_empty() {
            let change = MembershipChange::Delta {
                add: add.into_iter().collect(),
                remove: Default::default(),
            };
            self.change_members(&group, change, &catalog).await?;
        }
        tracing::info!(group = %group.display_name, role = %group.role, "group linked to its Drupal role");
        self.render_group_with(&group, members).await
    }

    /// PUT: the members become those given; the name must stay.
    pub async fn replace_group(
        &self,
        id: &str,
        resource: Map<String, Value>,
        members: bool,
        conditions: &Preconditions,
    ) -> Result<ScimGroup> {
        self.know_own_account().await?;
        let _turn = super::turns::wait_for(
            self.group_turns.hold(id, Hold::Exclusive),
            self.turn_bound(),
        )
        .await?;
        let found = self.find_any_group(id).await?;
        self.check_group_version(&found, conditions).await?;
        let (catalog, group) = match found {
            Found::Role(catalog, group) => (catalog, group),
            Found::Term(term) => {
                let name = display_name(&resource)?;
                let wanted = match resource.get("members") {
                    Some(value) => member_ids(value)?,
                    None => Vec::new(),
                };
                let change = MembershipChange::Exact(wanted.into_iter().collect());
                let (term, known) = self
                    .update_term_group(
                        &term,
                        Some(name),
                        Some(external_id(&resource)?),
                        Some(change),
                    )
                    .await?;
                return match (members, known) {
                    (true, Some(ids)) => Ok(render_term_group(&term, Some(&as_strs(&ids)))),
                    (members, _) => self.render_term_with(&term, members).await,
                };
            }
        };
        keep_name(&group, [display_name(&resource)?])?;
        let wanted = match resource.get("members") {
            Some(value) => member_ids(value)?,
            None => Vec::new(),
        };
        let change = MembershipChange::Exact(wanted.into_iter().collect());
        // The members are those given: no need to read them back.
        match (
            members,
            self.change_members(&group, change, &catalog).await?,
        ) {
            (true, Some(ids)) => Ok(render_group(&group, Some(&as_strs(&ids)))),
            (members, _) => self.render_group_with(&group, members).await,
        }
    }

    /// PATCH; what comes back is [`reply`]'s choice.
    pub async fn patch_group(
        &self,
        id: &str,
        request: &PatchRequest,
        answer: PatchAnswer,
        conditions: &Preconditions,
    ) -> Result<Option<ScimGroup>> {
        self.know_own_account().await?;
        let patch = GroupPatch::from_request(request, &self.group_schema)?;
        // A rename changes what a term group grants: its members' roles
        // are computed from the members read once no member change of the
        // group is under way, and no member change may run before they are
        // written (one decided by the old name would miss the new roles).
        // So a PATCH naming a displayName (identity providers send one only
        // to rename) holds the group alone, as a conditional write does.
        let hold = match !conditions.is_empty() || !patch.display_names.is_empty() {
            true => Hold::Exclusive,
            false => Hold::Shared,
        };
        let _turn =
            super::turns::wait_for(self.group_turns.hold(id, hold), self.turn_bound()).await?;
        let found = self.find_any_group(id).await?;
        self.check_group_version(&found, conditions).await?;
        let (catalog, group) = match found {
            Found::Role(catalog, group) => (catalog, group),
            Found::Term(term) => return self.patch_term_group(term, patch, answer).await,
        };
        keep_name(&group, patch.display_names.iter().map(String::as_str))?;
        if let Some(other) = patch
            .ids
            .iter()
            .find(|i| !i.eq_ignore_ascii_case(&group.id))
        {
            return Err(ScimError::mutability(format!(
                "id is read-only: the group's id is {}, not {other}. Nothing was changed.",
                group.id
            ))
            .into());
        }
        let members_changed = !patch.members.is_empty();
        let known = match members_changed {
            true => self.change_members(&group, patch.members, &catalog).await?,
            false => None,
        };
        // A role-backed group keeps its name and no externalId: only
        // members can change.
        let reads = self.policy.group_patch_reads.reads();
        match reply(answer, members_changed, false, known, reads) {
            Reply::NoContent => Ok(None),
            Reply::Group(None) => Ok(Some(render_group(&group, None))),
            Reply::Group(Some(Members::Known(ids))) => {
                Ok(Some(render_group(&group, Some(&as_strs(&ids)))))
            }
            Reply::Group(Some(Members::Read)) => {
                Ok(Some(self.render_group_with(&group, true).await?))
            }
            Reply::Group(Some(Members::ReadUpTo(pages))) => Ok(self
                .members_of_up_to(&group, pages)
                .await?
                .map(|members| render_group(&group, Some(&member_ids_of(&members))))),
        }
    }

    /// DELETE takes the role from every holder; the role stays in Drupal
    /// (JSON:API cannot delete it), so the group is still listed, empty.
    pub async fn delete_group(&self, id: &str, conditions: &Preconditions) -> Result<()> {
        self.know_own_account().await?;
        let _turn = super::turns::wait_for(
            self.group_turns.hold(id, Hold::Exclusive),
            self.turn_bound(),
        )
        .await?;
        let found = self.find_any_group(id).await?;
        self.check_group_version(&found, conditions).await?;
        let (catalog, group) = match found {
            Found::Role(catalog, group) => (catalog, group),
            Found::Term(term) => return self.delete_term_group(&term).await,
        };
        self.change_members(
            &group,
            MembershipChange::Exact(Default::default()),
            &catalog,
        )
        .await?;
        tracing::info!(group = %group.display_name, role = %group.role, "group deleted: its role was taken from every member; the role stays in Drupal");
        Ok(())
    }

    /// Reads Drupal's roles now, logging what the operator must know about
    /// the mapping's groups (refused, missing, exposed though protected).
    /// Returns those warnings.
    pub async fn check_groups(&self) -> Result<Vec<String>> {
        let catalog = self.role_catalog(None).await?;
        Ok(catalog.warnings().to_vec())
    }

    async fn patch_term_group(
        &self,
        term: DrupalTerm,
        patch: GroupPatch,
        answer: PatchAnswer,
    ) -> Result<Option<ScimGroup>> {
        if let Some(other) = patch.ids.iter().find(|i| !i.eq_ignore_ascii_case(&term.id)) {
            return Err(ScimError::mutability(format!(
                "id is read-only: the group's id is {}, not {}. Nothing was changed.",
                term.id,
                quote(other)
            ))
            .into());
        }
        let members_changed = !patch.members.is_empty();
        let (updated, known) = self
            .update_term_group(
                &term,
                patch.display_names.last().map(String::as_str),
                patch.external_id,
                Some(patch.members).filter(|_| members_changed),
            )
            .await?;
        let renamed = updated.name != term.name || updated.external_id != term.external_id;
        let reads = self.policy.group_patch_reads.reads();
        match reply(answer, members_changed, renamed, known, reads) {
            Reply::NoContent => Ok(None),
            Reply::Group(None) => Ok(Some(render_term_group(&updated, None))),
            Reply::Group(Some(Members::Known(ids))) => {
                Ok(Some(render_term_group(&updated, Some(&as_strs(&ids)))))
            }
            Reply::Group(Some(Members::Read)) => {
                Ok(Some(self.render_term_with(&updated, true).await?))
            }
            Reply::Group(Some(Members::ReadUpTo(pages))) => Ok(self
                .term_members_up_to(&updated, pages)
                .await?
                .map(|members| render_term_group(&updated, Some(&member_ids_of(&members))))),
        }
    }

    async fn find_group(&self, id: &str) -> Result<(Arc<RoleCatalog>, ExposedGroup)> {
        let catalog = self.catalog_having(|c| c.group_by_id(id).is_some()).await?;
        let group = catalog
            .group_by_id(id)
            .cloned()
            .ok_or_else(|| ProvisioningError::GroupNotFound(id.to_string()))?;
        Ok((catalog, group))
    }

    async fn render_group_with(&self, group: &ExposedGroup, members: bool) -> Result<ScimGroup> {
        let members = match members {
            true => Some(self.members_of(group).await?),
            false => None,
        };
        let ids = members.as_deref().map(member_ids_of);
        Ok(render_group(group, ids.as_deref()))
    }
}

fn as_strs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

/// Member lists of one page of groups read at once.
const LISTED_MEMBER_READS: usize = 8;

/// What the answer to a group PATCH may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchAnswer {
    /// The client named `attributes` or `excludedAttributes`: RFC 7644
    /// §3.5.2 then wants 200 with the group, `members` included if kept.
    Asked { members: bool },
    /// No projection: 200 with the whole group, or 204 when showing it
    /// would cost reads the change did not need (see [`reply`]).
    Whole,
    /// Nothing is shown (a bulk operation): never read anything back.
    Nothing,
}

/// How a group PATCH answers.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    NoContent,
    /// 200 with the group; `None`: without members.
    Group(Option<Members>),
}

#[derive(Debug, PartialEq, Eq)]
enum Members {
    /// The members after the change, known without reading them again.
    Known(Vec<String>),
    /// The members must be read from Drupal (a request per 50).
    Read,
    /// As `Read`, in at most this many requests; a larger group answers
    /// 204 (`group_patch_reads`).
    ReadUpTo(u16),
}

/// RFC 7644 §3.5.2 allows 200 with the group or 204. Both kinds of group
/// answer alike:
/// - with `attributes`/`excludedAttributes`, always 200 (the RFC's MUST);
/// - when the change set the members exactly (`replace` of `members`,
///   `remove` of all of them), 200 with the whole group: the members are
///   the list given, whose accounts the change looked up anyway;
/// - when it added or removed some members, 204: the whole list is unknown
///   and reading a large group back costs a request per 50 members, on
///   every push;
/// - when it renamed the group or set its `externalId`, 200 with the whole
///   group (members read: renames are rare);
/// - when it changed nothing (Okta's echo of `id` and `displayName`
///   before every push), 204: nothing to show that costs no reads.
///
/// `reads` (the site's `group_patch_reads`) turns both 204s into 200 with
/// the group when its members take at most that many reads to show.
fn reply(
    answer: PatchAnswer,
    members_changed: bool,
    renamed: bool,
    known: Option<Vec<String>>,
    reads: u16,
) -> Reply {
    let members = known.map_or(Members::Read, Members::Known);
    match answer {
        PatchAnswer::Nothing => Reply::NoContent,
        PatchAnswer::Asked { members: false } => Reply::Group(None),
        PatchAnswer::Asked { members: true } => Reply::Group(Some(members)),
        PatchAnswer::Whole => match members {
            Members::Read if renamed && !members_changed => Reply::Group(Some(Members::Read)),
            Members::Read if reads > 0 => Reply::Group(Some(Members::ReadUpTo(reads))),
            Members::Read => Reply::NoContent,
            known => Reply::Group(Some(known)),
        },
    }
}

/// The name a `displayName eq "x"` filter (alone, or and-ed with others)
/// looks for.
fn name_lookup(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(name),
        } if path.schema.is_none()
            && path.sub_attr.is_none()
            && path.attr.eq_ignore_ascii_case("displayName") =>
        {
            Some(name)
        }
        Filter::And(a, b) => name_lookup(a).or_else(|| name_lookup(b)),
        _ => None,
    }
}

/// What a group id names.
enum Found {
    Role(Arc<RoleCatalog>, ExposedGroup),
    Term(DrupalTerm),
}

/// One group of a list, of either kind, with its members when read.
enum Entry {
    Role(ExposedGroup, Option<Vec<DrupalUser>>),
    Term(DrupalTerm, Option<Vec<DrupalUser>>),
}

impl Entry {
    fn display_name(&self) -> &str {
        match self {
            Entry::Role(g, _) => &g.display_name,
            Entry::Term(t, _) => &t.name,
        }
    }

    fn id(&self) -> &str {
        match self {
            Entry::Role(g, _) => &g.id,
            Entry::Term(t, _) => &t.id,
        }
    }
}

/// `externalId` as given: a string, or absent.
pub(super) fn external_id(resource: &Map<String, Value>) -> Result<Option<String>> {
    match resource.get("externalId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_external_id(s)?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ScimError::invalid_value("externalId must be a string").into()),
    }
}

/// A group's `externalId` is kept in a term field of 255 characters.
pub(super) fn check_external_id(external_id: &str) -> Result<()> {
    match external_id.chars().count() {
        0..=255 => Ok(()),
        _ => Err(ScimError::invalid_value(
            "externalId is longer than 255 characters. Nothing was changed.",
        )
        .into()),
    }
}

pub(super) fn display_name(resource: &Map<String, Value>) -> Result<&str> {
    resource
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ScimError::invalid_value("displayName is required").into())
}

/// Drupal cannot rename a role through JSON:API; the same name (Okta sends
/// it before every push) is no change.
fn keep_name<'n>(group: &ExposedGroup, names: impl IntoIterator<Item = &'n str>) -> Result<()> {
    match names
        .into_iter()
        .find(|n| !caseless::same(n.trim(), &group.display_name))
    {
        None => Ok(()),
        Some(new) => Err(ScimError::mutability(format!(
            "The group \"{}\" cannot be renamed to \"{new}\": it is the Drupal role \"{}\", and Drupal's JSON:API cannot rename roles. Rename it in Drupal and in the bridge's mapping file (groups: display_name), or push the group under its current name. Nothing was changed.",
            group.display_name, group.role
        ))
        .into()),
    }
}

/// A group's `meta.lastModified` is its term's last save: members live on
/// the accounts, so a membership change does not move it, and role-backed
/// groups have none. A filter on it (a delta sync) would silently miss
/// every membership change: refused rather than answered incompletely.
fn refuse_last_modified(filter: &Filter) -> Result<()> {
    let names = |path: &crate::scim::path::AttrPath| {
        path.schema.is_none()
            && path.attr.eq_ignore_ascii_case("meta")
            && path
                .sub_attr
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("lastModified"))
    };
    let named = match filter {
        Filter::Compare { path, .. } | Filter::Present(path) => names(path),
        Filter::ValuePath { path, .. } => path.attr.eq_ignore_ascii_case("meta"),
        Filter::And(a, b) | Filter::Or(a, b) => {
            refuse_last_modified(a)?;
            return refuse_last_modified(b);
        }
        Filter::Not(inner) => return refuse_last_modified(inner),
    };
    match named {
        true => Err(ScimError::invalid_filter(
            "groups cannot be filtered on meta.lastModified: a group's members are kept on the Drupal accounts, so adding or removing one does not change it, and a filter on it would miss every membership change; read the groups whole, or filter on displayName, externalId, id or members.value",
        )
        .into()),
        false => Ok(()),
    }
}

/// Whether `filter` looks at the core attribute `attr`.
fn mentions(filter: &Filter, attr: &str) -> bool {
    match filter {
        Filter::Compare { path, .. } | Filter::Present(path) | Filter::ValuePath { path, .. } => {
            path.schema.is_none() && path.attr.eq_ignore_ascii_case(attr)
        }
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, attr) || mentions(b, attr),
        Filter::Not(inner) => mentions(inner, attr),
    }
}

/// The mapping's order, then term groups in Drupal's order, unless
/// `sortBy` names `displayName` or `id`.
fn sort_groups(groups: &mut [Entry], query: &GroupQuery) -> Result<()> {
    let Some(attr) = &query.sort_by else {
        return Ok(());
    };
    let key: fn(&Entry) -> String = match attr.to_ascii_lowercase().as_str() {
        "displayname" => |g| caseless::fold(g.display_name()),
        "id" => |g| g.id().to_lowercase(),
        _ => {
            return Err(ScimError::invalid_value(format!(
                "cannot sort groups by {attr}: sort by displayName or id"
            ))
            .into())
        }
    };
    let descending = query.sort_order == Some(SortOrder::Descending);
    groups.sort_by(|a, b| {
        let ordering: Ordering = key(a).cmp(&key(b));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(ids: &[&str]) -> Option<Vec<String>> {
        Some(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn setting_the_members_exactly_answers_them_without_a_read() {
        assert_eq!(
            reply(PatchAnswer::Whole, true, false, known(&["u1"]), 0),
            Reply::Group(Some(Members::Known(vec!["u1".into()])))
        );
        // `remove` of every member: the group is empty.
        assert_eq!(
            reply(PatchAnswer::Whole, true, false, known(&[]), 0),
            Reply::Group(Some(Members::Known(vec![])))
        );
    }

    #[test]
    fn adding_or_removing_some_members_answers_204_rather_than_read_them_all() {
        assert_eq!(
            reply(PatchAnswer::Whole, true, false, None, 0),
            Reply::NoContent
        );
        assert_eq!(
            reply(PatchAnswer::Whole, true, true, None, 0),
            Reply::NoContent
        );
    }

    #[test]
    fn a_rename_answers_the_whole_group_and_an_echo_answers_204() {
        assert_eq!(
            reply(PatchAnswer::Whole, false, true, None, 0),
            Reply::Group(Some(Members::Read))
        );
        assert_eq!(
            reply(PatchAnswer::Whole, false, false, None, 0),
            Reply::NoContent
        );
    }

    #[test]
    fn group_patch_reads_answers_a_small_group_read_back_instead_of_204() {
        for (members_changed, renamed) in [(true, false), (false, false), (true, true)] {
            assert_eq!(
                reply(PatchAnswer::Whole, members_changed, renamed, None, 2),
                Reply::Group(Some(Members::ReadUpTo(2))),
                "{members_changed} {renamed}"
            );
        }
        // What was answered without it is answered alike.
        assert_eq!(
            reply(PatchAnswer::Whole, false, true, None, 2),
            Reply::Group(Some(Members::Read))
        );
        assert_eq!(
            reply(PatchAnswer::Whole, true, false, known(&["u1"]), 2),
            Reply::Group(Some(Members::Known(vec!["u1".into()])))
        );
        assert_eq!(
            reply(PatchAnswer::Nothing, true, false, None, 2),
            Reply::NoContent
        );
        assert_eq!(
            reply(PatchAnswer::Asked { members: false }, true, false, None, 2),
            Reply::Group(None)
        );
    }

    #[test]
    fn named_attributes_always_answer_200() {
        for (changed, renamed, members) in [(true, false, None), (false, false, None)] {
            assert_eq!(
                reply(
                    PatchAnswer::Asked { members: true },
                    changed,
                    renamed,
                    members,
                    0
                ),
                Reply::Group(Some(Members::Read))
            );
            assert_eq!(
                reply(
                    PatchAnswer::Asked { members: false },
                    changed,
                    renamed,
                    None,
                    0
                ),
                Reply::Group(None)
            );
        }
        assert_eq!(
            reply(
                PatchAnswer::Asked { members: true },
                true,
                false,
                known(&["u2"]),
                0
            ),
            Reply::Group(Some(Members::Known(vec!["u2".into()])))
        );
    }

    #[test]
    fn a_bulk_operation_never_reads_back() {
        assert_eq!(
            reply(PatchAnswer::Nothing, false, true, None, 0),
            Reply::NoContent
        );
    }
}
