//! The bridge end to end against the real site: the IdP flows of
//! tests/common/flows.rs (the ones tests/api/idp_flows.rs runs against the
//! stand-in), an escalation sequence through groups, deprovisioning under both policies and every cancel method, protected
//! accounts, a lost session, and a wrong password. Drupal's side is checked
//! through JSON:API as the site's admin.

use serde_json::{json, Value};

use crate::flows::{self, Drupal, Stand, Target};
use crate::helpers::read;
use crate::site::{shared, site, Bridge, BridgeOptions, Site};

/// The bridge in front of the real site, logged in as scim-bridge.
struct Real(Site);

impl Stand for Real {
    type Side = Site;

    async fn start(&self, mapping: String) -> Target<Site> {
        let bridge = Bridge::start(
            &self.0,
            BridgeOptions {
                mapping,
                ..BridgeOptions::default()
            },
        )
        .await;
        Target {
            scim: bridge.base,
            client: bridge.client,
            drupal: self.0.clone(),
        }
    }
}

impl Drupal for Site {
    async fn forget(&self, users_like: &[&str], groups_like: &[&str]) {
        Site::forget(self, users_like, groups_like);
    }

    async fn user(&self, name: &str) -> Option<Value> {
        Site::user(self, name).await
    }

    async fn roles_of(&self, name: &str) -> Vec<String> {
        Site::roles_of(self, name).await
    }

    async fn group_refs(&self, name: &str) -> Vec<String> {
        let user = Site::user(self, name)
            .await
            .unwrap_or_else(|| panic!("no {name}"));
        crate::term_groups::group_refs(&user)
    }
}

#[tokio::test]
async fn entra_flow_users_then_unprepared_groups() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    flows::entra(&Real(site)).await;
}

#[tokio::test]
async fn okta_flow_users_then_group_push() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    flows::okta(&Real(site)).await;
}

#[tokio::test]
async fn onelogin_flow_users_then_group_push() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    flows::onelogin(&Real(site)).await;
}

#[tokio::test]
async fn jumpcloud_flow_test_connection_pushes_a_group() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    flows::jumpcloud(&Real(site)).await;
}

#[tokio::test]
async fn no_group_operation_escalates_and_other_groups_keep_their_roles() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    flows::escalation(&Real(site)).await;
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

/// A PUT's null clears what the demo mapping keeps when it is left out,
/// in values the real site accepts (a cleared time zone comes back as the
/// site's); what Drupal keeps a value in is refused as a PATCH remove of it
/// is; a time zone Drupal does not know is a 400.
#[tokio::test]
async fn a_put_clears_with_null_what_the_real_site_lets_be_cleared() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-put1"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let id = bridge.create_user("rd-put1").await;
    let path = format!("/Users/{id}");
    let email = json!([{"value": "rd-put1@example.org", "primary": true}]);
    let full = json!({"userName": "rd-put1", "emails": email, "timezone": "Europe/Paris",
                      "preferredLanguage": "en", "externalId": "ext-rd-put1",
                      "displayName": "Put One", "name": {"givenName": "Put", "familyName": "One"}});
    let put = bridge
        .request(reqwest::Method::PUT, &path, Some(&full))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let cleared = json!({"userName": "rd-put1", "emails": email, "timezone": null,
                         "preferredLanguage": null, "externalId": null,
                         "displayName": null, "name": {"givenName": null, "familyName": null}});
    let put = bridge
        .request(reqwest::Method::PUT, &path, Some(&cleared))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let attributes = &site.user("rd-put1").await.unwrap()["attributes"];
    for field in [
        "field_scim_external_id",
        "field_display_name",
        "field_first_name",
        "field_last_name",
        "preferred_langcode",
    ] {
        assert_eq!(attributes[field], Value::Null, "{field}: {attributes}");
    }
    assert_eq!(attributes["timezone"], "UTC");
    assert_eq!(attributes["mail"], "rd-put1@example.org");
    for body in [
        json!({"userName": "rd-put1", "emails": []}),
        json!({"userName": "rd-put1", "emails": email, "active": null}),
    ] {
        bridge
            .request(reqwest::Method::PUT, &path, Some(&body))
            .await
            .assert_scim_error(400, Some("mutability"));
    }
    let mars = json!({"userName": "rd-put1", "emails": email, "timezone": "Mars/Olympus"});
    bridge
        .request(reqwest::Method::PUT, &path, Some(&mars))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    let attributes = &site.user("rd-put1").await.unwrap()["attributes"];
    assert_eq!(attributes["status"], true);
    assert_eq!(attributes["timezone"], "UTC");
}

/// A deprovisioned account keeps its address on the real site too; the 409
/// names it.
#[tokio::test]
async fn an_address_a_deprovisioned_account_holds_is_a_409_naming_it() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-jdoe.old", "rd-jane.doe"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let id = bridge.create_user("rd-jdoe.old").await;
    assert_eq!(bridge.delete(&format!("/Users/{id}")).await.status, 204);
    let again = bridge
        .post(
            "/Users",
            &json!({"userName": "rd-jane.doe", "emails": [{"value": "rd-jdoe.old@example.org"}]}),
        )
        .await;
    again.assert_scim_error(409, Some("uniqueness"));
    let detail = again.body["detail"].as_str().unwrap();
    assert!(detail.contains("\"rd-jdoe.old\""), "{detail}");
}

