//! The user-side IdP quirks of QUIRKS.md, each with the Drupal effect it must
//! have. The IdPs' documented request files are replayed in tests/common/flows.rs.

use serde_json::json;

use crate::helpers::spawn_app;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn entra_capitalised_replace_with_string_false_blocks_and_the_user_stays_readable() {
    let app = spawn_app().await;
    let id = app
        .create_user("entra.user", "entra.user@example.org")
        .await;
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["active"], false);
    assert_eq!(
        app.drupal_user("entra.user").unwrap()["attributes"]["status"],
        false
    );
    let read = app.get(&format!("/Users/{id}")).await;
    assert_eq!(read.body["active"], false);
    let found = app.filter_users("userName eq \"entra.user\"").await;
    assert_eq!(
        found.body["totalResults"], 1,
        "a disabled user is still found"
    );
    assert_eq!(found.body["Resources"][0]["active"], false);
}

#[tokio::test]
async fn entra_path_less_replace_with_dotted_and_urn_keys_applies_the_mapped_ones() {
    let app = spawn_app().await;
    let id = app.create_user("dotted", "dotted@example.org").await;
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "replace", "value": {
                "userName": "dotted.renamed",
                "name.givenName": "Dot",
                format!("{ENTERPRISE}:employeeNumber"): "7",
                "active": "True"
            }}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["userName"], "dotted.renamed");
    assert!(app.drupal_user("dotted.renamed").is_some());
}

#[tokio::test]
async fn entra_add_on_a_filtered_path_that_matches_nothing_creates_the_email() {
    let app = spawn_app().await;
    let created = app.post("/Users", &json!({"userName": "no.mail"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "no.mail@example.org"}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        app.drupal_user("no.mail").unwrap()["attributes"]["mail"],
        "no.mail@example.org"
    );
}

#[tokio::test]
async fn entra_replace_of_the_work_email_by_filtered_path_changes_mail() {
    let app = spawn_app().await;
    let id = app.create_user("mover", "old@example.org").await;
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.org"}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["emails"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.drupal_user("mover").unwrap()["attributes"]["mail"],
        "new@example.org"
    );
}

#[tokio::test]
async fn entra_enterprise_attributes_and_manager_forms_are_accepted() {
    let app = spawn_app().await;
    let manager = app.create_user("the.manager", "manager@example.org").await;
    let id = app.create_user("report", "report@example.org").await;
    let path = format!("/Users/{id}");
    for operations in [
        json!([{"op": "Replace", "path": format!("{ENTERPRISE}:department"), "value": "Engineering"}]),
        json!([{"op": "Add", "path": "manager", "value": manager}]),
        json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": manager}]}]),
        json!([{"op": "Remove", "path": format!("manager[value eq \"{manager}\"]")}]),
    ] {
        let answer = app.patch(&path, &json!({"Operations": operations})).await;
        assert_eq!(answer.status, 200, "{operations}: {}", answer.body);
    }
}

#[tokio::test]
async fn entra_booleans_as_strings_are_accepted_on_create() {
    let app = spawn_app().await;
    let answer = app
        .post("/Users", &json!({"userName": "str.bool", "active": "False", "emails": [{"value": "sb@example.org", "primary": "True"}]}))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(
        app.drupal_user("str.bool").unwrap()["attributes"]["status"],
        false
    );
}

#[tokio::test]
async fn okta_path_less_deactivate_and_reactivate_toggle_the_drupal_status() {
    let app = spawn_app().await;
    let id = app.create_user("okta.user", "okta.user@example.org").await;
    for active in [false, true] {
        let answer = app
            .patch(
                &format!("/Users/{id}"),
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "value": {"active": active}}]}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["active"], active);
        assert_eq!(
            app.drupal_user("okta.user").unwrap()["attributes"]["status"],
            active
        );
    }
}

#[tokio::test]
async fn onelogin_legacy_urns_and_a_single_email_object_are_understood() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
                    "userName": "onelogin.user",
                    "emails": [{"value": "ol@example.org", "primary": true}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [{"op": "replace", "path": "emails", "value": {"value": "ol.new@example.org", "type": "work", "primary": true}}]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        app.drupal_user("onelogin.user").unwrap()["attributes"]["mail"],
        "ol.new@example.org"
    );
}

#[tokio::test]
async fn google_probe_with_count_1_returns_at_most_one_user() {
    let app = spawn_app().await;
    app.create_user("g1", "g1@example.org").await;
    let answer = app.get("/Users?count=1").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["itemsPerPage"], 1);
    assert_eq!(answer.body["totalResults"], 2, "admin and g1");
}

#[tokio::test]
async fn jumpcloud_test_connection_creates_and_deletes_a_test_user() {
    let app = spawn_app().await;
    let id = app
        .create_user("jumpcloud-test-user", "jc@example.org")
        .await;
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    app.get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(404, None);
}
