//! `/Bulk` over HTTP (RFC 7644 §3.7).

use serde_json::{json, Value};

use crate::helpers::spawn_app;

const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
           "userName": name, "emails": [{"value": format!("{name}@example.org")}]})
}

fn deactivate() -> Value {
    json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})
}

fn statuses(body: &Value) -> Vec<&str> {
    body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn service_provider_config_advertises_bulk_and_its_limits() {
    let app = spawn_app().await;
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(
        config.body["bulk"],
        json!({"supported": true, "maxOperations": 100, "maxPayloadSize": 1048576})
    );
}

#[tokio::test]
async fn operations_run_in_order_and_refer_to_created_users_by_bulk_id() {
    let app = spawn_app().await;
    let existing = app.create_user("old", "old@example.org").await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "ann", "data": user("ann")},
                {"method": "PATCH", "path": "/Users/bulkId:ann", "data": deactivate()},
                {"method": "PUT", "path": format!("/Users/{existing}"),
                 "data": {"userName": "old", "displayName": "Old Timer",
                          "emails": [{"value": "old@example.org"}]}},
                {"method": "DELETE", "path": format!("/Users/{existing}")}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    assert_eq!(statuses(&answer.body), vec!["201", "200", "200", "204"]);
    let created = &answer.body["Operations"][0];
    assert_eq!(created["bulkId"], "ann");
    assert_eq!(created["method"], "POST");
    let location = created["location"].as_str().unwrap();
    let ann = app.drupal_user("ann").expect("created in Drupal");
    assert_eq!(
        location,
        format!("{}/Users/{}", app.base, ann["id"].as_str().unwrap())
    );
    assert!(created["version"].as_str().unwrap().starts_with("W/"));
    assert_eq!(answer.body["Operations"][1]["location"], location);
    assert_eq!(ann["attributes"]["status"], false, "the PATCH found ann");
    assert_eq!(
        app.drupal_user("old").unwrap()["attributes"]["status"],
        false
    );
}

#[tokio::test]
async fn an_operation_waits_for_the_post_it_refers_to_even_when_listed_first() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "PATCH", "path": "/Users/bulkId:bea", "data": deactivate()},
                {"method": "POST", "path": "/Users", "bulkId": "bea", "data": user("bea")}
            ]}),
        )
        .await;
    assert_eq!(
        statuses(&answer.body),
        vec!["200", "201"],
        "{}",
        answer.body
    );
    assert_eq!(
        app.drupal_user("bea").unwrap()["attributes"]["status"],
        false
    );
}

#[tokio::test]
async fn unresolvable_and_circular_references_fail_with_409_and_others_still_run() {
    let app = spawn_app().await;
    let mut cyc = user("cyc");
    cyc["externalId"] = json!("bulkId:dee");
    let mut dee = user("dee");
    dee["externalId"] = json!("bulkId:cyc");
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "PATCH", "path": "/Users/bulkId:nobody", "data": deactivate()},
                {"method": "POST", "path": "/Users", "bulkId": "cyc", "data": cyc},
                {"method": "POST", "path": "/Users", "bulkId": "dee", "data": dee},
                {"method": "POST", "path": "/Users", "bulkId": "eve", "data": user("eve")}
            ]}),
        )
        .await;
    assert_eq!(
        statuses(&answer.body),
        vec!["409", "409", "409", "201"],
        "{}",
        answer.body
    );
    let error = &answer.body["Operations"][0]["response"];
    assert_eq!(error["status"], "409");
    assert!(
        error["detail"].as_str().unwrap().contains("nobody"),
        "{error}"
    );
    assert!(answer.body["Operations"][1]["response"]["detail"]
        .as_str()
        .unwrap()
        .contains("cycle"));
    assert!(app.drupal_user("cyc").is_none());
    assert!(app.drupal_user("eve").is_some());
}

#[tokio::test]
async fn fail_on_errors_stops_the_request_after_that_many_failures() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": user("fia")},
                {"method": "DELETE", "path": "/Users/7d0c6a3e-0000-4000-8000-000000000000"},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("gil")}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(statuses(&answer.body), vec!["201", "404"]);
    assert_eq!(answer.body["Operations"][1]["response"]["status"], "404");
    assert!(app.drupal_user("fia").is_some());
    assert!(
        app.drupal_user("gil").is_none(),
        "skipped after the failure"
    );
}

