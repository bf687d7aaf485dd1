//! Writing group membership, that is role membership in Drupal: one
//! `/relationships/roles` request per member (POST adds, DELETE removes), a
//! few at a time. The members are checked first in batches (one `id IN`
//! query per 50, shared with concurrent requests: see `member_lookup`), so
//! unknown, deprovisioned and protected accounts are refused without a
//! request each. A write that fails does not stop the
//! others and nothing is rolled back: the answer and the log name every
//! member that failed, and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use futures_util::stream::{self, StreamExt};
use reqwest::Method;

use super::audited;
use super::member_lookup::BATCH_IDS;
use super::roles::{ExposedGroup, RoleCatalog};
use super::term_names::TermName;
use super::write_guard::Clearance;
use super::{Provisioner, ProvisioningError};
use crate::audit::{self, AuditEvent, EventKind};
use crate::config::UnknownMembers;
use crate::drupal::{CollectionQuery, Condition, DrupalError, DrupalUser, Operator, SortKey};
use crate::scim::members::MembershipChange;
use crate::untrusted::quote;

type Result<T> = std::result::Result<T, ProvisioningError>;

/// Membership writes in flight at once: enough to make a 1,000-member push
/// take seconds, few enough not to flood a PHP site.
pub(super) const MEMBER_WRITE_CONCURRENCY: usize = 8;
/// The user fields a membership decision needs.
const MEMBER_FIELDS: [&str; 3] = ["name", "drupal_internal__uid", "roles"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAction {
    Add,
    Remove,
}

impl fmt::Display for MemberAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemberAction::Add => "add",
            MemberAction::Remove => "remove",
        })
    }
}

/// Why one member could not be added or removed.
#[derive(Debug, Clone)]
pub enum MemberProblem {
    /// No such account, or SCIM DELETE deprovisioned it.
    UnknownUser,
    /// The id is a group's: groups hold users only.
    Group,
    /// The account is protected; the text says why.
    Protected(String),
    Drupal(DrupalError),
}

impl fmt::Display for MemberProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberProblem::UnknownUser => f.write_str("no such user"),
            MemberProblem::Group => f.write_str("it is a group; groups hold users only"),
            MemberProblem::Protected(why) => f.write_str(why),
            MemberProblem::Drupal(e) => e.fmt(f),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MemberFailure {
    /// The member as the client sent it, once [`SentIds::restore`]d (the
    /// change compares ids lower-cased).
    pub member: String,
    pub action: MemberAction,
    pub problem: MemberProblem,
}

/// The member ids of a change as the client sent them, by their
/// lower-cased form. Ids are compared ignoring case (Drupal writes UUIDs in
/// lower case, IdPs may not), so a change works on lower-cased ids
/// ([`normalized`]); an error detail or a log line names the member as
/// sent, which is what the client can find in its own data.
#[derive(Debug, Clone, Default)]
pub(super) struct SentIds(BTreeMap<String, String>);

impl SentIds {
    /// The ids `change` names, as sent (the first spelling of each).
    pub(super) fn of(change: &MembershipChange) -> SentIds {
        let ids: Box<dyn Iterator<Item = &String>> = match change {
            MembershipChange::Delta { add, remove } => Box::new(add.iter().chain(remove)),
            MembershipChange::Exact(members) => Box::new(members.iter()),
        };
        let mut sent = BTreeMap::new();
        for id in ids {
            sent.entry(id.to_ascii_lowercase())
                .or_insert_with(|| id.clone());
        }
        SentIds(sent)
    }

    /// `id`, in any case, as the client sent it; as it is when the client
    /// did not name it (an account the change reached otherwise).
    pub(super) fn shown<'a>(&'a self, id: &'a str) -> &'a str {
        self.0
            .get(&id.to_ascii_lowercase())
            .map_or(id, String::as_str)
    }

    /// Names each of `failures` as its member was sent.
    pub(super) fn restore(&self, failures: &mut [MemberFailure]) {
        for failure in failures {
            if let Some(sent) = self.0.get(&failure.member.to_ascii_lowercase()) {
                failure.member.clone_from(sent);
            }
        }
    }
}

