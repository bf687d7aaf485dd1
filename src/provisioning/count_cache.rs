//! Core Drupal returns no total count, and counting walks every page of ids,
//! so a count is reused for a short, configured time. IdPs page through the
//! same query many times in a row; each page would otherwise count again.
//!
//! Concurrent lists of one filter share one count (single flight): the
//! first computes it, the others wait for its result, which they share
//! whether it is a count or Drupal's failure. A count that a write may have
//! made stale (it began before a `clear`) is handed to those waiting for it
//! but not kept, and a list arriving after the `clear` counts afresh.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::drupal::DrupalError;

/// What a count in flight ends with.
type Outcome = Option<Result<usize, DrupalError>>;

/// Entries kept at most; the oldest is dropped past this.
const CAPACITY: usize = 256;

pub struct CountCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, (Instant, usize)>,
    /// Counts being computed, by key.
    flights: HashMap<String, watch::Receiver<Outcome>>,
    /// How many times `clear` ran.
    clears: u64,
}

/// What a list asking for a count does.
pub enum Turn<'a> {
    /// Counted less than the TTL ago.
    Known(usize),
    /// Another list is counting: wait for its outcome with [`Turn::wait`].
    Wait(watch::Receiver<Outcome>),
    /// Count, and hand the outcome to [`Flight::land`].
    Count(Flight<'a>),
}

/// The count this list computes for others too. Dropped without landing
/// (the list was cancelled), the lists waiting for it ask again.
pub struct Flight<'a> {
    cache: &'a CountCache,
    key: String,
    clears: u64,
    sender: watch::Sender<Outcome>,
}

impl Flight<'_> {
    /// Shares the outcome with the lists waiting for it and keeps a
    /// count no write may have made stale.
    pub fn land(self, outcome: Result<usize, DrupalError>) -> Result<usize, DrupalError> {
        {
            let mut state = self.cache.lock();
            if let Ok(n) = &outcome {
                if state.clears == self.clears && !self.cache.ttl.is_zero() {
                    state.keep(self.key.clone(), *n);
                }
            }
        }
        self.sender.send_replace(Some(outcome.clone()));
        outcome
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut state = self.cache.lock();
        let own = state
            .flights
            .get(&self.key)
            .is_some_and(|receiver| receiver.same_channel(&self.sender.subscribe()));
        if own {
            state.flights.remove(&self.key);
        }
    }
}

impl Turn<'_> {
    /// The outcome of the count waited for; `None` when the list counting
    /// went away first (ask again).
    pub async fn wait(mut receiver: watch::Receiver<Outcome>) -> Outcome {
        match receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

impl State {
    fn keep(&mut self, key: String, count: usize) {
        if self.entries.len() >= CAPACITY && !self.entries.contains_key(&key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(key, (Instant::now(), count));
    }
}

impl CountCache {
    pub fn new(ttl: Duration) -> CountCache {
        CountCache {
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The count of `key` if known, else the count in flight to wait for,
    /// else the duty to count.
    pub fn turn(&self, key: &str) -> Turn<'_> {
        let mut state = self.lock();
        if let Some((at, n)) = state.entries.get(key) {
            if at.elapsed() < self.ttl {
                return Turn::Known(*n);
            }
        }
        if let Some(receiver) = state.flights.get(key) {
            return Turn::Wait(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        let clears = state.clears;
        state.flights.insert(key.to_string(), receiver);
        Turn::Count(Flight {
            cache: self,
            key: key.to_string(),
            clears,
            sender,
        })
    }

    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<usize> {
        match self.turn(key) {
            Turn::Known(n) => Some(n),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn put(&self, key: String, count: usize) {
        if let Turn::Count(flight) = self.turn(&key) {
            let _ = flight.land(Ok(count));
        }
    }

    /// Any write can change any count; IdPs write, then list again. Counts
    /// in flight are not kept, and lists arriving now do not wait for them.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.flights.clear();
        state.clears += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_reused_until_they_expire() {
        let cache = CountCache::new(Duration::from_millis(50));
        cache.put("q".into(), 7);
        assert_eq!(cache.get("q"), Some(7));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("q"), None);
    }

    #[tokio::test]
    async fn concurrent_counts_of_one_key_share_one_flight() {
        let cache = CountCache::new(Duration::from_secs(60));
        let Turn::Count(flight) = cache.turn("q") else {
            panic!("the first counts")
        };
        let Turn::Wait(waiting) = cache.turn("q") else {
            panic!("the second waits")
        };
        assert!(matches!(cache.turn("other"), Turn::Count(_)));
        let (landed, shared) = tokio::join!(async { flight.land(Ok(7)) }, Turn::wait(waiting));
        assert_eq!(landed.unwrap(), 7);
        assert_eq!(shared.unwrap().unwrap(), 7);
        assert_eq!(cache.get("q"), Some(7));

        // A failure is shared too, and not kept.
        cache.clear();
        let Turn::Count(flight) = cache.turn("q") else {
            panic!()
        };
        let Turn::Wait(waiting) = cache.turn("q") else {
            panic!()
        };
        let _ = flight.land(Err(DrupalError::Timeout));
        assert!(matches!(
            Turn::wait(waiting).await,
            Some(Err(DrupalError::Timeout))
        ));
        assert!(matches!(cache.turn("q"), Turn::Count(_)));
    }

    #[tokio::test]
    async fn a_count_begun_before_a_write_is_not_kept_and_an_abandoned_one_is_asked_again() {
        let cache = CountCache::new(Duration::from_secs(60));
        let Turn::Count(stale) = cache.turn("q") else {
            panic!()
        };
        cache.clear();
        let Turn::Count(fresh) = cache.turn("q") else {
            panic!("a list after the write does not wait for the older count")
        };
        let _ = stale.land(Ok(1));
        assert!(
            matches!(cache.turn("q"), Turn::Wait(_)),
            "the fresh one flies"
        );
        let Turn::Wait(waiting) = cache.turn("q") else {
            panic!()
        };
        drop(fresh);
        assert!(Turn::wait(waiting).await.is_none());
        assert!(matches!(cache.turn("q"), Turn::Count(_)));
        assert_eq!(cache.get("q"), None, "the stale count was not kept");
    }

    #[test]
    fn a_zero_ttl_caches_nothing_and_clear_forgets() {
        let off = CountCache::new(Duration::ZERO);
        off.put("q".into(), 1);
        assert_eq!(off.get("q"), None);
        let on = CountCache::new(Duration::from_secs(60));
        on.put("q".into(), 1);
        on.clear();
        assert_eq!(on.get("q"), None);
    }
}
