//! PUT, state-independent PATCH and group membership changes of an account
//! the bridge saw less than `account_cache_secs` ago go to Drupal without a
//! read first. What such a
//! write may rely on from what was seen, and what always sends the bridge
//! back to Drupal for the account as it is now.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    add_member, captured_logs, made, mapping_with, patch_op, set_active, spawn_app,
    spawn_app_exposing_admins, spawn_app_with, Options,
};

#[tokio::test]
async fn a_patch_setting_the_value_seen_asks_drupal_and_writes_what_changed_there() {
    let app = spawn_app().await;
    let id = app.create_user("ida", "ida@example.org").await;
    // A site administrator blocks the account after the bridge saw it active.
    assert!(app.drupal.set_status("ida", false));

    // One value differs from the one seen, the other does not.
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "replace", "path": "externalId", "value": "ext-ida-2"},
                {"op": "replace", "path": "active", "value": true}
            ])),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["active"], true);
    let stored = app.drupal_user("ida").unwrap();
    assert_eq!(
        stored["attributes"]["status"], true,
        "the IdP's reactivation reached Drupal"
    );
    assert_eq!(stored["attributes"]["field_scim_external_id"], "ext-ida-2");
}

#[tokio::test]
async fn a_put_equal_to_the_account_seen_asks_drupal_and_writes_what_changed_there() {
    let app = spawn_app().await;
    let id = app.create_user("ivo", "ivo@example.org").await;
    assert!(app.drupal.set_status("ivo", false));

    let resource = json!({"userName": "ivo", "emails": [{"value": "ivo@example.org", "primary": true}], "externalId": "ext-ivo", "active": true});
    let answer = app.put(&format!("/Users/{id}"), &resource).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        app.drupal_user("ivo").unwrap()["attributes"]["status"],
        true
    );

    // The same PUT again matches Drupal too: read, and nothing written.
    app.drupal.clear_requests();
    let again = app.put(&format!("/Users/{id}"), &resource).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(made(&app), [format!("GET /jsonapi/user/user/{id}")]);
}

#[tokio::test]
async fn an_account_seen_holding_a_protected_role_is_read_again_and_refused() {
    let app = spawn_app().await;
    let id = app.seed_user_with_roles("boss", &["administrator"]);
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    app.drupal.clear_requests();

    app.patch(&format!("/Users/{id}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    assert_eq!(made(&app), [format!("GET /jsonapi/user/user/{id}")]);
    assert!(app.drupal_writes().is_empty());
}

#[tokio::test]
async fn a_protected_role_granted_in_drupal_after_the_account_was_seen_is_reported_and_then_refused(
) {
    let logs = captured_logs();
    let app = spawn_app().await;
    let id = app
        .create_user("late-grant", "late-grant@example.org")
        .await;
    assert!(app.drupal.grant_role("late-grant", "administrator"));

    // Inside the window the write goes through unread: the one thing a
    // cached account cannot know. The operator is told at once.
    let answer = app.patch(&format!("/Users/{id}"), &set_active(false)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let logged = logs.contents();
    let line = logged
        .lines()
        .find(|l| l.contains("late-grant") && l.contains("changed in Drupal in between"))
        .expect("the write to a now-protected account is logged");
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert!(line.contains("administrator"), "{line}");

    // Drupal's answer showed the role: the next write reads and refuses.
    app.patch(&format!("/Users/{id}"), &set_active(true))
        .await
        .assert_scim_error(403, None);
}

#[tokio::test]
async fn joining_a_protected_group_through_scim_makes_the_next_write_read_and_refuse() {
    let app = spawn_app_exposing_admins().await;
    let group = app.group_id("Admins").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let joined = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ann}]}])),
        )
        .await;
    assert_eq!(joined.status, 204, "{}", joined.body);
    app.drupal.clear_requests();

    app.patch(&format!("/Users/{ann}"), &set_active(false))
        .await
        .assert_scim_error(403, None);
    assert!(app.drupal_writes().is_empty());
}

#[tokio::test]
async fn if_match_is_compared_with_the_account_in_drupal_not_with_the_one_seen() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "vera", "emails": [{"value": "vera@example.org"}]}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let version = created.header("etag").unwrap().to_string();
    // Changed in Drupal since: the version the IdP holds is old.
    assert!(app.drupal.set_status("vera", false));
    app.drupal.clear_requests();

    app.request_with(
        Method::PATCH,
        &format!("/Users/{id}"),
        &[("If-Match", &version)],
        Some(&set_active(false)),
    )
    .await
    .assert_scim_error(412, None);
    assert!(app.drupal_writes().is_empty());
}

#[tokio::test]
async fn an_account_deleted_in_drupal_after_it_was_seen_is_404_and_forgotten() {
    let app = spawn_app().await;
    let id = app.create_user("gone-soon", "gone-soon@example.org").await;
    assert!(app.drupal.delete_user(&id));

    app.patch(&format!("/Users/{id}"), &set_active(false))
        .await
        .assert_scim_error(404, None);
    app.drupal.clear_requests();
    app.patch(&format!("/Users/{id}"), &set_active(false))
        .await
        .assert_scim_error(404, None);
    // Forgotten: no copy to write from, so the list of accounts to refuse
    // is read before the write (see write_guard), and Drupal's 404 stands.
    assert_eq!(
        made(&app),
        [
            "GET /jsonapi/user/user".to_string(),
            "GET /jsonapi/user/user".to_string(),
            format!("PATCH /jsonapi/user/user/{id}")
        ]
    );
}

