//! Custom SCIM schemas declared in the mapping: published by discovery, and
//! accepted by create, filter and PATCH like the built-in ones.

use serde_json::json;

use crate::helpers::{demo_site_with_text_fields, patch_op, spawn_app_with, Options, TestApp};

const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

/// The demo mapping plus an Acme schema whose badge number is stored in
/// `field_badge`.
fn acme_mapping() -> String {
    let demo = Options::default().mapping;
    let rules_at = demo.find("rules:").expect("demo mapping has rules");
    let (head, rules) = demo.split_at(rules_at);
    let rules = rules.replacen(
        "rules:\n",
        "rules:\n  - scim: acme:badgeNumber\n    drupal: field_badge\n",
        1,
    );
    format!(
        "{head}schemas:\n  - urn: {ACME}\n    name: AcmeUser\n    alias: acme\n    description: Acme employee data\n    attributes:\n      - {{name: badgeNumber, type: string}}\n{rules}"
    )
}

async fn spawn_acme_app() -> TestApp {
    spawn_app_with(Options {
        standin: demo_site_with_text_fields(&["field_badge"]),
        mapping: acme_mapping(),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn schemas_and_resource_types_publish_the_mapping_s_custom_schema() {
    let app = spawn_acme_app().await;

    let schemas = app.get("/Schemas").await;
    assert_eq!(schemas.status, 200, "{}", schemas.body);
    let ids: Vec<&str> = schemas.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&ACME), "{ids:?}");
    assert_eq!(schemas.body["totalResults"], json!(ids.len()));

    let acme = app.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(acme.status, 200, "{}", acme.body);
    assert_eq!(acme.body["name"], "AcmeUser");
    assert_eq!(acme.body["description"], "Acme employee data");
    assert_eq!(acme.body["attributes"][0]["name"], "badgeNumber");
    assert_eq!(acme.body["attributes"][0]["type"], "string");

    let user_type = app.get("/ResourceTypes/User").await;
    assert_eq!(user_type.status, 200, "{}", user_type.body);
    assert!(
        user_type.body["schemaExtensions"]
            .as_array()
            .expect("schemaExtensions")
            .contains(&json!({"schema": ACME, "required": false})),
        "{}",
        user_type.body
    );
}

#[tokio::test]
async fn custom_attributes_are_created_filtered_and_patched() {
    let app = spawn_acme_app().await;

    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ACME],
                "userName": "grace",
                "emails": [{"value": "grace@example.org", "primary": true}],
                ACME: {"badgeNumber": "B-1906"}
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body[ACME]["badgeNumber"], "B-1906");
    assert!(created.body["schemas"]
        .as_array()
        .expect("schemas")
        .contains(&json!(ACME)));
    let id = created.body["id"].as_str().expect("id").to_string();
    assert_eq!(
        app.drupal_user("grace").expect("in Drupal")["attributes"]["field_badge"],
        "B-1906"
    );

    let found = app
        .filter_users(&format!("{ACME}:badgeNumber eq \"B-1906\""))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], json!(id));

    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "replace", "path": format!("{ACME}:badgeNumber"), "value": "B-2024"}
            ])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body[ACME]["badgeNumber"], "B-2024");
    assert_eq!(
        app.drupal_user("grace").expect("in Drupal")["attributes"]["field_badge"],
        "B-2024"
    );
}
