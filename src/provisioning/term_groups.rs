//! SCIM groups kept as taxonomy terms (the mapping's `group_terms`): any
//! group the IdP sends is created, renamed and deleted; membership is the
//! users' multi-valued reference field to the vocabulary, one
//! `/relationships/<field>` request per changed member. A group the
//! mapping names under `groups` with `roles:` grants those roles to its
//! members; a role is taken back only when no other group of the user's
//! grants it and no role rule manages it.
//!
//! Drupal keeps no term name unique; the bridge does, ignoring case. On one
//! bridge, writes that claim a name (create, rename) take turns from the
//! check that no group has it to the write. Replicas share nothing but
//! Drupal, so each such write is read back once made and undone (409) when
//! another term has the name too: of two claims at once the later always
//! sees the other, so no two groups keep a name (both may be undone).
//!
//! That read must show the term just written. Drupal lists unpublished
//! terms only to accounts with "administer taxonomy" (terms are kept
//! unpublished unless `group_terms.published`), and leaves the others out
//! of every list without a word: an account without it sees no group's
//! name, and would create a second group of every name. A write its own
//! read does not show is undone and answered 502, naming the permission.
//! In a dry run nothing is written, so nothing is read back.
//!
//! A new group's UUID (its SCIM id) is a random UUID v4, chosen by the
//! bridge before the write: an id is never given to another group (RFC
//! 7643 §3.1), so a delayed retry of a deleted group's DELETE cannot reach
//! a new group of its name. Ids of groups made by earlier versions (UUID
//! v5 of the lower-cased name) stay as they are.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Map};
use uuid::Uuid;

use super::audited;
use super::membership::{
    normalized, resulting_members, triage, CreateFate, MemberAction, MemberFailure, MemberProblem,
    MembershipFailures, SentIds, Triage,
};
use super::render::{group_meta, render_members};
use super::roles::RoleCatalog;
use super::{Provisioner, ProvisioningError};
use crate::audit::{self, AuditEvent, EventKind};
use crate::drupal::account_locks::Stamp;
use crate::drupal::{
    referenced_terms, Caseless, CollectionQuery, Condition, Conjunction, DrupalError, DrupalTerm,
    DrupalUser, Operator, TermVocabulary, TermWrite,
};
use crate::mapping::{GroupGrant, GroupTerms, Mapping};
use crate::scim::caseless;
use crate::scim::error::ScimError;
use crate::scim::members::MembershipChange;
use crate::scim::schema::GROUP_URN;

type Result<T> = std::result::Result<T, ProvisioningError>;

const WRITE_CONCURRENCY: usize = 8;

/// The permission with which Drupal 10 lists a vocabulary's unpublished
/// terms (the entity query access of terms); without it they are left out.
const ADMINISTER_TAXONOMY: &str = "administer taxonomy";
/// The permission with which Drupal lists published terms.
const ACCESS_CONTENT: &str = "access content";

/// Whether Drupal's answer to a term write shows what was written.
fn shows_write(term: &DrupalTerm, write: &TermWrite) -> bool {
    write.name.as_ref().is_none_or(|name| term.name == *name)
        && write
            .external_id
            .as_ref()
            .is_none_or(|external| term.external_id == *external)
}

/// Whether a term create that ended in `error` may have been written:
/// the answer was lost or unreadable, or Drupal (or a gateway before it)
/// failed after the request reached it: a 5xx may come after the save,
/// and a lookup by the UUID the bridge chose costs one read.
fn create_may_be_written(error: &DrupalError) -> bool {
    error.may_have_been_applied()
        || matches!(
            error,
            DrupalError::Server {
                status: 500..=599,
                ..
            }
        )
}

/// The id of a new group: random, so that no group ever has the id of
/// another, deleted one.
pub fn new_group_id() -> String {
    Uuid::new_v4().to_string()
}

/// A filter Drupal applies that keeps every term named `name` in any case,
/// whatever the database's collation (the caller compares the names it
/// gets back); `None` when only reading every group finds it (see
/// [`Condition::ignoring_case`]).
fn name_condition(name: &str) -> Option<Condition> {
    match Condition::ignoring_case("name", Operator::Eq, name.trim()) {
        Caseless::Exact(condition) | Caseless::Superset(condition) => Some(condition),
        Caseless::Unnarrowed => None,
    }
}

/// [`name_condition`] for every Unicode spelling of `name` (a precomposed
/// "É", or "E" and a combining accent): a database compares bytes, and
/// the two are one name to the bridge (`caseless`).
pub(super) fn spelled_condition(name: &str) -> Option<Condition> {
    let mut conditions = caseless::compositions(name.trim())
        .iter()
        .map(|spelling| name_condition(spelling))
        .collect::<Option<Vec<Condition>>>()?;
    match conditions.len() {
        1 => conditions.pop(),
        _ => Some(Condition::Group {
            conjunction: Conjunction::Or,
            members: conditions,
        }),
    }
}

/// The terms of `found` named `name`: a case-sensitive database collation
/// may miss other cases, and one that ignores case is trusted no further
/// than this.
fn named(found: Vec<DrupalTerm>, name: &str) -> Vec<DrupalTerm> {
    found
        .into_iter()
        .filter(|t| caseless::same(t.name.trim(), name.trim()))
        .collect()
}

/// Whether Drupal refused a save because the account references a term
/// that no longer exists in `field` (386b, 386f, 387).
fn refuses_a_deleted_term(error: &DrupalError, field: &str) -> bool {
    match error {
        DrupalError::Validation(errors) => errors.iter().any(|e| {
            e.detail.contains("does not exist")
                && (e.detail.starts_with(&format!("{field}."))
                    || e.pointer.as_deref().is_some_and(|p| p.contains(field)))
        }),
        _ => false,
    }
}

pub(super) fn vocabulary(terms: &GroupTerms) -> TermVocabulary {
    TermVocabulary {
        vocabulary: terms.vocabulary.clone(),
        user_field: terms.user_field.clone(),
        external_id_field: terms.external_id_field.clone(),
    }
}

/// A term group as SCIM shows it.
pub(super) fn render_term_group(
    term: &DrupalTerm,
    members: Option<&[&str]>,
) -> super::render::ScimGroup {
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([GROUP_URN]));
    resource.insert("id".into(), json!(term.id));
    if let Some(external) = &term.external_id {
        resource.insert("externalId".into(), json!(external));
    }
    resource.insert("displayName".into(), json!(term.name));
    if let Some(members) = members {
        resource.insert("members".into(), render_members(members.iter().copied()));
    }
    let mut stamps = Map::new();
    // Terms have no `created`; JSON:API writes keep the first revision,
    // whose `revision_created` is the creation time (recorded 300, 340).
    let stamp = |text: &Option<String>| {
        text.as_deref()
            .and_then(super::render::scim_date_time)
            .map(str::to_string)
    };
    if let Some(created) = stamp(&term.created).or_else(|| stamp(&term.changed)) {
        stamps.insert("created".into(), json!(created));
    }
    if let Some(changed) = stamp(&term.changed) {
        stamps.insert("lastModified".into(), json!(changed));
    }
    // The version covers the members, which live on the accounts and not
    // on the term: without them read, there is none.
    let (meta, version) = group_meta(&term.name, term.external_id.as_deref(), members, stamps);
    resource.insert("meta".into(), meta);
    super::render::ScimGroup {
        id: term.id.clone(),
        resource,
        version,
    }
}

/// Roles a group grants, as role UUIDs, with the escalation guard applied:
/// a protected role is granted only when the entry allows it.
struct Grants {
    /// Term UUID → role UUIDs granted by that term.
    by_term: BTreeMap<String, BTreeSet<String>>,
}

/// The most characters Drupal keeps in a term's name.
const TERM_NAME_CHARS: usize = 255;

/// A group name Drupal can keep as a term's and people can read: at most
/// 255 characters, none a control character or an invisible one
/// ([`crate::untrusted::is_invisible`]: bidirectional controls, zero-width
/// and other format characters, variation selectors, fillers), which would
/// let a name pass for another in Drupal's lists. An emoji keeps its
/// presentation selector and the joiners between its parts. Checked
/// before any write.
fn check_term_name(name: &str) -> Result<()> {
    let count = name.chars().count();
    if count > TERM_NAME_CHARS {
        return Err(ScimError::invalid_value(format!(
            "displayName has {count} characters: a group is kept as a Drupal taxonomy term, whose name holds at most {TERM_NAME_CHARS}. Nothing was changed."
        ))
        .into());
    }
    if let Some(c) = hidden_character(name) {
        return Err(ScimError::invalid_value(format!(
            "displayName contains U+{:04X}, a control or invisible formatting character, which a group name may not hold. Nothing was changed.",
            u32::from(c)
        ))
        .into());
    }
    Ok(())
}

