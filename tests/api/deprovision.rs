//! SCIM DELETE under both policies, and the accounts the bridge protects.

use std::time::Duration;

use drupal_scim_bridge::standin::{AccountSeed, CancelMethod};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Options, DRUPAL_PASSWORD};

#[tokio::test]
async fn delete_under_block_policy_blocks_and_hides_the_account() {
    let app = spawn_app().await;
    let id = app.create_user("jay", "jay@example.org").await;
    let answer = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);

    let drupal = app
        .drupal_user("jay")
        .expect("the account is kept in Drupal");
    assert_eq!(drupal["attributes"]["status"], false);
    assert_eq!(drupal["attributes"]["field_scim_deprovisioned"], true);

    app.get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    app.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "replace", "path": "active", "value": true}]}),
    )
    .await
    .assert_scim_error(404, None);
    app.put(&format!("/Users/{id}"), &json!({"userName": "jay"}))
        .await
        .assert_scim_error(404, None);
    app.delete(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
    let found = app.filter_users("userName eq \"jay\"").await;
    assert_eq!(found.body["totalResults"], 0, "{}", found.body);
    let all = app.get("/Users").await;
    assert!(all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != id.as_str()));
}

#[tokio::test]
async fn creating_a_deprovisioned_user_again_reactivates_the_same_account() {
    let app = spawn_app().await;
    let id = app.create_user("kim", "kim@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let again = app
        .post(
            "/Users",
            &json!({"userName": "kim", "emails": [{"value": "kim@example.org"}]}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        again.body["id"],
        id.as_str(),
        "the same Drupal account, with its content"
    );
    assert_eq!(again.body["active"], true);
    let drupal = app.drupal_user("kim").unwrap();
    assert_eq!(drupal["attributes"]["status"], true);
    assert!(drupal["attributes"]["field_scim_deprovisioned"].is_null());
}

/// Creates of a deprovisioned userName sent at once revive the account
/// once: one 201, and a 409 for each of the others, as a create sent after
/// the revival gets. Each revival's write is held a while by Drupal, so
/// that without turns on the account they would all be under way at once.
#[tokio::test]
async fn creates_of_a_deprovisioned_user_sent_at_once_revive_it_once() {
    let app = spawn_app().await;
    let id = app.create_user("raceX", "racex@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    app.drupal.hold_requests_to(
        "PATCH",
        &format!("/jsonapi/user/user/{id}"),
        Duration::from_millis(300),
    );
    let answers = futures_util::future::join_all((0..5).map(|i| {
        let app = &app;
        async move {
            let user = json!({"userName": "raceX", "externalId": format!("racer-{i}"),
                              "name": {"givenName": format!("Racer {i}")},
                              "emails": [{"value": "racex@example.org"}]});
            app.post("/Users", &user).await
        }
    }))
    .await;
    let created: Vec<usize> = (0..5).filter(|i| answers[*i].status == 201).collect();
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(created.len(), 1, "exactly one revival: {statuses:?}");
    let winner = created[0];
    for (i, answer) in answers.iter().enumerate() {
        if i != winner {
            answer.assert_scim_error(409, Some("uniqueness"));
        }
    }
    let revived = &answers[winner].body;
    assert_eq!(revived["id"], id.as_str(), "{revived}");
    assert_eq!(
        revived["externalId"],
        format!("racer-{winner}"),
        "{revived}"
    );
    // Drupal holds what the one 201 said.
    let now = app.get(&format!("/Users/{id}")).await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(now.body["externalId"], format!("racer-{winner}"));
    assert_eq!(now.body["name"]["givenName"], format!("Racer {winner}"));
    assert_eq!(now.body["active"], true);
}

#[tokio::test]
async fn delete_policy_sends_a_jsonapi_delete_which_follows_the_cancel_method() {
    let app = spawn_app_with(Options {
        extra_config: "deprovision: delete\n".into(),
        ..Options::default()
    })
    .await;
    app.drupal.set_cancel_method(CancelMethod::Delete);
    let id = app.create_user("lea", "lea@example.org").await;
    app.drupal.clear_requests();
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    assert!(app
        .drupal
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path.ends_with(&id)));
    assert!(app.drupal_user("lea").is_none(), "really deleted");
    app.get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
}

#[tokio::test]
async fn delete_policy_with_drupals_default_cancel_method_only_blocks() {
    let app = spawn_app_with(Options {
        extra_config: "deprovision: delete\n".into(),
        ..Options::default()
    })
    .await;
    let id = app.create_user("max", "max@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let after = app.get(&format!("/Users/{id}")).await;
    assert_eq!(after.status, 200, "user_cancel_block keeps the account");
    assert_eq!(after.body["active"], false);
}

#[tokio::test]
async fn uid_1_and_protected_role_holders_are_never_changed() {
    let app = spawn_app().await;
    let mut boss = AccountSeed::new("boss");
    boss.mail = Some("boss@example.org".into());
    boss.roles = vec!["administrator".into()];
    let boss_id = app.drupal.insert_user(boss).unwrap();
    let admin = app.filter_users("userName eq \"admin\"").await;
    let admin_id = admin.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    for id in [&admin_id, &boss_id] {
        assert_eq!(
            app.get(&format!("/Users/{id}")).await.status,
            200,
            "reads are fine"
        );
        app.drupal.clear_requests();
        let patch = app
            .patch(
                &format!("/Users/{id}"),
                &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            )
            .await;
        patch.assert_scim_error(403, None);
        app.put(&format!("/Users/{id}"), &json!({"userName": "renamed"}))
            .await
            .assert_scim_error(403, None);
        app.delete(&format!("/Users/{id}"))
            .await
            .assert_scim_error(403, None);
        assert_eq!(
            app.drupal_writes(),
            Vec::<String>::new(),
            "no write reached Drupal"
        );
    }
    let uid1 = app
        .patch(
            &format!("/Users/{admin_id}"),
            &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await;
    assert!(uid1.body["detail"].as_str().unwrap().contains("uid 1"));
    let boss = app.delete(&format!("/Users/{boss_id}")).await;
    assert!(boss.body["detail"]
        .as_str()
        .unwrap()
        .contains("administrator"));
    assert_eq!(
        app.drupal_user("boss").unwrap()["attributes"]["status"],
        true
    );
}

#[tokio::test]
async fn a_recreated_user_gets_neither_its_old_groups_nor_its_old_attributes_back() {
    let app = spawn_app().await;
    let id = app.create_user("rehire", "rehire@example.org").await;
    let engineering = app.drupal.role_uuid("engineering").unwrap();
    let added = app
        .patch(
            &format!("/Groups/{engineering}"),
            &json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        )
        .await;
    assert_eq!(added.status, 204, "{}", added.body);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let kept = app.drupal_user("rehire").unwrap();
    assert_eq!(
        kept["relationships"]["roles"]["data"],
        json!([]),
        "deprovisioning takes the IdP's roles"
    );

    let again = app
        .post(
            "/Users",
            &json!({"userName": "rehire", "emails": [{"value": "rehire.new@example.org"}]}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str());
    assert!(again.body.get("groups").is_none(), "{}", again.body);
    assert!(
        again.body.get("externalId").is_none(),
        "the old externalId is gone: {}",
        again.body
    );
    let drupal = app.drupal_user("rehire").unwrap();
    assert!(drupal["attributes"]["field_scim_external_id"].is_null());
    assert_eq!(drupal["attributes"]["mail"], "rehire.new@example.org");
}

/// A deprovisioned account keeps its e-mail address in Drupal, where it is
/// unique, but SCIM shows the account to no one: the 409 a new user with
/// that address meets says where the address is and how to free it.
#[tokio::test]
async fn a_value_held_by_a_deprovisioned_account_is_a_conflict_that_says_so() {
    let app = spawn_app().await;
    let id = app.create_user("leaver", "desk@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let listed = app
        .filter_users("emails.value eq \"desk@example.org\"")
        .await;
    assert_eq!(listed.body["totalResults"], 0, "{}", listed.body);
    let newcomer = app
        .post(
            "/Users",
            &json!({"userName": "joiner", "emails": [{"value": "desk@example.org", "primary": true}]}),
        )
        .await;
    newcomer.assert_scim_error(409, Some("uniqueness"));
    let detail = newcomer.body["detail"].as_str().unwrap();
    assert!(detail.contains("desk@example.org"), "{detail}");
    assert!(detail.contains("deprovisioned"), "{detail}");
    // The holder by name, and what frees the address.
    assert!(detail.contains("\"leaver\""), "{detail}");
    assert!(
        detail.contains("another address, or deletes it"),
        "{detail}"
    );
    assert!(app.drupal.user_by_name("joiner").is_none());
    // Moving the address to another user, by PATCH (written after a read,
    // and written unread) or PUT: the same answer.
    let other = app.create_user("stayer", "stayer@example.org").await;
    let unseen = app.seed_user("seeded", "seeded@example.org");
    for id in [&other, &unseen] {
        let patched = app
            .patch(
                &format!("/Users/{id}"),
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "emails",
                                        "value": [{"value": "desk@example.org", "primary": true}]}]}),
            )
            .await;
        patched.assert_scim_error(409, Some("uniqueness"));
        assert!(
            patched.body["detail"]
                .as_str()
                .unwrap()
                .contains("\"leaver\""),
            "{}",
            patched.body
        );
    }
    let put = app
        .put(
            &format!("/Users/{other}"),
            &json!({"userName": "stayer", "emails": [{"value": "desk@example.org"}]}),
        )
        .await;
    put.assert_scim_error(409, Some("uniqueness"));
    assert!(put.body["detail"].as_str().unwrap().contains("\"leaver\""));
    // Created again, the account comes back with its address.
    let revived = app
        .post(
            "/Users",
            &json!({"userName": "leaver", "emails": [{"value": "desk@example.org"}]}),
        )
        .await;
    assert_eq!(revived.status, 201, "{}", revived.body);
    assert_eq!(revived.body["id"], id.as_str());
}

/// An address held by an account SCIM shows, which an administrator
/// renamed in Drupal (so the IdP's lookup by userName finds nothing, and it
/// creates the user again): the 409 names that account as SCIM shows it,
/// with its id, and gives no advice to delete it.
#[tokio::test]
async fn an_address_held_by_an_account_scim_shows_is_a_conflict_naming_it() {
    let app = spawn_app().await;
    let id = app.create_user("dr1", "dr1@example.org").await;
    let renamed = reqwest::Client::new()
        .patch(format!("{}/jsonapi/user/user/{id}", app.drupal_base_url()))
        .basic_auth("admin", Some(DRUPAL_PASSWORD))
        .header("Content-Type", "application/vnd.api+json")
        .body(
            json!({"data": {"type": "user--user", "id": id,
                            "attributes": {"name": "dr1-renamed"}}})
            .to_string(),
        )
        .send()
        .await
        .expect("the stand-in answers");
    assert_eq!(renamed.status(), 200);
    let found = app.filter_users("userName eq \"dr1\"").await;
    assert_eq!(found.body["totalResults"], 0, "{}", found.body);

    let again = app
        .post(
            "/Users",
            &json!({"userName": "dr1", "emails": [{"value": "dr1@example.org", "primary": true}]}),
        )
        .await;
    again.assert_scim_error(409, Some("uniqueness"));
    let detail = again.body["detail"].as_str().unwrap();
    assert!(detail.contains("dr1@example.org"), "{detail}");
    assert!(detail.contains("\"dr1-renamed\""), "{detail}");
    assert!(detail.contains(&id), "{detail}");
    assert!(!detail.to_lowercase().contains("delete"), "{detail}");
    assert!(!detail.contains("deprovisioned"), "{detail}");
    assert!(app.drupal.user_by_name("dr1").is_none());
    // Moving the address to another user: the same answer.
    let other = app.create_user("dr2", "dr2@example.org").await;
    let patched = app
        .patch(
            &format!("/Users/{other}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "emails",
                                    "value": [{"value": "dr1@example.org", "primary": true}]}]}),
        )
        .await;
    patched.assert_scim_error(409, Some("uniqueness"));
    let detail = patched.body["detail"].as_str().unwrap();
    assert!(detail.contains("\"dr1-renamed\""), "{detail}");
    assert!(!detail.to_lowercase().contains("delete"), "{detail}");
}

