//! The accounts no write may reach without a read: Drupal's anonymous
//! account (uid 0), its first account (uid 1), the account the bridge logs
//! in as (by its name, when the configuration gives one), the holders of
//! protected roles and the accounts SCIM DELETE deprovisioned. The bridge reads that
//! list from Drupal, a few pages with only ids, and keeps it for
//! `account_cache_secs`, the window the copies of seen accounts have.
//!
//! An account on the list, or any account while the list cannot be read
//! or its protected part is too long, is read before a write, and refused
//! from what Drupal holds now. Deprovisioned accounts only grow (each SCIM
//! DELETE under `block` adds one): past ten pages of them the list leaves
//! them out, and only a write that blocks the account may go unread,
//! since it changes nothing on a deprovisioned one. Any other account may
//! take a write that does not depend on its values (a deactivation, a group
//! add) without the read: the list tells, as of less than the window ago,
//! that it is none to refuse, as a copy of the account would. This serves
//! writes to accounts the bridge has not seen in the window, such as a
//! deprovisioning run or a reorganisation's group adds that follow a sync
//! by minutes.
//!
//! What it cannot know is the same as for a copy: an account that became
//! one to refuse in Drupal within the window. The write's answer shows it
//! when Drupal sends the account back, and the bridge logs an error.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::marker::DeprovisionMarker;
use crate::drupal::{
    CollectionQuery, Condition, DrupalClient, DrupalError, Operator, SortKey, DRUPAL_PAGE_CAP,
};

/// Pages read at most of each part of the list (50 ids a page): the
/// protected accounts, and the deprovisioned ones. Reading more every
/// window would cost more than it saves.
pub const MAX_PAGES: u16 = 10;

/// What the list says of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearance {
    /// On no part of the list: a write that does not depend on the
    /// account's values may go unread.
    Clear,
    /// Not protected; the site has more deprovisioned accounts than the
    /// list holds, so it may be one. Only a write that leaves a
    /// deprovisioned account as it is (blocking it) may go unread.
    UnlessDeprovisioned,
    /// Read it first.
    Read,
}

/// The list as last read.
#[derive(Debug, Clone)]
enum Snapshot {
    /// As Drupal held it at `at`: the accounts to refuse (and those found
    /// to refuse since), the deprovisioned ones among them unless too
    /// many (`deprovisioned_listed`).
    Read {
        at: Instant,
        refused: HashSet<String>,
        deprovisioned_listed: bool,
    },
    /// At `at` the protected accounts were more than [`MAX_PAGES`] hold,
    /// or the list could not be read: every write reads first until the
    /// window has passed.
    Unusable { at: Instant },
}

impl Snapshot {
    fn at(&self) -> Instant {
        match self {
            Snapshot::Read { at, .. } | Snapshot::Unusable { at } => *at,
        }
    }
}

pub struct WriteGuard {
    window: Duration,
    protected_roles: Vec<String>,
    /// The accounts the bridge logs in as (`drupal.auth.username`), this
    /// site's and those of the other sites in front of the same Drupal.
    own: super::own_account::OwnAccount,
    snapshot: Mutex<Option<Snapshot>>,
    /// One reader at a time: concurrent writes wait for its list.
    reading: tokio::sync::Mutex<()>,
    /// The anonymous account's id, which never changes once read.
    anonymous: tokio::sync::OnceCell<Option<String>>,
    /// A part of the list was too long, and the operator was told.
    told_too_long: [AtomicBool; 2],
}

impl WriteGuard {
    pub fn new(
        window: Duration,
        protected_roles: Vec<String>,
        own: super::own_account::OwnAccount,
    ) -> WriteGuard {
        WriteGuard {
            window,
            protected_roles,
            own,
            snapshot: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            anonymous: tokio::sync::OnceCell::new(),
            told_too_long: [AtomicBool::new(false), AtomicBool::new(false)],
        }
    }

    /// What the list, read less than the window ago, says of the account
    /// `id` (lower case). [`Clearance::Read`] when the window is 0 or the
    /// list is unusable.
    pub async fn clearance(
        &self,
        id: &str,
        drupal: &DrupalClient,
        marker: &DeprovisionMarker,
    ) -> Clearance {
        if self.window.is_zero() {
            return Clearance::Read;
        }
        if let Some(answer) = self.fresh(id) {
            return answer;
        }
        let _reading = self.reading.lock().await;
        if let Some(answer) = self.fresh(id) {
            return answer;
        }
        let at = Instant::now();
        let snapshot = match self.read(drupal, marker).await {
            Ok(Some((refused, deprovisioned_listed))) => {
                if !deprovisioned_listed {
                    self.tell_too_long(1, "deprovisioned accounts than the bridge lists: of the accounts it has not seen in account_cache_secs, only deactivations skip their read");
                }
                Snapshot::Read {
                    at,
                    refused,
                    deprovisioned_listed,
                }
            }
            Ok(None) => {
                self.tell_too_long(0, "holders of protected roles than the bridge lists: writes to accounts it has not seen in account_cache_secs read each first");
                Snapshot::Unusable { at }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the list of accounts to refuse cannot be read: writes to accounts not seen in account_cache_secs read each first");
                Snapshot::Unusable { at }
            }
        };
        *self.lock() = Some(snapshot);
        self.fresh(id).unwrap_or(Clearance::Read)
    }

