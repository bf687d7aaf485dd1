//! One write at a time to each Drupal account.
//!
//! Drupal's JSON:API PATCH of a user and its `/relationships/<field>`
//! POST, PATCH and DELETE each load the whole user entity, change it and
//! save it whole. Two such writes to one account at once overwrite each
//! other (the last save wins on every field, the other's change is lost
//! though both answered 2xx), or Drupal's EntityChanged constraint refuses
//! one. Drupal offers no lock, so the client takes one of its own: a write
//! to an account waits until the previous write to it has finished.
//! Writes to different accounts do not wait for each other.
//!
//! A caller that decided a write from an account read before its turn
//! asks whether another turn on that account ended since the read
//! ([`AccountLocks::stamp`], [`AccountGuard::changed_since`]), and reads
//! it again only then: the common case, nobody else writing the account,
//! costs no read. The table of ended turns keeps each account's last one
//! for a while (bounded; a read older than what it forgot counts as
//! changed).
//!
//! The table holds an entry only while some write holds or waits for the
//! account, so it never grows past the writes in progress. The common case
//! (no other write to that account in progress) allocates nothing: the key
//! of a UUID is its 128 bits, and an entry without waiters is an empty
//! queue. Only a write that must wait allocates, for its wake-up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Above this many slots, an emptied table gives its memory back (after a
/// burst of writes to many accounts at once).
const KEPT_CAPACITY: usize = 1024;

/// An account, as its id compares in Drupal: a UUID in any case is the
/// same account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum AccountKey {
    Uuid(u128),
    /// An id that is not a UUID (Drupal would not find it), lowercased.
    Other(Box<str>),
}

impl AccountKey {
    fn of(id: &str) -> AccountKey {
        match uuid::Uuid::try_parse(id) {
            Ok(uuid) => AccountKey::Uuid(uuid.as_u128()),
            Err(_) => AccountKey::Other(id.to_ascii_lowercase().into_boxed_str()),
        }
    }
}

/// The accounts being written now, each with the writes waiting for it in
/// arrival order.
#[derive(Debug, Default)]
pub struct AccountLocks {
    table: Mutex<HashMap<AccountKey, VecDeque<oneshot::Sender<()>>>>,
    ended: Mutex<Ended>,
}

/// Accounts whose last turn ended recently, kept at most (then those
/// ended more than `ENDED_KEPT` ago go, or all).
const ENDED_CAPACITY: usize = 8192;
const ENDED_KEPT: Duration = Duration::from_secs(60);

/// The turns ended, numbered in order.
#[derive(Debug, Default)]
struct Ended {
    count: u64,
    /// Each account's last turn ended, by number, and when.
    last: HashMap<AccountKey, (u64, Instant)>,
    /// The highest number of a turn no longer in `last`.
    forgotten: u64,
}

impl Ended {
    fn since(&self, key: &AccountKey, stamp: Stamp) -> bool {
        stamp.0 < self.forgotten || self.last.get(key).is_some_and(|(n, _)| *n > stamp.0)
    }
}

/// A moment in the history of an [`AccountLocks`]' turns: taken before a
/// read, it tells whether an account's turn ended after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(u64);

/// The right to write one account; dropping it lets the next write in.
#[must_use = "the account is unlocked when this is dropped"]
#[derive(Debug)]
pub struct AccountGuard<'a> {
    locks: &'a AccountLocks,
    key: AccountKey,
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        self.locks.end(&self.key);
        self.locks.release(&self.key);
    }
}

impl AccountGuard<'_> {
    /// Whether another turn on this account ended after `stamp`: what was
    /// read of it before may be out of date.
    pub fn changed_since(&self, stamp: Stamp) -> bool {
        self.locks.ended_table().since(&self.key, stamp)
    }
}

/// A write waiting for its turn. Dropped before it got it (its request
/// was cancelled), it leaves the queue; dropped just after being handed
/// the account, it hands it on.
struct Waiter<'a> {
    locks: &'a AccountLocks,
    key: Option<AccountKey>,
    turn: oneshot::Receiver<()>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        // After `close`, no turn can be handed here any more; one handed
        // before is still there to be taken.
        self.turn.close();
        if self.turn.try_recv().is_ok() {
            self.locks.release(&key);
        }
    }
}

