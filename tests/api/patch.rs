//! PATCH over HTTP (RFC 7644 §3.5.2): every path form, the RFC's errors,
//! all or nothing, and one Drupal write with only the changed fields.

use serde_json::{json, Value};

use crate::helpers::{
    demo_site_with_text_fields, patch_op, spawn_app, spawn_app_with, Options, TestApp,
};

/// Creates `name` with a display name and both name parts.
async fn person(app: &TestApp, name: &str) -> String {
    let answer = app
        .post(
            "/Users",
            &json!({"userName": name, "displayName": "Dee Person",
                    "name": {"givenName": "Dee", "familyName": "Person"},
                    "emails": [{"value": format!("{name}@example.org"), "type": "work", "primary": true}]}),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().unwrap().to_string()
}

/// PATCHes and returns the answer body, asserting 200.
async fn patch_ok(app: &TestApp, id: &str, operations: Value) -> Value {
    let answer = app
        .patch(&format!("/Users/{id}"), &patch_op(operations))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn simple_paths_add_replace_and_remove() {
    let app = spawn_app().await;
    let id = person(&app, "pam").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "displayName", "value": "Pam B"}]),
    )
    .await;
    assert_eq!(body["displayName"], "Pam B");
    let body = patch_ok(&app, &id, json!([{"op": "remove", "path": "displayName"}])).await;
    assert!(body.get("displayName").is_none(), "{body}");
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "add", "path": "displayName", "value": "Pam C"}]),
    )
    .await;
    assert_eq!(body["displayName"], "Pam C");
    let drupal = app.drupal_user("pam").unwrap();
    assert_eq!(drupal["attributes"]["field_display_name"], "Pam C");
}

#[tokio::test]
async fn sub_attribute_and_urn_qualified_paths_reach_the_same_attribute() {
    let app = spawn_app().await;
    let id = person(&app, "quin").await;
    let body = patch_ok(
        &app,
        &id,
        json!([
            {"op": "replace", "path": "name.givenName", "value": "Quinn"},
            {"op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "Q"}
        ]),
    )
    .await;
    assert_eq!(body["name"], json!({"givenName": "Quinn"}));
    assert_eq!(body["displayName"], "Q");
    let drupal = app.drupal_user("quin").unwrap();
    assert_eq!(drupal["attributes"]["field_last_name"], Value::Null);
}

#[tokio::test]
async fn replacing_a_complex_attribute_sets_the_given_sub_attributes_and_keeps_the_others() {
    // RFC 7644 §3.5.2.3: "Sub-attributes that are not specified in the
    // 'value' parameter are left unchanged."
    let app = spawn_app().await;
    let id = person(&app, "rae").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "name", "value": {"familyName": "Ray"}}]),
    )
    .await;
    assert_eq!(
        body["name"],
        json!({"givenName": "Dee", "familyName": "Ray"})
    );
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails",
                "value": [{"value": "rae@only.example", "type": "work", "primary": true}]}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "rae@only.example", "type": "work", "primary": true}]),
        "a multi-valued attribute is replaced whole"
    );
}

#[tokio::test]
async fn value_filtered_paths_with_and_without_a_sub_attribute() {
    let app = spawn_app().await;
    let id = person(&app, "sal").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "sal@new.example"}]),
    )
    .await;
    assert_eq!(body["emails"][0]["value"], "sal@new.example");
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"]",
                "value": {"value": "sal@third.example", "type": "work", "primary": true}}]),
    )
    .await;
    assert_eq!(body["emails"][0]["value"], "sal@third.example");
    assert_eq!(
        app.drupal_user("sal").unwrap()["attributes"]["mail"],
        "sal@third.example"
    );
    // Nothing matches: removal is a no-op, so a repeated removal is no error.
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    )
    .await;
    assert_eq!(body["emails"][0]["value"], "sal@third.example");
}

#[tokio::test]
async fn adding_a_primary_email_to_the_multi_valued_attribute_makes_it_the_drupal_mail() {
    let app = spawn_app().await;
    let id = person(&app, "tia").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "add", "path": "emails",
                "value": [{"value": "tia@primary.example", "type": "work", "primary": true}]}]),
    )
    .await;
    assert_eq!(
        body["emails"],
        json!([{"value": "tia@primary.example", "type": "work", "primary": true}])
    );
}

#[tokio::test]
async fn operations_without_a_path_set_every_member_of_the_value() {
    let app = spawn_app().await;
    let id = person(&app, "uma").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "Replace", "value": {"displayName": "Uma U", "active": "False",
                                             "name.givenName": "Umeko"}}]),
    )
    .await;
    assert_eq!(body["displayName"], "Uma U");
    assert_eq!(body["active"], false);
    assert_eq!(body["name"]["givenName"], "Umeko");
}

