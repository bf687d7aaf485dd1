//! The Drupal account the bridge logs in as is never changed over SCIM:
//! blocking it, taking its roles or renaming it would lock the bridge out
//! of Drupal. Every write path refuses it with 403, as for uid 1.

use drupal_scim_bridge::standin::{AccountSeed, OAuthClientSeed, RoleSeed, StandInConfig};
use serde_json::{json, Value};

use crate::helpers::{add_member, patch_op, set_active, spawn_app_with, Options, TestApp};
use crate::term_groups::term_mapping;

const BRIDGE: &str = "scim-bridge";
const BRIDGE_PASSWORD: &str = "bridge-password";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The demo site with the bridge's own account (uid 2), holding the
/// bridge's role and `editor`, as scripts/real-drupal seeds it.
fn site() -> StandInConfig {
    let mut site = StandInConfig::demo(crate::helpers::DRUPAL_PASSWORD);
    site.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &[
            "administer users",
            "administer permissions",
            "administer taxonomy",
            "create terms in scim_groups",
            "edit terms in scim_groups",
            "delete terms in scim_groups",
        ],
    ));
    let mut bridge = AccountSeed::new(BRIDGE);
    bridge.mail = Some("scim-bridge@example.com".into());
    bridge.password = Some(BRIDGE_PASSWORD.into());
    bridge.roles = vec!["scim_bridge".into(), "editor".into()];
    site.extra_accounts = vec![bridge];
    site
}

/// The bridge logged in as `scim-bridge` (session), term groups on.
async fn spawn() -> TestApp {
    spawn_app_with(Options {
        standin: site(),
        // The bridge's own role `editor` is protected like any role of its
        // account: exposed here on purpose, so that the group can be tried.
        mapping: term_mapping().replace(
            "{role: editor, display_name: editor}",
            "{role: editor, display_name: editor, allow_protected: true}",
        ),
        drupal_auth: Some(format!(
            "    username: {BRIDGE}\n    password: \"{BRIDGE_PASSWORD}\"\n"
        )),
        ..Options::default()
    })
    .await
}

fn own_id(app: &TestApp) -> String {
    app.drupal_user(BRIDGE).expect("seeded")["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

/// The account is as seeded: active, its roles and groups untouched.
fn assert_untouched(app: &TestApp) {
    let account = app.drupal_user(BRIDGE).expect("kept");
    assert_eq!(account["attributes"]["status"], true, "{account}");
    assert_eq!(account["attributes"]["name"], BRIDGE);
    let mut roles = app.roles_of(BRIDGE);
    roles.sort();
    assert_eq!(roles, ["editor", "scim_bridge"]);
    assert!(app.drupal.group_refs(BRIDGE).is_empty());
}

fn assert_refused(answer: &crate::helpers::Answer, what: &str) {
    assert_eq!(answer.status, 403, "{what}: {}", answer.body);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(BRIDGE) && detail.contains("logs in"),
        "{what}: the detail names the account and why: {detail}"
    );
}

/// The first writes of a fresh bridge go unread (no copy of the account,
/// the list of accounts to refuse instead): that list names it.
#[tokio::test]
async fn unread_writes_to_the_bridges_own_account_are_refused() {
    let app = spawn().await;
    let own = own_id(&app);
    let refused = app
        .patch(&format!("/Users/{own}"), &set_active(false))
        .await;
    assert_refused(&refused, "an unread deactivation");
    assert_untouched(&app);

    let app = spawn().await;
    let own = own_id(&app);
    let editor = app.group_id("editor").await;
    let refused = app
        .patch(
            &format!("/Groups/{editor}"),
            &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{own}\"]")}])),
        )
        .await;
    assert_refused(&refused, "an unread one-member removal");
    assert_untouched(&app);
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

#[tokio::test]
async fn every_write_path_refuses_the_bridges_own_account() {
    let app = spawn().await;
    let own = own_id(&app);
    // Reads are allowed, and leave a copy that the next writes would use.
    let read = app.get(&format!("/Users/{own}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    app.drupal.clear_requests();

    let path = format!("/Users/{own}");
    assert_refused(&app.patch(&path, &set_active(false)).await, "PATCH");
    let rename = patch_op(json!([{"op": "replace", "path": "userName", "value": "other"}]));
    assert_refused(&app.patch(&path, &rename).await, "PATCH userName");
    let put = json!({"userName": BRIDGE, "active": false,
                     "emails": [{"value": "scim-bridge@example.com"}]});
    assert_refused(&app.put(&path, &put).await, "PUT");
    assert_refused(&app.delete(&path).await, "DELETE");

    let editor = app.group_id("editor").await;
    let engineering = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Engineering"}),
        )
        .await;
    assert_eq!(engineering.status, 201, "{}", engineering.body);
    let engineering = engineering.body["id"].as_str().unwrap().to_string();
    app.drupal.clear_requests();
    let remove =
        patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{own}\"]")}]));
    assert_refused(
        &app.patch(&format!("/Groups/{editor}"), &remove).await,
        "role-backed removal",
    );
    assert_refused(
        &app.put(
            &format!("/Groups/{editor}"),
            &json!({"schemas": [GROUP], "displayName": "editor", "members": []}),
        )
        .await,
        "role-backed PUT without it",
    );
    assert_refused(
        &app.patch(&format!("/Groups/{engineering}"), &add_member(&own))
            .await,
        "term group add",
    );
    assert_refused(
        &app.post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Builders",
                    "members": [{"value": own}]}),
        )
        .await,
        "term group created with it",
    );

    let bulk = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "PATCH", "path": path, "data": set_active(false)},
                {"method": "DELETE", "path": path},
                {"method": "PATCH", "path": format!("/Groups/{engineering}"),
                 "data": add_member(&own)}
            ]}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    let statuses: Vec<&Value> = bulk.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("403"), &json!("403"), &json!("403")],
        "{}",
        bulk.body
    );

    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
    assert_untouched(&app);
}

/// Under `oauth2` the configuration names no account: the bridge asks
/// Drupal which one its client runs as, once, before its first write.
#[tokio::test]
async fn under_oauth2_the_account_the_client_runs_as_is_refused() {
    let mut standin = site();
    standin.oauth_clients.push(OAuthClientSeed {
        client_id: "scim-bridge".into(),
        secret: "client-secret-1".into(),
        user: BRIDGE.into(),
    });
    let app = spawn_app_with(Options {
        standin,
        mapping: term_mapping(),
        drupal_auth: Some(
            "    mode: oauth2\n    client_id: scim-bridge\n    client_secret: client-secret-1\n"
                .into(),
        ),
        ..Options::default()
    })
    .await;
    let own = own_id(&app);
    let refused = app
        .patch(&format!("/Users/{own}"), &set_active(false))
        .await;
    assert_refused(&refused, "an unread deactivation under oauth2");
    let read = app.get(&format!("/Users/{own}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_refused(
        &app.patch(&format!("/Users/{own}"), &set_active(false))
            .await,
        "a deactivation of the copy under oauth2",
    );
    assert_untouched(&app);
    // Other accounts are written as before.
    let alice = app.create_user("alice", "alice@example.org").await;
    let deactivated = app
        .patch(&format!("/Users/{alice}"), &set_active(false))
        .await;
    assert_eq!(deactivated.status, 200, "{}", deactivated.body);
}
