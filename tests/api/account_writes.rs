//! Concurrent writes to one Drupal account. Drupal saves a user whole on
//! every write (its PATCH, and each relationship POST, PATCH or DELETE),
//! so two at once lose one's change while both answer 2xx. The stand-in
//! imitates that when it has a latency (it loads the account as a write
//! arrives and saves it whole after the delay); the bridge must send its
//! writes to one account one after the other for all of them to persist.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{add_member, mapping_with, patch_op, spawn_app_with, Options, TestApp};

/// Long enough that writes sent together overlap inside the stand-in.
const DRUPAL_LATENCY: Duration = Duration::from_millis(150);

/// The demo mapping with both demo roles as groups and term groups on.
fn mapping() -> String {
    let groups = "  - {role: editor, display_name: editor}\n  - {role: engineering, display_name: engineering}";
    format!(
        "{}group_terms: {{}}\n",
        mapping_with("demo.yaml", groups, "  []")
    )
}

async fn spawn() -> TestApp {
    spawn_app_with(Options {
        mapping: mapping(),
        ..Options::default()
    })
    .await
}

fn attribute(app: &TestApp, name: &str, field: &str) -> Value {
    let user = app.drupal_user(name).expect("the account");
    user["attributes"][field].clone()
}

#[tokio::test]
async fn concurrent_changes_of_different_attributes_of_one_user_all_persist() {
    let app = spawn().await;
    let id = app.create_user("conc", "conc@example.org").await;
    app.drupal.set_latency(DRUPAL_LATENCY);
    let changes = [
        ("name.givenName", "Given"),
        ("name.familyName", "Family"),
        ("externalId", "ext-changed"),
        ("displayName", "Shown Name"),
    ];
    let path = format!("/Users/{id}");
    let answers = join_all(changes.iter().map(|(attr, value)| {
        let body = patch_op(json!([{"op": "replace", "path": attr, "value": value}]));
        let path = path.clone();
        let app = &app;
        async move { app.patch(&path, &body).await }
    }))
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    app.drupal.set_latency(Duration::ZERO);
    for (field, value) in [
        ("field_first_name", "Given"),
        ("field_last_name", "Family"),
        ("field_scim_external_id", "ext-changed"),
        ("field_display_name", "Shown Name"),
    ] {
        assert_eq!(attribute(&app, "conc", field), json!(value), "{field}");
    }
    let read = app.get(&path).await;
    assert_eq!(read.body["name"]["givenName"], "Given");
    assert_eq!(read.body["name"]["familyName"], "Family");
    assert_eq!(read.body["externalId"], "ext-changed");
    assert_eq!(read.body["displayName"], "Shown Name");
}

#[tokio::test]
async fn concurrent_group_adds_of_one_user_all_persist_for_every_user() {
    let app = spawn().await;
    let editor = app.group_id("editor").await;
    let engineering = app.group_id("engineering").await;
    let sales = app.group_id("Sales").await;
    let mut users = Vec::new();
    for i in 0..10 {
        let name = format!("member{i}");
        let id = app.create_user(&name, &format!("{name}@example.org")).await;
        users.push((name, id));
    }
    app.drupal.set_latency(DRUPAL_LATENCY);
    // For each user, three adds at once, one to each group; all users at once.
    let adds = users.iter().flat_map(|(_, id)| {
        [&editor, &engineering, &sales].map(|group| {
            let (path, body) = (format!("/Groups/{group}"), add_member(id));
            let app = &app;
            async move { app.patch(&path, &body).await }
        })
    });
    for answer in join_all(adds).await {
        assert!(
            answer.status == 200 || answer.status == 204,
            "{}: {}",
            answer.status,
            answer.body
        );
    }
    app.drupal.set_latency(Duration::ZERO);
    for (name, _) in &users {
        let mut roles = app.roles_of(name);
        roles.sort();
        assert_eq!(roles, ["editor", "engineering"], "{name}");
        assert_eq!(
            app.drupal.group_refs(name),
            std::slice::from_ref(&sales),
            "{name}"
        );
    }
}

