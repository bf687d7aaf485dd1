//! The bridge end to end against the real site: the IdP flows of
//! tests/api/idp_flows.rs (the same published requests, in the same order),
//! deprovisioning under both policies and every cancel method, protected
//! accounts, a lost session, and a wrong password. Drupal's side is checked
//! through JSON:API as the site's admin.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::{idp_fixture, mapping_with, read, url_encode, Answer, TOKEN};
use crate::site::{shared, site, Bridge, BridgeOptions, Site};

const PLACEHOLDERS: [&str; 10] = [
    "token",
    "userId",
    "userId2",
    "managerId",
    "groupId",
    "externalId",
    "random",
    "random2",
    "random3",
    "email",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Idp {
    Entra,
    Okta,
    OneLogin,
}

struct Replay {
    site: Site,
    bridge: Bridge,
    idp: Idp,
    values: BTreeMap<&'static str, String>,
}

fn example(file: &str) -> Value {
    serde_json::from_str(&idp_fixture(file)).expect("fixture JSON")
}

fn documented_statuses(expected: &str) -> Vec<u16> {
    [200, 201, 204]
        .into_iter()
        .filter(|status| expected.contains(&status.to_string()))
        .collect()
}

fn encode_values(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{name}={}", url_encode(value)),
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

impl Replay {
    async fn start(site: Site, idp: Idp, leftovers: &[&str]) -> Replay {
        // Accounts an earlier run left behind (the examples' names are fixed).
        site.delete_users(leftovers);
        let (preset, groups) = match idp {
            Idp::Entra => (
                "entra-id.yaml",
                "  - {role: entra_app, display_name: displayName}",
            ),
            Idp::Okta => (
                "okta.yaml",
                "  - {role: okta_push, display_name: Test SCIMv2}\n  - {role: okta_aiw, display_name: SCIM_test1}",
            ),
            Idp::OneLogin => (
                "onelogin.yaml",
                "  - {role: engineering, display_name: Engineering}",
            ),
        };
        let bridge = Bridge::start(
            &site,
            BridgeOptions {
                mapping: mapping_with(preset, groups, "  []"),
                ..BridgeOptions::default()
            },
        )
        .await;
        let mut values = BTreeMap::new();
        values.insert("token", TOKEN.to_string());
        for name in ["random", "random2", "random3", "externalId"] {
            values.insert(name, uuid::Uuid::new_v4().to_string());
        }
        values.insert("email", "aaa.test.user01@example.org".to_string());
        Replay {
            site,
            bridge,
            idp,
            values,
        }
    }

    fn bind(&mut self, name: &'static str, value: &Value) {
        let value = value.as_str().expect("a string id").to_string();
        self.values.insert(name, value);
    }

    fn value(&self, name: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{{{name}}} is not bound yet"))
    }

    fn substitute(&self, text: &str) -> String {
        let mut text = text.to_string();
        for name in PLACEHOLDERS {
            let placeholder = format!("{{{name}}}");
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, &self.value(name));
            }
        }
        text
    }

    async fn send(&self, file: &str) -> Answer {
        let example = example(file);
        let request = &example["request"];
        let method: reqwest::Method = request["method"].as_str().unwrap().parse().unwrap();
        let path = self.substitute(request["path"].as_str().unwrap());
        let url = match request["query"].as_str() {
            None => format!("{}{path}", self.bridge.base),
            Some(query) => {
                let query = self.substitute(query);
                let query = match self.idp {
                    Idp::Entra => encode_values(&query),
                    Idp::Okta | Idp::OneLogin => query,
                };
                format!("{}{path}?{query}", self.bridge.base)
            }
        };
        let mut builder = self.bridge.client.request(method, url);
        for (name, value) in request["headers"].as_object().unwrap() {
            builder = builder.header(name, self.substitute(value.as_str().unwrap()));
        }
        if !request["body"].is_null() {
            builder = builder.body(self.substitute(&request["body"].to_string()));
        }
        read(builder.send().await.expect("bridge answers")).await
    }

    async fn step(&self, file: &str) -> Answer {
        let expected = example(file)["expected"].as_str().unwrap().to_string();
        let allowed = documented_statuses(&expected);
        let answer = self.send(file).await;
        assert!(
            allowed.contains(&answer.status),
            "{file}: got {}, documented {allowed:?}: {}",
            answer.status,
            answer.body
        );
        answer
    }

    async fn drupal(&self, name: &str) -> Value {
        self.site
            .user(name)
            .await
            .unwrap_or_else(|| panic!("no Drupal account {name}"))
    }

    async fn roles_of(&self, name: &str) -> Vec<String> {
        self.site.roles_of(name).await
    }

    async fn patch_members(&self, op: &str, ids: &[String]) {
        let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        let answer = self
            .bridge
            .patch(
                &format!("/Groups/{}", self.value("groupId")),
                &json!({"Operations": [{"op": op, "path": "members", "value": value}]}),
            )
            .await;
        assert_eq!(answer.status, 204, "{}", answer.body);
    }

    async fn group_id(&self, display_name: &str) -> String {
        let answer = self
            .bridge
            .post(
                "/Groups",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": display_name}),
            )
            .await;
        assert_eq!(answer.status, 201, "link {display_name}: {}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }
}

#[tokio::test]
async fn entra_flow_users_then_groups() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let leftovers = leftover_names(&site, "%@testuser.com").await;
    let mut names: Vec<&str> = leftovers.iter().map(String::as_str).collect();
    names.push("jyoung@testuser.com");
    let more = leftover_names(&site, "Test_User_%").await;
    names.extend(more.iter().map(String::as_str));
    let mut flow = Replay::start(site, Idp::Entra, &names).await;

    let probe = flow.step("entra-01-probe-userName").await;
    assert_eq!(probe.body["totalResults"], 0);

    let created = flow.step("entra-02-create-user").await;
    flow.bind("userId", &created.body["id"]);
    let user_name = format!("Test_User_{}", flow.value("random"));
    assert_eq!(created.body["userName"], user_name.as_str());
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(drupal["id"], flow.value("userId").as_str());
    assert_eq!(
        drupal["attributes"]["mail"],
        format!("Test_User_{}@testuser.com", flow.value("random2"))
    );
    assert_eq!(
        drupal["attributes"]["field_scim_external_id"],
        flow.value("externalId").as_str()
    );
    assert_eq!(drupal["attributes"]["status"], true);

    let joy = flow.step("entra-02b-create-user-null-attributes").await;
    flow.bind("managerId", &joy.body["id"]);
    assert_eq!(
        flow.drupal("jyoung@testuser.com").await["attributes"]["mail"],
        "jyoung@Contoso.com",
        "stored as sent"
    );

    let read = flow.step("entra-03-get-user").await;
    assert_eq!(read.body["id"], flow.value("userId").as_str());
    let found = flow.step("entra-04a-filter-userName").await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(
        found.body["Resources"][0]["id"],
        flow.value("userId").as_str()
    );
    let by_external_id = flow.step("entra-04b-filter-externalId").await;
    assert_eq!(by_external_id.body["totalResults"], 1);

    flow.step("entra-05-patch-replace-work-email").await;
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(drupal["attributes"]["mail"], "updatedEmail@microsoft.com");
    assert_eq!(drupal["attributes"]["field_last_name"], "updatedFamilyName");

    flow.step("entra-06-patch-replace-multi-op").await;
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(
        drupal["attributes"]["mail"],
        "TestBcwqnm@test.microsoft.com"
    );
    assert_eq!(drupal["attributes"]["field_first_name"], "Gtfd");
    assert_eq!(drupal["attributes"]["field_scim_external_id"], "Eqpj");

    flow.step("entra-07-patch-replace-no-path-dotted-keys")
        .await;
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(
        drupal["attributes"]["mail"],
        "TestMhvaes@test.microsoft.com"
    );
    assert_eq!(drupal["attributes"]["field_first_name"], "Kkom");

    flow.step("entra-08-patch-add-nickName").await;
    flow.step("entra-09-patch-add-manager").await;

    flow.step("entra-10-patch-replace-userName").await;
    let user_name = format!("{}@testuser.com", flow.value("random3"));
    assert_eq!(
        flow.drupal(&user_name).await["id"],
        flow.value("userId").as_str()
    );
    let renamed = flow
        .bridge
        .filter_users(&format!("userName eq \"{user_name}\""))
        .await;
    assert_eq!(renamed.body["totalResults"], 1);

    for file in [
        "entra-11-patch-disable-active-string-False",
        "entra-12-patch-disable-active-boolean-false",
        "entra-13-patch-disable-Replace-boolean",
    ] {
        flow.step(file).await;
        assert_eq!(
            flow.drupal(&user_name).await["attributes"]["status"],
            false,
            "{file}"
        );
    }
    let disabled = flow.step("entra-03-get-user").await;
    assert_eq!(disabled.body["active"], false, "still readable");

    let lookup = flow
        .step("entra-15-groups-filter-displayName-excluded-members")
        .await;
    assert_eq!(lookup.body["totalResults"], 1);

    let group = flow.step("entra-16-create-group").await;
    flow.bind("groupId", &group.body["id"]);
    assert_eq!(
        group.body["id"],
        flow.site.role_uuid("entra_app").await.as_str()
    );

    flow.step("entra-17-get-group-excluded-members").await;
    flow.step("entra-18-patch-group-add-members").await;
    assert_eq!(flow.roles_of(&user_name).await, vec!["entra_app"]);
    flow.step("entra-18-patch-group-add-members").await;

    flow.send("entra-19-patch-group-replace-displayName")
        .await
        .assert_scim_error(400, Some("mutability"));

    let joy = flow.value("managerId");
    flow.patch_members("add", std::slice::from_ref(&joy)).await;
    flow.step("entra-20-patch-group-remove-members-value-list")
        .await;
    assert!(flow.roles_of(&user_name).await.is_empty());
    assert_eq!(
        flow.roles_of("jyoung@testuser.com").await,
        vec!["entra_app"]
    );
    flow.step("entra-18-patch-group-add-members").await;
    flow.step("entra-21-patch-group-remove-member-filter-path")
        .await;
    assert!(flow.roles_of(&user_name).await.is_empty());

    flow.step("entra-22-delete-group").await;
    assert!(flow.roles_of("jyoung@testuser.com").await.is_empty());
    let after = flow
        .bridge
        .get(&format!("/Groups/{}", flow.value("groupId")))
        .await;
    assert_eq!(after.status, 200, "{}", after.body);

    flow.step("entra-14-delete-user").await;
    flow.bridge
        .get(&format!("/Users/{}", flow.value("userId")))
        .await
        .assert_scim_error(404, None);
    let kept = flow.drupal(&user_name).await;
    assert_eq!(kept["attributes"]["status"], false, "blocked, kept");
    assert_eq!(kept["attributes"]["field_scim_deprovisioned"], true);
    assert_eq!(flow.site.count_named(&user_name).await, 1);
}

#[tokio::test]
async fn okta_flow_users_then_group_push() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let mut flow = Replay::start(
        site,
        Idp::Okta,
        &["test.user@okta.local", "second.user@okta.local"],
    )
    .await;

    let connection = flow.step("okta-01-connection-test-list-users").await;
    assert!(connection.body["totalResults"].is_u64());
    let none = flow.step("okta-02-filter-userName").await;
    assert_eq!(none.body["totalResults"], 0);

    let created = flow.step("okta-03-create-user").await;
    flow.bind("userId", &created.body["id"]);
    let drupal = flow.drupal("test.user@okta.local").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "Test");
    assert_eq!(drupal["attributes"]["status"], true);
    flow.send("okta-03-create-user")
        .await
        .assert_scim_error(409, Some("uniqueness"));
    assert_eq!(flow.site.count_named("test.user@okta.local").await, 1);
    let found = flow.step("okta-02-filter-userName").await;
    assert_eq!(found.body["totalResults"], 1);

    flow.step("okta-04-get-user").await;
    let put = flow.step("okta-05-put-user").await;
    assert_eq!(put.body["active"], true);
    let drupal = flow.drupal("test.user@okta.local").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "Another");

    flow.step("okta-06-patch-deactivate").await;
    assert_eq!(
        flow.drupal("test.user@okta.local").await["attributes"]["status"],
        false
    );
    flow.step("okta-07-patch-reactivate").await;
    assert_eq!(
        flow.drupal("test.user@okta.local").await["attributes"]["status"],
        true
    );

    let groups = flow.step("okta-08-list-groups").await;
    assert_eq!(groups.body["totalResults"], 2);
    let group = flow.step("okta-09-create-group").await;
    flow.bind("groupId", &group.body["id"]);
    flow.step("okta-10-patch-group-rename").await;

    let second = flow.bridge.create_user("second.user@okta.local").await;
    flow.bind("userId2", &json!(second));
    flow.patch_members("add", std::slice::from_ref(&second))
        .await;

    flow.step("okta-11-patch-group-add-members").await;
    assert_eq!(
        flow.roles_of("test.user@okta.local").await,
        vec!["okta_push"]
    );
    flow.step("okta-12-patch-group-remove-and-add").await;
    assert!(flow.roles_of("second.user@okta.local").await.is_empty());
    flow.step("okta-13-patch-group-replace-members").await;
    assert_eq!(
        flow.roles_of("second.user@okta.local").await,
        vec!["okta_push"]
    );
    flow.step("okta-14-patch-group-replace-members-empty").await;
    assert!(flow.roles_of("second.user@okta.local").await.is_empty());
    assert!(flow.roles_of("test.user@okta.local").await.is_empty());

    flow.send("okta-15-put-group")
        .await
        .assert_scim_error(400, Some("mutability"));
    let aiw = flow.group_id("SCIM_test1").await;
    flow.bind("groupId", &json!(aiw));
    let put = flow.step("okta-15-put-group").await;
    assert_eq!(put.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        flow.roles_of("second.user@okta.local").await,
        vec!["okta_aiw"]
    );
    flow.step("okta-16-delete-group").await;
    assert!(flow.roles_of("second.user@okta.local").await.is_empty());
    assert!(flow.roles_of("test.user@okta.local").await.is_empty());
}