/// The first character of `name` a reader would not see, but for the
/// variation selectors (U+FE0E, U+FE0F) after a pictograph and the
/// zero-width joiner between two, which are how emoji are written.
fn hidden_character(name: &str) -> Option<char> {
    let chars: Vec<char> = name.chars().collect();
    // Emoji and the other pictographs that take a presentation selector
    // (© ® ‼ ⁉ ™ ℹ 〰 〽 ㊗ ㊙ among them).
    let pictograph = |c: Option<&char>| {
        c.is_some_and(|c| {
            matches!(
                c,
                '\u{00A9}'
                    | '\u{00AE}'
                    | '\u{203C}'
                    | '\u{2049}'
                    | '\u{2122}'
                    | '\u{2139}'
                    | '\u{2190}'..='\u{2BFF}'
                    | '\u{3030}'
                    | '\u{303D}'
                    | '\u{3297}'
                    | '\u{3299}'
                    | '\u{1F000}'..='\u{1FAFF}'
            )
        })
    };
    let tag = |c: &char| matches!(c, '\u{E0020}'..='\u{E007F}');
    chars.iter().enumerate().find_map(|(i, &c)| {
        let before = i.checked_sub(1).and_then(|b| chars.get(b));
        let after = chars.get(i + 1);
        let emoji_part = match c {
            // After a pictograph; or in a keycap: #, * or a digit, the
            // selector, U+20E3.
            '\u{FE0E}' | '\u{FE0F}' => {
                pictograph(before)
                    || (matches!(before, Some('#' | '*' | '0'..='9')) && after == Some(&'\u{20E3}'))
            }
            // After a pictograph or its selector, before a pictograph.
            '\u{200D}' => {
                (pictograph(before) || matches!(before, Some('\u{FE0F}'))) && pictograph(after)
            }
            // A subdivision flag: a black flag, tags, the cancel tag.
            c if tag(&c) => {
                let first = chars[..i].iter().rposition(|c| !tag(c));
                let last = chars[i..]
                    .iter()
                    .position(|c| !tag(c))
                    .map_or(chars.len(), |n| i + n)
                    - 1;
                first.is_some_and(|f| chars[f] == '\u{1F3F4}') && chars[last] == '\u{E007F}'
            }
            _ => false,
        };
        (crate::untrusted::is_invisible(c) && !emoji_part).then_some(c)
    })
}

/// A membership change read and checked, not yet written.
struct Sorted {
    add: BTreeSet<String>,
    remove: BTreeSet<String>,
    /// The accounts concerned, by lower-cased id.
    known: BTreeMap<String, DrupalUser>,
    /// The members after the change, when it sets them exactly.
    result: Option<Vec<String>>,
    /// The accounts to write (ids into `known`).
    writes: Vec<(String, MemberAction)>,
    /// Changes already in place.
    settled: usize,
    /// Members left out (`unknown_members: skip`).
    skipped: BTreeSet<String>,
    /// The members as the client sent them, for the answer and the log.
    sent: SentIds,
    /// Taken before the accounts were read: a write finds out whether
    /// another write of this process to its account ended since.
    read_at: Stamp,
}

/// What one member's write did: its result, the roles it granted or took
/// back, and the account it decided them from when it had to read it
/// again (another write to it ended after the change's read).
struct MemberWritten {
    result: std::result::Result<(), DrupalError>,
    plan: RolePlan,
    reread: Option<DrupalUser>,
}

/// The roles a term group grants, and what decides whether a removal takes
/// them back.
struct GroupRoles<'a> {
    granted: &'a BTreeSet<String>,
    grants: &'a Grants,
    rule_roles: &'a BTreeSet<String>,
}

/// The roles, by UUID, one member's change grants (those the group
/// grants that the user lacks) or takes back (those the group granted
/// that no other group of the user's grants and no role rule manages).
struct RolePlan {
    grant: Vec<String>,
    take: Vec<String>,
}

impl RolePlan {
    fn none() -> RolePlan {
        RolePlan {
            grant: Vec::new(),
            take: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.grant.is_empty() && self.take.is_empty()
    }
}

/// Whether `user`'s reference to the term `term_id` is already as
/// `action` asks: present to add, absent to remove.
fn reference_in_place(
    user_field: &str,
    term_id: &str,
    user: &DrupalUser,
    action: MemberAction,
) -> bool {
    referenced_terms(&user.relationships, user_field)
        .iter()
        .any(|t| t.eq_ignore_ascii_case(term_id))
        == (action == MemberAction::Add)
}

fn role_plan(
    user_field: &str,
    term_id: &str,
    user: &DrupalUser,
    action: MemberAction,
    granted: &BTreeSet<String>,
    grants: &Grants,
    rule_roles: &BTreeSet<String>,
) -> RolePlan {
    let held: BTreeSet<String> = user.roles.iter().map(|r| r.id.clone()).collect();
    match action {
        MemberAction::Add => RolePlan {
            grant: granted.difference(&held).cloned().collect(),
            take: Vec::new(),
        },
        MemberAction::Remove => {
            let others: BTreeSet<String> = referenced_terms(&user.relationships, user_field)
                .into_iter()
                .filter(|t| t != term_id)
                .flat_map(|t| grants.of(&t))
                .collect();
            RolePlan {
                grant: Vec::new(),
                take: granted
                    .iter()
                    .filter(|r| {
                        held.contains(*r) && !others.contains(*r) && !rule_roles.contains(*r)
                    })
                    .cloned()
                    .collect(),
            }
        }
    }
}

/// A term group whose create failed on a member and could not be undone:
/// the same create sent again (same name, ignoring case, and external id)
/// takes it over rather than meet its name (409).
#[derive(Debug, Clone)]
pub(super) struct Unfinished {
    name: String,
    external_id: Option<String>,
}

/// Members refused before any write (unknown or protected accounts),
/// named as `sent`.
fn refused(group: &str, failures: Vec<MemberFailure>, sent: &SentIds) -> ProvisioningError {
    ProvisioningError::Membership(
        MembershipFailures {
            group: group.to_string(),
            applied: 0,
            failures,
            refused: true,
            create: CreateFate::NotACreate,
        }
        .logged(sent),
    )
}

/// The role changes a rename brings one member.
struct Regrant {
    user: String,
    add: Vec<String>,
    take: Vec<String>,
    /// What the audit trail shows of it.
    event: AuditEvent,
}

/// The role changes a rename brings its members, and what decides them.
#[derive(Default)]
struct Regrants {
    members: Vec<Regrant>,
    /// The roles the old name granted, and the new one grants.
    before: BTreeSet<String>,
    after: BTreeSet<String>,
    grants: Option<Grants>,
    rule_roles: BTreeSet<String>,
    /// Taken before the members were read.
    read_at: Option<Stamp>,
}

impl Regrants {
    /// The roles `user` gains and loses as the group `term_id` is renamed.
    fn of(&self, user_field: &str, term_id: &str, user: &DrupalUser) -> (Vec<String>, Vec<String>) {
        let held: BTreeSet<String> = user.roles.iter().map(|r| r.id.clone()).collect();
        let others: BTreeSet<String> = referenced_terms(&user.relationships, user_field)
            .into_iter()
            .filter(|t| *t != term_id)
            .flat_map(|t| self.grants.as_ref().map(|g| g.of(&t)).unwrap_or_default())
            .collect();
        let add: Vec<String> = self.after.difference(&held).cloned().collect();
        let take: Vec<String> = self
            .before
            .iter()
            .filter(|r| {
                held.contains(*r)
                    && !self.after.contains(*r)
                    && !others.contains(*r)
                    && !self.rule_roles.contains(*r)
            })
            .cloned()
            .collect();
        (add, take)
    }
}

impl Grants {
    fn of(&self, term_id: &str) -> BTreeSet<String> {
        self.by_term.get(term_id).cloned().unwrap_or_default()
    }
}

impl Provisioner {
    pub(super) fn term_vocabulary(&self) -> Option<TermVocabulary> {
        self.mapping().group_terms().map(vocabulary)
    }