/// Some membership changes of one request failed. Either nothing was
/// written (members the bridge may not or cannot change are known before
/// any write), or the writes that Drupal failed are listed and the others
/// were applied.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} of {} membership changes of group {group} failed", failures.len(), applied + failures.len())]
pub struct MembershipFailures {
    pub group: String,
    /// Changes written (or already in place); 0 when `refused`.
    pub applied: usize,
    pub failures: Vec<MemberFailure>,
    /// The request was refused whole before any write (RFC 7644 §3.5.2).
    pub refused: bool,
    /// What became of the group, when these are the members of its create.
    pub create: CreateFate,
}

/// A group create whose members failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreateFate {
    /// Not a create's members.
    #[default]
    NotACreate,
    /// Undone: nothing of the group is kept.
    Undone,
    /// Could not be undone: the group stays with the members written, and
    /// the same create sent again finishes it.
    Left,
}

impl MembershipFailures {
    /// Names every failed member as `sent`, and logs each (the answer
    /// lists only some) and what became of the other changes.
    pub(super) fn logged(mut self, sent: &SentIds) -> MembershipFailures {
        sent.restore(&mut self.failures);
        let outcome = match self.refused {
            true => "cannot be made; nothing was written",
            false => "failed; the others were applied",
        };
        for failure in &self.failures {
            tracing::warn!(
                group = %self.group,
                member = %quote(&failure.member),
                action = %failure.action,
                problem = %failure.problem,
                "a membership change {outcome}"
            );
        }
        self
    }
}

impl Provisioner {
    /// Under `unknown_members: skip`, takes the additions of accounts the
    /// bridge does not serve (no such user, or one SCIM DELETE
    /// deprovisioned) out of `failures`, and returns their ids; under
    /// `refuse`, they stay failures and nothing is returned.
    pub(super) fn unknown_to_skip(&self, failures: &mut Vec<MemberFailure>) -> BTreeSet<String> {
        let mut skipped = BTreeSet::new();
        if self.policy.unknown_members != UnknownMembers::Skip {
            return skipped;
        }
        failures.retain(|f| {
            let unknown =
                matches!(f.problem, MemberProblem::UnknownUser) && f.action == MemberAction::Add;
            if unknown {
                skipped.insert(f.member.clone());
            }
            !unknown
        });
        skipped
    }

    /// Names as groups the members of `failures` that no account has and
    /// that are a group's id: a Drupal role's (a role-backed group), or a
    /// term-backed group's. A group offered as a member refuses the whole
    /// request under either `unknown_members` setting, and the answer
    /// says it is a group. Only ids already found to be no account are
    /// checked: a term is read only when the bridge has not learnt its
    /// name, 50 ids a request.
    pub(super) async fn name_groups_offered(&self, failures: &mut [MemberFailure]) -> Result<()> {
        let unknown = |f: &MemberFailure| {
            matches!(f.problem, MemberProblem::UnknownUser) && f.action == MemberAction::Add
        };
        let ids: BTreeSet<String> = failures
            .iter()
            .filter(|f| unknown(f))
            .map(|f| f.member.to_ascii_lowercase())
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let catalog = self.role_catalog(None).await?;
        let mut groups: BTreeSet<String> = ids
            .iter()
            .filter(|id| catalog.is_role_id(id))
            .cloned()
            .collect();
        if self.term_vocabulary().is_some() {
            let terms: Vec<String> = ids.difference(&groups).cloned().collect();
            let mut unread = Vec::new();
            for (id, name) in terms.iter().zip(self.term_names.names_of(&terms)) {
                match name {
                    TermName::Named(_) => {
                        groups.insert(id.clone());
                    }
                    // Deleted by the bridge: no group now.
                    TermName::Gone => {}
                    TermName::Unknown => unread.push(id.clone()),
                }
            }
            for batch in unread.chunks(BATCH_IDS) {
                let condition = Condition::Field {
                    path: "id".into(),
                    op: Operator::In,
                    values: batch.to_vec(),
                };
                let found = self.all_term_groups(Some(condition)).await?;
                groups.extend(found.iter().map(|t| t.id.to_ascii_lowercase()));
            }
        }
        for failure in failures.iter_mut().filter(|f| unknown(f)) {
            if groups.contains(&failure.member.to_ascii_lowercase()) {
                failure.problem = MemberProblem::Group;
            }
        }
        Ok(())
    }

