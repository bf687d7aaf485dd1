//! The Drupal account the bridge itself logs in as. Blocking it, taking its
//! roles or renaming it would lock the bridge out of Drupal, so no SCIM
//! write may reach it, as for uid 1.
//!
//! Under `session` and `basic` the configuration names it
//! (`drupal.auth.username`), and the bridge knows it by that name, which
//! Drupal compares ignoring case at login. Under `oauth2` the
//! configuration names only the OAuth2 client, whose consumer names the
//! account in Drupal: the bridge asks Drupal who it runs as (`GET
//! /jsonapi`, its `meta.links.me`) once, before its first write, and
//! knows the account by its UUID from then on.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OnceCell;

use crate::drupal::settings::DrupalAuth;
use crate::drupal::{DrupalClient, DrupalError, DrupalUser};
use crate::scim::caseless;

/// How the bridge's own account is known: the one this site logs in as,
/// and those of every other site of this process in front of the same
/// Drupal. A site's identity provider blocking another site's account
/// would lock that site out as surely as its own.
#[derive(Debug, Clone)]
pub struct OwnAccount {
    own: Arc<Account>,
    /// Every site's account on this Drupal, this one's included.
    neighbours: Arc<Neighbours>,
}

#[derive(Debug)]
struct Account {
    /// The name it logs in with, when the configuration gives one.
    name: Option<String>,
    /// Its UUID (lower case), once Drupal said it.
    id: OnceCell<String>,
}

impl Account {
    fn is(&self, user: &DrupalUser) -> bool {
        self.is_id(&user.id)
            || self
                .name
                .as_deref()
                .zip(user.name())
                .is_some_and(|(own, held)| caseless::same(own, held))
    }

    fn is_id(&self, id: &str) -> bool {
        self.id
            .get()
            .is_some_and(|own| own.eq_ignore_ascii_case(id))
    }
}

/// The accounts of the sites of this process in front of one Drupal, held
/// weakly: a site gone with a reload takes its account with it.
#[derive(Debug, Default)]
struct Neighbours {
    accounts: Mutex<Vec<Weak<Account>>>,
}

impl Neighbours {
    /// The registry of the Drupal at `base_url`, shared by every site of
    /// this process in front of it.
    fn of(base_url: &str) -> Arc<Neighbours> {
        static SHARED: Mutex<Vec<(String, Weak<Neighbours>)>> = Mutex::new(Vec::new());
        let key = crate::drupal::account_locks::site_key(base_url);
        crate::drupal::account_locks::shared_per_key(&SHARED, key)
    }

    /// Whether an account still in use here meets `test`: checked under
    /// the lock, with no list made (a check of every write's target).
    fn any(&self, test: impl Fn(&Account) -> bool) -> bool {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.retain(|a| a.strong_count() > 0);
        accounts.iter().filter_map(Weak::upgrade).any(|a| test(&a))
    }

    /// The names accounts still in use here log in with.
    fn names(&self) -> Vec<String> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.retain(|a| a.strong_count() > 0);
        accounts
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|a| a.name.clone())
            .collect()
    }
}

impl OwnAccount {
    /// The account `auth` logs in as, on the Drupal at `base_url`.
    pub fn of(auth: &DrupalAuth, base_url: &str) -> OwnAccount {
        let name = match auth {
            DrupalAuth::Session { username, .. } | DrupalAuth::Basic { username, .. } => {
                Some(username.trim().to_string()).filter(|n| !n.is_empty())
            }
            DrupalAuth::OAuth2 { .. } => None,
        };
        let own = Arc::new(Account {
            name,
            id: OnceCell::new(),
        });
        let neighbours = Neighbours::of(base_url);
        neighbours
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&own));
        OwnAccount { own, neighbours }
    }

    /// The names every site in front of this Drupal logs in with.
    pub(super) fn names(&self) -> Vec<String> {
        let mut names = self.neighbours.names();
        names.sort();
        names.dedup();
        names
    }

    /// Whether `user` is the account this site, or another site of this
    /// process in front of the same Drupal, logs in as.
    pub(super) fn is(&self, user: &DrupalUser) -> bool {
        self.own.is(user) || self.neighbours.any(|a| a.is(user))
    }

    /// Whether `id` is such an account, as far as its UUID is known.
    pub(super) fn is_id(&self, id: &str) -> bool {
        self.own.is_id(id) || self.neighbours.any(|a| a.is_id(id))
    }

    /// Makes sure the account is known before a write: without a name,
    /// asks Drupal once which account the bridge runs as. A failure is the
    /// write's failure (Drupal would fail it too); an answer as anonymous
    /// leaves it unknown (no write of the bridge's can succeed then).
    pub(super) async fn learn(&self, drupal: &DrupalClient) -> Result<(), DrupalError> {
        if self.own.name.is_some() || self.own.id.initialized() {
            return Ok(());
        }
        if let Some(id) = drupal.whoami().await? {
            tracing::info!(
                id = %id,
                "the bridge's own Drupal account (the OAuth2 client's) is known: SCIM writes to it are refused"
            );
            let _ = self.own.id.set(id.to_ascii_lowercase());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    fn user(id: &str, name: &str) -> DrupalUser {
        DrupalUser::from_resource(json!({
            "type": "user--user", "id": id, "attributes": {"name": name}
        }))
        .expect("a user")
    }

    #[test]
    fn the_account_is_known_by_the_login_name_ignoring_case() {
        let auth = DrupalAuth::Session {
            username: "scim-bridge".into(),
            password: Secret::new("pw"),
        };
        let own = OwnAccount::of(&auth, "https://one.example.org");
        assert!(own.is(&user("u2", "scim-bridge")));
        assert!(own.is(&user("u2", "SCIM-Bridge")));
        assert!(!own.is(&user("u3", "alice")));
        assert!(!own.is_id("u2"), "the name alone tells no id");
    }

    #[test]
    fn an_oauth2_client_names_no_account_until_drupal_says_it() {
        let auth = DrupalAuth::OAuth2 {
            client_id: "scim-bridge".into(),
            client_secret: Secret::new("secret"),
        };
        let own = OwnAccount::of(&auth, "https://two.example.org");
        assert!(own.names().is_empty());
        assert!(!own.is(&user("u2", "scim-bridge")));
        own.own.id.set("u2".into()).expect("unset");
        assert!(own.is(&user("U2", "whoever")));
        assert!(own.is_id("u2"));
    }

    #[test]
    fn every_site_in_front_of_one_drupal_protects_the_others_accounts() {
        let session = |name: &str| DrupalAuth::Session {
            username: name.into(),
            password: Secret::new("pw"),
        };
        let alpha = OwnAccount::of(&session("bridge-alpha"), "https://Shared.example.org/");
        let beta = OwnAccount::of(&session("bridge-beta"), "https://shared.example.org");
        let elsewhere = OwnAccount::of(&session("bridge-other"), "https://other.example.org");
        assert!(beta.is(&user("u1", "bridge-alpha")), "alpha's account");
        assert!(alpha.is(&user("u2", "BRIDGE-BETA")));
        assert!(!elsewhere.is(&user("u1", "bridge-alpha")), "another Drupal");
        assert_eq!(beta.names(), ["bridge-alpha", "bridge-beta"]);
        // A site gone with a reload no longer counts.
        drop(alpha);
        assert!(!beta.is(&user("u1", "bridge-alpha")));
        assert_eq!(beta.names(), ["bridge-beta"]);
    }
}
