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

/// `If-None-Match` on a write (RFC 7232 §3.2): `*` (the user exists) or a
/// tag matching the current version, in either spelling or in a list, is
/// 412 with a detail naming the header, and nothing is written. An older
/// tag lets the write through. With both headers, `If-Match` is evaluated
/// first (RFC 7232 §6).
#[tokio::test]
async fn if_none_match_on_a_write_is_412_for_a_star_or_the_current_version() {
    let app = spawn_app().await;
    let id = app.create_user("nina", "nina@example.org").await;
    let path = format!("/Users/{id}");
    let current = app.get(&path).await.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    let strong = current.trim_start_matches("W/").to_string();
    let listed = format!("W/\"old\", {current}");
    let put = json!({"userName": "nina2", "emails": [{"value": "nina@example.org"}]});
    app.drupal.clear_requests();
    for condition in ["*", current.as_str(), strong.as_str(), listed.as_str()] {
        let headers = [("If-None-Match", condition)];
        for (method, body) in [
            (Method::PATCH, Some(&patch_active(false))),
            (Method::PUT, Some(&put)),
            (Method::DELETE, None),
        ] {
            let answer = app
                .request_with(method.clone(), &path, &headers, body)
                .await;
            answer.assert_scim_error(412, None);
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("If-None-Match"),
                "{method} {condition}: {detail}"
            );
            assert!(detail.contains(&id), "{method} {condition}: {detail}");
        }
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    let user = app
        .drupal_user("nina")
        .expect("the account is kept as it was");
    assert_eq!(user["attributes"]["status"], true);

    // Both headers: a stale If-Match is the failure reported; a current
    // one lets If-None-Match decide.
    let stale_both = app
        .request_with(
            Method::PATCH,
            &path,
            &[("If-Match", "W/\"old\""), ("If-None-Match", "*")],
            Some(&patch_active(false)),
        )
        .await;
    stale_both.assert_scim_error(412, None);
    let detail = stale_both.body["detail"].as_str().unwrap();
    assert!(detail.contains("If-Match"), "{detail}");
    assert!(!detail.contains("If-None-Match"), "{detail}");
    let current_both = app
        .request_with(
            Method::PATCH,
            &path,
            &[("If-Match", &current), ("If-None-Match", &current)],
            Some(&patch_active(false)),
        )
        .await;
    current_both.assert_scim_error(412, None);
    assert!(current_both.body["detail"]
        .as_str()
        .unwrap()
        .contains("If-None-Match"));
    assert_eq!(app.drupal_writes(), Vec::<String>::new());

    // An older version only: the write goes through.
    let patched = app
        .request_with(
            Method::PATCH,
            &path,
            &[("If-None-Match", "W/\"old\"")],
            Some(&patch_active(false)),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["active"], false);
    let deleted = app
        .request_with(Method::DELETE, &path, &[("If-None-Match", &current)], None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
}

/// RFC 7232 §2.3: an entity-tag is `[W/] DQUOTE *etagc DQUOTE`, so `""`
/// and `W/""` are tags (matching no version: 412 on a write, the full
/// answer on a read), and a bare word is none (400 saying so), for
/// `If-Match` and `If-None-Match` alike.
#[tokio::test]
async fn an_empty_entity_tag_is_evaluated_and_an_unquoted_word_is_refused() {
    let app = spawn_app().await;
    let id = app.create_user("etta", "etta@example.org").await;
    let path = format!("/Users/{id}");
    for empty in ["\"\"", "W/\"\""] {
        let answer = app
            .request_with(
                Method::PATCH,
                &path,
                &[("If-Match", empty)],
                Some(&patch_active(false)),
            )
            .await;
        answer.assert_scim_error(412, None);
        let read = app
            .request_with(Method::GET, &path, &[("If-None-Match", empty)], None)
            .await;
        assert_eq!(read.status, 200, "If-None-Match: {empty}: {}", read.body);
        let written = app
            .request_with(
                Method::PATCH,
                &path,
                &[("If-None-Match", empty)],
                Some(&patch_active(true)),
            )
            .await;
        assert_eq!(
            written.status, 200,
            "If-None-Match: {empty}: {}",
            written.body
        );
    }
    for header in ["If-Match", "If-None-Match"] {
        for garbage in ["garbage", "W/garbage", "\"a\", b"] {
            let answer = app
                .request_with(
                    Method::PATCH,
                    &path,
                    &[(header, garbage)],
                    Some(&patch_active(false)),
                )
                .await;
            answer.assert_scim_error(400, None);
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(detail.contains(header), "{header}: {garbage}: {detail}");
            assert!(
                detail.contains("not an entity-tag list"),
                "{header}: {garbage}: {detail}"
            );
        }
    }
    app.request_with(Method::GET, &path, &[("If-None-Match", "garbage")], None)
        .await
        .assert_scim_error(400, None);
    assert_eq!(
        app.drupal_user("etta").unwrap()["attributes"]["status"],
        true
    );
}
