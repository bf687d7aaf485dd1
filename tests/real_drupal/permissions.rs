//! The bridge's role loses a permission on the real site: what Drupal then
//! answers must never reach the IdP as "no such user" or "no such group",
//! and must not cost a login per request. Each test holds the site alone
//! (it changes the bridge's role) and gives the permission back.

use crate::site::{exclusive, site, Bridge, BridgeOptions, Site};

/// Takes `permission` from the bridge's role until dropped.
struct Revoked<'s> {
    site: &'s Site,
    permission: &'static str,
}

impl<'s> Revoked<'s> {
    fn new(site: &'s Site, permission: &'static str) -> Revoked<'s> {
        site.drush(&["role:perm:remove", "scim_bridge", permission]);
        Revoked { site, permission }
    }
}

impl Drop for Revoked<'_> {
    fn drop(&mut self) {
        self.site
            .drush(&["role:perm:add", "scim_bridge", self.permission]);
    }
}

/// Without "administer users" Drupal's query guard lets any filter find
/// only the bridge's own account (`data: []` for anyone else): lookups and
/// lists are 502, not "0 results", and the session stays the one login.
#[tokio::test]
async fn without_administer_users_lookups_are_a_bad_gateway_with_one_login() {
    let Some(site) = site() else { return };
    let _alone = exclusive().await;
    site.delete_users(&["rd-perm-base1"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let id = bridge.create_user("rd-perm-base1").await;
    let sessions = site.sessions_of("scim-bridge");
    {
        let _revoked = Revoked::new(&site, "administer users");
        for answer in [
            bridge.filter_users("userName eq \"rd-perm-base1\"").await,
            bridge.get("/Users").await,
            bridge.get(&format!("/Users/{id}")).await,
            bridge
                .patch(
                    &format!("/Users/{id}"),
                    &serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": false}]}),
                )
                .await,
        ] {
            answer.assert_scim_error(502, None);
        }
        assert_eq!(
            site.sessions_of("scim-bridge"),
            sessions,
            "no login while the permission is missing"
        );
    }
    // Granted again: found at once.
    let found = bridge.filter_users("userName eq \"rd-perm-base1\"").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
}

/// Without "administer permissions" Drupal lists no role (all under
/// `meta.omitted`): the groups are 502, not an empty list or 404.
#[tokio::test]
async fn without_administer_permissions_groups_are_a_bad_gateway() {
    let Some(site) = site() else { return };
    let _alone = exclusive().await;
    let bridge = Bridge::start(
        &site,
        BridgeOptions {
            extra_config: "role_cache_secs: 0\n".into(),
            ..BridgeOptions::default()
        },
    )
    .await;
    let editor = site.role_uuid("editor").await;
    assert_eq!(bridge.get(&format!("/Groups/{editor}")).await.status, 200);
    {
        let _revoked = Revoked::new(&site, "administer permissions");
        bridge.get("/Groups").await.assert_scim_error(502, None);
        bridge
            .get(&format!("/Groups/{editor}"))
            .await
            .assert_scim_error(502, None);
    }
    assert_eq!(bridge.get(&format!("/Groups/{editor}")).await.status, 200);
}