#[tokio::test]
async fn role_rules_and_account_cache_secs_0_make_every_write_read_first() {
    let rules = spawn_app_with(Options {
        mapping: mapping_with(
            "demo.yaml",
            "  - {role: engineering, display_name: engineering}",
            "  - when: enterprise:department eq \"Engineering\"\n    role: engineering",
        ),
        ..Options::default()
    })
    .await;
    let off = spawn_app_with(Options {
        extra_config: "account_cache_secs: 0\n".into(),
        ..Options::default()
    })
    .await;
    for app in [&rules, &off] {
        let id = app.create_user("rita", "rita@example.org").await;
        app.drupal.clear_requests();
        let answer = app.patch(&format!("/Users/{id}"), &set_active(false)).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            made(app),
            [
                format!("GET /jsonapi/user/user/{id}"),
                format!("PATCH /jsonapi/user/user/{id}")
            ]
        );
    }
}

/// A role-backed group, and a term-backed one that grants a role, each
/// on a bridge of its own: the group's name there.
async fn both_kinds_of_group() -> [(crate::helpers::TestApp, &'static str); 2] {
    let roles = spawn_app().await;
    let terms = spawn_app_with(Options {
        mapping: crate::term_groups::term_mapping(),
        ..Options::default()
    })
    .await;
    [(roles, "engineering"), (terms, "Engineering")]
}

#[tokio::test]
async fn a_member_added_right_after_the_account_was_written_is_not_read_again() {
    for (app, name) in &both_kinds_of_group().await {
        let group = app.group_id(name).await;
        let id = app.create_user("nia", "nia@example.org").await;
        app.drupal.clear_requests();

        let answer = app
            .patch(&format!("/Groups/{group}"), &add_member(&id))
            .await;
        assert_eq!(answer.status, 204, "{name}: {}", answer.body);
        let made = made(app);
        assert!(
            !made.is_empty() && made.iter().all(|r| r.starts_with("POST ")),
            "{name}: only the membership writes: {made:?}"
        );
        assert_eq!(app.roles_of("nia"), ["engineering"], "{name}");
    }
}

/// The account seen is trusted to make a write, never to skip one: a
/// membership change it shows as made already is checked against Drupal,
/// which may have changed the account since (a role taken or granted by a
/// site administrator). Before, the change was answered 204 and nothing
/// was written, though the group's own read showed the opposite.
#[tokio::test]
async fn a_membership_change_the_account_seen_shows_as_made_is_checked_in_drupal() {
    for (app, name) in &both_kinds_of_group().await {
        let name = *name;
        let group = app.group_id(name).await;
        let id = app.create_user("tia", "tia@example.org").await;
        // Seen without the role; a site administrator grants it.
        assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
        assert!(app.drupal.grant_role("tia", "engineering"));

        let removed = app
            .patch(
                &format!("/Groups/{group}"),
                &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])),
            )
            .await;
        assert_eq!(removed.status, 204, "{name}: {}", removed.body);
        if name == "engineering" {
            assert!(app.roles_of("tia").is_empty(), "{name}: the role is taken");
        }

        // Seen as a member; Drupal has lost the membership since.
        let added = app
            .patch(&format!("/Groups/{group}"), &add_member(&id))
            .await;
        assert_eq!(added.status, 204, "{name}: {}", added.body);
        assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
        assert_eq!(app.roles_of("tia"), ["engineering"], "{name}");
        assert!(app.drupal.clear_roles_and_groups("tia"));
        let again = app
            .patch(&format!("/Groups/{group}"), &add_member(&id))
            .await;
        assert_eq!(again.status, 204, "{name}: {}", again.body);
        assert_eq!(
            app.roles_of("tia"),
            ["engineering"],
            "{name}: written again"
        );
        if name == "Engineering" {
            assert_eq!(app.drupal.group_refs("tia"), vec![group.clone()], "{name}");
        }
    }
}

#[tokio::test]
async fn a_member_seen_holding_a_protected_role_is_read_again_and_refused() {
    let app = spawn_app().await;
    let group = app.group_id("engineering").await;
    let id = app.seed_user_with_roles("chief", &["administrator"]);
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    app.drupal.clear_requests();

    app.patch(&format!("/Groups/{group}"), &add_member(&id))
        .await
        .assert_scim_error(403, None);
    assert_eq!(made(&app), ["GET /jsonapi/user/user"], "read again");
    assert!(app.drupal_writes().is_empty());
    assert_eq!(app.roles_of("chief"), ["administrator"]);
}

#[tokio::test]
async fn with_account_cache_secs_0_every_member_is_read_before_its_write() {
    let app = spawn_app_with(Options {
        extra_config: "account_cache_secs: 0\n".into(),
        ..Options::default()
    })
    .await;
    let group = app.group_id("engineering").await;
    let id = app.create_user("noor", "noor@example.org").await;
    app.drupal.clear_requests();

    let answer = app
        .patch(&format!("/Groups/{group}"), &add_member(&id))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        made(&app),
        [
            "GET /jsonapi/user/user".to_string(),
            format!("POST /jsonapi/user/user/{id}/relationships/roles")
        ]
    );
}