    /// Logs and audits the members left out of `group`'s change, and
    /// takes them out of the members the answer shows.
    pub(super) fn record_skipped(
        &self,
        group: &str,
        skipped: &BTreeSet<String>,
        sent: &SentIds,
        members: Option<&mut Vec<String>>,
    ) {
        if skipped.is_empty() {
            return;
        }
        // One line per request, however many members it names: a client
        // cannot fill the log with one line each. The audit trail keeps
        // every one.
        let first: Vec<_> = skipped
            .iter()
            .take(SKIPPED_NAMED)
            .map(|m| quote(sent.shown(m)))
            .collect();
        tracing::warn!(
            group = %group,
            skipped = skipped.len(),
            members = %first.join(", "),
            "members naming no account this bridge serves were left out of the group (unknown_members: skip); the first {} are named, the audit trail holds all",
            first.len()
        );
        for member in skipped {
            audit::record(audited::skipped_member(sent.shown(member), group));
        }
        if let Some(members) = members {
            members.retain(|m| !skipped.contains(&m.to_ascii_lowercase()));
        }
    }
}

/// Members left out that the log line of a request names; the audit trail
/// names each.
const SKIPPED_NAMED: usize = 5;

/// One write to make: to an account as read or seen, or to one not read
/// (see `write_guard`), whose roles before it are unknown.
struct Write<'u> {
    id: &'u str,
    user: Option<&'u DrupalUser>,
    action: MemberAction,
}

impl Provisioner {
    /// Carries `change` out on the role behind `group`. Returns the
    /// members after the change when that is known without reading them
    /// again (see [`resulting_members`]). When Drupal says the role does
    /// not exist (deleted in Drupal since the role list was read), the
    /// group does not either: the role list is read again on its next use,
    /// and the answer is the group's 404, not a 502 for a member.
    pub(super) async fn change_members(
        &self,
        group: &ExposedGroup,
        change: MembershipChange,
        catalog: &RoleCatalog,
    ) -> Result<Option<Vec<String>>> {
        let changed = self.change_role_members(group, change, catalog).await;
        let role_gone = match &changed {
            Err(ProvisioningError::Membership(failures)) => failures.failures.iter().any(|f| {
                matches!(&f.problem, MemberProblem::Drupal(e)
                    if e.missing_role().is_some_and(|id| id.eq_ignore_ascii_case(&group.id)))
            }),
            Err(ProvisioningError::Drupal(e)) => e
                .missing_role()
                .is_some_and(|id| id.eq_ignore_ascii_case(&group.id)),
            _ => false,
        };
        if !role_gone {
            return changed;
        }
        tracing::warn!(
            group = %group.display_name, role = %group.role,
            "Drupal says the group's role does not exist (deleted in Drupal): the group is answered as gone, and Drupal's roles are read again"
        );
        self.roles.invalidate();
        Err(ProvisioningError::GroupNotFound(group.id.clone()))
    }

