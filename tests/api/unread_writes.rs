//! Writes to accounts the bridge has not seen within `account_cache_secs`
//! (a deprovisioning run, a reorganisation's group adds): a deactivation or
//! a one-member change goes to Drupal without reading the account when the
//! list of accounts no write may reach unread (uid 0, uid 1, holders of
//! protected roles, accounts SCIM DELETE marked), read less than the window
//! ago, does not name it. Every account it names is read and refused from
//! what Drupal holds now, as before.

use std::time::Duration;

use serde_json::json;

use drupal_scim_bridge::standin::AccountSeed;

use crate::helpers::{
    add_member, made, patch_op, set_active, spawn_app, spawn_app_exposing_admins, spawn_app_with,
    Options, TestApp,
};

/// Reads the list, by deactivating an account nobody minds.
async fn list_read(app: &TestApp) {
    let spare = app.seed_user("spare", "spare@example.org");
    let answer = app
        .patch(&format!("/Users/{spare}"), &set_active(false))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    app.drupal.clear_requests();
}

#[tokio::test]
async fn a_deactivation_of_an_account_not_seen_is_one_write_and_answers_the_account() {
    let app = spawn_app().await;
    list_read(&app).await;
    let id = app.seed_user("una", "una@example.org");
    let answer = app.patch(&format!("/Users/{id}"), &set_active(false)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["active"], false);
    assert_eq!(answer.body["userName"], "una");
    assert_eq!(made(&app), [format!("PATCH /jsonapi/user/user/{id}")]);
    assert_eq!(
        app.drupal_user("una").unwrap()["attributes"]["status"],
        false
    );

    // Okta's form, which sends the id back, to another account not seen.
    let other = app.seed_user("uri", "uri@example.org");
    app.drupal.set_status("uri", false);
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Users/{other}"),
            &patch_op(json!([{"op": "replace", "value": {"id": other, "active": true}}])),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(made(&app), [format!("PATCH /jsonapi/user/user/{other}")]);
    assert_eq!(answer.body["active"], true);
    assert_eq!(
        app.drupal_user("uri").unwrap()["attributes"]["status"],
        true
    );
}

#[tokio::test]
async fn accounts_on_the_list_are_read_and_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    list_read(&app).await;
    let first = app.drupal.user_by_name("admin").unwrap().id().to_string();
    let gone = app.create_user("gone", "gone@example.org").await;
    let deleted = app.delete(&format!("/Users/{gone}")).await;
    assert_eq!(deleted.status, 204);
    let group = app.group_id("editor").await;
    app.drupal.clear_requests();

    for (id, status) in [(&boss, 403), (&first, 403), (&gone, 404)] {
        app.patch(&format!("/Users/{id}"), &set_active(false))
            .await
            .assert_scim_error(status, None);
        let answer = app
            .patch(&format!("/Groups/{group}"), &add_member(id))
            .await;
        assert!(
            answer.status == 403 || answer.status == 400,
            "{id}: {}",
            answer.body
        );
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(app.roles_of("boss"), vec!["administrator"]);
    assert_eq!(app.roles_of("gone"), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("boss").unwrap()["attributes"]["status"],
        true
    );
}

#[tokio::test]
async fn the_anonymous_account_is_never_written() {
    let anonymous = "5ea1d2e8-0c5b-4f0e-9a55-000000000000";
    let mut options = Options::default();
    options.standin.anonymous_uuid = Some(anonymous.parse().unwrap());
    let app = spawn_app_with(options).await;
    app.patch(&format!("/Users/{anonymous}"), &set_active(false))
        .await
        .assert_scim_error(404, None);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn an_unknown_account_is_404_and_an_unknown_member_is_refused_or_skipped() {
    let app = spawn_app().await;
    list_read(&app).await;
    let nobody = "00000000-0000-4000-8000-00000000beef";
    app.patch(&format!("/Users/{nobody}"), &set_active(false))
        .await
        .assert_scim_error(404, None);
    let group = app.group_id("editor").await;
    let refused = app
        .patch(&format!("/Groups/{group}"), &add_member(nobody))
        .await;
    refused.assert_scim_error(400, Some("invalidValue"));
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("nothing was changed"), "{detail}");
    assert!(detail.contains(nobody), "{detail}");

    let skipping = spawn_app_with(Options {
        extra_config: "unknown_members: skip\n".into(),
        ..Options::default()
    })
    .await;
    list_read(&skipping).await;
    let group = skipping.group_id("editor").await;
    let answer = skipping
        .patch(&format!("/Groups/{group}"), &add_member(nobody))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
}

#[tokio::test]
async fn a_one_member_change_of_an_account_not_seen_is_one_write() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    list_read(&app).await;
    let id = app.seed_user("vic", "vic@example.org");
    let answer = app
        .patch(&format!("/Groups/{group}"), &add_member(&id))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        made(&app),
        [format!("POST /jsonapi/user/user/{id}/relationships/roles")]
    );
    assert_eq!(app.roles_of("vic"), vec!["editor"]);

    app.drupal.clear_requests();
    let remove = patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
    let answer = app.patch(&format!("/Groups/{group}"), &remove).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        made(&app),
        [format!(
            "DELETE /jsonapi/user/user/{id}/relationships/roles"
        )]
    );
    assert_eq!(app.roles_of("vic"), Vec::<String>::new());

    // Two members: each is read, so that one refused writes nothing.
    let other = app.seed_user("wes", "wes@example.org");
    let third = app.seed_user("xia", "xia@example.org");
    app.drupal.clear_requests();
    let both = patch_op(
        json!([{"op": "add", "path": "members", "value": [{"value": other}, {"value": third}]}]),
    );
    let answer = app.patch(&format!("/Groups/{group}"), &both).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(
        made(&app).iter().any(|r| r == "GET /jsonapi/user/user"),
        "{:?}",
        made(&app)
    );
}

