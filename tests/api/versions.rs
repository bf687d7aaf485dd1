//! Resource versions over HTTP (RFC 7644 §3.14): `ETag`, `If-None-Match`
//! on reads, `If-Match` on writes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{patch_op, spawn_app};

fn patch_active(active: bool) -> Value {
    patch_op(json!([{"op": "replace", "path": "active", "value": active}]))
}

#[tokio::test]
async fn service_provider_config_advertises_etags() {
    let app = spawn_app().await;
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(config.body["etag"]["supported"], true);
}

#[tokio::test]
async fn reads_and_writes_carry_the_version_as_etag() {
    let app = spawn_app().await;
    let id = app.create_user("vera", "vera@example.org").await;
    let read = app.get(&format!("/Users/{id}")).await;
    let version = read.body["meta"]["version"].as_str().unwrap().to_string();
    assert!(version.starts_with("W/\""), "{version}");
    assert_eq!(read.header("etag"), Some(version.as_str()));

    let patched = app
        .patch(&format!("/Users/{id}"), &patch_active(false))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let new_version = patched.body["meta"]["version"].as_str().unwrap();
    assert_eq!(patched.header("etag"), Some(new_version));
    assert_ne!(new_version, version);
}

#[tokio::test]
async fn if_none_match_with_the_current_version_is_304_without_a_body() {
    let app = spawn_app().await;
    let id = app.create_user("walt", "walt@example.org").await;
    let version = app.get(&format!("/Users/{id}")).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let cached = app
        .request_with(
            Method::GET,
            &format!("/Users/{id}"),
            &[("If-None-Match", &version)],
            None,
        )
        .await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.body, Value::Null);
    assert_eq!(cached.header("etag"), Some(version.as_str()));

    let stale = app
        .request_with(
            Method::GET,
            &format!("/Users/{id}"),
            &[("If-None-Match", "W/\"1-0\"")],
            None,
        )
        .await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body["userName"], "walt");
}

#[tokio::test]
async fn a_write_based_on_an_older_version_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    // Both writes fall in the same second of Drupal's clock: the version
    // must still move.
    app.drupal.set_clock(Some(1_750_000_000));
    let id = app.create_user("xena", "xena@example.org").await;
    let old = app.get(&format!("/Users/{id}")).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let first = app
        .request_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            &[("If-Match", &old)],
            Some(&patch_active(false)),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);

    app.drupal.clear_requests();
    let stale_patch = app
        .request_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            &[("If-Match", &old)],
            Some(&patch_active(true)),
        )
        .await;
    stale_patch.assert_scim_error(412, None);
    let stale_put = app
        .request_with(
            Method::PUT,
            &format!("/Users/{id}"),
            &[("If-Match", &old)],
            Some(&json!({"userName": "xena2", "emails": [{"value": "xena@example.org"}]})),
        )
        .await;
    stale_put.assert_scim_error(412, None);
    let stale_delete = app
        .request_with(
            Method::DELETE,
            &format!("/Users/{id}"),
            &[("If-Match", &old)],
            None,
        )
        .await;
    stale_delete.assert_scim_error(412, None);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    assert_eq!(
        app.drupal_user("xena").unwrap()["attributes"]["status"],
        false
    );
}

#[tokio::test]
async fn the_current_version_or_a_star_lets_the_write_through() {
    let app = spawn_app().await;
    let id = app.create_user("yuri", "yuri@example.org").await;
    let current = app.get(&format!("/Users/{id}")).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let put = app.request_with(Method::PUT, &format!("/Users/{id}"), &[("If-Match", &current)], Some(&json!({"userName": "yuri", "displayName": "Yuri G", "emails": [{"value": "yuri@example.org"}]})))
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["displayName"], "Yuri G");
    let delete = app
        .request_with(
            Method::DELETE,
            &format!("/Users/{id}"),
            &[("If-Match", "*")],
            None,
        )
        .await;
    assert_eq!(delete.status, 204, "{}", delete.body);
}

#[tokio::test]
async fn a_malformed_version_condition_is_a_bad_request() {
    let app = spawn_app().await;
    let id = app.create_user("zoe", "zoe@example.org").await;
    let answer = app
        .request_with(
            Method::DELETE,
            &format!("/Users/{id}"),
            &[("If-Match", "W/\"unterminated")],
            None,
        )
        .await;
    answer.assert_scim_error(400, None);
    assert!(app.drupal_user("zoe").is_some());
}

/// A read by id is written straight into bytes; the answer to a write is
/// built as a map. For the same user they must be the same resource with
/// the same version, groups included: else `If-Match` with the version a
/// read gave would fail after a write, or the reverse.
#[tokio::test]
async fn a_read_answers_what_the_write_before_it_answered() {
    let app = spawn_app().await;
    let id = app.create_user("yuki", "yuki@example.org").await;
    let group = app.group_id("editor").await;
    let joined = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert!(joined.status < 300, "{}", joined.body);

    let patched = app
        .patch(&format!("/Users/{id}"), &patch_active(false))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let read = app.get(&format!("/Users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body, patched.body);
    assert_eq!(read.header("etag"), patched.header("etag"));
    assert_eq!(read.body["groups"][0]["value"], json!(group));
    assert!(read.body["groups"][0]["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with(&format!("/Groups/{group}"))));
}

/// Repeated `If-Match` / `If-None-Match` lines are one list (RFC 9110
/// §5.3): a condition met by a tag on the second line is met.
#[tokio::test]
async fn every_line_of_a_repeated_version_condition_counts() {
    let app = spawn_app().await;
    let id = app.create_user("yann", "yann@example.org").await;
    let current = app.get(&format!("/Users/{id}")).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let unchanged = app
        .request_with(
            Method::GET,
            &format!("/Users/{id}"),
            &[("If-None-Match", "W/\"x\""), ("If-None-Match", &current)],
            None,
        )
        .await;
    assert_eq!(unchanged.status, 304, "{}", unchanged.body);
    let patched = app
        .request_with(
            Method::PATCH,
            &format!("/Users/{id}"),
            &[("If-Match", "W/\"x\""), ("If-Match", &current)],
            Some(&patch_active(false)),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        app.drupal_user("yann").unwrap()["attributes"]["status"],
        false
    );
}