    async fn change_role_members(
        &self,
        group: &ExposedGroup,
        change: MembershipChange,
        catalog: &RoleCatalog,
    ) -> Result<Option<Vec<String>>> {
        let sent = SentIds::of(&change);
        let (add, remove, holders, exact) = match change {
            MembershipChange::Delta { add, remove } => (add, remove, Vec::new(), None),
            MembershipChange::Exact(wanted) => {
                let holders = self.members_of(group).await?;
                let wanted = normalized(wanted);
                let held: BTreeSet<String> = holders.iter().map(|u| u.id.clone()).collect();
                let add = wanted.difference(&held).cloned().collect();
                let remove = held.difference(&wanted).cloned().collect();
                (add, remove, holders, Some(wanted))
            }
        };
        let (add, remove) = (normalized(add), normalized(remove));
        if exact.is_none() {
            if let Some(failure) = self.change_one_unseen(group, &add, &remove, catalog).await {
                return self.one_unseen_changed(group, failure, &sent).await;
            }
        }
        let in_place =
            |user: &DrupalUser, action| holds_role(user, group) == (action == MemberAction::Add);
        let known = self
            .concerned_accounts(holders, &add, &remove, in_place)
            .await?;
        let mut result = exact.map(|wanted| resulting_members(&wanted, &known));

        let Triage {
            writes,
            mut failures,
            settled,
        } = triage(
            &add,
            &remove,
            &known,
            |id| match catalog.is_role_id(id) {
                true => MemberProblem::Group,
                false => MemberProblem::UnknownUser,
            },
            in_place,
            |user, action| {
                // A group allowed to grant a protected role may take it
                // back from its members; it may not add an account that
                // holds one already (it did not make it so).
                let exempt = Some(group).filter(|_| action == MemberAction::Remove);
                let why = self.protection(user, exempt)?;
                self.guard.refuse(&user.id);
                audit::record(audited::refused_in_group(user, &why, &group.role));
                Some(why)
            },
        );

        self.name_groups_offered(&mut failures).await?;
        let mut skipped = self.unknown_to_skip(&mut failures);
        if !failures.is_empty() {
            // Known before any write: refuse the whole request, as RFC 7644
            // §3.5.2 wants, rather than apply part of it.
            return Err(ProvisioningError::Membership(
                MembershipFailures {
                    group: group.display_name.clone(),
                    applied: 0,
                    failures,
                    refused: true,
                    create: CreateFate::NotACreate,
                }
                .logged(&sent),
            ));
        }
        let planned = writes.len();
        let write_failures: Vec<MemberFailure> = stream::iter(writes)
            .map(|(user, action)| {
                let write = Write {
                    id: &user.id,
                    user: Some(user),
                    action,
                };
                self.write_member(group, write)
            })
            .buffer_unordered(MEMBER_WRITE_CONCURRENCY)
            .filter_map(|failure| async move { failure })
            .collect()
            .await;
        let applied = settled + planned - write_failures.len();
        failures.extend(write_failures);
        skipped.extend(self.unknown_to_skip(&mut failures));
        self.record_skipped(&group.display_name, &skipped, &sent, result.as_mut());
        tracing::info!(
            group = %group.display_name,
            role = %group.role,
            to_add = add.len(),
            to_remove = remove.len(),
            applied,
            failed = failures.len(),
            "group membership changed"
        );
        if failures.is_empty() {
            return Ok(result);
        }
        Err(ProvisioningError::Membership(
            MembershipFailures {
                group: group.display_name.clone(),
                applied,
                failures,
                refused: false,
                create: CreateFate::NotACreate,
            }
            .logged(&sent),
        ))
    }

    /// A change of one member whose account the bridge has not seen in the
    /// window but that is on no list of accounts to refuse (see
    /// `write_guard`): Entra's one-member PATCH in a reorganisation. The
    /// write goes without a read; Drupal's 404 tells an unknown account,
    /// and nothing else was written. `None` when the member must be read
    /// first; else the write's failure, if any.
    async fn change_one_unseen(
        &self,
        group: &ExposedGroup,
        add: &BTreeSet<String>,
        remove: &BTreeSet<String>,
        catalog: &RoleCatalog,
    ) -> Option<Option<MemberFailure>> {
        let (id, action) = match (add.len(), remove.len()) {
            (1, 0) => (add.first()?, MemberAction::Add),
            (0, 1) => (remove.first()?, MemberAction::Remove),
            _ => return None,
        };
        if uuid::Uuid::parse_str(id).is_err()
            || catalog.is_role_id(id)
            || matches!(
                self.term_names.names_of(std::slice::from_ref(id)).first(),
                Some(TermName::Named(_))
            )
            || self.seen.get(id).is_some()
            || self.clearance(id).await != Clearance::Clear
        {
            return None;
        }
        let write = Write {
            id,
            user: None,
            action,
        };
        Some(self.write_member(group, write).await)
    }

