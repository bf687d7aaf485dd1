//! The README's table of Drupal requests per SCIM operation, row by row:
//! each test counts what reached the stand-in (after the session login,
//! which happens once per bridge process).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

/// Drupal requests the operation `run` made, as "METHOD path" lines.
async fn drupal_requests<F, Fut>(app: &TestApp, run: F) -> Vec<String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    app.drupal.clear_requests();
    let status = run().await;
    assert!(
        (200..300).contains(&status),
        "the operation succeeded: {status}"
    );
    app.drupal
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Drupal requests a PATCH of the user `id` with `operations` made.
async fn patch_requests(app: &TestApp, id: &str, operations: &Value) -> Vec<String> {
    drupal_requests(app, || async {
        app.patch(&format!("/Users/{id}"), &json!({"Operations": operations}))
            .await
            .status
    })
    .await
}

async fn ready_app() -> (TestApp, String) {
    let app = spawn_app().await;
    app.log_in().await;
    let id = app.create_user("row", "row@example.org").await;
    (app, id)
}

#[tokio::test]
async fn create_makes_one_request() {
    let (app, _) = ready_app().await;
    let made = drupal_requests(&app, || async {
        app.post(
            "/Users",
            &json!({"userName": "new", "emails": [{"value": "new@example.org"}]}),
        )
        .await
        .status
    })
    .await;
    assert_eq!(made, ["POST /jsonapi/user/user"]);
}

#[tokio::test]
async fn get_by_id_makes_one_request() {
    let (app, id) = ready_app().await;
    let made = drupal_requests(&app, || async {
        app.get(&format!("/Users/{id}")).await.status
    })
    .await;
    assert_eq!(made, [format!("GET /jsonapi/user/user/{id}")]);
}

#[tokio::test]
async fn lookups_by_user_name_external_id_and_email_make_one_request_each() {
    let (app, _) = ready_app().await;
    for filter in [
        "userName eq \"row\"",
        "externalId eq \"ext-row\"",
        "emails.value eq \"row@example.org\"",
        "emails eq \"row@example.org\"",
    ] {
        let made = drupal_requests(&app, || async {
            let answer = app.filter_users(filter).await;
            assert_eq!(answer.body["totalResults"], 1, "{filter}: {}", answer.body);
            answer.status
        })
        .await;
        assert_eq!(made, ["GET /jsonapi/user/user"], "{filter}");
    }
}

#[tokio::test]
async fn a_list_page_of_100_makes_the_page_requests_and_counts_only_when_needed() {
    let (app, _) = ready_app().await;
    let made = drupal_requests(&app, || async { app.get("/Users?count=100").await.status }).await;
    assert_eq!(
        made.len(),
        1,
        "two accounts fit in one Drupal page: {made:?}"
    );
}

/// An account the bridge saw a moment ago (here: created) needs no read
/// before a PUT: the protections were checked on what was seen.
#[tokio::test]
async fn put_after_the_account_was_seen_makes_one_write() {
    let (app, id) = ready_app().await;
    let made = drupal_requests(&app, || async {
        app.put(
            &format!("/Users/{id}"),
            &json!({"userName": "row", "emails": [{"value": "row2@example.org"}], "active": true}),
        )
        .await
        .status
    })
    .await;
    assert_eq!(made, [format!("PATCH /jsonapi/user/user/{id}")]);
}

/// Entra's order: look the account up, then deactivate it.
#[tokio::test]
async fn deactivate_after_a_lookup_makes_one_write() {
    let (app, _) = ready_app().await;
    let found = app.filter_users("userName eq \"row\"").await;
    let id = found.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for operations in [
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
        // Okta's form, which sends the id back.
        json!([{"op": "replace", "value": {"id": id, "active": true}}]),
    ] {
        let made = patch_requests(&app, &id, &operations).await;
        assert_eq!(
            made,
            [format!("PATCH /jsonapi/user/user/{id}")],
            "{operations}"
        );
    }
}

