//! Writes to accounts the bridge has not seen within `account_cache_secs`,
//! against the real site: a deactivation and a one-member group add of an
//! account made straight in Drupal go without reading it, because the list
//! of accounts to refuse (uid 0, uid 1, holders of protected roles, accounts
//! SCIM DELETE marked) does not name it; the accounts it names, and an
//! unknown one, are refused as before and nothing is written to them.
//! Which calls reached Drupal is read from the bridge's own log of them.

use drupal_scim_bridge::telemetry::CapturedLogs;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, patch_op, url_encode};
use crate::site::{shared, site, Bridge, BridgeOptions, Site};

fn set_active(active: bool) -> Value {
    patch_op(json!([{"op": "replace", "path": "active", "value": active}]))
}

fn add_member(id: &str) -> Value {
    patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

/// "METHOD path" of every Drupal call the bridges of this process logged
/// whose path names `id`.
fn drupal_calls_naming(logs: &CapturedLogs, id: &str) -> Vec<String> {
    logs.contents()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["message"] == "drupal call")
        .filter_map(|event| {
            let path = event["path"].as_str()?;
            let method = event["method"].as_str()?;
            path.contains(id).then(|| format!("{method} {path}"))
        })
        .collect()
}

/// The SCIM id of a role-backed group, without listing its members (which
/// would read, and so see, the accounts holding the role).
async fn group_id(bridge: &Bridge, display_name: &str) -> String {
    let filter = url_encode(&format!("displayName eq \"{display_name}\""));
    let found = bridge
        .get(&format!(
            "/Groups?filter={filter}&excludedAttributes=members"
        ))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    found.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Accounts the bridge reads in its list of accounts to refuse at most:
/// write_guard's 10 pages of 50. Past them it leaves out the deprovisioned
/// accounts, and a group add reads first.
const LIST_CAP: u64 = 500;

/// The accounts the site's list of accounts to refuse holds: uid 1,
/// administrators, accounts marked deprovisioned (the anonymous account,
/// on the bridge's list too, is not counted).
fn accounts_to_refuse(site: &Site) -> u64 {
    let out = site.php(
        r#"$q = \Drupal::entityTypeManager()->getStorage("user")->getQuery()->accessCheck(FALSE);
$any = $q->orConditionGroup()->condition("uid", 1)->condition("roles", "administrator")
  ->condition("field_scim_deprovisioned", 1);
echo $q->condition($any)->count()->execute();"#,
    );
    out.trim().parse().expect("a count")
}

/// Fails unless the bridge can read the whole list, without which every
/// write reads its account first and these tests would test nothing new.
fn assert_the_list_fits(site: &Site) {
    let refused = accounts_to_refuse(site);
    assert!(
        refused < LIST_CAP,
        "{refused} accounts to refuse on the site, more than the bridge reads in its list: a group add would read first (a test left deprovisioned accounts behind?)"
    );
}

async fn status_of(site: &Site, name: &str) -> Value {
    let user = site.user(name).await.unwrap_or_else(|| panic!("no {name}"));
    user["attributes"]["status"].clone()
}

#[tokio::test]
async fn a_deactivation_and_a_group_add_of_accounts_never_read_are_written_unread() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let logs = captured_logs();
    let names = ["rd-unread-quit", "rd-unread-join"];
    site.delete_users(&names);
    assert_the_list_fits(&site);
    // Straight into Drupal: the bridge has never seen them.
    let quit = site.create_user("rd-unread-quit", &[]).await;
    let join = site.create_user("rd-unread-join", &[]).await;
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;

    let answer = bridge
        .patch(&format!("/Users/{quit}"), &set_active(false))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["id"], quit.as_str(), "{}", answer.body);
    assert_eq!(answer.body["userName"], "rd-unread-quit", "{}", answer.body);
    assert_eq!(answer.body["active"], false, "{}", answer.body);
    assert_eq!(status_of(&site, "rd-unread-quit").await, false);
    let calls = drupal_calls_naming(&logs, &quit);
    assert!(
        !calls.is_empty() && calls.iter().all(|c| c.starts_with("PATCH ")),
        "written, never read: {calls:?}"
    );

    let group = group_id(&bridge, "editor").await;
    let added = bridge
        .patch(&format!("/Groups/{group}"), &add_member(&join))
        .await;
    assert!(
        added.status == 204 || added.status == 200,
        "{}: {}",
        added.status,
        added.body
    );
    assert_eq!(site.roles_of("rd-unread-join").await, ["editor"]);
    assert_eq!(status_of(&site, "rd-unread-join").await, true);
    let calls = drupal_calls_naming(&logs, &join);
    assert!(
        !calls.is_empty() && calls.iter().all(|c| c.starts_with("POST ")),
        "written, never read: {calls:?}"
    );
    site.delete_users(&names);
}

#[tokio::test]
async fn uid_0_uid_1_administrators_and_unknown_accounts_are_refused_and_not_written() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let logs = captured_logs();
    site.delete_users(&["rd-unread-boss"]);
    assert_the_list_fits(&site);
    // Protected before the bridge's first request, so on the list it reads.
    let boss = site.create_user("rd-unread-boss", &["administrator"]).await;
    let admin = site.user(&site.admin_user).await.expect("uid 1");
    assert_eq!(admin["attributes"]["drupal_internal__uid"], 1);
    let admin_id = admin["id"].as_str().unwrap().to_string();
    // Drupal's anonymous account: first by uid, shown to nobody but by its
    // label, so without drupal_internal__uid.
    let first = site
        .admin(
            reqwest::Method::GET,
            "/jsonapi/user/user?sort=drupal_internal__uid&page[limit]=2",
            None,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let anonymous = &first.body["data"][0];
    assert!(
        anonymous["attributes"]["drupal_internal__uid"].is_null(),
        "uid 0 comes first, label only: {}",
        first.body
    );
    let anonymous = anonymous["id"].as_str().unwrap().to_string();
    assert_ne!(anonymous, admin_id);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let group = group_id(&bridge, "editor").await;

    // The administrator: read and refused, for the deactivation and the
    // group add alike.
    bridge
        .patch(&format!("/Users/{boss}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    bridge
        .patch(&format!("/Groups/{group}"), &add_member(&boss))
        .await
        .assert_scim_error(403, None);
    assert_eq!(status_of(&site, "rd-unread-boss").await, true);
    assert_eq!(site.roles_of("rd-unread-boss").await, ["administrator"]);

    // uid 1.
    bridge
        .patch(&format!("/Users/{admin_id}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    assert_eq!(status_of(&site, &site.admin_user).await, true);

    // An account Drupal does not have.
    let nobody = uuid::Uuid::new_v4().to_string();
    bridge
        .patch(&format!("/Users/{nobody}"), &set_active(false))
        .await
        .assert_scim_error(404, None);

    // uid 0: not found, and no server error from Drupal's refusal.
    let answer = bridge
        .patch(&format!("/Users/{anonymous}"), &set_active(false))
        .await;
    assert!(answer.status < 500, "{}: {}", answer.status, answer.body);
    answer.assert_scim_error(404, None);

    for (what, id) in [
        ("administrator", &boss),
        ("uid 1", &admin_id),
        ("uid 0", &anonymous),
    ] {
        let calls = drupal_calls_naming(&logs, id);
        assert!(
            !calls.is_empty() && calls.iter().all(|c| c.starts_with("GET ")),
            "{what}: read, never written: {calls:?}"
        );
    }
    site.delete_users(&["rd-unread-boss"]);
}