/// The lock tables in use, by Drupal site: every client of one site (the
/// sites of a `sites:` configuration that share a Drupal, a client rebuilt
/// by a reload while the old one finishes) takes its accounts' turns in
/// one table, as Drupal saves them in one database.
static SHARED: Mutex<Vec<(String, Weak<AccountLocks>)>> = Mutex::new(Vec::new());

impl AccountLocks {
    /// The table of the Drupal site at `base_url` (compared without a
    /// trailing slash and ignoring the case of scheme and host), shared by
    /// every client of that site in this process.
    pub fn shared(base_url: &str) -> Arc<AccountLocks> {
        AccountLocks::shared_in("writes", base_url)
    }

    /// Another table of the Drupal site at `base_url`, for turns of
    /// another kind (`scope`): one caller's change of an account, from its
    /// read to its last write, takes a turn in its own table, as its
    /// writes take theirs here; one table for both would deadlock.
    pub fn shared_in(scope: &str, base_url: &str) -> Arc<AccountLocks> {
        shared_per_key(&SHARED, format!("{scope} {}", site_key(base_url)))
    }

    fn table(&self) -> MutexGuard<'_, HashMap<AccountKey, VecDeque<oneshot::Sender<()>>>> {
        // The table is consistent between statements: a panic elsewhere
        // while it was held leaves nothing half done.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other write to `account` (a user's UUID, in any
    /// case) is in progress, then holds it until the guard is dropped.
    /// Writes to one account get their turn in the order they asked.
    pub async fn lock(&self, account: &str) -> AccountGuard<'_> {
        let mut key = AccountKey::of(account);
        loop {
            let turn = {
                let mut table = self.table();
                match table.get_mut(&key) {
                    None => {
                        table.insert(key.clone(), VecDeque::new());
                        return AccountGuard { locks: self, key };
                    }
                    Some(queue) => {
                        let (hand, turn) = oneshot::channel();
                        queue.push_back(hand);
                        turn
                    }
                }
            };
            let mut waiter = Waiter {
                locks: self,
                key: Some(key),
                turn,
            };
            let handed = (&mut waiter.turn).await.is_ok();
            key = waiter.key.take().unwrap_or_else(|| AccountKey::of(account));
            if handed {
                return AccountGuard { locks: self, key };
            }
            // The turn was dropped unhanded, which `release` never does;
            // were it to, asking again is still right.
        }
    }

    /// Hands the account to the first write still waiting for it, or
    /// removes its entry when none is.
    fn release(&self, key: &AccountKey) {
        let mut table = self.table();
        let Some(queue) = table.get_mut(key) else {
            return;
        };
        while let Some(next) = queue.pop_front() {
            // Fails only when that write was cancelled while waiting.
            if next.send(()).is_ok() {
                return;
            }
        }
        table.remove(key);
        if table.is_empty() && table.capacity() > KEPT_CAPACITY {
            table.shrink_to_fit();
        }
    }

    /// Accounts with a write in progress now.
    pub fn held(&self) -> usize {
        self.table().len()
    }

    fn ended_table(&self) -> MutexGuard<'_, Ended> {
        self.ended.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Now, in the history of turns: take it before reading an account.
    pub fn stamp(&self) -> Stamp {
        Stamp(self.ended_table().count)
    }

    /// Whether `account` is held now, or a turn on it ended after `stamp`.
    pub fn changed_since(&self, account: &str, stamp: Stamp) -> bool {
        let key = AccountKey::of(account);
        self.table().contains_key(&key) || self.ended_table().since(&key, stamp)
    }

    /// Records the end of a turn on `key`.
    fn end(&self, key: &AccountKey) {
        let mut ended = self.ended_table();
        ended.count += 1;
        let number = ended.count;
        let now = Instant::now();
        if ended.last.len() >= ENDED_CAPACITY && !ended.last.contains_key(key) {
            let mut forgotten = ended.forgotten;
            ended.last.retain(|_, (n, at)| {
                let keep = now.duration_since(*at) < ENDED_KEPT;
                if !keep {
                    forgotten = forgotten.max(*n);
                }
                keep
            });
            if ended.last.len() >= ENDED_CAPACITY {
                forgotten = number - 1;
                ended.last.clear();
            }
            ended.forgotten = forgotten;
        }
        ended.last.insert(key.clone(), (number, now));
    }
}

