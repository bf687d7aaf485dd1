//! The site's roles, cached: they change rarely, and a Drupal request per
//! SCIM request only to learn role UUIDs would double the cost of group
//! work. Entries live for a TTL; a lookup that misses refreshes once (a
//! role created in Drupal meanwhile), at most every `MISS_REFRESH_GAP`.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::{DrupalClient, DrupalError, DrupalRole};

/// A miss refreshes the cache only when it is at least this old, so that
/// lookups of a name that does not exist cannot hammer Drupal.
const MISS_REFRESH_GAP: Duration = Duration::from_secs(5);

pub struct RoleCache {
    ttl: Duration,
    fetched: RwLock<Option<(Instant, Arc<Vec<DrupalRole>>)>>,
    /// Held while fetching: one request for all waiting callers.
    refresh: tokio::sync::Mutex<()>,
}

impl RoleCache {
    pub fn new(ttl: Duration) -> RoleCache {
        RoleCache {
            ttl,
            fetched: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self, max_age: Duration) -> Option<Arc<Vec<DrupalRole>>> {
        let fetched = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        fetched
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, roles)| roles.clone())
    }

    /// Every role, from the cache while it is younger than the TTL.
    pub async fn all(&self, client: &DrupalClient) -> Result<Arc<Vec<DrupalRole>>, DrupalError> {
        self.younger_than(client, self.ttl).await
    }

    /// The role with this machine name; a miss refreshes the cache once.
    pub async fn by_machine_name(
        &self,
        client: &DrupalClient,
        machine_name: &str,
    ) -> Result<Option<DrupalRole>, DrupalError> {
        let find = |roles: &[DrupalRole]| {
            roles
                .iter()
                .find(|r| r.machine_name == machine_name)
                .cloned()
        };
        if let Some(role) = find(&self.all(client).await?) {
            return Ok(Some(role));
        }
        let gap = MISS_REFRESH_GAP.min(self.ttl);
        Ok(find(&self.younger_than(client, gap).await?))
    }

    async fn younger_than(
        &self,
        client: &DrupalClient,
        max_age: Duration,
    ) -> Result<Arc<Vec<DrupalRole>>, DrupalError> {
        if let Some(roles) = self.fresh(max_age) {
            return Ok(roles);
        }
        let _flight = self.refresh.lock().await;
        if let Some(roles) = self.fresh(max_age) {
            return Ok(roles);
        }
        let roles = Arc::new(client.list_roles().await?);
        *self.fetched.write().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), roles.clone()));
        Ok(roles)
    }
}