#[tokio::test]
async fn errors_are_the_ones_the_rfc_names_and_nothing_is_written() {
    let app = spawn_app().await;
    let id = person(&app, "val").await;
    app.drupal.clear_requests();
    for (operations, status, scim_type) in [
        (
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
            400,
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq", "value": 1}]),
            400,
            "invalidPath",
        ),
        (json!([{"op": "remove"}]), 400, "noTarget"),
        (
            json!([{"op": "replace", "path": "emails[value co \"@nowhere\"].type", "value": "home"}]),
            400,
            "noTarget",
        ),
        (
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            400,
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            400,
            "invalidValue",
        ),
        (
            json!([{"op": "remove", "path": "active"}]),
            400,
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": "fine"},
                   {"op": "remove", "path": "userName"}]),
            400,
            "mutability",
        ),
    ] {
        let answer = app
            .patch(&format!("/Users/{id}"), &patch_op(operations.clone()))
            .await;
        answer.assert_scim_error(status, Some(scim_type));
        assert!(
            answer.body["detail"].as_str().unwrap().len() > 10,
            "{operations}: {}",
            answer.body
        );
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("val").unwrap()["attributes"]["field_display_name"],
        "Dee Person"
    );
}

#[tokio::test]
async fn several_operations_make_one_drupal_write() {
    let app = spawn_app().await;
    let id = person(&app, "wes").await;
    app.drupal.clear_requests();
    let body = patch_ok(
        &app,
        &id,
        json!([
            {"op": "replace", "path": "displayName", "value": "W"},
            {"op": "replace", "path": "name.familyName", "value": "Wesson"},
            {"op": "replace", "path": "active", "value": false}
        ]),
    )
    .await;
    assert_eq!(
        app.drupal_writes(),
        vec![format!("PATCH /jsonapi/user/user/{id}")]
    );
    assert_eq!(body["name"]["familyName"], "Wesson");
    assert_eq!(body["active"], false);
}

const TWO_PRIMARY_EMAILS: &str =
    "emails: 2 values are marked primary; at most one may be (RFC 7643 §2.4)";

#[tokio::test]
async fn two_primary_emails_in_one_patch_are_refused_as_post_and_put_refuse_them() {
    // RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no
    // more than once."
    let app = spawn_app().await;
    let id = person(&app, "quy").await;
    let two =
        json!([{"value": "q4@x.org", "primary": true}, {"value": "q5@x.org", "primary": true}]);
    let post = app
        .post(
            "/Users",
            &json!({"userName": "quy2", "emails": two.clone()}),
        )
        .await;
    post.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(post.body["detail"], TWO_PRIMARY_EMAILS);
    let put = app
        .put(
            &format!("/Users/{id}"),
            &json!({"userName": "quy", "emails": two.clone()}),
        )
        .await;
    put.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(put.body["detail"], TWO_PRIMARY_EMAILS);
    app.drupal.clear_requests();
    for operation in [
        json!({"op": "add", "path": "emails", "value": two.clone()}),
        json!({"op": "replace", "path": "emails", "value": two.clone()}),
        json!({"op": "add", "value": {"emails": two.clone()}}),
    ] {
        let answer = app
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([operation.clone()])),
            )
            .await;
        answer.assert_scim_error(400, Some("invalidValue"));
        assert_eq!(answer.body["detail"], TWO_PRIMARY_EMAILS, "{operation}");
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new(), "nothing written");
    assert_eq!(
        app.drupal_user("quy").unwrap()["attributes"]["mail"],
        "quy@example.org"
    );
}