/// A SCIM DELETE whose write Drupal refused (503, a read-only JSON:API) or
/// whose outcome is unknown but that did not land leaves no trace: the
/// account stays visible, and a group may add it at once.
#[tokio::test]
async fn a_delete_that_did_not_happen_leaves_the_account_open_to_groups() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let id = app.create_user("una", "una@example.org").await;
    let path = format!("/jsonapi/user/user/{id}");
    let add = crate::helpers::add_member(&id);
    let remove = crate::helpers::patch_op(
        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
    );

    // Refused by Drupal: 503 (nothing written), then read-only (502).
    app.drupal.fail_requests_under("PATCH", &path, 503);
    let refused = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    app.drupal.stop_failing_requests_under("PATCH", &path);
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(user.status, 200, "{}", user.body);
    assert_eq!(user.body["active"], true);
    let added = app.patch(&format!("/Groups/{group}"), &add).await;
    assert!(added.status < 300, "{} {}", added.status, added.body);
    assert!(app.roles_of("una").contains(&"editor".to_string()));

    app.drupal.set_read_only(true);
    let refused = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(refused.status, 502, "{}", refused.body);
    app.drupal.set_read_only(false);
    assert!(app.patch(&format!("/Groups/{group}"), &remove).await.status < 300);
    let added = app.patch(&format!("/Groups/{group}"), &add).await;
    assert!(added.status < 300, "{} {}", added.status, added.body);

    // Unknown outcome (a gateway's 504; Drupal never had it): a read shows
    // the account active, and the addition goes through.
    app.drupal.fail_requests_under("PATCH", &path, 504);
    let unknown = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(unknown.status, 503, "{}", unknown.body);
    app.drupal.stop_failing_requests_under("PATCH", &path);
    assert!(app.patch(&format!("/Groups/{group}"), &remove).await.status < 300);
    let added = app.patch(&format!("/Groups/{group}"), &add).await;
    assert!(added.status < 300, "{} {}", added.status, added.body);
    assert!(app.roles_of("una").contains(&"editor".to_string()));
}

/// A DELETE whose answer was lost after Drupal carried it out keeps the
/// account out of groups: the read shows it deprovisioned.
#[tokio::test]
async fn a_delete_whose_answer_was_lost_keeps_the_account_out_of_groups() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let id = app.create_user("vic", "vic@example.org").await;
    app.drupal
        .lose_answer_to("PATCH", &format!("/jsonapi/user/user/{id}"), 504);
    let lost = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(lost.status, 503, "{}", lost.body);
    let added = app
        .patch(
            &format!("/Groups/{group}"),
            &crate::helpers::add_member(&id),
        )
        .await;
    added.assert_scim_error(400, Some("invalidValue"));
    assert!(!app.roles_of("vic").contains(&"editor".to_string()));
}