    /// The answer to a one-member change written without a read.
    async fn one_unseen_changed(
        &self,
        group: &ExposedGroup,
        failure: Option<MemberFailure>,
        sent: &SentIds,
    ) -> Result<Option<Vec<String>>> {
        let mut failures: Vec<MemberFailure> = failure.into_iter().collect();
        // Drupal's 404: no account, and perhaps a term-backed group's id.
        self.name_groups_offered(&mut failures).await?;
        let skipped = self.unknown_to_skip(&mut failures);
        self.record_skipped(&group.display_name, &skipped, sent, None);
        tracing::info!(
            group = %group.display_name,
            role = %group.role,
            applied = usize::from(failures.is_empty() && skipped.is_empty()),
            failed = failures.len(),
            "group membership changed"
        );
        if failures.is_empty() {
            return Ok(None);
        }
        // Drupal's 404 wrote nothing; another failure (a timeout) may have.
        let refused = failures
            .iter()
            .all(|f| matches!(f.problem, MemberProblem::UnknownUser | MemberProblem::Group));
        Err(ProvisioningError::Membership(
            MembershipFailures {
                group: group.display_name.clone(),
                applied: 0,
                failures,
                refused,
                create: CreateFate::NotACreate,
            }
            .logged(sent),
        ))
    }

    /// One relationship request; a removal of an account that vanished
    /// meanwhile is done, an addition to it is an unknown user.
    async fn write_member(&self, group: &ExposedGroup, write: Write<'_>) -> Option<MemberFailure> {
        let method = match write.action {
            MemberAction::Add => Method::POST,
            MemberAction::Remove => Method::DELETE,
        };
        // The account's turn: a SCIM DELETE of it runs wholly before or
        // after this write; after it, an addition leaves it out.
        let turn = self.user_turn(write.id).await;
        let gone = match (&turn, write.action) {
            (Ok(_), MemberAction::Add) => self.deprovisioned_lately(write.id).await,
            _ => Ok(false),
        };
        let result = match write.action {
            _ if turn.is_err() => turn.map(drop),
            _ if gone.is_err() => gone.map(drop),
            MemberAction::Add if matches!(gone, Ok(true)) => Err(DrupalError::NotFound),
            _ => {
                self.change_roles_past_deleted_terms(
                    write.id,
                    method,
                    std::slice::from_ref(&group.id),
                )
                .await
            }
        };
        // Its roles changed, or may have: a later write reads it again.
        self.seen.forget(write.id);
        if result.is_ok() && write.action == MemberAction::Add {
            self.guard.granted(write.id, [group.role.as_str()]);
        }
        let kind = match write.action {
            MemberAction::Add => EventKind::GroupMemberAdded,
            MemberAction::Remove => EventKind::GroupMemberRemoved,
        };
        let mut event = AuditEvent::new(kind, write.id, write.user.and_then(DrupalUser::name));
        event.group = Some(group.role.clone());
        if let Some(user) = write.user {
            let before = audited::role_names(&user.roles);
            let mut after: Vec<String> = before
                .iter()
                .filter(|r| **r != group.role)
                .cloned()
                .collect();
            if write.action == MemberAction::Add {
                after.push(group.role.clone());
                after.sort();
            }
            event.roles = Some(crate::audit::Change { before, after });
        }
        audit::record(match &result {
            Ok(()) => event,
            Err(e) => event.failed(e),
        });
        let problem = match result {
            Ok(()) => return None,
            Err(DrupalError::NotFound) if write.action == MemberAction::Remove => return None,
            Err(DrupalError::NotFound) => MemberProblem::UnknownUser,
            Err(e) => MemberProblem::Drupal(e),
        };
        Some(MemberFailure {
            member: write.id.to_string(),
            action: write.action,
            problem,
        })
    }