/// The account a request to `path` saves, when it saves one: a PATCH or
/// DELETE of `/jsonapi/user/user/{id}`, and any write under
/// `/jsonapi/user/user/{id}/relationships/`. Reads save nothing, nor does
/// a POST to the collection, which creates an account no one else knows.
pub(crate) fn account_written<'a>(method: &reqwest::Method, path: &'a str) -> Option<&'a str> {
    if matches!(*method, reqwest::Method::GET | reqwest::Method::HEAD) {
        return None;
    }
    let rest = path.strip_prefix(super::USERS)?.strip_prefix('/')?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|id| !id.is_empty())
}

/// The value kept under `key` in `registry` while anything holds it, or a
/// new one: what the sites of this process in front of one Drupal share.
/// Held weakly, so that a site gone with a reload takes its share along.
pub(crate) fn shared_per_key<T: Default>(
    registry: &Mutex<Vec<(String, Weak<T>)>>,
    key: String,
) -> Arc<T> {
    let mut shared = registry.lock().unwrap_or_else(PoisonError::into_inner);
    shared.retain(|(_, value)| value.strong_count() > 0);
    if let Some(value) = shared
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, value)| value.upgrade())
    {
        return value;
    }
    let value = Arc::new(T::default());
    shared.push((key, Arc::downgrade(&value)));
    value
}