    fn require_terms(&self) -> Result<TermVocabulary> {
        self.term_vocabulary().ok_or_else(|| {
            ProvisioningError::Scim(ScimError::invalid_value(
                "term-backed groups are not configured (the mapping has no group_terms section)",
            ))
        })
    }

    /// Every term group, in Drupal's order of term ids.
    pub(super) async fn all_term_groups(
        &self,
        filter: Option<Condition>,
    ) -> Result<Vec<DrupalTerm>> {
        let vocabulary = self.require_terms()?;
        let query = CollectionQuery {
            filter,
            sort: vec![crate::drupal::SortKey {
                field: "drupal_internal__tid".into(),
                descending: false,
            }],
            limit: Some(crate::drupal::DRUPAL_PAGE_CAP),
            ..Default::default()
        };
        let terms = self.drupal.list_terms(&vocabulary, &query).await?;
        for term in &terms {
            self.term_names.learn(&term.id, &term.name);
        }
        Ok(terms)
    }

    pub(super) async fn find_term_group(&self, id: &str) -> Result<DrupalTerm> {
        let vocabulary = self.require_terms()?;
        if Uuid::parse_str(id).is_err() {
            return Err(ProvisioningError::GroupNotFound(id.to_string()));
        }
        let term = self
            .drupal
            .get_term(&vocabulary, id)
            .await?
            .ok_or_else(|| ProvisioningError::GroupNotFound(id.to_string()))?;
        self.term_names.learn(&term.id, &term.name);
        Ok(term)
    }

    /// What the bridge's account needs to list every group of the
    /// vocabulary: "administer taxonomy" for unpublished terms, and
    /// "access content" too when groups are published.
    fn listing_permission(&self) -> String {
        match self.mapping().group_terms().is_some_and(|t| t.published) {
            true => format!("\"{ACCESS_CONTENT}\" (or \"{ADMINISTER_TAXONOMY}\")"),
            false => format!("\"{ADMINISTER_TAXONOMY}\""),
        }
    }

    /// The permission the list of groups needs, and the vocabulary's id.
    fn listing_needs(&self) -> (String, String) {
        let vid = self
            .term_vocabulary()
            .map(|v| v.vocabulary)
            .unwrap_or_default();
        (self.listing_permission(), vid)
    }

    /// Drupal refused (403) the list of groups by which a name is checked:
    /// no name can be claimed, and the operator must grant the permission.
    fn name_check_refused(&self, error: &DrupalError) -> ProvisioningError {
        let (permission, vid) = self.listing_needs();
        tracing::error!(
            error = %error,
            vocabulary = %vid,
            "Drupal refused the bridge's account the list of groups by which a group name is checked: grant it {permission}"
        );
        ScimError::bad_gateway(format!(
            "Drupal refused the bridge's account the list of the vocabulary {vid}, by which the bridge keeps group names unique. The bridge's Drupal account needs the {permission} permission. Nothing was changed."
        ))
        .into()
    }

    /// A write that claimed `name` for the term `id`, whose read-back does
    /// not show it: the account sees only part of the vocabulary (without
    /// "administer taxonomy", Drupal leaves unpublished terms out of every
    /// list), so no name it checks is known to be free.
    fn partial_view(&self, name: &str, id: &str) -> ProvisioningError {
        let (permission, vid) = self.listing_needs();
        tracing::error!(
            group = %name.trim(),
            id = %id,
            vocabulary = %vid,
            "Drupal does not list the group the bridge just wrote: the bridge's account sees only part of the vocabulary and cannot keep group names unique, so the write is undone. Grant the bridge's Drupal account {permission}"
        );
        ScimError::bad_gateway(format!(
            "Drupal does not list the group \"{}\" to the bridge right after writing it: the bridge's Drupal account cannot list every term of the vocabulary {vid}, so it cannot tell whether another group has the name. The write was undone. The bridge's Drupal account needs the {permission} permission.",
            name.trim()
        ))
        .into()
    }

    /// Terms whose name is `name`, ignoring case and Unicode spelling
    /// (Drupal keeps no name unique).
    async fn terms_named(&self, name: &str) -> Result<Vec<DrupalTerm>> {
        Ok(named(self.terms_matching(name).await?, name))
    }

    /// The terms Drupal finds for `name`: every term of the name, and
    /// perhaps others (see [`named`]).
    async fn terms_matching(&self, name: &str) -> Result<Vec<DrupalTerm>> {
        match self.all_term_groups(spelled_condition(name)).await {
            Err(ProvisioningError::Drupal(e @ DrupalError::Forbidden(_))) => {
                Err(self.name_check_refused(&e))
            }
            other => other,
        }
    }

    fn name_taken(name: &str) -> ProvisioningError {
        ScimError::uniqueness(format!(
            "A group named \"{}\" already exists (names are compared ignoring case). Nothing was changed.",
            name.trim()
        ))
        .into()
    }

    /// A name-claiming write that found, once made, another group with
    /// its name (another replica's write of the same moment), and was undone.
    fn claimed_meanwhile(name: &str) -> ProvisioningError {
        ScimError::uniqueness(format!(
            "Another group was given the name \"{}\" at the same moment (names are compared ignoring case), so this change was undone and nothing was changed. Send it again: if the other group has not kept the name either, it will succeed.",
            name.trim()
        ))
        .into()
    }

    /// Read again after a write that gave the term `id` the name `name`:
    /// `None` when the term, and no other, has the name, else why the
    /// write must be undone (another group has it, the read does not show
    /// the term itself, or the read failed, so that it is not known). Of
    /// two writers racing for a name, the later one's read comes after
    /// both writes and sees the other: one at least undoes its write, so
    /// no two groups keep the name (both may undo theirs). A dry run wrote
    /// nothing, so there is nothing to read back.
    async fn contested(&self, name: &str, id: &str) -> Option<ProvisioningError> {
        if self.drupal.is_dry_run() {
            return None;
        }
        let found = self.terms_matching(name).await;
        // Drupal matched the term by the name stored, whatever an answer's
        // cached copy of it shows: missing, it is hidden from the bridge.
        // A name the filter cannot match exactly (see `spelled_condition`)
        // may leave it out too: a read of the term itself tells, as Drupal
        // refuses it (403) where it leaves it out of lists.
        if let Ok(found) = &found {
            if !found.iter().any(|t| t.id.eq_ignore_ascii_case(id)) {
                let vocabulary = self.term_vocabulary()?;
                if !matches!(self.drupal.get_term(&vocabulary, id).await, Ok(Some(_))) {
                    return Some(self.partial_view(name, id));
                }
            }
        }
        match found.map(|found| named(found, name)) {
            Ok(terms) if terms.iter().all(|t| t.id.eq_ignore_ascii_case(id)) => None,
            Ok(_) => {
                tracing::warn!(group = %name.trim(), id = %id, "another group was given the same name at the same moment; this write is undone");
                Some(Self::claimed_meanwhile(name))
            }
            Err(e) => Some(e),
        }
    }

