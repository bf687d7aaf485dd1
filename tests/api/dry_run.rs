//! `dry_run: true` (`serve --dry-run`): the IdP gets plausible answers,
//! Drupal gets reads only.

use serde_json::json;

use crate::helpers::{patch_op, spawn_app_with, Options, TestApp};

async fn spawn_dry_run_app() -> TestApp {
    spawn_app_with(Options {
        extra_config: "dry_run: true\n".into(),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_create_answers_201_with_the_user_but_nothing_reaches_drupal() {
    let app = spawn_dry_run_app().await;
    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada",
                "password": "Tr0ub4dor&3",
                "externalId": "ext-ada",
                "emails": [{"value": "ada@example.org", "primary": true}]
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], "ada");
    assert_eq!(created.body["externalId"], "ext-ada");
    assert!(created.body["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(created.body.get("password").is_none());

    assert_eq!(app.drupal_user("ada"), None, "no account was created");
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn updates_and_deletes_answer_as_if_done_and_leave_the_account_alone() {
    let app = spawn_dry_run_app().await;
    let id = app.seed_user("grace", "grace@example.org");

    let replaced = app
        .put(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "grace",
                "emails": [{"value": "grace@navy.example", "primary": true}],
                "active": true
            }),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        replaced.body["emails"][0]["value"], "grace@navy.example",
        "the answer shows the change"
    );

    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["active"], false);

    let deleted = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    let account = app.drupal_user("grace").expect("still there");
    assert_eq!(account["attributes"]["mail"], "grace@example.org");
    assert_eq!(account["attributes"]["status"], true);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert!(
        !app.drupal.requests().is_empty(),
        "reads went through to Drupal"
    );
}

/// Groups too: a term group's create, member change and delete answer as
/// if done, and Drupal gets no term and no reference.
#[tokio::test]
async fn group_writes_answer_as_if_done_and_write_nothing() {
    let app = spawn_app_with(Options {
        mapping: crate::term_groups::term_mapping(),
        extra_config: "dry_run: true\n".into(),
        ..Options::default()
    })
    .await;
    let ada = app.seed_user("ada", "ada@example.org");
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Engineering", "members": [{"value": ada}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["displayName"], "Engineering");
    let id = created.body["id"].as_str().expect("id").to_string();

    // Nothing was created, so the group is not there to read back.
    assert_eq!(app.get(&format!("/Groups/{id}")).await.status, 404);

    // A group that exists (the role-backed `editor`): a member change
    // answers as done and writes nothing.
    let editor = app.group_id("editor").await;
    let added = app
        .patch(
            &format!("/Groups/{editor}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}])),
        )
        .await;
    assert!(added.status == 200 || added.status == 204, "{}", added.body);

    assert!(app.drupal.terms().is_empty(), "no term was created");
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
}