/// A deactivation of accounts the bridge has not seen: the first reads the
/// list of accounts no write may reach unread (the anonymous account's id
/// once per process, then the list), and every one until the list is
/// `account_cache_secs` old makes only its write.
#[tokio::test]
async fn deactivations_of_accounts_not_seen_share_one_read_of_the_accounts_to_refuse() {
    let (app, _) = ready_app().await;
    let first = app.seed_user("unseen1", "unseen1@example.org");
    let second = app.seed_user("unseen2", "unseen2@example.org");
    let operations = json!([{"op": "Replace", "path": "active", "value": "False"}]);
    let made = patch_requests(&app, &first, &operations).await;
    assert_eq!(
        made,
        [
            "GET /jsonapi/user/user".to_string(),
            "GET /jsonapi/user/user".to_string(),
            format!("PATCH /jsonapi/user/user/{first}")
        ]
    );
    let made = patch_requests(&app, &second, &operations).await;
    assert_eq!(made, [format!("PATCH /jsonapi/user/user/{second}")]);
    assert_eq!(
        app.drupal_user("unseen2").unwrap()["attributes"]["status"],
        false
    );
}

/// A PUT of an account the bridge has not seen within
/// `account_cache_secs`, and any PATCH whose outcome depends on the
/// account's values, is read first.
#[tokio::test]
async fn put_and_patch_of_an_account_not_seen_or_depending_on_its_values_read_first() {
    let (app, seen) = ready_app().await;
    let unseen = app.seed_user("unseen", "unseen@example.org");
    let cases = [
        (
            &unseen,
            json!([{"op": "replace", "path": "name.givenName", "value": "Una"}]),
        ),
        (
            &seen,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "row3@example.org"}]),
        ),
        (
            &seen,
            json!([{"op": "add", "path": "emails", "value": [{"value": "row4@example.org", "primary": true}]}]),
        ),
        (
            &seen,
            json!([{"op": "remove", "path": "externalId"}, {"op": "replace", "path": "active", "value": true}]),
        ),
    ];
    for (id, operations) in cases {
        let made = patch_requests(&app, id, &operations).await;
        assert_eq!(
            made,
            [
                format!("GET /jsonapi/user/user/{id}"),
                format!("PATCH /jsonapi/user/user/{id}")
            ],
            "{operations}"
        );
    }
    // The PATCH above made `unseen` seen: another one.
    let unseen = app.seed_user("unseen2", "unseen2@example.org");
    let made = drupal_requests(&app, || async {
        app.put(
            &format!("/Users/{unseen}"),
            &json!({"userName": "unseen2", "emails": [{"value": "u2@example.org"}]}),
        )
        .await
        .status
    })
    .await;
    assert_eq!(
        made,
        [
            format!("GET /jsonapi/user/user/{unseen}"),
            format!("PATCH /jsonapi/user/user/{unseen}")
        ]
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_makes_only_the_read() {
    let (app, id) = ready_app().await;
    let operations = json!([{"op": "replace", "path": "userName", "value": "row"}]);
    let made = patch_requests(&app, &id, &operations).await;
    assert_eq!(made, [format!("GET /jsonapi/user/user/{id}")]);
}

#[tokio::test]
async fn delete_under_the_block_policy_makes_a_read_and_a_write() {
    let (app, id) = ready_app().await;
    let made = drupal_requests(&app, || async {
        app.delete(&format!("/Users/{id}")).await.status
    })
    .await;
    assert_eq!(
        made,
        [
            format!("GET /jsonapi/user/user/{id}"),
            format!("PATCH /jsonapi/user/user/{id}")
        ]
    );
}

#[tokio::test]
async fn the_session_login_and_the_role_list_are_read_once_per_bridge_process() {
    let app = spawn_app().await;
    let made = drupal_requests(&app, || async {
        app.filter_users("userName eq \"admin\"").await.status
    })
    .await;
    assert_eq!(
        made,
        [
            "POST /user/login",
            "GET /jsonapi/user_role/user_role",
            "GET /jsonapi/user/user"
        ],
        "the login and the role list, once each"
    );
    let made = drupal_requests(&app, || async {
        app.filter_users("userName eq \"admin\"").await.status
    })
    .await;
    assert_eq!(made, ["GET /jsonapi/user/user"]);
}

#[tokio::test]
async fn delete_under_the_delete_policy_makes_a_read_and_a_delete() {
    let app = spawn_app_with(Options {
        extra_config: "deprovision: delete\n".into(),
        ..Options::default()
    })
    .await;
    app.log_in().await;
    let id = app.create_user("gone", "gone@example.org").await;
    let made = drupal_requests(&app, || async {
        app.delete(&format!("/Users/{id}")).await.status
    })
    .await;
    assert_eq!(
        made,
        [
            format!("GET /jsonapi/user/user/{id}"),
            format!("DELETE /jsonapi/user/user/{id}")
        ]
    );
}