    /// POST /Groups for a term group.
    pub(super) async fn create_term_group(
        &self,
        name: &str,
        external_id: Option<String>,
        members: Vec<String>,
    ) -> Result<DrupalTerm> {
        let vocabulary = self.require_terms()?;
        check_term_name(name.trim())?;
        let published = self.mapping().group_terms().is_some_and(|t| t.published);
        // From the check until the write is verified, no other write of
        // this bridge claims a name.
        let claim = self.name_claims.lock().await;
        let named = self.terms_named(name).await?;
        if let Some(term) = self.unfinished_create(&named, name, &external_id) {
            drop(claim);
            return self.finish_create(term, members).await;
        }
        if !named.is_empty() {
            return Err(Self::name_taken(name));
        }
        // Members are read and checked first: a create refused for a
        // member creates no group.
        let members = match members.is_empty() {
            true => None,
            false => {
                let change = MembershipChange::Delta {
                    add: members.into_iter().collect(),
                    remove: BTreeSet::new(),
                };
                Some(self.sort_term_members(None, name.trim(), change).await?)
            }
        };
        let write = TermWrite {
            name: Some(name.trim().to_string()),
            external_id: Some(external_id),
            published: Some(published),
        };
        let id = new_group_id();
        let outcome = match self.drupal.create_term(&vocabulary, &id, &write).await {
            Err(e) if create_may_be_written(&e) => {
                self.find_lost_term(&vocabulary, &id, &write, e).await
            }
            other => other,
        };
        let term = match outcome {
            Ok(term) => term,
            Err(e) => {
                let event = audited::group_change(
                    EventKind::GroupCreated,
                    &id,
                    name.trim(),
                    Some((&write, &vocabulary)),
                );
                audit::record(event.failed(&e));
                return Err(e.into());
            }
        };
        let event = audited::group_change(
            EventKind::GroupCreated,
            &term.id,
            &term.name,
            Some((&write, &vocabulary)),
        );
        if let Some(why) = self.contested(name, &term.id).await {
            return Err(self.undo_create(&vocabulary, &term, event, why).await);
        }
        drop(claim);
        tracing::info!(group = %term.name, id = %term.id, "group created as a taxonomy term");
        audit::record(event);
        self.term_names.learn(&term.id, &term.name);
        if let Some(members) = members {
            if let Err(failed) = self.write_term_members(&term, members).await {
                return Err(self.undo_failed_create(&term, failed).await);
            }
        }
        Ok(term)
    }

    /// The term among `named` (the terms of the name a create asks for)
    /// that an earlier create of the same name and external id left behind
    /// when it failed and could not be undone.
    fn unfinished_create(
        &self,
        named: &[DrupalTerm],
        name: &str,
        external_id: &Option<String>,
    ) -> Option<DrupalTerm> {
        let [term] = named else { return None };
        let unfinished = self
            .unfinished_creates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let left = unfinished.get(&term.id.to_ascii_lowercase())?;
        (caseless::same(&left.name, name.trim())
            && caseless::same(term.name.trim(), name.trim())
            && left.external_id == *external_id
            && term.external_id == *external_id)
            .then(|| term.clone())
    }

    /// A create sent again for a group its first attempt left behind: the
    /// group's members become those given, and it is the group created
    /// (201), or undone again when a member fails again.
    async fn finish_create(&self, term: DrupalTerm, members: Vec<String>) -> Result<DrupalTerm> {
        self.unfinished_creates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&term.id.to_ascii_lowercase());
        tracing::info!(group = %term.name, id = %term.id, "a create sent again takes over the group its failed first attempt left");
        let change = MembershipChange::Exact(members.into_iter().collect());
        let written = match self
            .sort_term_members(Some(&term), &term.name, change)
            .await
        {
            Ok(sorted) => self.write_term_members(&term, sorted).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(_) => Ok(term),
            Err(failed) => Err(self.undo_failed_create(&term, failed).await),
        }
    }

    /// A create whose member writes failed (`failed`) is undone, so that
    /// the identity provider's retry starts clean (otherwise the group
    /// would stay, and every retry meet its name: 409): the members
    /// written are taken out again (with the roles the group granted),
    /// then the term is deleted. Returns the answer: `failed`, saying that
    /// nothing was kept; when the undo fails too, `failed` as it is, and
    /// the term is remembered so that the same create sent again takes it
    /// over.
    async fn undo_failed_create(
        &self,
        term: &DrupalTerm,
        failed: ProvisioningError,
    ) -> ProvisioningError {
        let ProvisioningError::Membership(mut failures) = failed else {
            // Not a member's write: a read before them failed, and
            // nothing of the members was written; the group is undone too.
            return match self.delete_term_group(term).await {
                Ok(()) => failed,
                Err(undo) => {
                    self.left_unfinished(term, &undo);
                    failed
                }
            };
        };
        match self.delete_term_group(term).await {
            Ok(()) => {
                tracing::warn!(group = %term.name, id = %term.id, failed = failures.failures.len(), "a group's create failed on members and was undone: nothing of it is kept");
                failures.create = CreateFate::Undone;
                ProvisioningError::Membership(failures)
            }
            Err(undo) => {
                self.left_unfinished(term, &undo);
                failures.create = CreateFate::Left;
                ProvisioningError::Membership(failures)
            }
        }
    }

