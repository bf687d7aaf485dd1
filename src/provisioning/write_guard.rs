//! The accounts no write may reach without a read: Drupal's anonymous
//! account (uid 0), its first account (uid 1), the holders of protected
//! roles and the accounts SCIM DELETE deprovisioned. The bridge reads that
//! list from Drupal, a few pages with only ids, and keeps it for
//! `account_cache_secs`, the window the copies of seen accounts have.
//!
//! An account on the list, or any account while the list cannot be read
//! or is too long, is read before a write, and refused from what Drupal
//! holds now. Any other account may take a write that does not depend on
//! its values (a deactivation, a group add) without the read: the list
//! tells, as of less than the window ago, that it is none to refuse, as a
//! copy of the account would. This serves writes to accounts the bridge
//! has not seen in the window, such as a deprovisioning run or a
//! reorganisation's group adds that follow a sync by minutes.
//!
//! What it cannot know is the same as for a copy: an account that became
//! one to refuse in Drupal within the window. The write's answer shows it
//! when Drupal sends the account back, and the bridge logs an error.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::marker::DeprovisionMarker;
use crate::drupal::{
    CollectionQuery, Condition, DrupalClient, DrupalError, Operator, SortKey, DRUPAL_PAGE_CAP,
};

/// Pages of the list read at most (50 ids each). A site with more
/// protected or deprovisioned accounts reads each account before a write,
/// as without the list: reading it whole every window would cost more
/// than it saves.
pub const MAX_PAGES: u16 = 10;

/// The list as last read.
#[derive(Debug, Clone)]
enum Snapshot {
    /// The ids (lower case) as Drupal held them at `at`.
    Read { at: Instant, ids: HashSet<String> },
    /// At `at` the list was longer than [`MAX_PAGES`], or could not be
    /// read: every write reads first until the window has passed.
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
    snapshot: Mutex<Option<Snapshot>>,
    /// One reader at a time: concurrent writes wait for its list.
    reading: tokio::sync::Mutex<()>,
    /// The anonymous account's id, which never changes once read.
    anonymous: tokio::sync::OnceCell<Option<String>>,
}

