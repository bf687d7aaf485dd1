//! Accounts the bridge has just read from or written to Drupal, kept for a
//! few seconds. IdPs read an account and then write it (Entra looks it up by
//! `userName`, Okta GETs it before a PUT, and both add an account to its
//! groups right after creating it): a write that does not depend on the
//! account's values, or a membership change, can then skip reading it
//! again. Refusals (uid 1, protected-role holders, deprovisioned accounts)
//! are decided from Drupal's current state: an account whose copy shows one
//! is read again. Reads never come from here: every GET asks Drupal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::drupal::DrupalUser;

/// Accounts kept at most. IdPs write one account right after reading it, so
/// a small window suffices; past it the expired entries go, then all.
const CAPACITY: usize = 1024;

/// A list's accounts are remembered when it found this many or fewer: an
/// IdP's lookup by userName or externalId finds one, and remembering whole
/// pages would cost every listing a copy of each account for nothing.
pub const REMEMBERED_PER_LIST: usize = 10;

pub struct SeenAccounts {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<DrupalUser>)>>,
}

impl SeenAccounts {
    pub fn new(ttl: Duration) -> SeenAccounts {
        SeenAccounts {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The account as Drupal showed it less than the TTL ago.
    pub fn get(&self, id: &str) -> Option<Arc<DrupalUser>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, user)| user.clone())
    }

    /// Remembers an account from a complete Drupal answer (never a sparse
    /// fieldset: a write decided from it would miss the roles). Shared, not
    /// copied: this is on the path of every read.
    pub fn remember(&self, user: &Arc<DrupalUser>) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        // An account seen again (an IdP reading it before each write) keeps
        // its key: no copy of the id made, hashed and freed at once. The
        // copy it replaces is freed after the lock is let go.
        if let Some(entry) = entries.get_mut(&user.id) {
            let replaced = std::mem::replace(entry, (now, Arc::clone(user)));
            drop(entries);
            drop(replaced);
            return;
        }
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(user.id.clone(), (now, Arc::clone(user)));
    }

    /// The account changed in a way the bridge did not see the result of.
    pub fn forget(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn account(id: &str) -> Arc<DrupalUser> {
        let user = DrupalUser::from_resource(json!({"id": id, "attributes": {"name": id}}));
        Arc::new(user.expect("a resource"))
    }

    #[test]
    fn an_account_is_trusted_until_the_ttl_passes() {
        let seen = SeenAccounts::new(Duration::from_millis(50));
        seen.remember(&account("a"));
        assert_eq!(seen.get("a").map(|u| u.id.clone()), Some("a".to_string()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(seen.get("a").is_none());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing_and_forget_drops_one_account() {
        let off = SeenAccounts::new(Duration::ZERO);
        off.remember(&account("a"));
        assert!(off.get("a").is_none());

        let on = SeenAccounts::new(Duration::from_secs(60));
        on.remember(&account("a"));
        on.remember(&account("b"));
        on.forget("a");
        assert!(on.get("a").is_none());
        assert!(on.get("b").is_some());
    }

    #[test]
    fn an_account_seen_again_is_the_newer_copy_with_a_new_ttl() {
        let seen = SeenAccounts::new(Duration::from_millis(80));
        seen.remember(&account("a"));
        std::thread::sleep(Duration::from_millis(50));
        let newer = account("a");
        seen.remember(&newer);
        std::thread::sleep(Duration::from_millis(50));
        let kept = seen.get("a").expect("seen again 50 ms ago");
        assert!(Arc::ptr_eq(&kept, &newer));
        assert_eq!(seen.entries.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_full_cache_makes_room_and_keeps_the_newest_account() {
        let seen = SeenAccounts::new(Duration::from_secs(60));
        for i in 0..CAPACITY {
            seen.remember(&account(&i.to_string()));
        }
        seen.remember(&account("newest"));
        assert!(seen.get("newest").is_some());
        assert!(seen.entries.lock().expect("lock").len() <= CAPACITY);
    }
}
