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
//!
//! A DELETE whose write Drupal refused, or that certainly never reached
//! it, leaves no mark: the account is as it was, and a member addition must
//! reach it. A DELETE whose outcome is unknown (a timeout after the request
//! was sent, a lost answer) leaves an unsure mark: a member addition then
//! reads the account under its turn, and the mark goes when that read shows
//! the account active and not marked deprovisioned (the write did not land),
//! or becomes sure when it does not.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longer than a member change takes from its read to its last write
/// (Drupal's timeouts and retries included).
const KEPT: Duration = Duration::from_secs(600);

/// Above this many entries, a mark first drops the expired ones.
const PRUNE_ABOVE: usize = 1024;

/// What the table says of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// SCIM DELETE deprovisioned it (its write succeeded), or one is under
    /// way (under the account's turn, which no member write then has).
    Sure,
    /// A SCIM DELETE's write may or may not have landed: read the account.
    Unsure,
}

#[derive(Debug, Default)]
pub struct RecentlyDeprovisioned {
    at: Mutex<HashMap<String, (Instant, Mark)>>,
}

impl RecentlyDeprovisioned {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Mark)>> {
        self.at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account `id` is being deprovisioned.
    pub fn mark(&self, id: &str) {
        self.set(id, Mark::Sure);
    }

    /// The account `id`'s deprovisioning write ended without saying
    /// whether Drupal carried it out.
    pub fn mark_unsure(&self, id: &str) {
        self.set(id, Mark::Unsure);
    }

    fn set(&self, id: &str, mark: Mark) {
        let mut table = self.table();
        if table.len() > PRUNE_ABOVE {
            table.retain(|_, (at, _)| at.elapsed() < KEPT);
        }
        table.insert(id.to_ascii_lowercase(), (Instant::now(), mark));
    }

    /// The account `id` is back (a create revived it), or was never gone
    /// (Drupal refused the DELETE's write, or a read shows it active).
    pub fn clear(&self, id: &str) {
        self.table().remove(&id.to_ascii_lowercase());
    }

    /// What this process knows of `id` being deprovisioned lately.
    pub fn state(&self, id: &str) -> Option<Mark> {
        self.table()
            .get(&id.to_ascii_lowercase())
            .filter(|(at, _)| at.elapsed() < KEPT)
            .map(|(_, mark)| *mark)
    }

    /// Whether `id` was (surely) deprovisioned by this process lately.
    #[cfg(test)]
    pub fn contains(&self, id: &str) -> bool {
        self.state(id) == Some(Mark::Sure)
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
    fn an_unsure_mark_is_told_apart() {
        let recent = RecentlyDeprovisioned::default();
        recent.mark("a");
        recent.mark_unsure("a");
        assert_eq!(recent.state("A"), Some(Mark::Unsure));
        assert!(!recent.contains("a"));
        recent.clear("a");
        assert_eq!(recent.state("a"), None);
    }

    #[test]
    fn expired_marks_are_dropped_when_the_table_grows() {
        let recent = RecentlyDeprovisioned::default();
        for n in 0..=PRUNE_ABOVE {
            recent.mark(&n.to_string());
        }
        // Backdate every mark past the time kept.
        for (at, _) in recent.table().values_mut() {
            *at = Instant::now().checked_sub(KEPT * 2).unwrap_or(*at);
        }
        recent.mark("new");
        assert_eq!(recent.len(), 1);
        assert!(recent.contains("new"));
    }
}
