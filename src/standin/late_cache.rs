//! Drupal's JSON:API normalization cache as it behaves under load.
//!
//! A GET stores each resource's normalization when its request ends, after
//! its answer was sent (`ResourceObjectNormalizationCacher::onTerminate`,
//! Drupal 10.2); a read served from the cache stores nothing. A GET that
//! ends after a write of the resource committed keeps the earlier values
//! past the write, and every later GET, individual or collection, shows
//! them until the resource is saved again. Off unless a test turns it on
//! (`StandInHandle::cache_normalizations_late`); on, it is the worst case:
//! every save that follows a read which normalized the resource afresh
//! leaves that read's copy to be served.

use std::collections::HashMap;

use serde_json::Value;

#[derive(Debug, Default)]
pub(crate) struct LateCache {
    /// Per resource UUID: its normalization as the latest read since its
    /// last save made it.
    read: HashMap<String, Value>,
    /// Per resource UUID: the copy served in its place until its next save.
    stale: HashMap<String, Value>,
}

impl LateCache {
    /// The answer to a read: each resource of `data` with a stale copy is
    /// answered with it; the others were normalized afresh. Included
    /// resources are normalized, and cached, alike.
    pub(crate) fn read(&mut self, body: &mut Value) {
        match body.get_mut("data") {
            Some(Value::Array(items)) => items.iter_mut().for_each(|item| self.item(item)),
            Some(item @ Value::Object(_)) => self.item(item),
            _ => {}
        }
        if let Some(Value::Array(items)) = body.get_mut("included") {
            items.iter_mut().for_each(|item| self.item(item));
        }
    }

    fn item(&mut self, item: &mut Value) {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            return;
        };
        let id = id.to_ascii_lowercase();
        match self.stale.get(&id) {
            Some(copy) => *item = copy.clone(),
            None => {
                self.read.insert(id, item.clone());
            }
        }
    }

    /// A save of the resource `id`: a read since its last save ends after
    /// it and stores its copy.
    pub(crate) fn saved(&mut self, id: &str) {
        let id = id.to_ascii_lowercase();
        match self.read.remove(&id) {
            Some(copy) => self.stale.insert(id, copy),
            None => self.stale.remove(&id),
        };
    }

    pub(crate) fn deleted(&mut self, id: &str) {
        let id = id.to_ascii_lowercase();
        self.read.remove(&id);
        self.stale.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_before_a_save_is_served_after_it_until_the_next_save() {
        let mut cache = LateCache::default();
        let fresh = |name: &str| json!({"data": {"id": "T1", "attributes": {"name": name}}});
        let mut answer = fresh("a");
        cache.read(&mut answer);
        cache.saved("t1");
        let mut answer = fresh("b");
        cache.read(&mut answer);
        assert_eq!(
            answer,
            fresh("a"),
            "the copy the read before the save stored"
        );
        let mut listed = json!({"data": [{"id": "t1", "attributes": {"name": "b"}}, {"id": "t2"}]});
        cache.read(&mut listed);
        assert_eq!(listed["data"][0]["attributes"]["name"], "a");
        assert_eq!(listed["data"][1], json!({"id": "t2"}));
        // A read served from the cache stores nothing: the next save
        // leaves none.
        cache.saved("t1");
        let mut answer = fresh("c");
        cache.read(&mut answer);
        assert_eq!(answer, fresh("c"));
        cache.deleted("t1");
        cache.saved("t1");
        let mut answer = fresh("d");
        cache.read(&mut answer);
        assert_eq!(answer, fresh("d"));
    }
}
