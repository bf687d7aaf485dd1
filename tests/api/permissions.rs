//! The bridge's role in Drupal lacks a permission, or a role it serves is
//! deleted in Drupal: a missing permission is a 502 naming it (never an
//! answer that shows accounts or groups as gone), costs no extra login,
//! and a deleted role is a group that does not exist.

use serde_json::json;

use crate::helpers::{add_member, spawn_app_with, Options, TestApp};
use drupal_scim_bridge::standin::{AccountSeed, RoleSeed, StandInConfig};

const BRIDGE_ROLE: &str = "scim_bridge";
const FULL: &[&str] = &["administer users", "administer permissions"];

/// The demo site, the bridge logged in (session) as `scim-bridge`, whose
/// role holds what the README asks for.
async fn bridge_app(extra_config: &str) -> TestApp {
    let mut standin = StandInConfig::demo(crate::helpers::DRUPAL_PASSWORD);
    standin
        .roles
        .push(RoleSeed::new(BRIDGE_ROLE, "SCIM bridge", FULL));
    let mut bridge = AccountSeed::new("scim-bridge");
    bridge.password = Some("bridge-password-1".into());
    bridge.mail = Some("scim-bridge@example.org".into());
    bridge.roles = vec![BRIDGE_ROLE.into()];
    standin.extra_accounts.push(bridge);
    spawn_app_with(Options {
        standin,
        drupal_auth: Some(
            "    username: scim-bridge\n    password: \"bridge-password-1\"\n".into(),
        ),
        extra_config: extra_config.into(),
        ..Options::default()
    })
    .await
}

fn logins(app: &TestApp) -> usize {
    app.drupal
        .requests()
        .iter()
        .filter(|r| r.path == "/user/login")
        .count()
}

/// A 403 is a missing permission once the login is known valid: the
/// bridge does not drop its login and log in again for every request
/// (before: two logins per request, each session left behind).
#[tokio::test]
async fn a_missing_permission_costs_at_most_one_login_over_many_requests() {
    let app = bridge_app("account_cache_secs: 0\n").await;
    let id = app.seed_user("kept", "kept@example.org");
    assert!(app
        .drupal
        .set_role_permissions(BRIDGE_ROLE, &["administer permissions"]));
    let path = format!("/Users/{id}");
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    for _ in 0..4 {
        app.patch(&path, &off).await.assert_scim_error(502, None);
        app.get(&path).await.assert_scim_error(502, None);
        app.delete(&path).await.assert_scim_error(502, None);
    }
    assert_eq!(logins(&app), 1, "one login, kept");
    assert_eq!(app.drupal.open_sessions(), 1);
    assert_eq!(
        app.drupal_user("kept").unwrap()["attributes"]["status"],
        json!(true)
    );
}

/// Without "administer users" Drupal's query guard lets a filter find only
/// the caller's own account (seen on Drupal 10.2.6): a lookup of anyone
/// else answers `data: []`, and a list shows the bridge alone. "No such
/// user" would have an IdP create a duplicate or take a deprovisioning as
/// done: every list and lookup is a 502 naming the permission.
#[tokio::test]
async fn lists_and_lookups_without_the_permission_to_see_accounts_are_a_bad_gateway() {
    let app = bridge_app("").await;
    app.seed_user("base1", "base1@example.org");
    let found = app.filter_users("userName eq \"base1\"").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert!(app
        .drupal
        .set_role_permissions(BRIDGE_ROLE, &["administer permissions"]));
    for answer in [
        app.filter_users("userName eq \"base1\"").await,
        app.filter_users("externalId eq \"ext-base1\"").await,
        app.get("/Users").await,
        app.get("/Users?startIndex=1&count=5").await,
    ] {
        answer.assert_scim_error(502, None);
    }
    // Granted again: found at once (a new URL, not Drupal's cached 403).
    assert!(app.drupal.set_role_permissions(BRIDGE_ROLE, FULL));
    let found = app.filter_users("userName eq \"base1\"").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(logins(&app), 1);
}

/// Without "administer permissions" Drupal lists no role to the bridge
/// (`data: []`, every role under `meta.omitted`, recorded: case 004). That
/// is no site without groups: the groups are 502, naming the permission,
/// not an empty list, a 404 "deleted" or a create refused as unknown.
#[tokio::test]
async fn roles_drupal_hides_from_the_bridge_are_a_bad_gateway_not_missing_groups() {
    let app = bridge_app("role_cache_secs: 0\n").await;
    app.log_in().await;
    let listed = app.get("/Groups").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let editor = listed.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == "editor")
        .expect("editor listed")["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(app
        .drupal
        .set_role_permissions(BRIDGE_ROLE, &["administer users"]));
    for answer in [
        app.get("/Groups").await,
        app.get(&format!("/Groups/{editor}")).await,
        app.post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "editor"}),
        )
        .await,
    ] {
        answer.assert_scim_error(502, None);
    }
}

/// A role deleted in Drupal while the bridge's role list (cached for
/// role_cache_secs) still has it: Drupal refuses a member add naming it
/// ("The targeted `user_role--user_role` resource … does not exist", case
/// 071). The group is gone: 404, the role list is read again, and no read
/// afterwards writes the deleted role back onto an account as a "stale
/// read" to mend.
#[tokio::test]
async fn a_role_deleted_in_drupal_is_a_group_that_does_not_exist() {
    let app = bridge_app("").await;
    let first = app.create_user("first", "first@example.org").await;
    let second = app.create_user("second", "second@example.org").await;
    let editor = app.group_id("editor").await;
    let added = app
        .patch(&format!("/Groups/{editor}"), &add_member(&first))
        .await;
    assert!(added.status < 300, "{}", added.body);
    assert!(app.roles_of("first").contains(&"editor".to_string()));

    assert!(app.drupal.delete_role("editor"));
    app.drupal.clear_requests();
    let answer = app
        .patch(&format!("/Groups/{editor}"), &add_member(&second))
        .await;
    answer.assert_scim_error(404, None);
    app.get(&format!("/Groups/{editor}"))
        .await
        .assert_scim_error(404, None);
    let read = app.get(&format!("/Users/{first}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let writes: Vec<String> = app
        .drupal_writes()
        .into_iter()
        .filter(|w| w.contains(&first))
        .collect();
    assert!(
        writes.is_empty(),
        "the deleted role written back: {writes:?}"
    );
}