    /// Logs and remembers a group whose failed create could not be undone.
    fn left_unfinished(&self, term: &DrupalTerm, undo: &ProvisioningError) {
        tracing::error!(group = %term.name, id = %term.id, error = %undo, "a group's create failed on members and could not be undone: the group stays, with the members written; the same create sent again (same displayName and externalId) takes it over");
        self.unfinished_creates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                term.id.to_ascii_lowercase(),
                Unfinished {
                    name: term.name.trim().to_string(),
                    external_id: term.external_id.clone(),
                },
            );
    }

    /// A create that ended in `error` with no answer showing its outcome
    /// may still have been written. The bridge chose the UUID, so one read
    /// tells: the term with the name asked is the group created (a retry
    /// would otherwise meet its own group's name, 409); else `error`.
    async fn find_lost_term(
        &self,
        vocabulary: &TermVocabulary,
        id: &str,
        write: &TermWrite,
        error: DrupalError,
    ) -> std::result::Result<DrupalTerm, DrupalError> {
        match self.drupal.get_term(vocabulary, id).await {
            Ok(Some(term)) if shows_write(&term, write) => {
                tracing::warn!(group = %term.name, id, error = %error, "Drupal's answer to a group's create was lost; the group was created and is returned");
                Ok(term)
            }
            Ok(_) => Err(error),
            Err(e) => {
                tracing::error!(id, error = %error, lookup = %e, "a group's create failed and the bridge cannot tell whether Drupal wrote it");
                Err(error)
            }
        }
    }

    /// Deletes a group just created whose name turned out to be contested
    /// (`why`), and returns the error to answer: `why`, or the deletion's
    /// error when the group could not be deleted (and so stays).
    async fn undo_create(
        &self,
        vocabulary: &TermVocabulary,
        term: &DrupalTerm,
        created: AuditEvent,
        why: ProvisioningError,
    ) -> ProvisioningError {
        match self.drupal.delete_term(vocabulary, &term.id).await {
            Ok(()) => {
                audit::record(created.failed(format!("created, then deleted again: {why}")));
                why
            }
            Err(e) => {
                tracing::error!(group = %term.name, id = %term.id, error = %e, "a group created at the same moment as another of its name could not be deleted again: two groups may now have that name");
                audit::record(created);
                let deleted =
                    audited::group_change(EventKind::GroupDeleted, &term.id, &term.name, None);
                audit::record(deleted.failed(&e));
                e.into()
            }
        }
    }

    /// Rename and/or set the external id, and change the members. The
    /// members are read and checked before anything is written, so that a
    /// request refused for a member renames nothing. Returns the group and,
    /// when the change set its members exactly, those members (see
    /// [`Self::change_term_members`]).
    pub(super) async fn update_term_group(
        &self,
        term: &DrupalTerm,
        name: Option<&str>,
        external_id: Option<Option<String>>,
        members: Option<MembershipChange>,
    ) -> Result<(DrupalTerm, Option<Vec<String>>)> {
        self.require_terms()?;
        let rename = name
            .map(str::trim)
            .filter(|n| *n != term.name.trim())
            .map(str::to_string);
        // A rename claims a name: from the check until the write is
        // verified, no other write of this bridge claims one.
        let mut claim = None;
        if let Some(new) = &rename {
            if new.is_empty() {
                return Err(ScimError::invalid_value("displayName must not be empty").into());
            }
            check_term_name(new)?;
            claim = Some(self.name_claims.lock().await);
            // A role-backed group's name is taken too: the two would be
            // one name for two groups in every list and filter.
            let a_role_group = self
                .mapping()
                .exposed_groups()
                .iter()
                .any(|g| caseless::same(&g.display_name, new.trim()));
            if a_role_group
                || self
                    .terms_named(new)
                    .await?
                    .iter()
                    .any(|t| !t.id.eq_ignore_ascii_case(&term.id))
            {
                return Err(Self::name_taken(new));
            }
        }
        if let Some(Some(e)) = &external_id {
            super::groups::check_external_id(e)?;
        }
        let external_id = external_id.filter(|e| *e != term.external_id);
        let members = match members {
            Some(change) => {
                let name = rename.as_deref().unwrap_or(&term.name);
                Some(self.sort_term_members(Some(term), name, change).await?)
            }
            None => None,
        };
        let renamed = match rename.is_none() && external_id.is_none() {
            true => term.clone(),
            false => {
                self.write_term_group(term, rename, external_id, claim)
                    .await?
            }
        };
        let known = match members {
            Some(members) => self.write_term_members(&renamed, members).await?,
            None => None,
        };
        Ok((renamed, known))
    }

    /// Writes a rename and/or an external id, with the roles a rename
    /// moves. A rename is read back before those roles are written, and
    /// undone (409) if another group has the new name too; `claim` (this
    /// bridge's turn to claim a name) is let go once that is known.
    async fn write_term_group(
        &self,
        term: &DrupalTerm,
        rename: Option<String>,
        external_id: Option<Option<String>>,
        claim: Option<tokio::sync::MutexGuard<'_, ()>>,
    ) -> Result<DrupalTerm> {
        let vocabulary = self.require_terms()?;
        // Planned (and refused for protected accounts) before any write.
        let mut regrants = match &rename {
            Some(new) => self.regrants_for_rename(term, new).await?,
            None => Regrants::default(),
        };
        let write = TermWrite {
            name: rename,
            external_id,
            published: None,
        };
        let updated = self.update_term_shown(&vocabulary, term, &write).await;
        let event = audited::group_change(
            EventKind::GroupUpdated,
            &term.id,
            write.name.as_deref().unwrap_or(&term.name),
            Some((&write, &vocabulary)),
        );
        let renamed = match updated {
            Ok(renamed) => renamed,
            Err(e) => {
                audit::record(event.failed(&e));
                return Err(e.into());
            }
        };
        if let Some(new) = &write.name {
            if let Some(why) = self.contested(new, &term.id).await {
                return Err(self
                    .undo_rename(&vocabulary, term, &write, event, why)
                    .await);
            }
        }
        drop(claim);
        audit::record(event);
        self.term_names.learn(&renamed.id, &renamed.name);
        let user_field = vocabulary.user_field.clone();
        let term_id = term.id.to_ascii_lowercase();
        for mut regrant in std::mem::take(&mut regrants.members) {
            // Under the member's turn, from its state then: another write
            // of this process to it (a change of another group) may have
            // ended since the members were read.
            let turn = match self.user_turn(&regrant.user).await {
                Ok(turn) => turn,
                Err(e) => {
                    audit::record(regrant.event.failed(&e));
                    return Err(e.into());
                }
            };
            let stale = regrants.read_at.is_some_and(|at| turn.changed_since(at));
            if stale {
                match self.account_now(&regrant.user).await {
                    Ok(Some(user)) => {
                        (regrant.add, regrant.take) = regrants.of(&user_field, &term_id, &user);
                    }
                    // Gone, or no longer a member: nothing to change.
                    Ok(None) => continue,
                    Err(e) => {
                        audit::record(regrant.event.failed(&e));
                        return Err(e.into());
                    }
                }
            }
            let mut written = Ok(());
            if !regrant.add.is_empty() {
                written = self
                    .change_roles_past_deleted_terms(&regrant.user, Method::POST, &regrant.add)
                    .await;
            }
            if written.is_ok() && !regrant.take.is_empty() {
                written = self
                    .change_roles_past_deleted_terms(&regrant.user, Method::DELETE, &regrant.take)
                    .await;
            }
            self.seen.forget(&regrant.user);
            drop(turn);
            audit::record(match &written {
                Ok(()) => regrant.event,
                Err(e) => regrant.event.failed(e),
            });
            written?;
        }
        Ok(renamed)
    }

    /// Writes `write` to `term`, and once more when Drupal answers with the
    /// earlier values.
    async fn update_term_shown(
        &self,
        vocabulary: &TermVocabulary,
        term: &DrupalTerm,
        write: &TermWrite,
    ) -> std::result::Result<DrupalTerm, DrupalError> {
        let updated = self.drupal.update_term(vocabulary, &term.id, write).await;
        if !updated.as_ref().is_ok_and(|t| !shows_write(t, write)) {
            return updated;
        }
        // Drupal's JSON:API caches a resource's normalization when the
        // request that read it ends, after its answer was sent: the read
        // just before this write could store the earlier values after the
        // write invalidated them (seen on SQLite under load), and every
        // answer would show them until the next save. Saving again
        // invalidates that copy.
        tracing::warn!(
            group = %term.name,
            id = %term.id,
            "Drupal answered a group's rename with its earlier values (a stale JSON:API cache entry); writing it again"
        );
        self.drupal.update_term(vocabulary, &term.id, write).await
    }

    /// Puts back the name (and external id) `write` changed on `term`, the
    /// new name being contested (`why`); returns the error to answer:
    /// `why`, or the error of the write putting them back, when the
    /// rename could not be undone (and so stays).
    async fn undo_rename(
        &self,
        vocabulary: &TermVocabulary,
        term: &DrupalTerm,
        write: &TermWrite,
        renamed: AuditEvent,
        why: ProvisioningError,
    ) -> ProvisioningError {
        let back = TermWrite {
            name: Some(term.name.clone()),
            external_id: write.external_id.as_ref().map(|_| term.external_id.clone()),
            published: None,
        };
        match self.update_term_shown(vocabulary, term, &back).await {
            Ok(restored) => {
                self.term_names.learn(&restored.id, &restored.name);
                audit::record(renamed.failed(format!(
                    "written, then undone (the group has its earlier name again): {why}"
                )));
                why
            }
            Err(e) => {
                tracing::error!(group = %term.name, id = %term.id, error = %e, "a group renamed at the same moment as another to the same name could not be given its earlier name again: two groups may now have that name");
                audit::record(renamed);
                let undo = audited::group_change(
                    EventKind::GroupUpdated,
                    &term.id,
                    &term.name,
                    Some((&back, vocabulary)),
                );
                audit::record(undo.failed(&e));
                e.into()
            }
        }
    }

    /// What a group grants follows its name: renamed, its members get what
    /// the new name grants and lose what only the old one granted (unless
    /// another group of theirs or a role rule grants it). Protected
    /// accounts are refused, as for membership, unless both names' entries
    /// allow the protected roles.
    async fn regrants_for_rename(&self, term: &DrupalTerm, new_name: &str) -> Result<Regrants> {
        let mapping = self.mapping();
        let (old_grant, new_grant) = (mapping.grant_for(&term.name), mapping.grant_for(new_name));
        if old_grant.is_none() && new_grant.is_none() {
            return Ok(Regrants::default());
        }
        let catalog = self.grant_catalog().await?;
        let granted = |grant: Option<&GroupGrant>| -> BTreeSet<String> {
            grant
                .map(|g| {
                    g.roles
                        .iter()
                        .filter_map(|r| catalog.grantable_role(r, g.allow_protected))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (before, after) = (granted(old_grant), granted(new_grant));
        if before == after {
            return Ok(Regrants::default());
        }
        let vocabulary = self.require_terms()?;
        let read_at = self.user_turns.stamp();
        let grants = self.grants(&catalog).await?;
        let rule_roles: BTreeSet<String> = catalog.rule_roles().values().cloned().collect();
        let mut regrants = Regrants {
            members: Vec::new(),
            before,
            after,
            grants: Some(grants),
            rule_roles,
            read_at: Some(read_at),
        };
        let exempt: Vec<&str> = [old_grant, new_grant]
            .into_iter()
            .flatten()
            .filter(|g| g.allow_protected)
            .flat_map(|g| g.roles.iter().map(String::as_str))
            .collect();
        let term_id = term.id.to_ascii_lowercase();
        let mut failures = Vec::new();
        for user in self.term_members(term).await? {
            let (add, take) = regrants.of(&vocabulary.user_field, &term_id, &user);
            if add.is_empty() && take.is_empty() {
                continue;
            }
            match self.protection_except(&user, &exempt) {
                Some(why) => {
                    audit::record(audited::refused_in_group(&user, &why, &term.name));
                    failures.push(MemberFailure {
                        member: user.id.clone(),
                        action: if add.is_empty() {
                            MemberAction::Remove
                        } else {
                            MemberAction::Add
                        },
                        problem: MemberProblem::Protected(why),
                    })
                }
                None => {
                    // The members' roles follow the group's new name.
                    let mut event = AuditEvent::new(EventKind::UserUpdated, &user.id, user.name());
                    event.fields = vec!["roles".into()];
                    event.group = Some(new_name.to_string());
                    event.roles =
                        audited::role_change(&user, &add, &take, |id| catalog.role_name(id));
                    regrants.members.push(Regrant {
                        user: user.id.clone(),
                        add,
                        take,
                        event,
                    })
                }
            }
        }
        if !failures.is_empty() {
            // The members of the group, not ones a client named.
            return Err(refused(&term.name, failures, &SentIds::default()));
        }
        Ok(regrants)
    }

    /// Unlinks every member (taking back the roles the group granted),
    /// then deletes the term: a term deleted while users still reference
    /// it would break later writes of their lists.
    pub(super) async fn delete_term_group(&self, term: &DrupalTerm) -> Result<()> {
        let vocabulary = self.require_terms()?;
        self.change_term_members(term, MembershipChange::Exact(BTreeSet::new()))
            .await?;
        let deleted = self.drupal.delete_term(&vocabulary, &term.id).await;
        let event = audited::group_change(EventKind::GroupDeleted, &term.id, &term.name, None);
        audit::record(match &deleted {
            Ok(_) => event,
            Err(e) => event.failed(e),
        });
        deleted?;
        self.term_names.forget(&term.id);
        tracing::info!(group = %term.name, id = %term.id, "group deleted: its members were unlinked, then its term deleted");
        Ok(())
    }

    pub(super) async fn term_members(&self, term: &DrupalTerm) -> Result<Vec<DrupalUser>> {
        self.collect_users(self.term_holders(term)?).await
    }

    /// [`Self::term_members`] in at most `pages` reads; `None` when the
    /// group has more members than they show.
    pub(super) async fn term_members_up_to(
        &self,
        term: &DrupalTerm,
        pages: u16,
    ) -> Result<Option<Vec<DrupalUser>>> {
        self.collect_users_up_to(self.term_holders(term)?, Some(pages))
            .await
    }

    /// The accounts whose reference field names `term`.
    fn term_holders(&self, term: &DrupalTerm) -> Result<Condition> {
        let vocabulary = self.require_terms()?;
        Ok(Condition::field(
            format!("{}.id", vocabulary.user_field),
            Operator::Eq,
            term.id.clone(),
        ))
    }

    /// The roles each named group grants, resolved against Drupal's roles,
    /// keyed by the terms carrying those names.
    async fn grants(&self, catalog: &RoleCatalog) -> Result<Grants> {
        let mapping = self.mapping();
        let mut by_term = BTreeMap::new();
        if mapping.group_grants().is_empty() {
            return Ok(Grants { by_term });
        }
        // Each name as written, in lower and in upper case: a database
        // whose collation is case-sensitive beyond ASCII (SQLite) finds the
        // usual spellings of a name; grant_for then compares ignoring case.
        let names: Vec<String> = mapping
            .group_grants()
            .iter()
            .flat_map(|g| caseless::spellings(&g.display_name))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let terms = self
            .all_term_groups(Some(Condition::Field {
                path: "name".into(),
                op: Operator::In,
                values: names,
            }))
            .await?;
        for term in terms {
            let Some(grant) = mapping.grant_for(&term.name) else {
                continue;
            };
            let roles: BTreeSet<String> = grant
                .roles
                .iter()
                .filter_map(|r| catalog.grantable_role(r, grant.allow_protected))
                .collect();
            by_term.insert(term.id.to_ascii_lowercase(), roles);
        }
        Ok(Grants { by_term })
    }

    /// Reads what `change` of `term`'s members concerns and sorts it
    /// (see [`triage`]), for a group named `name`: refuses the whole
    /// change when a member may not or cannot be written.
    async fn sort_term_members(
        &self,
        term: Option<&DrupalTerm>,
        name: &str,
        change: MembershipChange,
    ) -> Result<Sorted> {
        let vocabulary = self.require_terms()?;
        let term_id = term.map(|t| t.id.to_ascii_lowercase());
        let sent = SentIds::of(&change);
        // Before any account is read (the holders, the look-ups; a copy
        // the look-ups take was forgotten by every write that ended before
        // now).
        let read_at = self.user_turns.stamp();
        let (add, remove, holders, exact) = match (change, term) {
            (MembershipChange::Delta { add, remove }, _) => (add, remove, Vec::new(), None),
            (MembershipChange::Exact(wanted), Some(term)) => {
                let holders = self.term_members(term).await?;
                let wanted = normalized(wanted);
                let held: BTreeSet<String> = holders.iter().map(|u| u.id.clone()).collect();
                // A group that grants roles checks its kept members too (read
                // already, as holders): one whose role write failed earlier
                // gets it now, when the identity provider retries with the
                // whole list (a PUT, a PATCH replace). The others are in place
                // and written nothing.
                let grants_roles = self
                    .mapping()
                    .grant_for(name)
                    .is_some_and(|grant| !grant.roles.is_empty());
                let add = match grants_roles {
                    true => wanted.clone(),
                    false => wanted.difference(&held).cloned().collect(),
                };
                let remove = held.difference(&wanted).cloned().collect();
                (add, remove, holders, Some(wanted))
            }
            (MembershipChange::Exact(wanted), None) => {
                let wanted = normalized(wanted);
                (wanted.clone(), BTreeSet::new(), Vec::new(), Some(wanted))
            }
        };
        let (add, remove) = (normalized(add), normalized(remove));
        // A group allowed to grant protected roles may also take them back.
        let mapping = self.mapping();
        let exempt: Vec<&str> = mapping
            .grant_for(name)
            .filter(|g| g.allow_protected)
            .map(|g| g.roles.iter().map(String::as_str).collect())
            .unwrap_or_default();
        // The roles the group grants, to tell a change in place: a write
        // of the reference that succeeded while the roles' write after it
        // failed leaves the reference as asked, and the identity
        // provider's retry of the change must still set the roles.
        let roles = match (&term_id, mapping.group_grants().is_empty()) {
            (Some(id), false) => {
                let catalog = self.grant_catalog().await?;
                let grants = self.grants(&catalog).await?;
                let rule_roles: BTreeSet<String> = catalog.rule_roles().values().cloned().collect();
                Some((grants.of(id), grants, rule_roles))
            }
            _ => None,
        };
        let in_place = |user: &DrupalUser, action| {
            let Some(id) = term_id.as_ref() else {
                return false;
            };
            if !reference_in_place(&vocabulary.user_field, id, user, action) {
                return false;
            }
            roles.as_ref().is_none_or(|(granted, grants, rule_roles)| {
                role_plan(
                    &vocabulary.user_field,
                    id,
                    user,
                    action,
                    granted,
                    grants,
                    rule_roles,
                )
                .is_empty()
            })
        };
        let known = self
            .concerned_accounts(holders, &add, &remove, in_place)
            .await?;
        let result = exact.map(|wanted| resulting_members(&wanted, &known));
        let Triage {
            writes,
            mut failures,
            settled,
        } = triage(
            &add,
            &remove,
            &known,
            |_| MemberProblem::UnknownUser,
            in_place,
            |user, action| {
                // A group allowed to grant a protected role may take it
                // back from its own members (it made them so); an account
                // holding one already is not its to add, nor then to
                // demote.
                let own_member = term_id.as_ref().is_some_and(|id| {
                    reference_in_place(&vocabulary.user_field, id, user, MemberAction::Add)
                });
                let exempt: &[&str] = match action {
                    MemberAction::Add if !own_member => &[],
                    _ => &exempt,
                };
                let why = self.protection_except(user, exempt)?;
                audit::record(audited::refused_in_group(user, &why, name));
                Some(why)
            },
        );
        self.name_groups_offered(&mut failures).await?;
        let skipped = self.unknown_to_skip(&mut failures);
        if !failures.is_empty() {
            return Err(refused(name, failures, &sent));
        }
        let writes = writes
            .into_iter()
            .map(|(user, action)| (user.id.clone(), action))
            .collect();
        Ok(Sorted {
            add,
            remove,
            known,
            result,
            writes,
            settled,
            skipped,
            sent,
            read_at,
        })
    }

    /// Carries `change` out on the users' references to `term`, granting
    /// and taking back the roles the group grants. Returns the members
    /// after the change when that is known without reading them again
    /// (see [`super::groups::resulting_members`]).
    pub(super) async fn change_term_members(
        &self,
        term: &DrupalTerm,
        change: MembershipChange,
    ) -> Result<Option<Vec<String>>> {
        let sorted = self
            .sort_term_members(Some(term), &term.name, change)
            .await?;
        self.write_term_members(term, sorted).await
    }

    /// Writes a change [`Self::sort_term_members`] read and checked.
    async fn write_term_members(
        &self,
        term: &DrupalTerm,
        sorted: Sorted,
    ) -> Result<Option<Vec<String>>> {
        let vocabulary = self.require_terms()?;
        let term_id = term.id.to_ascii_lowercase();
        let Sorted {
            add,
            remove,
            known,
            mut result,
            writes,
            settled,
            mut skipped,
            sent,
            read_at,
        } = sorted;
        let writes: Vec<(&DrupalUser, MemberAction)> = writes
            .iter()
            .filter_map(|(id, action)| known.get(id).map(|user| (user, *action)))
            .collect();
        let catalog = self.grant_catalog().await?;
        let grants = self.grants(&catalog).await?;
        let granted = grants.of(&term_id);
        let rule_roles: BTreeSet<String> = catalog.rule_roles().values().cloned().collect();
        let planned = writes.len();
        let write_failures: Vec<MemberFailure> = stream::iter(writes)
            .map(|(user, action)| {
                let vocabulary = &vocabulary;
                let grants = &grants;
                let granted = &granted;
                let rule_roles = &rule_roles;
                let term_id = &term_id;
                let catalog = &catalog;
                async move {
                    let roles = GroupRoles {
                        granted,
                        grants,
                        rule_roles,
                    };
                    let MemberWritten {
                        result,
                        plan,
                        reread,
                    } = self
                        .write_term_member(vocabulary, term_id, user, action, read_at, &roles)
                        .await;
                    let user = reread.as_ref().unwrap_or(user);
                    self.guard
                        .granted(&user.id, plan.grant.iter().map(|id| catalog.role_name(id)));
                    let kind = match action {
                        MemberAction::Add => EventKind::GroupMemberAdded,
                        MemberAction::Remove => EventKind::GroupMemberRemoved,
                    };
                    let mut event = AuditEvent::new(kind, &user.id, user.name());
                    event.group = Some(term.name.clone());
                    event.roles = audited::role_change(user, &plan.grant, &plan.take, |id| {
                        catalog.role_name(id)
                    });
                    audit::record(match &result {
                        Ok(()) => event,
                        Err(e) => event.failed(e),
                    });
                    let problem = match result {
                        Ok(()) => return None,
                        Err(DrupalError::NotFound) if action == MemberAction::Remove => {
                            return None
                        }
                        Err(DrupalError::NotFound) => MemberProblem::UnknownUser,
                        Err(e) => MemberProblem::Drupal(e),
                    };
                    Some(MemberFailure {
                        member: user.id.clone(),
                        action,
                        problem,
                    })
                }
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        let mut write_failures = write_failures;
        let applied = settled + planned - write_failures.len();
        skipped.extend(self.unknown_to_skip(&mut write_failures));
        self.record_skipped(&term.name, &skipped, &sent, result.as_mut());
        tracing::info!(
            group = %term.name,
            to_add = add.len(),
            to_remove = remove.len(),
            applied,
            failed = write_failures.len(),
            "group membership changed"
        );
        if write_failures.is_empty() {
            return Ok(result);
        }
        Err(ProvisioningError::Membership(
            MembershipFailures {
                group: term.name.clone(),
                applied,
                failures: write_failures,
                refused: false,
                create: CreateFate::NotACreate,
            }
            .logged(&sent),
        ))
    }

    /// One member: an addition writes the reference (repairing a dangling
    /// one if Drupal refuses the save for it), then the roles `plan`
    /// grants; a removal takes the roles first and the reference last. So
    /// a failure between the two never leaves a membership gone with its
    /// roles kept: the reference still shows the member, and any retry,
    /// the whole member list included, removes it again. A reference
    /// already as asked is not written again: an earlier attempt wrote it
    /// and failed on the roles, which this one sets.
    ///
    /// The roles are planned under the account's turn, from the account
    /// as it is then: as `read` shows it, unless another write of this
    /// process to it (a change of another group, or of this one) ended
    /// after `read_at`; the account is then read again. Concurrent changes
    /// of one account's groups thus never decide its roles from a state
    /// one of them already changed, and the common case reads nothing.
    async fn write_term_member(
        &self,
        vocabulary: &TermVocabulary,
        term_id: &str,
        read: &DrupalUser,
        action: MemberAction,
        read_at: Stamp,
        roles: &GroupRoles<'_>,
    ) -> MemberWritten {
        // The account's turn: a SCIM DELETE of it runs wholly before or
        // after this write; after it, an addition leaves it out.
        let turn = match self.user_turn(&read.id).await {
            Ok(turn) => turn,
            Err(e) => {
                return MemberWritten {
                    result: Err(e),
                    plan: RolePlan::none(),
                    reread: None,
                }
            }
        };
        let reread = match turn.changed_since(read_at) {
            false => None,
            true => match self.account_now(&read.id).await {
                Ok(Some(user)) => Some(user),
                Ok(None) => {
                    let result = match action {
                        MemberAction::Add => Err(DrupalError::NotFound),
                        MemberAction::Remove => Ok(()),
                    };
                    return MemberWritten {
                        result,
                        plan: RolePlan::none(),
                        reread: None,
                    };
                }
                Err(e) => {
                    return MemberWritten {
                        result: Err(e),
                        plan: RolePlan::none(),
                        reread: None,
                    }
                }
            },
        };
        let user = reread.as_ref().unwrap_or(read);
        let plan = role_plan(
            &vocabulary.user_field,
            term_id,
            user,
            action,
            roles.granted,
            roles.grants,
            roles.rule_roles,
        );
        let result = self
            .apply_term_member(vocabulary, term_id, user, action, &plan)
            .await;
        // Forgotten before the turn ends: a look-up after it reads the
        // account again, or counts this write as ended since its stamp.
        self.seen.forget(&read.id);
        drop(turn);
        MemberWritten {
            result,
            plan,
            reread,
        }
    }

    /// The account `id` as Drupal holds it now, with the fields a
    /// membership decision needs; `None` when it is gone or SCIM DELETE
    /// deprovisioned it.
    async fn account_now(&self, id: &str) -> std::result::Result<Option<DrupalUser>, DrupalError> {
        let found = self
            .read_users(
                Condition::field("id", Operator::Eq, id.to_string()),
                super::membership::member_fields(&self.mapping()),
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// [`Self::write_term_member`]'s writes, under the account's turn.
    async fn apply_term_member(
        &self,
        vocabulary: &TermVocabulary,
        term_id: &str,
        user: &DrupalUser,
        action: MemberAction,
        plan: &RolePlan,
    ) -> std::result::Result<(), DrupalError> {
        let method = match action {
            MemberAction::Add => Method::POST,
            MemberAction::Remove => Method::DELETE,
        };
        if action == MemberAction::Add && self.deprovisioned_lately(&user.id).await? {
            return Err(DrupalError::NotFound);
        }
        if !plan.take.is_empty() {
            self.change_roles_past_deleted_terms(&user.id, Method::DELETE, &plan.take)
                .await?;
        }
        let one = [term_id.to_string()];
        let written = match reference_in_place(&vocabulary.user_field, term_id, user, action) {
            true => Ok(()),
            false => {
                self.drupal
                    .change_term_refs(vocabulary, &user.id, method, &one)
                    .await
            }
        };
        match written {
            Err(e) if refuses_a_deleted_term(&e, &vocabulary.user_field) => {
                self.repair_term_refs(vocabulary, user, term_id, action)
                    .await?
            }
            other => other?,
        }
        if !plan.grant.is_empty() {
            self.change_roles_past_deleted_terms(&user.id, Method::POST, &plan.grant)
                .await?;
        }
        Ok(())
    }

    /// A change of the account's roles. Drupal validates the whole account
    /// on a relationship write that saves it, so while the account
    /// references a group term deleted in Drupal, the change is refused as
    /// that reference ("field_scim_groups.1.target_id: The referenced
    /// entity … does not exist", as 386b and 386f refuse the groups
    /// field's own writes). The group list is then rewritten whole, which
    /// drops the dangling reference (389), and the change sent again once.
    pub(super) async fn change_roles_past_deleted_terms(
        &self,
        user_id: &str,
        method: Method,
        roles: &[String],
    ) -> std::result::Result<(), DrupalError> {
        let first = self
            .drupal
            .change_roles(user_id, method.clone(), roles)
            .await;
        // Looked at only when Drupal refused: a roles change that went
        // through (the common case) builds nothing more.
        let Err(error) = &first else {
            return first;
        };
        let vocabulary = match self.term_vocabulary() {
            Some(vocabulary) if refuses_a_deleted_term(error, &vocabulary.user_field) => vocabulary,
            _ => return first,
        };
        let refs = self.drupal.current_term_refs(&vocabulary, user_id).await?;
        tracing::warn!(user = %user_id, "a user referenced a group term deleted in Drupal, which refused a change of its roles; its group list was rewritten without it and the change sent again");
        self.drupal
            .change_term_refs(&vocabulary, user_id, Method::PATCH, &refs)
            .await?;
        self.drupal.change_roles(user_id, method, roles).await
    }

    /// A user references a deleted term: Drupal refuses every save of the
    /// list until it is rewritten whole (recorded 386b, 389).
    async fn repair_term_refs(
        &self,
        vocabulary: &TermVocabulary,
        user: &DrupalUser,
        term_id: &str,
        action: MemberAction,
    ) -> std::result::Result<(), DrupalError> {
        let mut refs = self.drupal.current_term_refs(vocabulary, &user.id).await?;
        refs.retain(|r| r != term_id);
        if action == MemberAction::Add {
            refs.push(term_id.to_string());
        }
        tracing::warn!(user = %user.id, "a user referenced a group term deleted in Drupal; its group list was rewritten without it (roles that group granted, if any, were not taken back: nothing names them any more)");
        self.drupal
            .change_term_refs(vocabulary, &user.id, Method::PATCH, &refs)
            .await
    }

    /// The role catalog, read even when no role-backed group is exposed:
    /// term groups may grant roles.
    async fn grant_catalog(&self) -> Result<std::sync::Arc<RoleCatalog>> {
        self.role_catalog(None).await
    }

    /// The term groups a user's document references, with their names
    /// when the terms can be read (a deleted term is left out).
    pub(super) fn term_group_refs(mapping: &Mapping, user: &DrupalUser) -> Vec<String> {
        match mapping.group_terms() {
            Some(terms) => referenced_terms(&user.relationships, &terms.user_field),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_answer_shows_a_write_when_it_holds_every_value_sent() {
        let term = DrupalTerm {
            id: "t".into(),
            tid: Some(1),
            name: "New".into(),
            external_id: Some("ext".into()),
            published: false,
            created: None,
            changed: None,
        };
        let write = |name: Option<&str>, external_id: Option<Option<&str>>| TermWrite {
            name: name.map(str::to_string),
            external_id: external_id.map(|e| e.map(str::to_string)),
            published: None,
        };
        assert!(shows_write(&term, &write(Some("New"), None)));
        assert!(shows_write(&term, &write(None, Some(Some("ext")))));
        assert!(shows_write(&term, &write(None, None)));
        assert!(
            !shows_write(&term, &write(Some("Old"), None)),
            "a stale name"
        );
        assert!(
            !shows_write(&term, &write(Some("New"), Some(None))),
            "a stale external id"
        );
    }

    #[test]
    fn a_group_name_is_at_most_255_readable_characters() {
        assert!(check_term_name(&"é".repeat(255)).is_ok());
        assert!(check_term_name("Sales EMEA — Ventes").is_ok());
        for bad in [
            "x".repeat(256),
            "line\nbreak".into(),
            "tab\there".into(),
            "del\u{7f}".into(),
            "c1\u{85}".into(),
            "\u{202e}evil".into(),
            "zero\u{200b}width".into(),
            "\u{feff}bom".into(),
            "Sal\u{2060}es".into(),
            "Sales\u{61c}".into(),
            "soft\u{ad}hyphen".into(),
            "Sales\u{fe0f}".into(),
            "tag\u{e0041}".into(),
            "\u{3164}".into(),
            "blank\u{2800}".into(),
            "a\u{200d}b".into(),
        ] {
            let Err(ProvisioningError::Scim(e)) = check_term_name(&bad) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(e.status, 400, "{bad:?}");
            assert!(e.detail.contains("Nothing was changed"), "{}", e.detail);
        }
    }

    #[test]
    fn emoji_keep_their_selectors_and_joiners() {
        for name in [
            "Team \u{1F680}",
            "\u{2764}\u{FE0F} Fans",
            "Family \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "Heart \u{2764}\u{FE0F}\u{200D}\u{1F525}",
            "Team #\u{FE0F}\u{20E3} 1\u{FE0F}\u{20E3}",
            "Brand \u{00A9}\u{FE0F} \u{2122}\u{FE0F}",
            "England \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
        ] {
            assert!(check_term_name(name).is_ok(), "{name:?}");
        }
        assert_eq!(hidden_character("\u{1F468}\u{200D}"), Some('\u{200D}'));
        assert_eq!(hidden_character("x\u{FE0F}"), Some('\u{FE0F}'));
        assert_eq!(hidden_character("1\u{FE0F}"), Some('\u{FE0F}'), "no keycap");
        assert_eq!(
            hidden_character("Sales\u{E0067}\u{E007F}"),
            Some('\u{E0067}')
        );
        assert_eq!(
            hidden_character("\u{1F3F4}\u{E0067}\u{E0062}"),
            Some('\u{E0067}'),
            "no cancel tag"
        );
    }

    #[test]
    fn a_name_with_cased_letters_beyond_ascii_is_looked_up_by_the_runs_between_them() {
        let field = |op, value: &str| Condition::field("name", op, value);
        assert_eq!(
            name_condition(" Sales Team "),
            Some(field(Operator::Eq, "Sales Team"))
        );
        // Letters without case are the same in every spelling.
        assert_eq!(
            name_condition("営業 1"),
            Some(field(Operator::Eq, "営業 1"))
        );
        assert_eq!(
            name_condition("Ärzte Équipe 7"),
            Some(Condition::Group {
                conjunction: Conjunction::And,
                members: vec![
                    field(Operator::Contains, "quipe 7"),
                    field(Operator::Contains, "rzte"),
                ],
            })
        );
        assert_eq!(
            name_condition("équipe"),
            Some(field(Operator::Contains, "quipe"))
        );
        assert_eq!(name_condition("ΣΟΦΙΑ"), None, "every group is read");
        assert_eq!(
            name_condition("Straße"),
            Some(Condition::Group {
                conjunction: Conjunction::And,
                members: vec![
                    field(Operator::Contains, "Stra"),
                    field(Operator::Contains, "e"),
                ],
            })
        );
    }

    #[test]
    fn new_group_ids_are_random_uuids() {
        let (a, b) = (new_group_id(), new_group_id());
        assert_ne!(a, b);
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn the_version_changes_with_the_name_the_external_id_and_the_members() {
        let term = DrupalTerm {
            id: "x".into(),
            tid: None,
            name: "a".into(),
            external_id: None,
            published: false,
            created: None,
            changed: Some("2026-01-01T00:00:00+00:00".into()),
        };
        let version = |term: &DrupalTerm, members: Option<&[&str]>| {
            let group = render_term_group(term, members);
            assert_eq!(
                group.resource["meta"].get("version"),
                group.version.as_ref().map(|v| json!(v)).as_ref()
            );
            group.version
        };
        let renamed = DrupalTerm {
            name: "b".into(),
            ..term.clone()
        };
        let external = DrupalTerm {
            external_id: Some("e".into()),
            ..term.clone()
        };
        let base = version(&term, Some(&["u1", "u2"]));
        assert!(base.as_ref().is_some_and(|v| v.starts_with("W/\"")));
        assert_ne!(base, version(&renamed, Some(&["u1", "u2"])));
        assert_ne!(base, version(&external, Some(&["u1", "u2"])));
        assert_ne!(base, version(&term, Some(&["u1"])));
        // Drupal's order of the members is no change.
        assert_eq!(base, version(&term, Some(&["u2", "u1"])));
        // Members not read: no version.
        assert_eq!(version(&term, None), None);
    }
}