#[tokio::test]
async fn a_patch_adding_one_primary_email_takes_the_mark_from_the_current_one() {
    // RFC 7644 §3.5.2: a value added with primary true makes the server
    // set primary false on the existing values.
    let app = spawn_app().await;
    let id = person(&app, "wyn").await;
    for operation in [
        json!({"op": "add", "path": "emails", "value": [{"value": "wyn@home.example", "type": "home", "primary": true}]}),
        json!({"op": "add", "value": {"emails": [{"value": "wyn@other.example", "type": "other", "primary": true}]}}),
    ] {
        let added = operation
            .pointer("/value/0/value")
            .or(operation.pointer("/value/emails/0/value"))
            .unwrap()
            .clone();
        let body = patch_ok(&app, &id, json!([operation])).await;
        let primaries: Vec<&Value> = body["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == json!(true))
            .map(|e| &e["value"])
            .collect();
        assert_eq!(primaries, [&added], "{body}");
        assert_eq!(app.drupal_user("wyn").unwrap()["attributes"]["mail"], added);
    }
}

/// The demo mapping, plus the primary phone number kept in `field_phone`.
async fn spawn_phone_app() -> TestApp {
    let demo = Options::default().mapping;
    let mapping = demo.replacen(
        "rules:\n",
        "rules:\n  - scim: phoneNumbers.value\n    prefer: [primary]\n    drupal: field_phone\n",
        1,
    );
    spawn_app_with(Options {
        standin: demo_site_with_text_fields(&["field_phone"]),
        mapping,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn phone_numbers_hold_one_primary_through_post_put_and_patch() {
    let app = spawn_phone_app().await;
    let two = json!([{"value": "+1 555 0100", "type": "work", "primary": true},
                     {"value": "+1 555 0101", "type": "mobile", "primary": true}]);
    let detail = "phoneNumbers: 2 values are marked primary; at most one may be (RFC 7643 §2.4)";
    let post = app
        .post(
            "/Users",
            &json!({"userName": "pho", "phoneNumbers": two.clone()}),
        )
        .await;
    post.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(post.body["detail"], detail);
    let created = app
        .post(
            "/Users",
            &json!({"userName": "pho", "emails": [{"value": "pho@example.org", "primary": true}],
                    "phoneNumbers": [{"value": "+1 555 0100", "type": "work", "primary": true}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    for operation in [
        json!({"op": "add", "path": "phoneNumbers", "value": two.clone()}),
        json!({"op": "replace", "path": "phoneNumbers", "value": two.clone()}),
        json!({"op": "add", "value": {"phoneNumbers": two.clone()}}),
    ] {
        let answer = app
            .patch(&format!("/Users/{id}"), &patch_op(json!([operation])))
            .await;
        answer.assert_scim_error(400, Some("invalidValue"));
        assert_eq!(answer.body["detail"], detail);
    }
    assert_eq!(
        app.drupal_user("pho").unwrap()["attributes"]["field_phone"],
        "+1 555 0100"
    );
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "add", "path": "phoneNumbers",
                "value": [{"value": "+1 555 0199", "type": "mobile", "primary": true}]}]),
    )
    .await;
    assert_eq!(body["phoneNumbers"][0]["value"], "+1 555 0199", "{body}");
    assert_eq!(
        app.drupal_user("pho").unwrap()["attributes"]["field_phone"],
        "+1 555 0199"
    );
}

#[tokio::test]
async fn a_patch_cannot_remove_what_a_post_must_carry() {
    let app = spawn_app().await;
    let id = person(&app, "xan").await;
    app.drupal.clear_requests();
    for operation in [
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": "userName", "value": null}),
        json!({"op": "replace", "path": "userName", "value": ""}),
        json!({"op": "replace", "value": {"userName": ""}}),
    ] {
        let answer = app
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([operation.clone()])),
            )
            .await;
        answer.assert_scim_error(400, Some("mutability"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("userName is required: a PATCH may replace it"),
            "{operation}: {detail}"
        );
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new(), "nothing written");
    // A POST without one is told the same rule.
    let post = app
        .post("/Users", &json!({"userName": "", "displayName": "X"}))
        .await;
    post.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(post.body["detail"], "userName is required");
}

#[tokio::test]
async fn an_empty_string_clears_an_attribute_as_a_put_leaving_it_out_does() {
    let app = spawn_app().await;
    let id = person(&app, "yul").await;
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "displayName", "value": ""}]),
    )
    .await;
    assert!(body.get("displayName").is_none(), "{body}");
    assert_eq!(
        app.drupal_user("yul").unwrap()["attributes"]["field_display_name"],
        Value::Null
    );
}

const BADGE: &str = "urn:example:params:scim:schemas:extension:badge:2.0:User";

#[tokio::test]
async fn a_required_attribute_of_a_custom_schema_cannot_be_removed_by_patch() {
    let demo = Options::default().mapping;
    let rules_at = demo.find("rules:").unwrap();
    let (head, rules) = demo.split_at(rules_at);
    let rules = rules.replacen(
        "rules:\n",
        "rules:\n  - scim: badge:number\n    drupal: field_badge\n  - scim: badge:colour\n    drupal: field_badge_colour\n",
        1,
    );
    let mapping = format!(
        "{head}schemas:\n  - urn: {BADGE}\n    name: Badge\n    alias: badge\n    attributes:\n      - {{name: number, type: string, required: true}}\n      - {{name: colour, type: string}}\n{rules}"
    );
    let app = spawn_app_with(Options {
        standin: demo_site_with_text_fields(&["field_badge", "field_badge_colour"]),
        mapping,
        ..Options::default()
    })
    .await;
    let without = app
        .post(
            "/Users",
            &json!({"userName": "zed", "emails": [{"value": "zed@example.org", "primary": true}],
                    BADGE: {"colour": "red"}}),
        )
        .await;
    without.assert_scim_error(400, Some("invalidValue"));
    assert_eq!(without.body["detail"], "number is required");
    let created = app
        .post(
            "/Users",
            &json!({"userName": "zed", "emails": [{"value": "zed@example.org", "primary": true}],
                    BADGE: {"number": "7", "colour": "red"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "remove", "path": format!("{BADGE}:number")}])),
        )
        .await;
    answer.assert_scim_error(400, Some("mutability"));
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("number is required"));
    assert_eq!(
        app.drupal_user("zed").unwrap()["attributes"]["field_badge"],
        "7"
    );
}