/// Drupal checks that an e-mail address is free, then saves, with no
/// unique index behind the check: creates of one address sent at once
/// all passed it (an outside tester saw 4 accounts of 6 creates). The
/// bridge's writes of one address take turns: one account, the others 409.
#[tokio::test]
async fn creates_of_one_address_sent_at_once_make_one_account_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let names: Vec<String> = (0..6).map(|n| format!("rd-same-mail-{n}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    site.delete_users(&refs);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let answers = futures_util::future::join_all(names.iter().map(|name| {
        let bridge = &bridge;
        async move {
            bridge
                .post(
                    "/Users",
                    &json!({"userName": name, "emails": [{"value": "rd-same-mail@example.org"}]}),
                )
                .await
        }
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_scim_error(409, Some("uniqueness"));
    }
    let mut holders = 0;
    for name in &names {
        holders += site.count_named(name).await;
    }
    assert_eq!(holders, 1, "one account holds the address");
    site.delete_users(&refs);
}

/// userName ignores case in every script (RFC 7643), where Drupal's filter
/// on SQLite ignores it in ASCII only: the IdP's lookup finds "rd-émile"
/// as "RD-ÉMILE", and its create after a deprovisioning, in another case,
/// revives the account instead of a 409 for good.
#[tokio::test]
async fn user_names_cased_beyond_ascii_are_one_account_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-émile", "RD-ÉMILE"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    let answer = bridge
        .post(
            "/Users",
            &json!({"userName": "rd-émile", "emails": [{"value": "rd-emile@example.org"}]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_string();
    for spelling in ["RD-ÉMILE", "rd-Émile", "rd-émile"] {
        let found = bridge
            .filter_users(&format!("userName eq \"{spelling}\""))
            .await;
        assert_eq!(found.body["totalResults"], 1, "{spelling}: {}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }
    assert_eq!(bridge.delete(&format!("/Users/{id}")).await.status, 204);
    let again = bridge
        .post(
            "/Users",
            &json!({"userName": "RD-ÉMILE", "emails": [{"value": "rd-emile@example.org"}]}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str(), "the same Drupal account");
    // Revived under the name the IdP sent now.
    let drupal = site.user("RD-ÉMILE").await.expect("the revived account");
    assert_eq!(drupal["attributes"]["status"], true);
    site.delete_users(&["RD-ÉMILE", "rd-émile"]);
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
    site.forget_failed_logins();
    // The bridge's own account still logs in.
    let ok = Bridge::start(&site, BridgeOptions::default()).await;
    assert_eq!(ok.filter_users("userName eq \"admin\"").await.status, 200);
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

/// A userName differing from another account's only in non-ASCII case is
/// taken, on every database: on SQLite Drupal says so (422); on MariaDB its
/// check misses it and the unique index fails the insert (Drupal answers
/// 500), which the bridge recognises as the same 409, not a 503 an IdP
/// would retry for ever. A rename onto it likewise.
#[tokio::test]
async fn a_user_name_taken_in_non_ascii_case_is_409_on_every_database() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let names = ["rd-ÉMILE", "rd-émile", "rd-other"];
    site.delete_users(&names);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    bridge.create_user("rd-ÉMILE").await;
    let again = bridge
        .post(
            "/Users",
            &json!({"userName": "rd-émile", "emails": [{"value": "rd-emile2@example.org"}]}),
        )
        .await;
    assert_eq!(again.status, 409, "{}: {}", site.db, again.body);
    assert_eq!(again.body["scimType"], "uniqueness");
    let other = bridge.create_user("rd-other").await;
    let renamed = bridge
        .patch(
            &format!("/Users/{other}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "userName", "value": "rd-émile"}]}),
        )
        .await;
    assert_eq!(renamed.status, 409, "{}: {}", site.db, renamed.body);
    site.delete_users(&names);
}

/// SCIM's userName ignores case, never accents. MariaDB's default
/// collation ignores both (`name = 'rd-jose'` finds "rd-josé"), so the
/// bridge re-checks what Drupal answers: an IdP looking up "rd-jose"
/// before creating it finds nothing, on every database. Creating it then
/// succeeds where Drupal can hold both names (SQLite) and is a 409 saying
/// why where its unique index counts them as one (MariaDB).
#[tokio::test]
async fn user_names_differing_in_accents_are_different_users_for_scim() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let names = ["rd-josé", "rd-jose", "rd-Müller"];
    site.delete_users(&names);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    bridge.create_user("rd-josé").await;
    bridge.create_user("rd-Müller").await;
    let names_of = |body: &Value| -> Vec<String> {
        body["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {body}"))
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_string())
            .collect()
    };
    for (filter, expected) in [
        (r#"userName eq "rd-jose""#, vec![]),
        (r#"userName eq "RD-JOSE""#, vec![]),
        (r#"userName eq "rd-muller""#, vec![]),
        (r#"userName sw "rd-jose""#, vec![]),
        (r#"userName eq "RD-JOSÉ""#, vec!["rd-josé"]),
        (r#"userName eq "rd-müller""#, vec!["rd-Müller"]),
    ] {
        let answer = bridge.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{}: {filter}: {}", site.db, answer.body);
        assert_eq!(names_of(&answer.body), expected, "{}: {filter}", site.db);
        assert_eq!(
            answer.body["totalResults"],
            expected.len(),
            "{}: {filter}",
            site.db
        );
        let searched = bridge
            .post("/Users/.search", &json!({"filter": filter}))
            .await;
        assert_eq!(
            names_of(&searched.body),
            expected,
            "{}: search {filter}",
            site.db
        );
    }
    let plain = bridge
        .post(
            "/Users",
            &json!({"userName": "rd-jose", "emails": [{"value": "rd-jose-plain@example.org"}]}),
        )
        .await;
    match site.db.as_str() {
        "sqlite" => assert_eq!(plain.status, 201, "{}", plain.body),
        _ => {
            assert_eq!(plain.status, 409, "{}: {}", site.db, plain.body);
            assert_eq!(plain.body["scimType"], "uniqueness");
            let detail = plain.body["detail"].as_str().unwrap();
            assert!(detail.contains("accents"), "{detail}");
        }
    }
    // Whatever happened, "rd-josé" is untouched.
    let josé = site.user("rd-josé").await.expect("rd-josé is kept");
    assert_eq!(josé["attributes"]["name"], "rd-josé");
    site.delete_users(&names);
}

/// What groups kept as taxonomy terms (issue 15) need of the site: the
/// scim_groups vocabulary with its external id field, the users'
/// field_scim_groups, and the term permissions on the bridge's role.
#[tokio::test]
async fn the_site_is_ready_for_groups_kept_as_terms() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-term-member"]);
    let member = site.create_user("rd-term-member", &[]).await;
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", site.url))
            .basic_auth(&site.bridge_user, Some(&site.bridge_pass))
            .header("Accept", crate::site::JSON_API);
        if let Some(body) = body {
            request = request
                .header("Content-Type", crate::site::JSON_API)
                .body(body.to_string());
        }
        async move { read(request.send().await.expect("Drupal answers")).await }
    };
    let term = send(
        reqwest::Method::POST,
        "/jsonapi/taxonomy_term/scim_groups",
        Some(json!({"data": {"type": "taxonomy_term--scim_groups",
            "attributes": {"name": "rd-term", "field_scim_external_id": "rd-ext"}}})),
    )
    .await;
    assert_eq!(term.status, 201, "as scim-bridge: {}", term.body);
    let term_id = term.body["data"]["id"].as_str().unwrap().to_string();
    let joined = send(
        reqwest::Method::POST,
        &format!("/jsonapi/user/user/{member}/relationships/field_scim_groups"),
        Some(json!({"data": [{"type": "taxonomy_term--scim_groups", "id": term_id}]})),
    )
    .await;
    assert_eq!(joined.status, 204, "{}", joined.body);
    let user = site.user("rd-term-member").await.unwrap();
    assert_eq!(
        user["relationships"]["field_scim_groups"]["data"][0]["id"],
        term_id.as_str()
    );
    let renamed = send(
        reqwest::Method::PATCH,
        &format!("/jsonapi/taxonomy_term/scim_groups/{term_id}"),
        Some(
            json!({"data": {"type": "taxonomy_term--scim_groups", "id": term_id,
            "attributes": {"name": "rd-term-renamed"}}}),
        ),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let deleted = send(
        reqwest::Method::DELETE,
        &format!("/jsonapi/taxonomy_term/scim_groups/{term_id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
}

/// A bridge that stops logs out: Drupal's `sessions` table keeps no valid
/// session of the bridge's account behind it. An account of its own, so
/// that no other test's session is counted.
#[tokio::test]
async fn a_stopping_bridge_ends_its_session_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let name = "rd-logout-bridge";
    let password = format!("pw-{}", uuid::Uuid::new_v4());
    site.delete_users(&[name]);
    let uuid = site.create_user(name, &["scim_bridge"]).await;
    let set = site
        .admin(
            reqwest::Method::PATCH,
            &format!("/jsonapi/user/user/{uuid}"),
            Some(json!({"data": {"type": "user--user", "id": uuid,
                "attributes": {"pass": {"value": password}}}})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let bridge = Bridge::start(
        &site,
        BridgeOptions {
            auth: Some(format!(
                "    username: {name}\n    password: \"{password}\"\n"
            )),
            ..BridgeOptions::default()
        },
    )
    .await;
    assert_eq!(bridge.get("/Users?count=1").await.status, 200);
    assert_eq!(site.sessions_of(name), 1, "the bridge logged in");
    bridge.stop().await;
    assert_eq!(site.sessions_of(name), 0, "the bridge logged out");
    site.delete_users(&[name]);
}
