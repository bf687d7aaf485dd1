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

use tokio::sync::OnceCell;

use crate::drupal::settings::DrupalAuth;
use crate::drupal::{DrupalClient, DrupalError, DrupalUser};
use crate::scim::caseless;

/// How the bridge's own account is known.
#[derive(Debug)]
pub struct OwnAccount {
    /// The name it logs in with, when the configuration gives one.
    name: Option<String>,
    /// Its UUID (lower case), once Drupal said it.
    id: OnceCell<String>,
}

impl OwnAccount {
    /// The account `auth` logs in as.
    pub fn of(auth: &DrupalAuth) -> OwnAccount {
        let name = match auth {
            DrupalAuth::Session { username, .. } | DrupalAuth::Basic { username, .. } => {
                Some(username.trim().to_string()).filter(|n| !n.is_empty())
            }
            DrupalAuth::OAuth2 { .. } => None,
        };
        OwnAccount {
            name,
            id: OnceCell::new(),
        }
    }

    /// The name the bridge logs in with, when the configuration gives one.
    pub(super) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether `user` is the bridge's own account.
    pub(super) fn is(&self, user: &DrupalUser) -> bool {
        self.is_id(&user.id)
            || self
                .name
                .as_deref()
                .zip(user.name())
                .is_some_and(|(own, held)| caseless::same(own, held))
    }

    /// Whether `id` is the bridge's own account, as far as its UUID is known.
    pub(super) fn is_id(&self, id: &str) -> bool {
        self.id
            .get()
            .is_some_and(|own| own.eq_ignore_ascii_case(id))
    }

    /// Makes sure the account is known before a write: without a name,
    /// asks Drupal once which account the bridge runs as. A failure is the
    /// write's failure (Drupal would fail it too); an answer as anonymous
    /// leaves it unknown (no write of the bridge's can succeed then).
    pub(super) async fn learn(&self, drupal: &DrupalClient) -> Result<(), DrupalError> {
        if self.name.is_some() || self.id.initialized() {
            return Ok(());
        }
        if let Some(id) = drupal.whoami().await? {
            tracing::info!(
                id = %id,
                "the bridge's own Drupal account (the OAuth2 client's) is known: SCIM writes to it are refused"
            );
            let _ = self.id.set(id.to_ascii_lowercase());
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
        let own = OwnAccount::of(&auth);
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
        let own = OwnAccount::of(&auth);
        assert_eq!(own.name(), None);
        assert!(!own.is(&user("u2", "scim-bridge")));
        own.id.set("u2".into()).expect("unset");
        assert!(own.is(&user("U2", "whoever")));
        assert!(own.is_id("u2"));
    }
}