#[tokio::test]
async fn onelogin_flow_users_then_group_patch() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let mut flow = Replay::start(site, Idp::OneLogin, &["onelogin-test-user01"]).await;

    let none = flow.step("onelogin-01-filter-userName-plus-encoding").await;
    assert_eq!(none.body["totalResults"], 0);
    let created = flow.step("onelogin-02-create-user-legacy-urns").await;
    flow.bind("userId", &created.body["id"]);
    let drupal = flow.drupal("onelogin-test-user01").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "AAA Test");
    assert_eq!(drupal["attributes"]["mail"], flow.value("email").as_str());
    let found = flow.step("onelogin-01-filter-userName-plus-encoding").await;
    assert_eq!(found.body["totalResults"], 1);

    let put = flow
        .step("onelogin-03-put-user-trailing-question-mark")
        .await;
    assert_eq!(put.body["id"], flow.value("userId").as_str());
    flow.values
        .insert("email", "aaa.test.user01@new.example.org".into());
    flow.step("onelogin-04-patch-emails-single-object").await;
    assert_eq!(
        flow.drupal("onelogin-test-user01").await["attributes"]["mail"],
        "aaa.test.user01@new.example.org"
    );
    let group = flow.group_id("Engineering").await;
    flow.bind("groupId", &json!(group));
    flow.step("onelogin-05-patch-group-add-member").await;
    assert_eq!(
        flow.roles_of("onelogin-test-user01").await,
        vec!["engineering"]
    );
}