impl WriteGuard {
    pub fn new(window: Duration, protected_roles: Vec<String>) -> WriteGuard {
        WriteGuard {
            window,
            protected_roles,
            snapshot: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            anonymous: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether a write may go to the account `id` (lower case) without
    /// reading it first: it is on no list read less than the window ago.
    /// `false` when the window is 0, or the list is unusable.
    pub async fn clears(
        &self,
        id: &str,
        drupal: &DrupalClient,
        marker: &DeprovisionMarker,
    ) -> bool {
        if self.window.is_zero() {
            return false;
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
            Ok(Some(ids)) => Snapshot::Read { at, ids },
            Ok(None) => {
                tracing::info!(
                    pages = MAX_PAGES,
                    "more protected or deprovisioned accounts than the bridge reads in a list: writes read each account first"
                );
                Snapshot::Unusable { at }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the list of accounts to refuse cannot be read: writes read each account first");
                Snapshot::Unusable { at }
            }
        };
        *self.lock() = Some(snapshot);
        self.fresh(id).unwrap_or(false)
    }

    /// Puts an account the bridge found to be one to refuse, or made one
    /// (SCIM DELETE), on the list it holds.
    pub fn refuse(&self, id: &str) {
        let id = id.to_ascii_lowercase();
        let mut snapshot = self.lock();
        if let Some(Snapshot::Read { ids, .. }) = snapshot.as_mut() {
            ids.insert(id);
        }
    }

    /// The answer from a list read less than the window ago.
    fn fresh(&self, id: &str) -> Option<bool> {
        let snapshot = self.lock();
        let snapshot = snapshot
            .as_ref()
            .filter(|s| s.at().elapsed() < self.window)?;
        Some(match snapshot {
            Snapshot::Read { ids, .. } => !ids.contains(id),
            Snapshot::Unusable { .. } => false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Snapshot>> {
        self.snapshot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The list, or `None` when it is longer than [`MAX_PAGES`].
    async fn read(
        &self,
        drupal: &DrupalClient,
        marker: &DeprovisionMarker,
    ) -> Result<Option<HashSet<String>>, DrupalError> {
        let anonymous = self
            .anonymous
            .get_or_try_init(|| drupal.anonymous_account())
            .await?;
        let mut ids: HashSet<String> = anonymous.iter().cloned().collect();
        loop {
            match self.read_pages(drupal, marker).await {
                Err(e) if marker.absorb_missing_field(&e) => continue,
                Err(e) => return Err(e),
                Ok(None) => return Ok(None),
                Ok(Some(found)) => {
                    ids.extend(found);
                    return Ok(Some(ids));
                }
            }
        }
    }

    async fn read_pages(
        &self,
        drupal: &DrupalClient,
        marker: &DeprovisionMarker,
    ) -> Result<Option<Vec<String>>, DrupalError> {
        let query = CollectionQuery {
            filter: Some(refused_accounts(&self.protected_roles, marker.field())),
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
            ids.extend(page.users.iter().map(|u| u.id.to_ascii_lowercase()));
            let Some(next) = page.next_query.take() else {
                return Ok(Some(ids));
            };
            if read >= MAX_PAGES {
                return Ok(None);
            }
            page = drupal.next_users(&next).await?;
            read += 1;
        }
    }
}

/// uid 1, the holders of `protected_roles`, and the accounts the marker
/// `field` marks.
fn refused_accounts(protected_roles: &[String], marker: Option<&str>) -> Condition {
    let mut any = vec![Condition::field("drupal_internal__uid", Operator::Eq, "1")];
    if !protected_roles.is_empty() {
        any.push(Condition::Field {
            path: "roles.meta.drupal_internal__target_id".into(),
            op: Operator::In,
            values: protected_roles.to_vec(),
        });
    }
    if let Some(field) = marker {
        any.push(Condition::field(field, Operator::Eq, "1"));
    }
    Condition::any(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard_with(ids: &[&str], age: Duration) -> WriteGuard {
        let guard = WriteGuard::new(Duration::from_secs(10), vec!["administrator".into()]);
        *guard.lock() = Some(Snapshot::Read {
            at: Instant::now() - age,
            ids: ids.iter().map(|s| s.to_string()).collect(),
        });
        guard
    }

    #[test]
    fn a_fresh_list_clears_the_accounts_it_does_not_name() {
        let guard = guard_with(&["a"], Duration::ZERO);
        assert_eq!(guard.fresh("a"), Some(false));
        assert_eq!(guard.fresh("b"), Some(true));
    }

    #[test]
    fn a_list_older_than_the_window_answers_nothing() {
        let guard = guard_with(&["a"], Duration::from_secs(11));
        assert_eq!(guard.fresh("b"), None);
    }

    #[test]
    fn an_unusable_list_clears_nobody_until_the_window_passed() {
        let guard = WriteGuard::new(Duration::from_secs(10), Vec::new());
        *guard.lock() = Some(Snapshot::Unusable { at: Instant::now() });
        assert_eq!(guard.fresh("b"), Some(false));
        *guard.lock() = Some(Snapshot::Unusable {
            at: Instant::now() - Duration::from_secs(11),
        });
        assert_eq!(guard.fresh("b"), None);
    }

    #[test]
    fn an_account_found_to_refuse_joins_the_list() {
        let guard = guard_with(&[], Duration::ZERO);
        guard.refuse("B");
        assert_eq!(guard.fresh("b"), Some(false));
    }

    #[test]
    fn the_query_names_uid_1_the_protected_roles_and_the_marker() {
        let pairs = CollectionQuery {
            filter: Some(refused_accounts(
                &["administrator".into(), "auditor".into()],
                Some("field_scim_deprovisioned"),
            )),
            ..Default::default()
        }
        .to_pairs("user--user");
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let text = text.join("&");
        assert!(text.contains("OR"), "{text}");
        assert!(text.contains("drupal_internal__uid"), "{text}");
        assert!(
            text.contains("roles.meta.drupal_internal__target_id"),
            "{text}"
        );
        assert!(text.contains("=auditor"), "{text}");
        assert!(text.contains("field_scim_deprovisioned"), "{text}");
        let without = CollectionQuery {
            filter: Some(refused_accounts(&[], None)),
            ..Default::default()
        }
        .to_pairs("user--user");
        assert!(!without.iter().any(|(_, v)| v.contains("roles")));
    }
}