    /// Puts an account the bridge found to be one to refuse, or made one
    /// (SCIM DELETE), on the list it holds.
    pub fn refuse(&self, id: &str) {
        let id = id.to_ascii_lowercase();
        let mut snapshot = self.lock();
        if let Some(Snapshot::Read { refused, .. }) = snapshot.as_mut() {
            refused.insert(id);
        }
    }

    /// An account was granted the roles `roles` (machine names), or may
    /// have been: one that now holds a protected role joins the list at
    /// once, not when the list is read again.
    pub fn granted(&self, id: &str, roles: impl IntoIterator<Item = impl AsRef<str>>) {
        if roles
            .into_iter()
            .any(|role| self.protected_roles.iter().any(|p| p == role.as_ref()))
        {
            self.refuse(id);
        }
    }

    /// The answer from a list read less than the window ago.
    fn fresh(&self, id: &str) -> Option<Clearance> {
        let snapshot = self.lock();
        let snapshot = snapshot
            .as_ref()
            .filter(|s| s.at().elapsed() < self.window)?;
        Some(match snapshot {
            Snapshot::Read { refused, .. } if refused.contains(id) => Clearance::Read,
            Snapshot::Read {
                deprovisioned_listed: true,
                ..
            } => Clearance::Clear,
            Snapshot::Read {
                deprovisioned_listed: false,
                ..
            } => Clearance::UnlessDeprovisioned,
            Snapshot::Unusable { .. } => Clearance::Read,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Once per process for each part of the list.
    fn tell_too_long(&self, part: usize, what: &str) {
        if !self.told_too_long[part].swap(true, Ordering::Relaxed) {
            tracing::info!(pages = MAX_PAGES, "more {what}");
        }
    }

    /// The accounts to refuse, and whether the deprovisioned ones are
    /// among them (not when more than [`MAX_PAGES`] hold them); `None` when
    /// the protected ones alone are more than that.
    async fn read(
        &self,
        drupal: &DrupalClient,
        marker: &DeprovisionMarker,
    ) -> Result<Option<(HashSet<String>, bool)>, DrupalError> {
        let anonymous = self
            .anonymous
            .get_or_try_init(|| drupal.anonymous_account())
            .await?;
        let mut refused: HashSet<String> = anonymous.iter().cloned().collect();
        // Both parts in one read while they fit; else the protected part
        // alone, and the deprovisioned accounts stay unknown.
        let both = loop {
            let filter = refused_accounts(&self.refused_by_name(), marker.field());
            match ids_of(drupal, filter).await {
                Err(e) if marker.absorb_missing_field(&e) => continue,
                other => break other?,
            }
        };
        let deprovisioned_listed = match both {
            Some(ids) => {
                refused.extend(ids);
                true
            }
            None => {
                let protected =
                    ids_of(drupal, refused_accounts(&self.refused_by_name(), None)).await?;
                let Some(protected) = protected else {
                    return Ok(None);
                };
                refused.extend(protected);
                false
            }
        };
        Ok(Some((refused, deprovisioned_listed)))
    }

    /// What names the protected part of the list.
    fn refused_by_name(&self) -> Protected<'_> {
        Protected {
            roles: &self.protected_roles,
            own_names: self.own.names(),
        }
    }
}

/// The accounts protected whatever their state: by role, and the bridge's
/// own by their names (uid 1 always).
struct Protected<'a> {
    roles: &'a [String],
    own_names: Vec<String>,
}

/// The ids (lower case) of the accounts matching `filter`, or `None` when
/// they fill more than [`MAX_PAGES`].
async fn ids_of(
    drupal: &DrupalClient,
    filter: Condition,
) -> Result<Option<Vec<String>>, DrupalError> {
    let query = CollectionQuery {
        filter: Some(filter),
        sort: vec![SortKey {
            field: "drupal_internal__uid".into(),
            descending: false,
        }],
        limit: Some(DRUPAL_PAGE_CAP),
        fields: Some(vec!["name".into(), "drupal_internal__uid".into()]),
        ..Default::default()
    };
    let mut page = drupal.list_users(&query).await?;
    let mut ids: Vec<String> = Vec::new();
    let mut read: u16 = 1;
    loop {
        for id in page.users.iter().map(|u| u.id.to_ascii_lowercase()) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let Some(next) = page.next.take() else {
            return Ok(Some(ids));
        };
        if read >= MAX_PAGES {
            return Ok(None);
        }
        page = drupal.list_users(&next).await?;
        read += 1;
    }
}

/// uid 1, the bridge's own account and the holders of the protected
/// roles, and with `marker` the accounts it marks: one flat OR group.
fn refused_accounts(protected: &Protected<'_>, marker: Option<&str>) -> Condition {
    let mut any = vec![Condition::field("drupal_internal__uid", Operator::Eq, "1")];
    match protected.own_names.as_slice() {
        [] => {}
        [name] => any.push(Condition::field("name", Operator::Eq, name.clone())),
        names => any.push(Condition::Field {
            path: "name".into(),
            op: Operator::In,
            values: names.to_vec(),
        }),
    }
    if !protected.roles.is_empty() {
        any.push(Condition::Field {
            path: "roles.meta.drupal_internal__target_id".into(),
            op: Operator::In,
            values: protected.roles.to_vec(),
        });
    }
    any.extend(marker.map(|field| Condition::field(field, Operator::Eq, "1")));
    match any.len() {
        1 => any.remove(0),
        _ => Condition::any(any),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No account of the bridge's: an OAuth2 client Drupal has not named.
    fn nobody() -> super::super::own_account::OwnAccount {
        let auth = crate::drupal::settings::DrupalAuth::OAuth2 {
            client_id: "c".into(),
            client_secret: crate::secret::Secret::new("s"),
        };
        super::super::own_account::OwnAccount::of(&auth, "https://guard.example.org")
    }

    fn guard_with(refused: &[&str], deprovisioned_listed: bool, age: Duration) -> WriteGuard {
        let guard = WriteGuard::new(
            Duration::from_secs(10),
            vec!["administrator".into()],
            nobody(),
        );
        *guard.lock() = Some(Snapshot::Read {
            at: Instant::now() - age,
            refused: refused.iter().map(|s| s.to_string()).collect(),
            deprovisioned_listed,
        });
        guard
    }

    #[test]
    fn a_fresh_list_clears_the_accounts_it_does_not_name() {
        let guard = guard_with(&["a", "d"], true, Duration::ZERO);
        assert_eq!(guard.fresh("a"), Some(Clearance::Read));
        assert_eq!(guard.fresh("d"), Some(Clearance::Read));
        assert_eq!(guard.fresh("b"), Some(Clearance::Clear));
    }

    #[test]
    fn without_the_deprovisioned_accounts_only_a_block_may_go_unread() {
        let guard = guard_with(&["a"], false, Duration::ZERO);
        assert_eq!(guard.fresh("a"), Some(Clearance::Read));
        assert_eq!(guard.fresh("b"), Some(Clearance::UnlessDeprovisioned));
    }

    #[test]
    fn a_list_older_than_the_window_answers_nothing() {
        let guard = guard_with(&["a"], true, Duration::from_secs(11));
        assert_eq!(guard.fresh("b"), None);
    }

    #[test]
    fn an_unusable_list_clears_nobody_until_the_window_passed() {
        let guard = WriteGuard::new(Duration::from_secs(10), Vec::new(), nobody());
        *guard.lock() = Some(Snapshot::Unusable { at: Instant::now() });
        assert_eq!(guard.fresh("b"), Some(Clearance::Read));
        *guard.lock() = Some(Snapshot::Unusable {
            at: Instant::now() - Duration::from_secs(11),
        });
        assert_eq!(guard.fresh("b"), None);
    }

    #[test]
    fn an_account_found_to_refuse_joins_the_list() {
        let guard = guard_with(&[], false, Duration::ZERO);
        guard.refuse("B");
        assert_eq!(guard.fresh("b"), Some(Clearance::Read));
    }

    #[test]
    fn the_query_names_uid_1_the_bridges_account_the_protected_roles_and_the_marker() {
        let text = |filter: Condition| {
            CollectionQuery {
                filter: Some(filter),
                ..Default::default()
            }
            .to_pairs("user--user")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
        };
        let roles = ["administrator".to_string(), "auditor".to_string()];
        let both = text(refused_accounts(
            &Protected {
                roles: &roles,
                own_names: vec!["scim-bridge".into()],
            },
            Some("field_scim_deprovisioned"),
        ));
        assert!(both.contains("OR"), "{both}");
        assert!(both.contains("drupal_internal__uid"), "{both}");
        assert!(
            both.contains("roles.meta.drupal_internal__target_id"),
            "{both}"
        );
        assert!(both.contains("=auditor"), "{both}");
        assert!(both.contains("field_scim_deprovisioned"), "{both}");
        assert!(
            both.contains("=scim-bridge"),
            "the bridge's own account: {both}"
        );
        assert_eq!(both.matches("[group]").count(), 1, "one flat group: {both}");
        let nobody = Protected {
            roles: &[],
            own_names: Vec::new(),
        };
        let first = text(refused_accounts(&nobody, None));
        assert!(!first.contains("roles"), "{first}");
        assert!(!first.contains("name"), "{first}");
        assert!(first.contains("drupal_internal__uid"), "{first}");
    }
}