/// Names of accounts matching a SQL LIKE pattern (left by earlier runs).
async fn leftover_names(site: &Site, pattern: &str) -> Vec<String> {
    let out = site.php(&format!(
        r#"$s = \Drupal::entityTypeManager()->getStorage("user");
$ids = $s->getQuery()->accessCheck(FALSE)->condition("name", {pattern:?}, "LIKE")->condition("uid", 1, ">")->execute();
foreach ($s->loadMultiple($ids) as $u) {{ echo $u->getAccountName(), "\n"; }}"#
    ));
    out.lines().map(str::to_string).collect()
}

#[tokio::test]
async fn block_policy_blocks_marks_hides_and_reactivates_on_create() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-jay"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let id = bridge.create_user("rd-jay").await;
    assert_eq!(bridge.delete(&format!("/Users/{id}")).await.status, 204);
    let drupal = site.user("rd-jay").await.expect("kept in Drupal");
    assert_eq!(drupal["attributes"]["status"], false);
    assert_eq!(drupal["attributes"]["field_scim_deprovisioned"], true);
    bridge
        .get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    let found = bridge.filter_users("userName eq \"rd-jay\"").await;
    assert_eq!(found.body["totalResults"], 0, "{}", found.body);

    let again = bridge
        .post(
            "/Users",
            &json!({"userName": "rd-jay", "emails": [{"value": "rd-jay@example.org"}]}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str(), "the same Drupal account");
    let drupal = site.user("rd-jay").await.unwrap();
    assert_eq!(drupal["attributes"]["status"], true);
    assert_ne!(drupal["attributes"]["field_scim_deprovisioned"], true);
    assert_eq!(site.count_named("rd-jay").await, 1);
}

