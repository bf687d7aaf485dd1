//! Discovery and the endpoints' method rules over HTTP.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, Options};
use crate::term_groups::term_mapping;

fn attribute_names(schema: &Value) -> Vec<&str> {
    schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_user_schema_lists_only_what_the_mapping_keeps_in_drupal() {
    let app = spawn_app().await;
    let schema = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(schema.status, 200, "{}", schema.body);
    let names = attribute_names(&schema.body);
    for kept in [
        "userName",
        "name",
        "displayName",
        "emails",
        "active",
        "preferredLanguage",
        "timezone",
    ] {
        assert!(names.contains(&kept), "{kept} in {names:?}");
    }
    for dropped in ["nickName", "addresses", "phoneNumbers", "x509Certificates"] {
        assert!(!names.contains(&dropped), "{dropped} in {names:?}");
    }
    let types = app.get("/ResourceTypes/User").await;
    assert!(
        types.body.get("schemaExtensions").is_none(),
        "the demo mapping keeps no enterprise attribute: {}",
        types.body
    );
}

#[tokio::test]
async fn unsupported_methods_are_scim_405_with_allow() {
    let app = spawn_app().await;
    let id = app.create_user("moe", "moe@example.org").await;
    for (method, path, allow) in [
        (
            Method::POST,
            "/ServiceProviderConfig".to_string(),
            "GET, HEAD",
        ),
        (Method::DELETE, "/Schemas".to_string(), "GET, HEAD"),
        (Method::PUT, "/ResourceTypes/User".to_string(), "GET, HEAD"),
        (Method::DELETE, "/Users".to_string(), "GET, HEAD, POST"),
        (Method::GET, "/Users/.search".to_string(), "POST"),
        (
            Method::POST,
            format!("/Users/{id}"),
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
    ] {
        let answer = app.request(method.clone(), &path, Some(&json!({}))).await;
        answer.assert_scim_error(405, None);
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
    }
}

#[tokio::test]
async fn a_search_across_every_resource_type_is_declined_with_501() {
    let app = spawn_app().await;
    let answer = app.post("/.search", &json!({"count": 1})).await;
    answer.assert_scim_error(501, None);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("/Users/.search"));
}

#[tokio::test]
async fn an_unknown_schema_or_resource_type_is_a_404_that_does_not_repeat_a_long_id() {
    let app = spawn_app().await;
    let long = "x".repeat(6_000);
    for path in [format!("/Schemas/{long}"), format!("/ResourceTypes/{long}")] {
        let answer = app.get(&path).await;
        assert_eq!(answer.status, 404, "{}", answer.body);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.len() < 200, "{detail}");
    }
    let answer = app.get("/Schemas/urn:example:nothing").await;
    assert_eq!(answer.status, 404);
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("urn:example:nothing"));
}

async fn published_group_display_name(app: &crate::helpers::TestApp) -> Value {
    let schemas = app.get("/Schemas").await;
    assert_eq!(schemas.status, 200, "{}", schemas.body);
    let group = schemas.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "urn:ietf:params:scim:schemas:core:2.0:Group")
        .expect("the group schema")
        .clone();
    group["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "displayName")
        .expect("displayName")
        .clone()
}

#[tokio::test]
async fn the_group_display_name_is_immutable_only_when_every_group_is_a_role() {
    let roles_only = spawn_app().await;
    let display_name = published_group_display_name(&roles_only).await;
    assert_eq!(display_name["mutability"], "immutable", "{display_name}");

    let terms = spawn_app_with(Options {
        mapping: term_mapping(),
        ..Options::default()
    })
    .await;
    let display_name = published_group_display_name(&terms).await;
    assert_eq!(display_name["mutability"], "readWrite", "{display_name}");
    let description = display_name["description"].as_str().unwrap();
    assert!(
        description.contains("role") && description.contains("mutability"),
        "{description}"
    );
}

/// Whether the stand-in's login accepts `name` with `pass`.
async fn drupal_login_works(app: &crate::helpers::TestApp, name: &str, pass: &str) -> bool {
    reqwest::Client::new()
        .post(format!("{}/user/login?_format=json", app.drupal_base_url()))
        .json(&json!({"name": name, "pass": pass}))
        .send()
        .await
        .unwrap()
        .status()
        .is_success()
}

#[tokio::test]
async fn change_password_is_supported_when_the_mapping_writes_the_password_on_updates() {
    let okta = spawn_app_with(Options {
        standin: crate::helpers::demo_site_with_text_fields(&[
            "field_first_name",
            "field_last_name",
        ]),
        mapping: crate::helpers::read_mapping("okta.yaml"),
        ..Options::default()
    })
    .await;
    let config = okta.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200, "{}", config.body);
    assert_eq!(
        config.body["changePassword"]["supported"], true,
        "{}",
        config.body
    );

    // What it states holds: a PATCH of the password changes it in Drupal.
    let created = okta
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "pat@example.org",
                "emails": [{"value": "pat@example.org", "type": "work", "primary": true}],
                "password": "First-Pass-1"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(drupal_login_works(&okta, "pat@example.org", "First-Pass-1").await);
    let id = created.body["id"].as_str().unwrap();
    let patched = okta
        .patch(
            &format!("/Users/{id}"),
            &crate::helpers::patch_op(json!([
                {"op": "replace", "path": "password", "value": "Second-Pass-2"}
            ])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert!(drupal_login_works(&okta, "pat@example.org", "Second-Pass-2").await);
    assert!(!drupal_login_works(&okta, "pat@example.org", "First-Pass-1").await);

    let shipped_default = spawn_app_with(Options {
        mapping: crate::helpers::read_mapping("default.yaml"),
        ..Options::default()
    })
    .await;
    let config = shipped_default.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200, "{}", config.body);
    assert_eq!(
        config.body["changePassword"]["supported"], false,
        "{}",
        config.body
    );
}
