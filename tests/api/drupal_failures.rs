//! What an IdP sees when Drupal misbehaves: 502 for a misconfigured Drupal
//! side, 503 with Retry-After when it is down, never a half-written user.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn read_only_jsonapi_is_a_bad_gateway_that_says_what_to_fix() {
    let app = spawn_app().await;
    app.drupal.set_read_only(true);
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "nia", "emails": [{"value": "nia@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(502, None);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("read operations"));
}

#[tokio::test]
async fn wrong_drupal_credentials_are_a_bad_gateway_on_reads_and_writes() {
    let app = spawn_app_with(Options {
        drupal_password: "wrong-password".into(),
        ..Options::default()
    })
    .await;
    let id = app.seed_user("oli", "oli@example.org");
    app.get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(502, None);
    app.post(
        "/Users",
        &json!({"userName": "pat", "emails": [{"value": "pat@example.org"}]}),
    )
    .await
    .assert_scim_error(502, None);
}

#[tokio::test]
async fn unreachable_drupal_is_503_with_retry_after() {
    let app = spawn_app_with(Options {
        extra_config: "  retries: 0\n".into(),
        ..Options::default()
    })
    .await;
    app.log_in().await;
    app.drupal.fail_next(1, 500);
    let answer = app.filter_users("userName eq \"x\"").await;
    answer.assert_scim_error(503, None);
    assert_eq!(answer.header("retry-after"), Some("30"));
    app.drupal.reset_connections_next(1);
    let answer = app.get("/Users/11111111-2222-4333-8444-555555555555").await;
    answer.assert_scim_error(503, None);
    assert!(answer.header("retry-after").is_some());
    // Recovery needs nothing but Drupal coming back.
    assert_eq!(app.filter_users("userName eq \"x\"").await.status, 200);
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_found_instead_of_repeated() {
    let app = spawn_app().await;
    app.log_in().await;
    // Drupal writes the account, but its answer arrives garbled.
    app.drupal.malformed_body_next(1);
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "quinn", "emails": [{"value": "quinn@example.org"}]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(app.drupal_user("quinn").unwrap()["id"], answer.body["id"]);
    assert_eq!(app.drupal.user_count(), 2, "admin and quinn, nobody else");
}

#[tokio::test]
async fn a_create_that_times_out_and_was_not_written_is_503_and_retrying_makes_one_user() {
    let app = spawn_app().await;
    app.drupal.set_latency(Duration::from_millis(2500));
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "rae", "emails": [{"value": "rae@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(503, None);
    app.drupal.set_latency(Duration::ZERO);
    // The slow create may still land; either way a retry leaves one account.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let retry = app
        .post(
            "/Users",
            &json!({"userName": "rae", "emails": [{"value": "rae@example.org"}]}),
        )
        .await;
    assert!(retry.status == 201 || retry.status == 409, "{}", retry.body);
    let found = app.filter_users("userName eq \"rae\"").await;
    assert_eq!(found.body["totalResults"], 1);
}

#[tokio::test]
async fn a_drupal_that_redirects_is_a_bad_gateway_naming_where_it_sent_the_request() {
    let app = spawn_app().await;
    app.log_in().await;
    let before = app.drupal.request_count();
    // As a site that moved to HTTPS answers its old address.
    app.drupal.fail_next(1, 301);
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "rio", "emails": [{"value": "rio@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(502, None);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("redirecting to https://") && detail.contains("drupal.base_url"),
        "{detail}"
    );
    // Not followed: a POST sent on as a GET would read the collection.
    assert_eq!(app.drupal.request_count(), before + 1);
    assert!(app.drupal_user("rio").is_none());
}