/// A DELETE and a PATCH that reactivates, sent together: whichever order
/// they take, the account ends blocked and gone for SCIM. (A PATCH that
/// read the account before the DELETE's write, then wrote after it, left
/// it active yet deprovisioned: able to log in, 404 to the IdP.)
#[tokio::test]
async fn a_delete_racing_a_reactivation_leaves_the_account_blocked() {
    let app = spawn().await;
    for (n, offset_ms) in [0u64, 40, 120, 200].into_iter().enumerate() {
        for replace in [false, true] {
            let name = format!("race{n}{}", if replace { "put" } else { "patch" });
            let email = format!("{name}@example.org");
            let id = app.create_user(&name, &email).await;
            let path = format!("/Users/{id}");
            let off = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
            assert_eq!(app.patch(&path, &off).await.status, 200);
            app.drupal.set_latency(DRUPAL_LATENCY);
            let reactivate = async {
                tokio::time::sleep(Duration::from_millis(offset_ms)).await;
                if replace {
                    let user = json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name, "active": true,
                        "emails": [{"value": email, "primary": true}],
                    });
                    app.put(&path, &user).await
                } else {
                    let on = patch_op(json!([{"op": "replace", "path": "active", "value": true}]));
                    app.patch(&path, &on).await
                }
            };
            let (deleted, reactivated) = tokio::join!(app.delete(&path), reactivate);
            app.drupal.set_latency(Duration::ZERO);
            assert_eq!(deleted.status, 204, "{}", deleted.body);
            assert!(
                [200, 404].contains(&reactivated.status),
                "{}: {}",
                reactivated.status,
                reactivated.body
            );
            assert_eq!(
                attribute(&app, &name, "status"),
                json!(false),
                "{name}: the account was left active after its DELETE ({} ms apart; the reactivation answered {})",
                offset_ms,
                reactivated.status
            );
            assert_eq!(app.get(&path).await.status, 404, "{name}");
        }
    }
}

/// A group member addition and a DELETE of that user, sent together:
/// whichever order they take, the deprovisioned account ends with neither
/// the group's role nor its term (the term group grants a role too).
/// Before, an addition that read the account before the DELETE and wrote
/// after it handed the access back to an account gone for SCIM.
#[tokio::test]
async fn a_delete_racing_a_group_addition_leaves_no_access() {
    let app = spawn_app_with(Options {
        mapping: crate::term_groups::term_mapping(),
        ..Options::default()
    })
    .await;
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Builders"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let editor = app.group_id("editor").await;
    let builders = created.body["id"].as_str().unwrap().to_string();
    for (n, offset_ms) in [0u64, 30, 90, 160, 240].into_iter().enumerate() {
        for group in [&editor, &builders] {
            let name = format!("gone{n}{}", if *group == editor { "r" } else { "t" });
            let id = app.create_user(&name, &format!("{name}@example.org")).await;
            app.drupal.set_latency(DRUPAL_LATENCY);
            let add = async {
                tokio::time::sleep(Duration::from_millis(offset_ms)).await;
                app.patch(&format!("/Groups/{group}"), &add_member(&id))
                    .await
            };
            let user_path = format!("/Users/{id}");
            let (deleted, added) = tokio::join!(app.delete(&user_path), add);
            app.drupal.set_latency(Duration::ZERO);
            assert_eq!(deleted.status, 204, "{}", deleted.body);
            assert!(added.status < 500, "{}: {}", added.status, added.body);
            assert_eq!(attribute(&app, &name, "status"), json!(false), "{name}");
            assert!(
                app.roles_of(&name).is_empty(),
                "{name} ({offset_ms} ms): kept {:?} after its DELETE",
                app.roles_of(&name)
            );
            assert!(
                app.drupal.group_refs(&name).is_empty(),
                "{name} ({offset_ms} ms): kept its group term"
            );
        }
    }
}

/// Drupal checks that an e-mail address is free, then saves, with no
/// unique index on addresses behind the check (the stand-in, with a
/// latency, checks as a write arrives and saves after the delay): creates
/// of one address sent at once all passed the check, and Drupal kept
/// several accounts with it (seen on a real Drupal by an outside tester,
/// 4 of 6). Writes of one address take turns, so one create is made and
/// the others are 409 `uniqueness`, as a create sent after it is.
#[tokio::test]
async fn creates_of_one_address_sent_at_once_make_one_account() {
    let app = spawn().await;
    let holder = app.create_user("mail-holder", "holder@example.org").await;
    app.drupal.set_latency(DRUPAL_LATENCY);
    let answers = join_all((0..4).map(|n| {
        let app = &app;
        async move {
            app.post(
                "/Users",
                &json!({"userName": format!("same-mail-{n}"), "emails": [{"value": "Shared@example.org"}]}),
            )
            .await
        }
    }))
    .await;
    // A change of an address to one being claimed waits its turn too.
    let (path, change) = (
        format!("/Users/{holder}"),
        patch_op(
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "moved@example.org"}]),
        ),
    );
    let late_user =
        json!({"userName": "same-mail-late", "emails": [{"value": "moved@example.org"}]});
    let (patched, late) = tokio::join!(app.patch(&path, &change), app.post("/Users", &late_user));
    app.drupal.set_latency(Duration::ZERO);

    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    for answer in answers.iter().filter(|a| a.status != 201) {
        answer.assert_scim_error(409, Some("uniqueness"));
    }
    let holders = (0..4)
        .filter(|n| app.drupal_user(&format!("same-mail-{n}")).is_some())
        .count();
    assert_eq!(holders, 1, "one account holds the address");
    let statuses = [patched.status, late.status];
    assert!(
        statuses == [200, 409] || statuses == [409, 201],
        "{}\n{}",
        patched.body,
        late.body
    );
}