/// `deprovision: delete` under each of Drupal's cancel methods, in one test
/// because the cancel method is the site's.
#[tokio::test]
async fn delete_policy_follows_each_cancel_method() {
    let Some(site) = site() else { return };
    let _alone = crate::site::exclusive().await;
    let bridge = Bridge::start(
        &site,
        BridgeOptions {
            extra_config: "deprovision: delete\n".into(),
            ..BridgeOptions::default()
        },
    )
    .await;
    for (method, deleted) in [
        ("user_cancel_block", false),
        ("user_cancel_block_unpublish", false),
        ("user_cancel_reassign", true),
        ("user_cancel_delete", true),
    ] {
        let name = format!("rd-{}", method.replace('_', "-"));
        site.delete_users(&[&name]);
        site.config_set("user.settings", "cancel_method", method);
        let id = bridge.create_user(&name).await;
        let answer = bridge.delete(&format!("/Users/{id}")).await;
        assert_eq!(answer.status, 204, "{method}: {}", answer.body);
        let after = bridge.get(&format!("/Users/{id}")).await;
        match (deleted, site.user(&name).await) {
            (true, None) => after.assert_scim_error(404, None),
            (false, Some(user)) => {
                assert_eq!(user["attributes"]["status"], false, "{method} blocks");
                assert_eq!(after.status, 200, "{method}: {}", after.body);
                assert_eq!(after.body["active"], false);
            }
            (deleted, user) => panic!("{method}: deleted {deleted} expected, Drupal has {user:?}"),
        }
    }
    site.config_set("user.settings", "cancel_method", "user_cancel_block");
}

