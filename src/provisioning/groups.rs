//! SCIM groups carried out on Drupal roles. A group is a role the mapping
//! exposes; its members are the accounts holding the role. Drupal's JSON:API
//! cannot create, rename or delete roles, so POST links to an exposed role,
//! a rename is refused, and DELETE takes the role from all its holders while
//! the role itself stays.

use std::cmp::Ordering;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::render::{render_group, ScimGroup};
use super::roles::{ExposedGroup, RoleCatalog};
use super::term_groups::render_term_group;
use super::{Provisioner, ProvisioningError, DEFAULT_COUNT, MAX_RESULTS};
use crate::drupal::{Condition, DrupalTerm, DrupalUser, Operator};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::list::SortOrder;
use crate::scim::members::{member_ids, GroupPatch, MembershipChange};
use crate::scim::patch::PatchRequest;

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
            // of that name; the filter below still decides.
            let narrowed = filter
                .as_ref()
                .and_then(name_lookup)
                .map(|name| Condition::field("name", Operator::Eq, name.trim().to_string()));
            for term in self.all_term_groups(narrowed).await? {
                let Some(filter) = filter.as_ref() else {
                    entries.push(Entry::Term(term, None));
                    continue;
                };
                let members = match mentions(filter, "members") {
                    true => Some(self.term_members(&term).await?),
                    false => None,
                };
                let resource = render_term_group(&term, members.as_deref()).resource;
                if filter.matches(&resource, &self.group_schema) {
                    entries.push(Entry::Term(term, members));
                }
            }
        }
        sort_groups(&mut entries, query)?;
        let total = entries.len();
        let mut groups = Vec::new();
        for entry in entries
            .into_iter()
            .skip(query.start_index.saturating_sub(1))
            .take(count)
        {
            groups.push(match entry {
                Entry::Role(group, members) => {
                    let members = match members {
                        Some(members) => Some(members),
                        None if query.members => Some(self.members_of(&group).await?),
                        None => None,
                    };
                    render_group(&group, members.as_deref().filter(|_| query.members))
                }
                Entry::Term(term, members) => {
                    let members = match members {
                        Some(members) => Some(members),
                        None if query.members => Some(self.term_members(&term).await?),
                        None => None,
                    };
                    render_term_group(&term, members.as_deref().filter(|_| query.members))
                }
            });
        }
        Ok(GroupList { total, groups })
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
            let resource = render_group(group, members.as_deref()).resource;
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

    async fn render_term_with(&self, term: &DrupalTerm, members: bool) -> Result<ScimGroup> {
        let members = match members {
            true => Some(self.term_members(term).await?),
            false => None,
        };
        Ok(render_term_group(term, members.as_deref()))
    }

    /// POST links the group to the exposed role with this `displayName`;
    /// members given are added (existing holders keep the role).
    pub async fn create_group(
        &self,
        resource: Map<String, Value>,
        members: bool,
    ) -> Result<ScimGroup> {
        let name = display_name(&resource)?;
        if self.term_vocabulary().is_some()
            && !self
                .mapping()
                .exposed_groups()
                .iter()
                .any(|g| g.display_name.eq_ignore_ascii_case(name))
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
    ) -> Result<ScimGroup> {
        let (catalog, group) = match self.find_any_group(id).await? {
            Found::Role(catalog, group) => (catalog, group),
            Found::Term(term) => {
                let name = display_name(&resource)?;
                let wanted = match resource.get("members") {
                    Some(value) => member_ids(value)?,
                    None => Vec::new(),
                };
                let term = self
                    .update_term_group(&term, Some(name), Some(external_id(&resource)?))
                    .await?;
                self.change_term_members(
                    &term,
                    MembershipChange::Exact(wanted.into_iter().collect()),
                )
                .await?;
                return self.render_term_with(&term, members).await;
            }
        };
        keep_name(&group, [display_name(&resource)?])?;
        let wanted = match resource.get("members") {
            Some(value) => member_ids(value)?,
            None => Vec::new(),
        };
        let change = MembershipChange::Exact(wanted.into_iter().collect());
        self.change_members(&group, change, &catalog).await?;
        self.render_group_with(&group, members).await
    }

    /// PATCH; the group comes back only when `answer` asks for it (with or
    /// without members).
    pub async fn patch_group(
        &self,
        id: &str,
        request: &PatchRequest,
        answer: Option<bool>,
    ) -> Result<Option<ScimGroup>> {
        let patch = GroupPatch::from_request(request, &self.group_schema)?;
        let (catalog, group) = match self.find_any_group(id).await? {
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
        if !patch.members.is_empty() {
            self.change_members(&group, patch.members, &catalog).await?;
        }
        match answer {
            Some(members) => Ok(Some(self.render_group_with(&group, members).await?)),
            None => Ok(None),
        }
    }

    /// DELETE takes the role from every holder; the role stays in Drupal
    /// (JSON:API cannot delete it), so the group is still listed, empty.
    pub async fn delete_group(&self, id: &str) -> Result<()> {
        let (catalog, group) = match self.find_any_group(id).await? {
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
        answer: Option<bool>,
    ) -> Result<Option<ScimGroup>> {
        if let Some(other) = patch.ids.iter().find(|i| !i.eq_ignore_ascii_case(&term.id)) {
            return Err(ScimError::mutability(format!(
                "id is read-only: the group's id is {}, not {other}. Nothing was changed.",
                term.id
            ))
            .into());
        }
        let term = if patch.display_names.is_empty() && patch.external_id.is_none() {
            term
        } else {
            self.update_term_group(
                &term,
                patch.display_names.last().map(String::as_str),
                patch.external_id,
            )
            .await?
        };
        let members_changed = !patch.members.is_empty();
        if members_changed {
            self.change_term_members(&term, patch.members).await?;
        }
        // RFC 7644 §3.5.2 allows 200 with the resource or 204. A change of
        // members answers 204 unless attributes are asked for: reading a
        // large group's members back costs a request per 50, on every push.
        // Any other change (a rename, the externalId) answers 200 with the
        // whole group.
        match answer {
            Some(members) => Ok(Some(self.render_term_with(&term, members).await?)),
            None if members_changed => Ok(None),
            None => Ok(Some(self.render_term_with(&term, true).await?)),
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
        Ok(render_group(group, members.as_deref()))
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
fn external_id(resource: &Map<String, Value>) -> Result<Option<String>> {
    match resource.get("externalId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 255 => Ok(Some(s.clone())),
        Some(Value::String(_)) => {
            Err(ScimError::invalid_value("externalId is longer than 255 characters").into())
        }
        Some(_) => Err(ScimError::invalid_value("externalId must be a string").into()),
    }
}

fn display_name(resource: &Map<String, Value>) -> Result<&str> {
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
        .find(|n| !n.trim().eq_ignore_ascii_case(&group.display_name))
    {
        None => Ok(()),
        Some(new) => Err(ScimError::mutability(format!(
            "The group \"{}\" cannot be renamed to \"{new}\": it is the Drupal role \"{}\", and Drupal's JSON:API cannot rename roles. Rename it in Drupal and in the bridge's mapping file (groups: display_name), or push the group under its current name. Nothing was changed.",
            group.display_name, group.role
        ))
        .into()),
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
        "displayname" => |g| g.display_name().to_lowercase(),
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