#[tokio::test]
async fn the_list_is_read_again_once_the_window_has_passed() {
    let app = spawn_app_with(Options {
        extra_config: "account_cache_secs: 1\n".into(),
        ..Options::default()
    })
    .await;
    list_read(&app).await;
    let id = app.seed_user("yan", "yan@example.org");
    // A site administrator makes the account protected: the list read
    // before does not show it, one read after the window does.
    assert!(app.drupal.grant_role("yan", "administrator"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.patch(&format!("/Users/{id}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("yan").unwrap()["attributes"]["status"],
        true
    );
}

#[tokio::test]
async fn a_site_with_more_protected_accounts_than_the_list_holds_reads_every_account() {
    let app = spawn_app().await;
    let admins: Vec<AccountSeed> = (0..501)
        .map(|i| {
            let mut seed = AccountSeed::new(&format!("admin{i:03}"));
            seed.mail = Some(format!("admin{i:03}@example.org"));
            seed.roles = vec!["administrator".into()];
            seed
        })
        .collect();
    app.drupal.insert_users(&admins).unwrap();
    let id = app.seed_user("zoe", "zoe@example.org");
    let answer = app.patch(&format!("/Users/{id}"), &set_active(false)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let requests = made(&app);
    assert!(
        requests.contains(&format!("GET /jsonapi/user/user/{id}")),
        "{requests:?}"
    );
    // The list stays unusable for the window: the next account is read
    // without another try.
    let next = app.seed_user("zed", "zed@example.org");
    app.drupal.clear_requests();
    let answer = app
        .patch(&format!("/Users/{next}"), &set_active(false))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        made(&app),
        [
            format!("GET /jsonapi/user/user/{next}"),
            format!("PATCH /jsonapi/user/user/{next}")
        ]
    );
}

#[tokio::test]
async fn the_list_is_read_once_for_concurrent_writes() {
    let app = spawn_app().await;
    let ids: Vec<String> = (0..8)
        .map(|i| app.seed_user(&format!("c{i}"), &format!("c{i}@example.org")))
        .collect();
    app.drupal.set_latency(Duration::from_millis(50));
    let body = set_active(false);
    let paths: Vec<String> = ids.iter().map(|id| format!("/Users/{id}")).collect();
    let answers =
        futures_util::future::join_all(paths.iter().map(|path| app.patch(path, &body))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let reads: Vec<String> = made(&app)
        .into_iter()
        .filter(|r| r.starts_with("GET"))
        .collect();
    // The anonymous account's id and the list, once.
    assert_eq!(reads.len(), 2, "{reads:?}");
}

#[tokio::test]
async fn with_more_deprovisioned_accounts_than_the_list_holds_only_deactivations_go_unread() {
    let app = spawn_app().await;
    let left: Vec<AccountSeed> = (0..501)
        .map(|i| {
            let mut seed = AccountSeed::new(&format!("left{i:03}"));
            seed.mail = Some(format!("left{i:03}@example.org"));
            seed.status = false;
            seed.fields
                .insert("field_scim_deprovisioned".into(), json!(true));
            seed
        })
        .collect();
    let left = app.drupal.insert_users(&left).unwrap();
    list_read(&app).await;

    // A deactivation of an account not seen: written unread.
    let id = app.seed_user("ada", "ada@example.org");
    let answer = app.patch(&format!("/Users/{id}"), &set_active(false)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(made(&app), [format!("PATCH /jsonapi/user/user/{id}")]);

    // One of the deprovisioned: blocking it again changes nothing, and it
    // is gone for SCIM.
    app.drupal.clear_requests();
    app.patch(&format!("/Users/{}", left[7]), &set_active(false))
        .await
        .assert_scim_error(404, None);
    assert_eq!(
        app.drupal_user("left007").unwrap()["attributes"]["status"],
        false
    );
    // A reactivation, and a group add, may not go unread to one of them:
    // read, and refused.
    app.drupal.clear_requests();
    app.patch(&format!("/Users/{}", left[8]), &set_active(true))
        .await
        .assert_scim_error(404, None);
    let group = app.group_id("editor").await;
    app.patch(&format!("/Groups/{group}"), &add_member(&left[9]))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("left008").unwrap()["attributes"]["status"],
        false
    );
    assert_eq!(app.roles_of("left009"), Vec::<String>::new());

    // A group add of an account not seen reads it too.
    let bea = app.seed_user("bea", "bea@example.org");
    app.drupal.clear_requests();
    let answer = app
        .patch(&format!("/Groups/{group}"), &add_member(&bea))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(
        made(&app).iter().any(|r| r == "GET /jsonapi/user/user"),
        "{:?}",
        made(&app)
    );
    assert_eq!(app.roles_of("bea"), vec!["editor"]);
}

#[tokio::test]
async fn an_account_a_group_made_protected_is_read_before_the_next_write() {
    let app = spawn_app_exposing_admins().await;
    let admins = app.group_id("Admins").await;
    list_read(&app).await;
    let id = app.seed_user("pia", "pia@example.org");
    let answer = app
        .patch(&format!("/Groups/{admins}"), &add_member(&id))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        made(&app),
        [format!("POST /jsonapi/user/user/{id}/relationships/roles")]
    );
    assert_eq!(app.roles_of("pia"), vec!["administrator"]);

    // The list read before does not name her; the grant put her on it.
    app.drupal.clear_requests();
    app.patch(&format!("/Users/{id}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    assert_eq!(made(&app), [format!("GET /jsonapi/user/user/{id}")]);
    assert_eq!(
        app.drupal_user("pia").unwrap()["attributes"]["status"],
        true
    );
}