/// `base_url` as two clients of one site may spell it differently.
pub(crate) fn site_key(base_url: &str) -> String {
    let url = base_url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            format!(
                "{}://{}/{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use reqwest::Method;

    use super::*;

    const ID: &str = "5b0c1e8e-0b49-4bd4-9b1b-53c3e38c0a4c";
    const OTHER: &str = "0c1e8e5b-0b49-4bd4-9b1b-53c3e38c0a4c";

    /// Whether `future` is still pending after the runtime has had time to
    /// run everything else.
    async fn still_waiting<F: std::future::Future>(future: &mut std::pin::Pin<Box<F>>) -> bool {
        tokio::time::timeout(Duration::from_millis(30), future.as_mut())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_second_write_to_the_same_account_waits_for_the_first() {
        let locks = AccountLocks::default();
        let first = locks.lock(ID).await;
        let mut second = Box::pin(locks.lock(ID));
        assert!(still_waiting(&mut second).await);
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), second)
            .await
            .expect("handed on when the first is done");
        assert_eq!(locks.held(), 1);
        drop(second);
        assert_eq!(locks.held(), 0);
    }

    #[tokio::test]
    async fn a_turn_ended_after_a_stamp_shows_on_that_account_only() {
        let locks = AccountLocks::default();
        let before = locks.stamp();
        drop(locks.lock(ID).await);
        let after = locks.stamp();
        let guard = locks.lock(&ID.to_ascii_uppercase()).await;
        assert!(guard.changed_since(before), "a turn ended since");
        assert!(!guard.changed_since(after), "none since");
        assert!(locks.changed_since(ID, after), "held now");
        drop(guard);
        assert!(!locks.changed_since(OTHER, before), "another account");
        let mine = locks.lock(OTHER).await;
        assert!(!mine.changed_since(before), "its own turn is not another's");
    }

    #[test]
    fn a_full_table_of_ended_turns_forgets_and_counts_what_it_forgot_as_changed() {
        let locks = AccountLocks::default();
        let early = locks.stamp();
        for i in 0..ENDED_CAPACITY as u128 {
            locks.end(&AccountKey::Uuid(i));
        }
        let late = locks.stamp();
        locks.end(&AccountKey::Uuid(u128::MAX));
        let ended = locks.ended_table();
        assert!(ended.last.len() <= ENDED_CAPACITY);
        assert!(
            ended.since(&AccountKey::Uuid(7), early),
            "forgotten: changed"
        );
        assert!(!ended.since(&AccountKey::Uuid(7), late));
        assert!(ended.since(&AccountKey::Uuid(u128::MAX), late));
    }

    #[tokio::test]
    async fn writes_to_different_accounts_do_not_wait() {
        let locks = AccountLocks::default();
        let _first = locks.lock(ID).await;
        let other = tokio::time::timeout(Duration::from_millis(100), locks.lock(OTHER)).await;
        assert!(other.is_ok());
        assert_eq!(locks.held(), 2);
    }

    #[tokio::test]
    async fn a_uuid_is_the_same_account_in_any_case() {
        let locks = AccountLocks::default();
        let _first = locks.lock(ID).await;
        let upper_id = ID.to_ascii_uppercase();
        let mut upper = Box::pin(locks.lock(&upper_id));
        assert!(still_waiting(&mut upper).await);
        let odd = locks.lock("Not-A-UUID").await;
        let mut lower = Box::pin(locks.lock("not-a-uuid"));
        assert!(still_waiting(&mut lower).await);
        drop(odd);
        assert!(tokio::time::timeout(Duration::from_secs(1), lower)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn entries_go_away_when_no_one_holds_or_waits() {
        let locks = AccountLocks::default();
        drop(locks.lock(ID).await);
        assert_eq!(locks.held(), 0);
        // Held, with a waiter that is cancelled: the holder's release
        // finds no one left and removes the entry.
        let first = locks.lock(ID).await;
        let mut cancelled = Box::pin(locks.lock(ID));
        assert!(still_waiting(&mut cancelled).await);
        drop(cancelled);
        drop(first);
        assert_eq!(locks.held(), 0);
        // A waiter cancelled after it was handed the account, before it
        // ran: it hands the account on to the next.
        let first = locks.lock(ID).await;
        let mut handed = Box::pin(locks.lock(ID));
        assert!(still_waiting(&mut handed).await);
        let mut third = Box::pin(locks.lock(ID));
        assert!(still_waiting(&mut third).await);
        drop(first);
        drop(handed);
        let third = tokio::time::timeout(Duration::from_secs(1), third)
            .await
            .expect("handed on by the cancelled waiter");
        drop(third);
        assert_eq!(locks.held(), 0);
    }

    #[tokio::test]
    async fn waiting_writes_get_their_turn_in_arrival_order_one_at_a_time() {
        let locks = Arc::new(AccountLocks::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let first = locks.lock(ID).await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (locks, order, inside) = (locks.clone(), order.clone(), inside.clone());
            tasks.push(tokio::spawn(async move {
                let _guard = locks.lock(ID).await;
                use std::sync::atomic::Ordering::SeqCst;
                assert_eq!(inside.fetch_add(1, SeqCst), 0, "one write at a time");
                tokio::time::sleep(Duration::from_millis(2)).await;
                order.lock().unwrap().push(i);
                inside.fetch_sub(1, SeqCst);
            }));
            // Each is waiting before the next comes.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
        assert_eq!(locks.held(), 0);
    }

    #[test]
    fn the_written_account_is_read_from_user_write_paths_only() {
        let user = format!("/jsonapi/user/user/{ID}");
        let roles = format!("/jsonapi/user/user/{ID}/relationships/roles");
        let groups = format!("/jsonapi/user/user/{ID}/relationships/field_scim_groups");
        for method in [Method::PATCH, Method::DELETE] {
            assert_eq!(account_written(&method, &user), Some(ID), "{method}");
        }
        for method in [Method::POST, Method::PATCH, Method::DELETE] {
            assert_eq!(account_written(&method, &roles), Some(ID), "{method}");
            assert_eq!(account_written(&method, &groups), Some(ID), "{method}");
        }
        assert_eq!(account_written(&Method::GET, &user), None);
        assert_eq!(account_written(&Method::GET, &roles), None);
        assert_eq!(account_written(&Method::POST, "/jsonapi/user/user"), None);
        assert_eq!(account_written(&Method::POST, "/jsonapi/user/user/"), None);
        assert_eq!(
            account_written(&Method::PATCH, "/jsonapi/taxonomy_term/scim_groups/x"),
            None
        );
        assert_eq!(
            account_written(&Method::PATCH, "/jsonapi/user/users/x"),
            None
        );
        assert_eq!(
            account_written(&Method::PATCH, &format!("{user}?include=roles")),
            Some(ID)
        );
    }

    #[tokio::test]
    async fn clients_of_one_site_share_one_table_and_other_sites_do_not() {
        let a = AccountLocks::shared("https://Drupal.Example.org/");
        let b = AccountLocks::shared("https://drupal.example.org");
        let other = AccountLocks::shared("https://drupal.example.org/sub");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        let id = "6f0f8b59-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
        let held = a.lock(id).await;
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), b.lock(id))
            .await
            .is_err();
        assert!(waited, "a write through the other client waits");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), other.lock(id))
                .await
                .is_ok(),
            "another site's account of that id does not"
        );
        drop(held);
        drop((a, b));
        // Gone with its last client: a new one starts empty.
        let fresh = AccountLocks::shared("https://drupal.example.org");
        assert!(fresh.table().is_empty());
    }
}
