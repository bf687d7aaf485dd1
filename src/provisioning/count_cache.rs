//! Core Drupal returns no total count, and counting walks every page of ids,
//! so a count is reused for a short, configured time. IdPs page through the
//! same query many times in a row; each page would otherwise count again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; the oldest is dropped past this.
const CAPACITY: usize = 256;

pub struct CountCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, usize)>>,
}

impl CountCache {
    pub fn new(ttl: Duration) -> CountCache {
        CountCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<usize> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, n)| *n)
    }

    pub fn put(&self, key: String, count: usize) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    entries.remove(&k);
                }
            }
            entries.insert(key, (Instant::now(), count));
        }
    }

    /// Any write can change any count; IdPs write, then list again.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
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