#[tokio::test]
async fn an_operation_failing_inside_drupal_reports_the_scim_error_of_a_single_request() {
    let app = spawn_app().await;
    app.create_user("hue", "hue@example.org").await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user("hue")}
            ]}),
        )
        .await;
    let error = &answer.body["Operations"][0]["response"];
    assert_eq!(answer.body["Operations"][0]["status"], "409");
    assert_eq!(error["scimType"], "uniqueness", "{error}");
}

#[tokio::test]
async fn more_operations_or_bytes_than_advertised_is_413_and_runs_nothing() {
    let app = spawn_app().await;
    let operations: Vec<Value> = (0..101)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                        "data": user(&format!("many{i}"))})
        })
        .collect();
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": operations}),
        )
        .await;
    answer.assert_scim_error(413, None);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("maxOperations"));

    let padding = "x".repeat(1024 * 1024);
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "big",
                 "data": {"userName": "big", "displayName": padding}}
            ]}),
        )
        .await;
    answer.assert_scim_error(413, None);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("maxPayloadSize"));
    assert!(app.drupal_user("many0").is_none());
    assert!(app.drupal_user("big").is_none());
}

#[tokio::test]
async fn a_malformed_bulk_request_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    app.drupal.clear_requests();
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "ok", "data": user("ok")},
                {"method": "POST", "path": "/Users", "data": user("no-bulk-id")}
            ]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidSyntax"));
    assert_eq!(app.drupal.request_count(), 0);
}

#[tokio::test]
async fn a_group_links_users_created_in_the_same_request_by_bulk_id() {
    // RFC 7644 §3.7.2: a group whose members are users the request creates;
    // the group is listed before one of them and waits for its POST.
    let app = spawn_app().await;
    let engineering = app.drupal.role_uuid("engineering").unwrap();
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": user("ivy")},
                {"method": "POST", "path": "/Groups", "bulkId": "eng",
                 "data": {"schemas": [GROUP], "displayName": "engineering", "members": [
                     {"type": "User", "value": "bulkId:qwerty"},
                     {"type": "User", "value": "bulkId:ytrewq"}]}},
                {"method": "POST", "path": "/Users", "bulkId": "ytrewq", "data": user("jon")},
                {"method": "PATCH", "path": "/Groups/bulkId:eng", "data": {"Operations": [
                     {"op": "remove", "path": "members", "value": [{"value": "bulkId:ytrewq"}]}]}}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        statuses(&answer.body),
        vec!["201", "201", "201", "204"],
        "{}",
        answer.body
    );
    let group_location = format!("{}/Groups/{engineering}", app.base);
    assert_eq!(answer.body["Operations"][1]["location"], group_location);
    assert_eq!(answer.body["Operations"][3]["location"], group_location);
    assert_eq!(app.roles_of("ivy"), vec!["engineering"]);
    assert!(app.roles_of("jon").is_empty(), "the PATCH removed jon");
}

#[tokio::test]
async fn groups_are_replaced_and_emptied_in_bulk() {
    let app = spawn_app().await;
    let kim = app.seed_user_with_roles("kim", &["editor", "engineering"]);
    app.seed_user_with_roles("lee", &["editor"]);
    let editor = app.drupal.role_uuid("editor").unwrap();
    let engineering = app.drupal.role_uuid("engineering").unwrap();
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "PUT", "path": format!("/Groups/{editor}"),
                 "data": {"schemas": [GROUP], "displayName": "editor",
                          "members": [{"value": kim}]}},
                {"method": "DELETE", "path": format!("/Groups/{engineering}")}
            ]}),
        )
        .await;
    assert_eq!(
        statuses(&answer.body),
        vec!["200", "204"],
        "{}",
        answer.body
    );
    assert_eq!(app.roles_of("kim"), vec!["editor"]);
    assert!(app.roles_of("lee").is_empty());
}