    /// Every visible account holding the group's role, across Drupal's pages.
    pub(super) async fn members_of(&self, group: &ExposedGroup) -> Result<Vec<DrupalUser>> {
        self.collect_users(role_holders(group)).await
    }

    /// [`Self::members_of`] in at most `pages` reads; `None` when the group
    /// has more members than they show.
    pub(super) async fn members_of_up_to(
        &self,
        group: &ExposedGroup,
        pages: u16,
    ) -> Result<Option<Vec<DrupalUser>>> {
        self.collect_users_up_to(role_holders(group), Some(pages))
            .await
    }

    /// Every account a membership change names, by id: the group's
    /// current holders, and the others looked up (50 per request); an
    /// account whose change `in_place` says is made already is read, not
    /// taken as last seen (see [`Self::find_members`]).
    pub(super) async fn concerned_accounts(
        &self,
        holders: Vec<DrupalUser>,
        add: &BTreeSet<String>,
        remove: &BTreeSet<String>,
        in_place: impl Fn(&DrupalUser, MemberAction) -> bool,
    ) -> Result<BTreeMap<String, DrupalUser>> {
        let mut known: BTreeMap<String, DrupalUser> =
            holders.into_iter().map(|u| (u.id.clone(), u)).collect();
        let unseen: Vec<String> = add
            .iter()
            .chain(remove)
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        let action = |user: &DrupalUser| match add.contains(&user.id.to_ascii_lowercase()) {
            true => MemberAction::Add,
            false => MemberAction::Remove,
        };
        known.extend(
            self.find_members(&unseen, |user| in_place(user, action(user)))
                .await?
                .into_iter()
                .map(|u| (u.id.clone(), u)),
        );
        Ok(known)
    }

    /// Every account SCIM DELETE has not hidden that matches `condition`,
    /// with the fields a membership decision needs.
    pub(super) async fn collect_users(&self, condition: Condition) -> Result<Vec<DrupalUser>> {
        Ok(self
            .collect_users_up_to(condition, None)
            .await?
            .unwrap_or_default())
    }

    /// [`Self::collect_users`] in at most `pages` reads (`None`: all);
    /// `None` when more accounts match than they show.
    pub(super) async fn collect_users_up_to(
        &self,
        condition: Condition,
        pages: Option<u16>,
    ) -> Result<Option<Vec<DrupalUser>>> {
        Ok(self
            .read_users_up_to(condition, member_fields(&self.mapping()), pages)
            .await?)
    }

    /// [`Self::collect_users`] with the `fields` given.
    pub(super) async fn read_users(
        &self,
        condition: Condition,
        fields: Vec<String>,
    ) -> std::result::Result<Vec<DrupalUser>, DrupalError> {
        Ok(self
            .read_users_up_to(condition, fields, None)
            .await?
            .unwrap_or_default())
    }

    async fn read_users_up_to(
        &self,
        condition: Condition,
        fields: Vec<String>,
        pages: Option<u16>,
    ) -> std::result::Result<Option<Vec<DrupalUser>>, DrupalError> {
        loop {
            let query = CollectionQuery {
                filter: Some(self.visible_accounts(Some(condition.clone()))),
                sort: vec![SortKey {
                    field: "drupal_internal__uid".into(),
                    descending: false,
                }],
                limit: Some(crate::drupal::DRUPAL_PAGE_CAP),
                fields: Some(fields.clone()),
                ..Default::default()
            };
            match self.pages(&query, pages).await {
                Err(e) if self.marker.absorb_missing_field(&e) => continue,
                other => return other,
            }
        }
    }

