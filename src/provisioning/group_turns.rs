//! Turns on one group for SCIM changes of it.
//!
//! A change that depends on the group's whole state holds the group to
//! itself from its check to its last write: a PUT (the members it names
//! become the members), a DELETE, and any write conditional on a version
//! (`If-Match`), so that two writes conditional on one version cannot both
//! pass (RFC 7644 §3.14). A PATCH without a condition adds or removes the
//! members it names whatever the others are, and shares the group with
//! other such PATCHes: an identity provider adding a thousand users to a
//! group, one PATCH each at once (Entra ID), is not made to queue.
//!
//! The table holds an entry only while a change holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

#[derive(Debug, Default)]
pub struct GroupTurns {
    table: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// How a change holds a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Beside other shared holders.
    Shared,
    /// Alone.
    Exclusive,
}

/// A group held; dropping it lets the next change in.
#[must_use = "the group is let go when this is dropped"]
pub struct GroupTurn<'a> {
    turns: &'a GroupTurns,
    key: String,
    guard: Option<Guard>,
}

enum Guard {
    // Held only to be dropped.
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

impl GroupTurns {
    /// Waits for the group `id` (in any case) as `hold` asks.
    pub async fn hold(&self, id: &str, hold: Hold) -> GroupTurn<'_> {
        let key = id.to_ascii_lowercase();
        let lock = self
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let guard = match hold {
            Hold::Shared => Guard::Shared(lock.read_owned().await),
            Hold::Exclusive => Guard::Exclusive(lock.write_owned().await),
        };
        GroupTurn {
            turns: self,
            key,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for GroupTurn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut table = self
            .turns
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Nobody else holds or waits: only the table has the lock.
        if table
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            table.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn shared_holders_run_together_and_an_exclusive_one_alone() {
        let turns = GroupTurns::default();
        let a = turns.hold("G", Hold::Shared).await;
        let b = tokio::time::timeout(Duration::from_millis(50), turns.hold("g", Hold::Shared))
            .await
            .expect("a second shared holder does not wait");
        let exclusive =
            tokio::time::timeout(Duration::from_millis(50), turns.hold("g", Hold::Exclusive)).await;
        assert!(
            exclusive.is_err(),
            "an exclusive holder waits for shared ones"
        );
        let other =
            tokio::time::timeout(Duration::from_millis(50), turns.hold("h", Hold::Exclusive))
                .await
                .expect("another group does not wait");
        drop((a, b, other));
        let alone = turns.hold("g", Hold::Exclusive).await;
        let shared =
            tokio::time::timeout(Duration::from_millis(50), turns.hold("g", Hold::Shared)).await;
        assert!(
            shared.is_err(),
            "a shared holder waits for an exclusive one"
        );
        drop(alone);
        assert_eq!(turns.len(), 0, "nothing is kept once let go");
    }
}