#[tokio::test]
async fn a_failing_group_operation_counts_towards_fail_on_errors() {
    let app = spawn_app().await;
    app.drupal.clear_requests();
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "adm",
                 "data": {"schemas": [GROUP], "displayName": "administrator"}},
                {"method": "POST", "path": "/Users", "bulkId": "mia", "data": user("mia")}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(statuses(&answer.body), vec!["400"]);
    let error = &answer.body["Operations"][0]["response"];
    assert_eq!(error["scimType"], "invalidValue", "{error}");
    assert!(
        error["detail"].as_str().unwrap().contains("administrator"),
        "{error}"
    );
    assert!(
        app.drupal_user("mia").is_none(),
        "skipped after the failure"
    );
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

/// A PATCH path's value filter may name a member made in the same request
/// (`members[value eq "bulkId:x"]`): it is resolved like any reference,
/// and the member is removed (it once answered 204 and removed no one).
#[tokio::test]
async fn a_bulk_id_in_a_patch_paths_filter_is_resolved() {
    let app = spawn_app().await;
    let groups = app.get("/Groups").await;
    let editor = groups.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == "editor")
        .map(|g| g["id"].as_str().unwrap().to_string())
        .expect("the editor group");
    let patch = |operation: Value| json!({"Operations": [operation]});
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user("bku1")},
                {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("bku2")},
                {"method": "PATCH", "path": format!("/Groups/{editor}"), "data": patch(
                    json!({"op": "add", "path": "members",
                           "value": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}))},
                {"method": "PATCH", "path": format!("/Groups/{editor}"), "data": patch(
                    json!({"op": "remove", "path": "members[value eq \"bulkId:u2\"]"}))}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        statuses(&answer.body).iter().all(|s| s.starts_with('2')),
        "{}",
        answer.body
    );
    let roles = |name: &str| app.drupal.user_by_name(name).expect("made").roles();
    assert!(roles("bku1").contains(&"editor".to_string()));
    assert!(
        !roles("bku2").contains(&"editor".to_string()),
        "u2 was removed"
    );
}

/// RFC 7644 §3.7.3: `location` is required "except in the event of a POST
/// failure". A POST failing for its path (an id, or a trailing slash) or
/// for its data names no resource, as one failing inside Drupal does not.
#[tokio::test]
async fn a_failed_post_carries_no_location() {
    let app = spawn_app().await;
    app.create_user("taken", "taken@example.org").await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "POST", "path": "/Users/abc", "bulkId": "q", "data": {"userName": "x"}},
                {"method": "POST", "path": "/Users/", "bulkId": "r", "data": {"userName": "y"}},
                {"method": "POST", "path": "/Groups/abc", "bulkId": "s", "data": {"displayName": "g"}},
                {"method": "POST", "path": "/Users", "bulkId": "t", "data": user("taken")},
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": user("fine")}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        statuses(&answer.body),
        vec!["400", "400", "400", "409", "201"],
        "{}",
        answer.body
    );
    let operations = answer.body["Operations"].as_array().unwrap();
    for failed in &operations[..4] {
        assert!(failed.get("location").is_none(), "{failed}");
    }
    assert!(operations[4]["location"].is_string(), "{}", operations[4]);
}

/// A bulk operation's condition is its `version`, not an `If-Match`
/// header the client never sent: a stale one is 412 naming `version`.
#[tokio::test]
async fn a_stale_version_in_bulk_is_412_naming_the_operations_version() {
    let app = spawn_app().await;
    let id = app.create_user("vera", "vera@example.org").await;
    let group = app.group_id("editor").await;
    let answer = app
        .post(
            "/Bulk",
            &json!({"schemas": [BULK], "Operations": [
                {"method": "PATCH", "path": format!("/Users/{id}"),
                 "version": "W/\"1-stale\"", "data": deactivate()},
                {"method": "DELETE", "path": format!("/Groups/{group}"),
                 "version": "W/\"1-stale\""}
            ]}),
        )
        .await;
    assert_eq!(
        statuses(&answer.body),
        vec!["412", "412"],
        "{}",
        answer.body
    );
    for operation in answer.body["Operations"].as_array().unwrap() {
        let detail = operation["response"]["detail"].as_str().unwrap();
        assert!(!detail.contains("If-Match"), "{detail}");
        assert!(detail.contains("\"version\""), "{detail}");
    }
}