#[tokio::test]
async fn uid_1_and_administrators_are_never_changed() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-boss"]);
    let boss = site.create_user("rd-boss", &["administrator"]).await;
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let admin = bridge.filter_users("userName eq \"admin\"").await;
    let admin_id = admin.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (id, name) in [(&admin_id, "admin"), (&boss, "rd-boss")] {
        assert_eq!(bridge.get(&format!("/Users/{id}")).await.status, 200);
        bridge
            .patch(
                &format!("/Users/{id}"),
                &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            )
            .await
            .assert_scim_error(403, None);
        bridge
            .delete(&format!("/Users/{id}"))
            .await
            .assert_scim_error(403, None);
        let user = site.user(name).await.unwrap();
        assert_eq!(user["attributes"]["status"], true, "{name} untouched");
    }
}

#[tokio::test]
async fn a_lost_session_is_replaced_by_one_login_for_reads_and_writes() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-sid"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let id = bridge.create_user("rd-sid").await;
    site.end_sessions_of(&site.bridge_user);
    let read = bridge.get(&format!("/Users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(
        read.body["emails"][0]["value"], "rd-sid@example.org",
        "not anonymous's stripped view"
    );
    site.end_sessions_of(&site.bridge_user);
    let write = bridge
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await;
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(
        site.user("rd-sid").await.unwrap()["attributes"]["status"],
        false
    );
    site.end_sessions_of(&site.bridge_user);
    let lookup = bridge
        .filter_users("emails.value eq \"rd-sid@example.org\"")
        .await;
    assert_eq!(lookup.body["totalResults"], 1, "{}", lookup.body);
}