/// The most operations one PATCH may hold (`scim::patch::MAX_OPERATIONS`).
const MAX_OPERATIONS: usize = 1000;

fn renames(count: usize) -> Value {
    Value::Array(
        (0..count)
            .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("D{i}")}))
            .collect(),
    )
}

#[tokio::test]
async fn more_operations_than_the_limit_are_refused_and_nothing_reaches_drupal() {
    let app = spawn_app().await;
    let id = person(&app, "many").await;
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(renames(MAX_OPERATIONS + 1)),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("at most {MAX_OPERATIONS} operations"))
            && detail.contains("split it"),
        "{detail}"
    );
    assert_eq!(app.drupal.request_count(), 0);
    assert_eq!(
        app.drupal_user("many").unwrap()["attributes"]["field_display_name"],
        "Dee Person"
    );
}

#[tokio::test]
async fn a_patch_of_as_many_operations_as_the_limit_applies_them_all() {
    let app = spawn_app().await;
    let id = person(&app, "limit").await;
    let body = patch_ok(&app, &id, renames(MAX_OPERATIONS)).await;
    let last = format!("D{}", MAX_OPERATIONS - 1);
    assert_eq!(body["displayName"], last);
    assert_eq!(
        app.drupal_user("limit").unwrap()["attributes"]["field_display_name"],
        last
    );
}

#[tokio::test]
async fn a_value_filter_on_a_single_valued_attribute_is_invalid_path_and_writes_nothing() {
    let app = spawn_app().await;
    let id = person(&app, "alice").await;
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "name[givenName eq \"Bob\"].familyName", "value": "Jones"}])),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidPath"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("\"name\" is single-valued"), "{detail}");
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    let stored = app.drupal_user("alice").unwrap();
    assert_eq!(stored["attributes"]["field_first_name"], "Dee");
    assert_eq!(stored["attributes"]["field_last_name"], "Person");
}

/// The demo mapping, plus the mobile number kept in `field_mobile`.
async fn spawn_mobile_app() -> TestApp {
    let demo = Options::default().mapping;
    let mapping = demo.replacen(
        "rules:\n",
        "rules:\n  - scim: phoneNumbers[type eq \"mobile\"].value\n    drupal: field_mobile\n",
        1,
    );
    spawn_app_with(Options {
        standin: demo_site_with_text_fields(&["field_mobile"]),
        mapping,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_filter_matching_nothing_creates_only_a_value_the_site_keeps() {
    let app = spawn_mobile_app().await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "home3", "emails": [
                {"value": "home3@example.net", "type": "home", "primary": true}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    // The mapping keeps one address, read back as the primary work one.
    assert_eq!(
        created.body["emails"],
        json!([{"value": "home3@example.net", "type": "work", "primary": true}])
    );
    let id = created.body["id"].as_str().unwrap().to_string();
    app.drupal.clear_requests();
    // The home address the filter would create is one the site drops:
    // no success for it (RFC 7644 §3.5.2.3 noTarget), nothing written.
    for op in ["replace", "add"] {
        let answer = app
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{"op": op, "path": "emails[type eq \"home\"].value",
                                  "value": "new3@example.net"}])),
            )
            .await;
        answer.assert_scim_error(400, Some("noTarget"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("read back with type \"work\"")
                && detail.contains("emails[type eq \"work\"]"),
            "{detail}"
        );
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("home3").unwrap()["attributes"]["mail"],
        "home3@example.net"
    );
    // The address it keeps, by the filter it reads back with.
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value",
                "value": "new3@example.net"}]),
    )
    .await;
    assert_eq!(body["emails"][0]["value"], "new3@example.net");
    // Entra's tolerance stays: a mobile number for a user who has none is
    // created where the site keeps it, and an attribute the site does not
    // store at all is ignored as in any request.
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value",
                "value": "+1 555 0100"}]),
    )
    .await;
    assert_eq!(body["phoneNumbers"][0]["value"], "+1 555 0100", "{body}");
    let body = patch_ok(
        &app,
        &id,
        json!([{"op": "Replace", "path": "addresses[type eq \"work\"].locality",
                "value": "Redmond"}]),
    )
    .await;
    assert!(body.get("addresses").is_none(), "{body}");
    // A work phone the site does not keep (it keeps the mobile one): refused.
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(
                json!([{"op": "Replace", "path": "phoneNumbers[type eq \"work\"].value",
                              "value": "+1 555 0111"}]),
            ),
        )
        .await;
    answer.assert_scim_error(400, Some("noTarget"));
}
