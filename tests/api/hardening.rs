//! What an outside probe found (issue 16): client errors answered as client
//! errors whatever their size, quoted short; protected accounts refused on
//! re-creation too.

use serde_json::json;

use super::helpers::spawn_app;

/// A `detail` quotes at most a short prefix of what the client sent.
const LONGEST_DETAIL: usize = 1000;

#[tokio::test]
async fn a_user_name_longer_than_drupal_allows_is_a_400_naming_the_limit_and_nothing_is_sent() {
    let app = spawn_app().await;
    app.warm_role_cache().await;
    let long = "n".repeat(70_000);
    app.drupal.clear_requests();
    let answer = app
        .post(
            "/Users",
            &json!({"userName": long, "emails": [{"value": "long@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("60"), "names the limit: {detail}");
    assert!(detail.len() < LONGEST_DETAIL, "quotes a prefix: {detail}");
    assert!(detail.contains("70000 characters"), "{detail}");
    assert_eq!(app.drupal.request_count(), 0, "no Drupal request was made");
}

#[tokio::test]
async fn an_external_id_or_mail_longer_than_drupal_allows_is_a_400() {
    let app = spawn_app().await;
    app.warm_role_cache().await;
    app.drupal.clear_requests();
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "long.ext", "externalId": "x".repeat(70_000)}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    assert!(answer.body["detail"].as_str().unwrap().len() < LONGEST_DETAIL);
    let mail = format!("{}@example.org", "m".repeat(300));
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "long.mail", "emails": [{"value": mail}]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    assert!(answer.body["detail"].as_str().unwrap().contains("254"));
    assert_eq!(app.drupal.request_count(), 0, "no Drupal request was made");
}

#[tokio::test]
async fn a_long_user_name_in_a_bulk_operation_is_a_400_for_that_operation() {
    let app = spawn_app().await;
    app.warm_role_cache().await;
    let answer = app
        .post(
            "/Bulk",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a",
                    "data": {"userName": "b".repeat(70_000)}}]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let op = &answer.body["Operations"][0];
    assert_eq!(op["status"], "400", "{op}");
    assert!(op["response"]["detail"].as_str().unwrap().len() < LONGEST_DETAIL);
}

#[tokio::test]
async fn a_filter_that_would_need_an_overlong_drupal_url_is_refused_not_taken_for_an_outage() {
    let app = spawn_app().await;
    app.warm_role_cache().await;
    // Within the filter length limit, but every character percent-encodes
    // to three in the Drupal URL.
    let value = "é".repeat(1_900);
    let answer = app
        .post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": format!("externalId eq \"{value}\"")}),
        )
        .await;
    assert!(
        answer.status == 400 || answer.status == 200,
        "a client error or an answer, never an outage: {} {}",
        answer.status,
        answer.body
    );
    if answer.status == 400 {
        assert!(answer.body["detail"].as_str().unwrap().len() < LONGEST_DETAIL);
    }
    for request in app.drupal.requests() {
        let bytes = request.path.len() + request.query.len();
        assert!(bytes <= 8192, "{bytes} bytes");
    }
}

#[tokio::test]
async fn an_overlong_id_is_quoted_cut_in_the_detail() {
    let app = spawn_app().await;
    let id = "i".repeat(5_000);
    let answer = app.get(&format!("/Users/{id}")).await;
    answer.assert_scim_error(404, None);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.len() < LONGEST_DETAIL, "{detail}");
    assert!(detail.contains("5000 characters"), "{detail}");
}

/// Found by the HTTP fuzz test (seed 4538581825786605319): a sortBy the
/// mapping cannot sort by came back whole.
#[tokio::test]
async fn an_overlong_sort_attribute_is_quoted_cut_in_the_detail() {
    let app = spawn_app().await;
    let attr = "x".repeat(3_000);
    for answer in [
        app.get(&format!("/Users?sortBy={attr}")).await,
        app.post(
            "/Users/.search",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "sortBy": attr}),
        )
        .await,
    ] {
        answer.assert_scim_error(400, Some("invalidValue"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.len() < LONGEST_DETAIL, "{detail}");
        assert!(detail.contains("3000 characters"), "{detail}");
    }
}

#[tokio::test]
async fn recreating_a_deprovisioned_account_that_now_holds_a_protected_role_is_a_403() {
    let app = spawn_app().await;
    let id = app.create_user("promoted", "promoted@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    assert!(app.drupal.grant_role("promoted", "administrator"));
    app.drupal.clear_requests();
    let again = app
        .post(
            "/Users",
            &json!({"userName": "promoted", "emails": [{"value": "promoted@example.org"}]}),
        )
        .await;
    again.assert_scim_error(403, None);
    let detail = again.body["detail"].as_str().unwrap();
    assert!(detail.contains("administrator"), "{detail}");
    // The create itself is sent (Drupal refuses the taken name); nothing
    // is written to the account.
    assert!(
        app.drupal_writes().iter().all(|w| w.starts_with("POST ")),
        "{:?}",
        app.drupal_writes()
    );
    let account = app.drupal_user("promoted").unwrap();
    assert_eq!(account["attributes"]["status"], false, "still blocked");
    assert_eq!(account["attributes"]["field_scim_deprovisioned"], true);
}

#[tokio::test]
async fn a_long_patch_path_or_bulk_path_is_quoted_short() {
    let app = spawn_app().await;
    let user = app.create_user("ada", "ada@example.org").await;
    let long = "x".repeat(6_000);
    for path in [format!("a{long}!"), format!("name.1{long}")] {
        let answer = app
            .patch(
                &format!("/Users/{user}"),
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": path, "value": "v"}]}),
            )
            .await;
        answer.assert_scim_error(400, Some("invalidPath"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.len() < LONGEST_DETAIL, "{detail}");
    }
    let bulk = app
        .post(
            "/Bulk",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": [
                        {"method": "POST", "path": format!("/{long}"), "bulkId": "a", "data": {}},
                        {"method": "POST", "path": "/Users", "bulkId": "b",
                         "data": {"userName": "bee", "emails": [{"value": "bee@example.org"}],
                                  "externalId": format!("bulkId:{long}")}}]}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    for operation in bulk.body["Operations"].as_array().unwrap() {
        let detail = operation["response"]["detail"].as_str().unwrap();
        assert!(detail.len() < LONGEST_DETAIL, "{detail}");
    }
}