/// A wrong password on a throw-away account: one login, never repeated,
/// and the bridge's own account is not locked by it.
#[tokio::test]
async fn a_wrong_password_is_tried_once_and_locks_nobody_else() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-throwaway"]);
    site.create_user("rd-throwaway", &[]).await;
    let bridge = Bridge::start(
        &site,
        BridgeOptions {
            auth: Some("    username: rd-throwaway\n    password: \"not-its-password\"\n".into()),
            ..BridgeOptions::default()
        },
    )
    .await;
    for _ in 0..7 {
        let answer = bridge.filter_users("userName eq \"admin\"").await;
        answer.assert_scim_error(502, None);
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("credentials"));
        let write = bridge
            .post(
                "/Users",
                &json!({"userName": "rd-never", "emails": [{"value": "rd-never@example.org"}]}),
            )
            .await;
        write.assert_scim_error(502, None);
    }
    assert!(site.user("rd-never").await.is_none());
    assert_eq!(
        site.failed_logins("rd-throwaway"),
        1,
        "tried once, not 14 times"
    );
    assert_eq!(site.failed_logins(&site.bridge_user), 0);
    // The bridge's own account still logs in.
    let ok = Bridge::start(&site, BridgeOptions::default()).await;
    assert_eq!(ok.filter_users("userName eq \"admin\"").await.status, 200);
}

#[test]
fn statuses_are_read_from_the_expected_text() {
    assert_eq!(documented_statuses("200 OK (or 204)."), vec![200, 204]);
}

/// The same SCIM requests on SQLite and on MariaDB, whose collations
/// differ: lookups by userName and e-mail ignore case on both; sorting
/// follows the database (README, "SCIM support").
#[tokio::test]
async fn lookups_and_sorting_follow_the_database_collation() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let names = ["rd-coll-Zed", "rd-coll-amy"];
    site.delete_users(&names);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    for name in names {
        let answer = bridge
            .post(
                "/Users",
                &json!({"userName": name, "emails": [{"value": format!("{name}@Example.ORG")}]}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    // userName: Drupal compares names case-insensitively on every database.
    let by_name = bridge.filter_users("userName eq \"RD-COLL-AMY\"").await;
    assert_eq!(by_name.body["totalResults"], 1, "{}", by_name.body);
    let by_mail = bridge
        .filter_users("emails.value eq \"rd-coll-amy@example.org\"")
        .await;
    let sorted = bridge
        .get("/Users?filter=userName%20sw%20%22rd-coll-%22&sortBy=userName")
        .await;
    let order: Vec<&str> = sorted.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    eprintln!(
        "{}: mail lookup in other case finds {}, sort order {order:?}",
        site.db, by_mail.body["totalResults"]
    );
    // emails.value is caseExact false: found whatever the collation.
    assert_eq!(by_mail.body["totalResults"], 1, "{}", by_mail.body);
    match site.db.as_str() {
        // SQLite: ORDER BY compares bytes.
        "sqlite" => assert_eq!(order, ["rd-coll-Zed", "rd-coll-amy"]),
        // MariaDB's utf8mb4_general_ci ignores case.
        _ => assert_eq!(order, ["rd-coll-amy", "rd-coll-Zed"]),
    }
}