    /// Every page of `query`, or `None` once `limit` pages were read and
    /// another follows.
    async fn pages(
        &self,
        query: &CollectionQuery,
        limit: Option<u16>,
    ) -> std::result::Result<Option<Vec<DrupalUser>>, DrupalError> {
        let mut page = self.drupal.list_users(query).await?;
        let mut distinct = crate::drupal::Distinct::default();
        page.keep_new(&mut distinct);
        let mut users = std::mem::take(&mut page.users);
        let mut read: u16 = 1;
        while let Some(next) = page.next.take() {
            if limit.is_some_and(|limit| read >= limit) {
                return Ok(None);
            }
            page = self.drupal.list_users(&next).await?;
            read = read.saturating_add(1);
            page.keep_new(&mut distinct);
            users.append(&mut page.users);
        }
        Ok(Some(users))
    }
}

/// The member fields, plus the reference field of term-backed groups.
pub(super) fn member_fields(mapping: &crate::mapping::Mapping) -> Vec<String> {
    let mut fields: Vec<String> = MEMBER_FIELDS.iter().map(|f| f.to_string()).collect();
    if let Some(terms) = mapping.group_terms() {
        fields.push(terms.user_field.clone());
    }
    fields
}

/// The accounts holding a role-backed group's role.
fn role_holders(group: &ExposedGroup) -> Condition {
    Condition::field(
        "roles.meta.drupal_internal__target_id",
        Operator::Eq,
        group.role.clone(),
    )
}

fn holds_role(user: &DrupalUser, group: &ExposedGroup) -> bool {
    user.roles
        .iter()
        .any(|r| r.id.eq_ignore_ascii_case(&group.id))
}

/// Drupal writes UUIDs in lower case; IdPs echo what they were given but
/// may change the case.
/// The members of a group whose members were set to exactly `wanted`
/// (lower-cased ids), once every change succeeded: the group's current
/// holders were read to compute the change and every account added was
/// looked up, so each wanted member is in `known`, with Drupal's spelling
/// of its id, unless it names no account and was left out
/// (`unknown_members: skip`). Nothing is read again.
pub(super) fn resulting_members(
    wanted: &BTreeSet<String>,
    known: &BTreeMap<String, DrupalUser>,
) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|id| known.get(id).map(|u| u.id.clone()))
        .collect()
}

/// A membership change sorted before any write: the accounts to write,
/// the members refused (unknown, or protected) and how many changes are
/// already in place, so need no request.
pub(super) struct Triage<'u> {
    pub writes: Vec<(&'u DrupalUser, MemberAction)>,
    pub failures: Vec<MemberFailure>,
    pub settled: usize,
}

/// Sorts `add` and `remove` over the accounts `known`: removing an unknown
/// account is already done, adding one fails with `unknown`'s problem; a
/// change `in_place` says is already made is settled; `protection` refuses
/// the rest or lets them be written.
pub(super) fn triage<'u>(
    add: &BTreeSet<String>,
    remove: &BTreeSet<String>,
    known: &'u BTreeMap<String, DrupalUser>,
    unknown: impl Fn(&str) -> MemberProblem,
    in_place: impl Fn(&DrupalUser, MemberAction) -> bool,
    protection: impl Fn(&DrupalUser, MemberAction) -> Option<String>,
) -> Triage<'u> {
    let mut sorted = Triage {
        writes: Vec::new(),
        failures: Vec::new(),
        settled: 0,
    };
    let steps = add
        .iter()
        .map(|id| (id, MemberAction::Add))
        .chain(remove.iter().map(|id| (id, MemberAction::Remove)));
    for (id, action) in steps {
        let Some(user) = known.get(id) else {
            match action {
                MemberAction::Remove => sorted.settled += 1,
                MemberAction::Add => sorted.failures.push(MemberFailure {
                    member: id.clone(),
                    action,
                    problem: unknown(id),
                }),
            }
            continue;
        };
        if in_place(user, action) {
            sorted.settled += 1;
            continue;
        }
        match protection(user, action) {
            Some(why) => sorted.failures.push(MemberFailure {
                member: id.clone(),
                action,
                problem: MemberProblem::Protected(why),
            }),
            None => sorted.writes.push((user, action)),
        }
    }
    sorted
}

pub(super) fn normalized(ids: BTreeSet<String>) -> BTreeSet<String> {
    ids.into_iter().map(|id| id.to_ascii_lowercase()).collect()
}
