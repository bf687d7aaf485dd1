//! The accounts this process deprovisioned (SCIM DELETE) a moment ago.
//!
//! A group member change reads its members, then writes each one's role or
//! term reference. A DELETE of one of them landing in between strips the
//! account's roles and terms, and the member write after it would hand one
//! back to an account gone for SCIM: blocked now, but carrying the access
//! into a later reactivation, and invisible in every member list. Both take
//! the account's turn (`Provisioner::user_turns`) for their writes, and a
//! member addition that gets its turn after such a DELETE finds the account
//! here and leaves it out, as it would had the DELETE come first.
//!
//! Kept only as long as a member change may take from its read to its
//! writes; a reactivation (a create reviving the account) takes it off.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longer than a member change takes from its read to its last write
/// (Drupal's timeouts and retries included).
const KEPT: Duration = Duration::from_secs(600);

/// Above this many entries, a mark first drops the expired ones.
const PRUNE_ABOVE: usize = 1024;

#[derive(Debug, Default)]
pub struct RecentlyDeprovisioned {
    at: Mutex<HashMap<String, Instant>>,
}

impl RecentlyDeprovisioned {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account `id` is being deprovisioned.
    pub fn mark(&self, id: &str) {
        let mut table = self.table();
        if table.len() > PRUNE_ABOVE {
            table.retain(|_, at| at.elapsed() < KEPT);
        }
        table.insert(id.to_ascii_lowercase(), Instant::now());
    }

    /// The account `id` is back (a create revived it).
    pub fn clear(&self, id: &str) {
        self.table().remove(&id.to_ascii_lowercase());
    }

    /// Whether `id` was deprovisioned by this process lately.
    pub fn contains(&self, id: &str) -> bool {
        self.table()
            .get(&id.to_ascii_lowercase())
            .is_some_and(|at| at.elapsed() < KEPT)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_accounts_are_found_in_any_case_until_cleared() {
        let recent = RecentlyDeprovisioned::default();
        recent.mark("ABC-1");
        assert!(recent.contains("abc-1"));
        assert!(!recent.contains("abc-2"));
        recent.clear("abc-1");
        assert!(!recent.contains("ABC-1"));
    }

    #[test]
    fn expired_marks_are_dropped_when_the_table_grows() {
        let recent = RecentlyDeprovisioned::default();
        for n in 0..=PRUNE_ABOVE {
            recent.mark(&n.to_string());
        }
        // Backdate every mark past the time kept.
        for at in recent.table().values_mut() {
            *at = Instant::now().checked_sub(KEPT * 2).unwrap_or(*at);
        }
        recent.mark("new");
        assert_eq!(recent.len(), 1);
        assert!(recent.contains("new"));
    }
}
